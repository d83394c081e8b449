//! `[oauth.jwks_endpoint]`: fetching identity providers' key sets.

use serde::{Deserialize, Serialize};

use super::Check;

/// `[oauth.jwks_endpoint]`: fetching identity providers' key sets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JwksEndpointConfig {
    /// Longest wait for response data, in milliseconds.
    pub read_timeout: u64,
    /// Longest wait for a connection, in milliseconds.
    pub connect_timeout: u64,
    /// Largest key set accepted, in bytes.
    pub max_response_bytes: usize,
    /// How long a key set is used before it is refetched, in seconds, when the response gives no
    /// `Cache-Control: max-age` (which is honoured between `min_refresh_interval` and `max_stale`).
    pub cache_lifetime: u64,
    /// Fewest seconds between two fetches of one endpoint (an unknown `kid` refetches at most this
    /// often).
    pub min_refresh_interval: u64,
    /// While the endpoint fails, the last good key set is used until it is this many seconds old.
    pub max_stale: u64,
}

impl Default for JwksEndpointConfig {
    fn default() -> Self {
        JwksEndpointConfig {
            read_timeout: 1000,
            connect_timeout: 1000,
            max_response_bytes: 51200,
            cache_lifetime: 600,
            min_refresh_interval: 30,
            max_stale: 86400,
        }
    }
}

impl JwksEndpointConfig {
    pub(super) fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        if self.read_timeout == 0 || self.connect_timeout == 0 {
            return invalid(
                "oauth.jwks_endpoint.read_timeout",
                "read_timeout and connect_timeout must be positive",
            );
        }
        if self.max_response_bytes < 1024 {
            return invalid(
                "oauth.jwks_endpoint.max_response_bytes",
                "must be at least 1024",
            );
        }
        if self.min_refresh_interval > self.cache_lifetime || self.cache_lifetime > self.max_stale {
            return invalid(
                "oauth.jwks_endpoint.cache_lifetime",
                "must lie between min_refresh_interval and max_stale",
            );
        }
        Ok(())
    }
}
