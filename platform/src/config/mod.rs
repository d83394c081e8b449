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
mod renamed_keys;
mod server;
mod sign_in;
mod signing;
mod token;

pub use admin::{AdminConfig, ConsoleConfig};
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
use renamed_keys::WithRenamedKeys;
pub use server::{ServerConfig, TlsConfig};
pub use sign_in::SignInConfig;
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
    /// An explicitly named file must exist; the default path may be absent (defaults apply). The
    /// file is read at exactly that path (relative to the working directory), never a file of the
    /// same name in a parent directory.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = explicit.unwrap_or(Path::new(DEFAULT_CONFIG_PATH));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if path.is_file() {
            figment = figment.merge(file_source(path));
        } else if explicit.is_some() {
            return Err(ConfigError::FileNotFound {
                path: path.display().to_string(),
            });
        }
        Self::from_figment(figment.merge(WithRenamedKeys(Env::prefixed(ENV_PREFIX).split("__"))))
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
        self.oauth.sign_in.validate()?;
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

/// The configuration file at exactly `path` (`Toml::file` would also look for a file of that
/// name in every parent directory), its former key names read under the new ones.
fn file_source(path: &Path) -> WithRenamedKeys<figment::providers::Data<Toml>> {
    WithRenamedKeys(Toml::file_exact(path))
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

    pub(super) fn load_toml(text: &str) -> Result<Config, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        Config::from_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(file_source(file.path())),
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
    #[allow(clippy::result_large_err)]
    fn the_file_is_never_taken_from_a_parent_directory() {
        figment::Jail::expect_with(|jail| {
            let parent = "[server]\ndefault_tenant = \"parent.tenant\"\n";
            jail.create_dir("conf")?;
            jail.create_file(DEFAULT_CONFIG_PATH, parent)?;
            jail.create_file("deployment.toml", parent)?;
            let below = jail.create_dir("below")?;
            jail.change_dir(below)?;
            // No conf/deployment.toml here: the built-in defaults, not the parent's file.
            let config = Config::load(None).unwrap();
            assert_eq!(config.server.default_tenant, "carbon.super");
            // A named file missing here is an error, whatever a parent directory holds.
            let err = Config::load(Some(Path::new("deployment.toml"))).unwrap_err();
            assert!(matches!(err, ConfigError::FileNotFound { .. }), "{err}");
            // Where the file is, it is read.
            jail.create_dir("conf")?;
            jail.create_file(
                DEFAULT_CONFIG_PATH,
                "[server]\ndefault_tenant = \"here.tenant\"\n",
            )?;
            let config = Config::load(None).unwrap();
            assert_eq!(config.server.default_tenant, "here.tenant");
            Ok(())
        });
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/grantor.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::FileNotFound { .. }));
    }
}
