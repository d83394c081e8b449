//! `[oauth.token]`: default token lifetimes.

use serde::{Deserialize, Serialize};

use super::Check;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Default access token lifetime in seconds (a client may set its own).
    pub access_token_lifetime: u64,
    /// Default refresh token lifetime in seconds (a client may set its own).
    pub refresh_token_lifetime: u64,
    /// Absolute lifetime of a refresh token family, in seconds, from the original grant:
    /// rotation never extends it (RFC 9700 4.14.2); then the user must grant again.
    pub refresh_token_family_lifetime: u64,
    /// ID token lifetime in seconds (password grant with `scope=openid`).
    pub id_token_lifetime: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            access_token_lifetime: 3600,
            refresh_token_lifetime: 86400,
            refresh_token_family_lifetime: 30 * 86400,
            id_token_lifetime: 3600,
        }
    }
}

impl TokenConfig {
    pub(super) fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        if self.access_token_lifetime == 0 {
            return invalid("oauth.token.access_token_lifetime", "must be positive");
        }
        if self.refresh_token_family_lifetime == 0 {
            return invalid(
                "oauth.token.refresh_token_family_lifetime",
                "must be positive",
            );
        }
        if self.id_token_lifetime == 0 {
            return invalid("oauth.token.id_token_lifetime", "must be positive");
        }
        Ok(())
    }
}
