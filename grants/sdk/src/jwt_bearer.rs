//! The settings of the standard JWT bearer grant type (RFC 7523), defined once for both sides:
//! the host reads them from `[oauth.grant_type.jwt]` and hands them, merged into the registration's
//! properties, to the plugin registered for the grant type, which reads them back with the same
//! defaults and the same checks.

use serde::{Deserialize, Serialize};

/// The grant type these settings belong to.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Largest clock skew an identity provider may be given, in seconds: the host refuses more at
/// registration, and the grant clamps a stored value to it.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 600;

/// The replay key of an assertion without `jti` starts with this, followed by the hex SHA-256 of
/// the signed assertion: a name space no `jti` shares in practice.
pub const DIGEST_REPLAY_KEY_PREFIX: &str = "assertion-sha256:";

/// What a client is told when an assertion is presented again, by the plugin or at commit.
pub fn replayed_assertion(replay_key: &str) -> &'static str {
    if replay_key.starts_with(DIGEST_REPLAY_KEY_PREFIX) {
        "the assertion has already been used (one without jti is accepted once)"
    } else {
        "the assertion has already been used (its jti was seen before)"
    }
}

/// `[oauth.grant_type.jwt]`: how JWT bearer assertions are validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtBearerSettings {
    /// Refuse assertions issued (`iat`) longer ago than `iat_validity_period`.
    pub enable_iat_validation: bool,
    /// Minutes (WSO2's key and unit, reference 002).
    pub iat_validity_period: u64,
    /// Longest lifetime an assertion may claim (`exp - iat`, or `exp - now` without `iat`), in
    /// seconds (3600: as long as Google's service accounts mint theirs). The host reads the former
    /// `max_assertion_lifetime`, in minutes, into it.
    pub max_assertion_lifetime_seconds: u64,
    /// Refuse assertions without a `jti` (without one, a digest of the assertion is its replay
    /// key).
    pub require_jti: bool,
    /// Largest `assertion` accepted, in bytes.
    pub max_assertion_bytes: usize,
}

impl Default for JwtBearerSettings {
    fn default() -> Self {
        JwtBearerSettings {
            enable_iat_validation: true,
            iat_validity_period: 30,
            max_assertion_lifetime_seconds: 3600,
            require_jti: false,
            max_assertion_bytes: 16 * 1024,
        }
    }
}

impl JwtBearerSettings {
    /// The first setting out of range, as (name, what it must be).
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.iat_validity_period == 0 {
            return Err(("iat_validity_period", "must be positive"));
        }
        if self.max_assertion_lifetime_seconds == 0 {
            return Err(("max_assertion_lifetime_seconds", "must be positive"));
        }
        if self.max_assertion_bytes < 512 {
            return Err(("max_assertion_bytes", "must be at least 512"));
        }
        Ok(())
    }

    /// Reads a plugin's configuration (unknown keys refused, so a typo stops the start).
    pub fn from_json(config: serde_json::Value) -> Result<JwtBearerSettings, String> {
        let settings: JwtBearerSettings =
            serde_json::from_value(config).map_err(|e| format!("invalid configuration: {e}"))?;
        settings
            .check()
            .map_err(|(name, rule)| format!("{name} {rule}"))?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_refusals() {
        assert_eq!(
            JwtBearerSettings::from_json(json!({})).unwrap(),
            JwtBearerSettings::default()
        );
        let s =
            JwtBearerSettings::from_json(json!({"require_jti": true, "iat_validity_period": 5}))
                .unwrap();
        assert!(s.require_jti && s.iat_validity_period == 5);
        assert!(JwtBearerSettings::from_json(json!({"requir_jti": true}))
            .unwrap_err()
            .contains("requir_jti"));
        assert!(
            JwtBearerSettings::from_json(json!({"max_assertion_lifetime_seconds": 0}))
                .unwrap_err()
                .contains("max_assertion_lifetime_seconds must be positive")
        );
        assert!(JwtBearerSettings::from_json(json!({"max_assertion_bytes": 10})).is_err());
    }
}
