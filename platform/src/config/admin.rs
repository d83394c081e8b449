//! `[admin]`: the operator's listener.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{is_configuration_variable, Check};

/// `[admin]`: the operator's listener, apart from the one clients use. It serves `/metrics`
/// (Prometheus text format) to requests with the admin bearer token; off unless `bind` is set,
/// and it does not start without credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub bind: Option<SocketAddr>,
    /// The admin token's SHA-256, 64 hex digits (`printf %s TOKEN | sha256sum`).
    pub token_sha256: Option<String>,
    /// Or: the environment variable that holds the token itself.
    pub token_env: Option<String>,
    /// Connections the admin listener holds at once (per address too); as `server.max_connections`.
    pub max_connections: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            bind: None,
            token_sha256: None,
            token_env: None,
            max_connections: 64,
        }
    }
}

impl AdminConfig {
    pub(super) fn validate(&self) -> Check {
        if self
            .token_env
            .as_deref()
            .is_some_and(is_configuration_variable)
        {
            return Err((
                "admin.token_env",
                "must not start with GRANTOR_: those variables are read as configuration keys",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;

    #[test]
    fn token_env_is_not_a_configuration_variable() {
        // A GRANTOR_ variable would also be read as a configuration key, and refused as unknown.
        let err = load_toml("[admin]\ntoken_env = \"GRANTOR_ADMIN_TOKEN\"\n").unwrap_err();
        assert!(err.to_string().contains("admin.token_env"), "{err}");
        assert!(load_toml("[admin]\ntoken_env = \"ADMIN_TOKEN\"\n").is_ok());
    }
}
