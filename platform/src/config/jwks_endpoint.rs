//! `[oauth.jwks_endpoint]`: fetching identity providers' key sets. `read_timeout` is WSO2's key
//! (reference 002: milliseconds, default 1000) and keeps its name, so a WSO2 setting carries over.

use serde::{Deserialize, Serialize};

use super::renamed_keys::RenamedKey;
use super::Check;

/// The keys' former names, without their unit; still read.
pub(super) const RENAMED_KEYS: &[RenamedKey] = &[
    RenamedKey::same_unit(
        "oauth.jwks_endpoint",
        "connect_timeout",
        "connect_timeout_ms",
    ),
    RenamedKey::same_unit(
        "oauth.jwks_endpoint",
        "cache_lifetime",
        "cache_lifetime_seconds",
    ),
    RenamedKey::same_unit(
        "oauth.jwks_endpoint",
        "min_refresh_interval",
        "min_refresh_interval_seconds",
    ),
    RenamedKey::same_unit("oauth.jwks_endpoint", "max_stale", "max_stale_seconds"),
];

/// `[oauth.jwks_endpoint]`: fetching identity providers' key sets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JwksEndpointConfig {
    /// Longest wait for response data, in milliseconds (WSO2's name, without the unit).
    pub read_timeout: u64,
    /// Longest wait for a connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Largest key set accepted, in bytes.
    pub max_response_bytes: usize,
    /// How long a key set is used before it is refetched, in seconds, when the response gives no
    /// `Cache-Control: max-age` (which is honoured between `min_refresh_interval_seconds` and
    /// `max_stale_seconds`).
    pub cache_lifetime_seconds: u64,
    /// Fewest seconds between two fetches of one endpoint (an unknown `kid` refetches at most this
    /// often).
    pub min_refresh_interval_seconds: u64,
    /// While the endpoint fails, the last good key set is used until it is this many seconds old.
    pub max_stale_seconds: u64,
}

impl Default for JwksEndpointConfig {
    fn default() -> Self {
        JwksEndpointConfig {
            read_timeout: 1000,
            connect_timeout_ms: 1000,
            max_response_bytes: 51200,
            cache_lifetime_seconds: 600,
            min_refresh_interval_seconds: 30,
            max_stale_seconds: 86400,
        }
    }
}

impl JwksEndpointConfig {
    pub(super) fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        if self.read_timeout == 0 || self.connect_timeout_ms == 0 {
            return invalid(
                "oauth.jwks_endpoint.read_timeout",
                "read_timeout and connect_timeout_ms must be positive",
            );
        }
        if self.max_response_bytes < 1024 {
            return invalid(
                "oauth.jwks_endpoint.max_response_bytes",
                "must be at least 1024",
            );
        }
        if self.min_refresh_interval_seconds > self.cache_lifetime_seconds
            || self.cache_lifetime_seconds > self.max_stale_seconds
        {
            return invalid(
                "oauth.jwks_endpoint.cache_lifetime_seconds",
                "must lie between min_refresh_interval_seconds and max_stale_seconds",
            );
        }
        Ok(())
    }
}
