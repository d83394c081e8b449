//! `[oauth.token]`: default token lifetimes, in seconds.

use serde::{Deserialize, Serialize};

use super::renamed_keys::RenamedKey;
use super::Check;

/// The keys' former names, without their unit; still read.
pub(super) const RENAMED_KEYS: &[RenamedKey] = &[
    RenamedKey::same_unit(
        "oauth.token",
        "access_token_lifetime",
        "access_token_lifetime_seconds",
    ),
    RenamedKey::same_unit(
        "oauth.token",
        "refresh_token_lifetime",
        "refresh_token_lifetime_seconds",
    ),
    RenamedKey::same_unit(
        "oauth.token",
        "refresh_token_family_lifetime",
        "refresh_token_family_lifetime_seconds",
    ),
    RenamedKey::same_unit(
        "oauth.token",
        "id_token_lifetime",
        "id_token_lifetime_seconds",
    ),
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Default access token lifetime in seconds (a client may set its own).
    pub access_token_lifetime_seconds: u64,
    /// Default refresh token lifetime in seconds (a client may set its own).
    pub refresh_token_lifetime_seconds: u64,
    /// Absolute lifetime of a refresh token family, in seconds, from the original grant:
    /// rotation never extends it (RFC 9700 4.14.2); then the user must grant again.
    pub refresh_token_family_lifetime_seconds: u64,
    /// ID token lifetime in seconds (password grant with `scope=openid`).
    pub id_token_lifetime_seconds: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            access_token_lifetime_seconds: 3600,
            refresh_token_lifetime_seconds: 86400,
            refresh_token_family_lifetime_seconds: 30 * 86400,
            id_token_lifetime_seconds: 3600,
        }
    }
}

impl TokenConfig {
    pub(super) fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        if self.access_token_lifetime_seconds == 0 {
            return invalid(
                "oauth.token.access_token_lifetime_seconds",
                "must be positive",
            );
        }
        if self.refresh_token_family_lifetime_seconds == 0 {
            return invalid(
                "oauth.token.refresh_token_family_lifetime_seconds",
                "must be positive",
            );
        }
        if self.id_token_lifetime_seconds == 0 {
            return invalid("oauth.token.id_token_lifetime_seconds", "must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;

    #[test]
    fn bad_value_names_key() {
        let err = load_toml("[oauth.token]\naccess_token_lifetime = \"soon\"\n").unwrap_err();
        assert!(err.to_string().contains("access_token_lifetime"), "{err}");
    }
}
