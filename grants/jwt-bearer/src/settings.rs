//! The plugin's configuration: the host's `[oauth.grant_type.jwt]` settings merged into the
//! registration's properties. Unknown keys are refused, so a typo stops the server's start.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub enable_iat_validation: bool,
    /// Minutes.
    pub iat_validity_period: u64,
    /// Minutes.
    pub max_assertion_lifetime: u64,
    pub require_jti: bool,
    pub max_assertion_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enable_iat_validation: true,
            iat_validity_period: 30,
            max_assertion_lifetime: 60,
            require_jti: false,
            max_assertion_bytes: 16 * 1024,
        }
    }
}

impl Settings {
    pub fn from_json(config: serde_json::Value) -> Result<Settings, String> {
        let settings: Settings =
            serde_json::from_value(config).map_err(|e| format!("invalid configuration: {e}"))?;
        if settings.iat_validity_period == 0 || settings.max_assertion_lifetime == 0 {
            return Err("iat_validity_period and max_assertion_lifetime must be positive".into());
        }
        if settings.max_assertion_bytes < 512 {
            return Err("max_assertion_bytes must be at least 512".into());
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_refusals() {
        assert_eq!(Settings::from_json(json!({})).unwrap(), Settings::default());
        let s =
            Settings::from_json(json!({"require_jti": true, "iat_validity_period": 5})).unwrap();
        assert!(s.require_jti && s.iat_validity_period == 5);
        assert!(Settings::from_json(json!({"requir_jti": true}))
            .unwrap_err()
            .contains("requir_jti"));
        assert!(Settings::from_json(json!({"max_assertion_lifetime": 0})).is_err());
    }
}
