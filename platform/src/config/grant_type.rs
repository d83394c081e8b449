//! `[oauth.grant_type.*]`: settings of standard grant types, whichever plugin handles them.

use serde::{Deserialize, Serialize};

use super::renamed_keys::RenamedKey;
use super::Check;

/// The RFC 7523 JWT bearer grant type.
pub const JWT_BEARER_GRANT_TYPE: &str = grantor_sdk::jwt_bearer::GRANT_TYPE;

/// Keys renamed to say their unit; still read. `max_assertion_lifetime` was in minutes and is
/// converted. `iat_validity_period` is WSO2's key (reference 002: minutes, default 30) and keeps its
/// name and unit, so a WSO2 setting carries over.
pub(super) const RENAMED_KEYS: &[RenamedKey] = &[RenamedKey::minutes_to_seconds(
    "oauth.grant_type.jwt",
    "max_assertion_lifetime",
    "max_assertion_lifetime_seconds",
)];

/// Settings of standard grant types, whichever plugin handles them (`[oauth.grant_type.*]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GrantTypeSettings {
    pub jwt: JwtGrantSettings,
}

impl GrantTypeSettings {
    /// The settings handed, merged into its properties, to the plugin registered for a grant type.
    pub fn for_grant_type(
        &self,
        grant_type: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let settings = match grant_type {
            // A token exchange validates the JWTs of trusted identity providers it is given
            // (subject and actor tokens) exactly as the JWT bearer grant validates assertions.
            JWT_BEARER_GRANT_TYPE | grantor_sdk::wire::TOKEN_EXCHANGE_GRANT_TYPE => {
                serde_json::to_value(&self.jwt).ok()?
            }
            _ => return None,
        };
        match settings {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        }
    }

    pub(super) fn validate(&self) -> Check {
        if let Err((name, rule)) = self.jwt.check() {
            let key = match name {
                "iat_validity_period" => "oauth.grant_type.jwt.iat_validity_period",
                "max_assertion_lifetime_seconds" => {
                    "oauth.grant_type.jwt.max_assertion_lifetime_seconds"
                }
                "max_assertion_bytes" => "oauth.grant_type.jwt.max_assertion_bytes",
                _ => "oauth.grant_type.jwt",
            };
            return Err((key, rule));
        }
        Ok(())
    }
}

/// `[oauth.grant_type.jwt]`: defined with the plugin's side in the SDK.
pub use grantor_sdk::jwt_bearer::JwtBearerSettings as JwtGrantSettings;

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;
    use super::*;

    #[test]
    fn jwt_grant_settings() {
        let config = load_toml(
            "[oauth.grant_type.jwt]\nenable_iat_validation = false\niat_validity_period = 5\n",
        )
        .unwrap();
        let jwt = &config.oauth.grant_type.jwt;
        assert!(!jwt.enable_iat_validation);
        assert_eq!(jwt.iat_validity_period, 5);
        assert!(!jwt.require_jti);
        let handed = config
            .oauth
            .grant_type
            .for_grant_type(JWT_BEARER_GRANT_TYPE)
            .unwrap();
        assert_eq!(handed["iat_validity_period"], 5);
        assert!(config.oauth.grant_type.for_grant_type("urn:x").is_none());
        let err = load_toml("[oauth.grant_type.jwt]\niat_validty_period = 5\n").unwrap_err();
        assert!(err.to_string().contains("iat_validty_period"), "{err}");
        let err = load_toml("[oauth.grant_type.jwt]\niat_validity_period = 0\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("oauth.grant_type.jwt.iat_validity_period"),
            "{err}"
        );
    }
}
