//! Configuration: `conf/deployment.toml` read with figment, then `GRANTOR_*` environment overrides
//! (nested keys joined with `__`, e.g. `GRANTOR_SERVER__BIND`).
//!
//! Each section is defined, with its defaults and its own checks, in its own file; this module
//! holds the whole (`Config`), its loading and the checks that span sections.
//!
//! Every section denies unknown keys so that a typo is a startup error naming the key and the file,
//! not a setting silently ignored. Nothing here may panic on bad input.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

mod admin;
mod claim_transformer;
mod database;
mod gateway;
mod grant_type;
mod jwks_endpoint;
mod keys;
mod log;
mod oauth;
mod password_grant;
mod plugins;
mod server;
mod signing;
mod token;

pub use admin::AdminConfig;
pub use claim_transformer::ClaimTransformerConfig;
pub use database::{DatabaseConfig, SqliteSynchronous};
pub use gateway::{
    ApiConfig, BackendClaims, ClaimMapping, GatewayConfig, IntrospectionConfig, JwksSource,
    JwtIssuerConfig, ResourceConfig,
};
pub use grant_type::{GrantTypeSettings, JwtGrantSettings, JWT_BEARER_GRANT_TYPE};
pub use jwks_endpoint::JwksEndpointConfig;
pub use keys::KeysConfig;
pub use log::{LogConfig, LogFormat};
pub use oauth::{CustomGrantType, OAuthConfig};
pub use password_grant::PasswordGrantConfig;
pub use plugins::PluginsConfig;
pub use server::{ServerConfig, TlsConfig};
pub use signing::{SigningAlgorithm, SigningConfig};
pub use token::TokenConfig;

/// The file read when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "conf/deployment.toml";
/// Prefix of environment variables that override the file.
pub const ENV_PREFIX: &str = "GRANTOR_";

/// The outcome of a check: on failure, the key (its full dotted path, which also finds where it
/// was set) and what it must be.
type Check = Result<(), (&'static str, &'static str)>;

/// Whether an environment variable's name would itself be read as a configuration key.
fn is_configuration_variable(name: &str) -> bool {
    name.to_ascii_uppercase().starts_with(ENV_PREFIX)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: configuration file not found")]
    FileNotFound { path: String },
    #[error("configuration error: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub oauth: OAuthConfig,
    pub plugins: PluginsConfig,
    pub claim_transformer: ClaimTransformerConfig,
    pub gateway: GatewayConfig,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub keys: KeysConfig,
}

impl Config {
    /// Loads the configuration: built-in defaults, then the file, then the environment.
    ///
    /// An explicitly named file must exist; the default path may be absent (defaults apply).
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = explicit.unwrap_or(Path::new(DEFAULT_CONFIG_PATH));
        if explicit.is_some() && !path.is_file() {
            return Err(ConfigError::FileNotFound {
                path: path.display().to_string(),
            });
        }
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::file(path))
                .merge(Env::prefixed(ENV_PREFIX).split("__")),
        )
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe_figment_error(e)))?;
        if let Err((key, why)) = config.validate() {
            let source = figment
                .find_metadata(key)
                .map(|m| match &m.source {
                    Some(source) => format!(" (set in {source})"),
                    None => format!(" (set by {})", m.name),
                })
                .unwrap_or_default();
            return Err(ConfigError::Invalid(format!("{key}: {why}{source}")));
        }
        Ok(config)
    }

    /// Semantic checks serde cannot express: each section's own, then those that span sections.
    /// The error names the key and why.
    fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        self.server.validate()?;
        self.admin.validate()?;
        self.keys.validate()?;
        self.database.validate()?;
        if self.server.max_connections == 0
            || self.server.max_connections_per_address == 0
            || self.admin.max_connections == 0
            || self.gateway.max_connections == 0
            || self.gateway.max_connections_per_address == 0
        {
            return invalid(
                "server.max_connections",
                "server.max_connections, server.max_connections_per_address, admin.max_connections, \
                 gateway.max_connections and gateway.max_connections_per_address must be positive",
            );
        }
        self.plugins.validate()?;
        self.oauth.token.validate()?;
        self.oauth.password_grant.validate()?;
        if self.oauth.password_grant.hash_wait_ms >= self.server.request_deadline_ms {
            return invalid(
                "oauth.password_grant.hash_wait_ms",
                "must be less than server.request_deadline_ms",
            );
        }
        self.oauth.jwks_endpoint.validate()?;
        self.claim_transformer.validate()?;
        self.oauth.grant_type.validate()?;
        if self.oauth.grant_type.jwt.max_assertion_bytes > self.server.max_body_bytes {
            return invalid(
                "oauth.grant_type.jwt.max_assertion_bytes",
                "must be at most server.max_body_bytes",
            );
        }
        Ok(())
    }

    /// The database URL to use: the configured one, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}",
                self.database.data_dir.join("grantor.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }
}

/// Figment's errors already name the key and the source (file path or environment variable);
/// join every error of a multi-error into one line each.
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_toml(text: &str) -> Result<Config, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        Config::from_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::file(file.path())),
        )
        .map_err(|e| match e {
            ConfigError::Invalid(m) => {
                // Figment shows the path relative to the working directory, which another
                // test (figment::Jail) may change: compare the file name.
                let name = file
                    .path()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                assert!(m.contains(&name), "{m}");
                ConfigError::Invalid(m)
            }
            other => other,
        })
    }

    #[test]
    fn defaults_are_valid() {
        let config = load_toml("").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.database_url(), "sqlite://data/grantor.db");
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = load_toml("[server]\nbindd = \"127.0.0.1:1\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bindd"), "{text}");
    }

    #[test]
    fn bad_value_names_key() {
        let err = load_toml("[oauth.token]\naccess_token_lifetime = \"soon\"\n").unwrap_err();
        assert!(err.to_string().contains("access_token_lifetime"), "{err}");
    }

    #[test]
    fn custom_grant_registrations() {
        let config = load_toml(
            "[[oauth.custom_grant_type]]\nname = \"urn:x\"\nlibrary = \"grant_x\"\n\
             [oauth.custom_grant_type.properties]\nmode = \"echo\"\nnested = { a = 1 }\n",
        )
        .unwrap();
        let grant = &config.oauth.custom_grant_type[0];
        assert_eq!(grant.library, "grant_x");
        assert_eq!(grant.properties["nested"]["a"], 1);
        let err = load_toml("[[oauth.custom_grant_type]]\nname = \"urn:x\"\n").unwrap_err();
        assert!(err.to_string().contains("library"), "{err}");
    }

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

    #[test]
    fn claim_transformer_limits_are_never_unlimited() {
        let config = load_toml("[claim_transformer]\nmax_operations = 5000\n").unwrap();
        assert_eq!(config.claim_transformer.max_operations, 5000);
        assert_eq!(config.claim_transformer.timeout_ms, 100);
        let err = load_toml("[claim_transformer]\nmax_map_entries = 0\n").unwrap_err();
        assert!(err.to_string().contains("claim_transformer"), "{err}");
        let err = load_toml("[claim_transformer]\nmax_ops = 1\n").unwrap_err();
        assert!(err.to_string().contains("max_ops"), "{err}");
    }

    #[test]
    fn password_grant_limits() {
        let config = load_toml("").unwrap();
        let password = &config.oauth.password_grant;
        assert_eq!(
            (
                password.max_failures_per_user_and_address,
                password.max_failures_per_user,
                password.max_failures_per_address,
                password.failure_window_seconds,
                password.max_concurrent_hashes,
                password.hash_wait_ms,
            ),
            (5, 50, 20, 300, None, 200)
        );
        assert!(password.concurrent_hashes() >= 2);
        let config = load_toml(
            "[oauth.password_grant]\nmax_failures_per_user_and_address = 3\n\
             max_concurrent_hashes = 1\nhash_wait_ms = 0\n",
        )
        .unwrap();
        assert_eq!(config.oauth.password_grant.concurrent_hashes(), 1);
        assert_eq!(
            config
                .oauth
                .password_grant
                .max_failures_per_user_and_address,
            3
        );
        for (toml, key) in [
            (
                "max_failures_per_user_and_address = 0",
                "oauth.password_grant",
            ),
            ("max_failures_per_user = 0", "oauth.password_grant"),
            ("failure_window_seconds = 0", "oauth.password_grant"),
            (
                "max_failures_per_user_and_address = 6\nmax_failures_per_user = 5",
                "oauth.password_grant.max_failures_per_user_and_address",
            ),
            (
                "failure_window_seconds = 9223372036854775807",
                "oauth.password_grant.failure_window_seconds",
            ),
            (
                "max_concurrent_hashes = 0",
                "oauth.password_grant.max_concurrent_hashes",
            ),
            ("hash_wait_ms = 10000", "oauth.password_grant.hash_wait_ms"),
            ("max_hashes = 2", "max_hashes"),
        ] {
            let err = load_toml(&format!("[oauth.password_grant]\n{toml}\n")).unwrap_err();
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn semantic_checks() {
        let err = load_toml("[server]\npublic_base_url = \"localhost/\"\n").unwrap_err();
        assert!(err.to_string().contains("server.public_base_url"), "{err}");
        // A GRANTOR_ variable would also be read as a configuration key, and refused as unknown.
        let err = load_toml("[admin]\ntoken_env = \"GRANTOR_ADMIN_TOKEN\"\n").unwrap_err();
        assert!(err.to_string().contains("admin.token_env"), "{err}");
        assert!(load_toml("[admin]\ntoken_env = \"ADMIN_TOKEN\"\n").is_ok());
        let err = load_toml("[keys]\nencryption_key_env = \"grantor_kek\"\n").unwrap_err();
        assert!(err.to_string().contains("keys.encryption_key_env"), "{err}");
        let err = load_toml("[keys]\nencryption_key_env = \"KEK\"\nencryption_key_file = \"k\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let keys = load_toml("[keys]\nencryption_key_env = \"KEK\"\n")
            .unwrap()
            .keys;
        assert_eq!(keys.encryption_key_env.as_deref(), Some("KEK"));
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn environment_overrides_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "deployment.toml",
                "[server]\ndefault_tenant = \"file.tenant\"\n",
            )?;
            jail.set_env("GRANTOR_SERVER__DEFAULT_TENANT", "env.tenant");
            let config = Config::load(Some(Path::new("deployment.toml"))).unwrap();
            assert_eq!(config.server.default_tenant, "env.tenant");
            jail.set_env("GRANTOR_SERVER__NOPE", "1");
            let err = Config::load(Some(Path::new("deployment.toml"))).unwrap_err();
            assert!(err.to_string().contains("nope"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/grantor.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::FileNotFound { .. }));
    }
}
