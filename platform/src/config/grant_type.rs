//! `[oauth.grant_type.*]`: settings of standard grant types, whichever plugin handles them.

use serde::{Deserialize, Serialize};

use super::Check;

/// The RFC 7523 JWT bearer grant type.
pub const JWT_BEARER_GRANT_TYPE: &str = grantor_sdk::jwt_bearer::GRANT_TYPE;

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
            JWT_BEARER_GRANT_TYPE => serde_json::to_value(&self.jwt).ok()?,
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
                "max_assertion_lifetime" => "oauth.grant_type.jwt.max_assertion_lifetime",
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
