//! Configuration: `conf/deployment.toml` read with figment, then `GRANTOR_*` environment overrides
//! (nested keys joined with `__`, e.g. `GRANTOR_SERVER__BIND`).
//!
//! Every section denies unknown keys so that a typo is a startup error naming the key and the file,
//! not a setting silently ignored. Nothing here may panic on bad input.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

mod gateway;
pub use gateway::{
    ApiConfig, BackendClaims, ClaimMapping, GatewayConfig, IntrospectionConfig, JwksSource,
    JwtIssuerConfig, ResourceConfig,
};

/// The file read when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "conf/deployment.toml";
/// Prefix of environment variables that override the file.
pub const ENV_PREFIX: &str = "GRANTOR_";

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

/// `[keys]`: the key-encryption key that private keys are sealed with at rest (tenants' signing
/// keys in the database, the gateway's key file). Give it in a file or an environment variable
/// (base64 of 32 random bytes: `openssl rand -base64 32`); with neither, one is made on first use
/// in `<database.data_dir>/key-encryption.key`. Every node must have the same key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    pub encryption_key_file: Option<PathBuf>,
    /// Or: the environment variable that holds the key.
    pub encryption_key_env: Option<String>,
}

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

/// `[log]`: how log lines are written to stderr (`RUST_LOG` chooses the level).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// `text` for people, `json` (one object per line, with the request's fields) for collectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[claim_transformer]`: the sandbox every identity provider's Rhai claim transformer runs in.
/// A script that reaches a limit fails its request, never the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimTransformerConfig {
    /// Operations one run may take (a loop iteration, a call, an expression each count).
    pub max_operations: u64,
    /// Longest one run may take, in milliseconds (wall clock, checked as it runs).
    pub timeout_ms: u64,
    /// Deepest nesting of function calls (recursion included).
    pub max_call_depth: usize,
    /// Deepest nesting of expressions, at the top level and inside functions.
    pub max_expression_depth: usize,
    /// Longest string a script may build, in bytes.
    pub max_string_bytes: usize,
    /// Most items in one array.
    pub max_array_items: usize,
    /// Most entries in one object map.
    pub max_map_entries: usize,
    /// Largest script file accepted, in bytes.
    pub max_script_bytes: u64,
    /// Deepest nesting of arrays and maps in what a script returns (checked before it is
    /// converted, so conversion never recurses deeper).
    pub max_result_depth: usize,
    /// Whether a script's `print` and `debug` reach the log (off: they are dropped).
    pub log_output: bool,
    /// With `log_output`, most lines of script output logged per second; the rest are counted.
    pub max_log_lines_per_second: u64,
}

impl Default for ClaimTransformerConfig {
    fn default() -> Self {
        ClaimTransformerConfig {
            max_operations: 100_000,
            timeout_ms: 100,
            max_call_depth: 16,
            max_expression_depth: 64,
            max_string_bytes: 16 * 1024,
            max_array_items: 1024,
            max_map_entries: 256,
            max_script_bytes: 256 * 1024,
            max_result_depth: 32,
            log_output: false,
            max_log_lines_per_second: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// The drop directory where `library` names are resolved.
    pub directory: PathBuf,
    /// Longest a plugin may take for one request, in milliseconds; past it the client gets
    /// `temporarily_unavailable` (the plugin's thread runs on, but no longer holds the client).
    pub handler_timeout_ms: u64,
    /// Requests one plugin handles at once; more wait (up to the timeout) for a slot.
    pub max_concurrency: usize,
    /// Of those, most one tenant's requests may take at once (its slow identity provider or
    /// script then delays only its own requests).
    pub max_concurrency_per_tenant: usize,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            directory: PathBuf::from("plugins"),
            handler_timeout_ms: 5000,
            max_concurrency: 32,
            max_concurrency_per_tenant: 16,
        }
    }
}

/// One `[[oauth.custom_grant_type]]` registration: a grant type handled by a plugin library.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomGrantType {
    /// The grant type, e.g. `urn:ietf:params:oauth:grant-type:jwt-bearer`.
    pub name: String,
    /// Library name without platform prefix/suffix (`grant_jwt_bearer` ->
    /// `libgrant_jwt_bearer.so`), or a file name, resolved in `[plugins] directory`.
    pub library: String,
    /// Free-form, passed to the plugin as its JSON configuration.
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP listener binds, e.g. `127.0.0.1:9443`; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Base URL clients use to reach this server; issuer and audience values derive from it.
    pub public_base_url: String,
    /// Tenant answering `/oauth2/...` without `/t/{tenant}` or `tenantDomain`.
    pub default_tenant: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Token requests served at once; more wait up to `overload_wait_ms` for a place, then get
    /// `503 temporarily_unavailable` with `Retry-After` instead of a client time-out.
    pub max_in_flight: usize,
    /// How long a request beyond `max_in_flight` waits for a place, in milliseconds.
    pub overload_wait_ms: u64,
    /// Longest a token request may take once admitted, in milliseconds; past it the client gets
    /// `503 temporarily_unavailable` with `Retry-After` (a database that is down never makes a
    /// request hang).
    pub request_deadline_ms: u64,
    /// On SIGTERM or Ctrl-C, how long in-flight requests may take to finish, in milliseconds;
    /// then their connections are closed and the process exits.
    pub shutdown_grace_ms: u64,
    /// Longest a request's headers may take to arrive, in milliseconds, on every listener
    /// (server, admin, gateway); a keep-alive connection also waits at most this long, idle, for
    /// its next request. Then the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Longest a request body may take to arrive once its headers have, in milliseconds (server
    /// and admin listeners: then 408). The gateway, which streams bodies to the upstream, allows
    /// this long for each pause in a body instead.
    pub body_read_timeout_ms: u64,
    /// Connections the listener holds at once. At the cap, the connection idle longest (no
    /// request in flight) is closed to make room; when every one is busy, new ones are closed at
    /// once. Lowered at start to fit the open-file limit (raised to its hard limit first).
    pub max_connections: usize,
    /// Of those, most from one client address.
    pub max_connections_per_address: usize,
    /// Proxies (CIDR blocks, e.g. `10.0.0.0/8`) trusted to say who the client is in
    /// `X-Forwarded-For`: for a request that comes through one, sign-in attempts are counted
    /// under the client's address it names instead of the proxy's. Empty: the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// HTTPS on `bind` (`[server.tls]`).
    pub tls: TlsConfig,
}

/// `[server.tls]`: TLS 1.2 or later on the server's listener. Without `certificate` and
/// `private_key`, a self-signed certificate is made on first start in `database.data_dir`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub enabled: bool,
    /// PEM: the server's certificate, then any intermediates.
    pub certificate: Option<PathBuf>,
    /// PEM: its private key (owner-readable only, like any key).
    pub private_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user:pass@host/db`. Empty: SQLite in `data_dir`.
    pub url: String,
    /// Directory for the default SQLite database, created on first start.
    pub data_dir: PathBuf,
    /// Maximum pooled connections per process.
    pub pool_size: u32,
    /// How long a request waits for a pooled connection, or SQLite for a lock, in milliseconds.
    pub busy_timeout_ms: u64,
    /// SQLite: `full` (a returned token survives a power loss) or `normal` (it survives a crash
    /// of the process; the last commits may be lost on power loss).
    pub synchronous: SqliteSynchronous,
    /// SQLite page cache per connection, in MiB (measured best at 8 on the benchmark machine:
    /// smaller re-reads index pages, larger costs time at every commit).
    pub sqlite_cache_mib: u32,
    /// PostgreSQL: connections that commit batches of token requests' writes side by side
    /// (SQLite always has one writer).
    pub postgres_writers: usize,
    /// How often the server polls the database's change counter, in milliseconds: a change to a
    /// tenant, client or identity provider (from the CLI or another node) takes effect within
    /// this interval.
    pub cache_refresh_interval_ms: u64,
    /// How often expired tokens and replay keys are deleted, in seconds.
    pub purge_interval_seconds: u64,
    /// Rows of each table one purge step deletes; steps follow each other until nothing is left.
    pub purge_batch: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    pub token: TokenConfig,
    pub custom_grant_type: Vec<CustomGrantType>,
    pub grant_type: GrantTypeSettings,
    pub jwks_endpoint: JwksEndpointConfig,
    pub signing: SigningConfig,
    pub password_grant: PasswordGrantConfig,
}

/// `[oauth.password_grant]`: how sign-ins are limited, and how much password hashing runs at once.
///
/// Attempts are counted in the database, so every node sharing it counts against the same
/// allowance, and before the password is checked, so attempts sent at once cannot all pass. An
/// attempt counts until it is known to be no failure: a success gives its count back. Three
/// counters, each over `failure_window_seconds` from its first attempt: a user from one client
/// address (low: someone guessing), a user from every address (a higher ceiling, so that failures
/// from one place do not lock the user out everywhere; OWASP's advice), and an address (one
/// client guessing many users). IPv6 addresses are counted per /64 network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordGrantConfig {
    /// Failed sign-ins for one user (in a tenant) from one client address within the window,
    /// before that user is refused from that address until the window has passed.
    pub max_failures_per_user_and_address: u32,
    /// Failed sign-ins for one user from all addresses together within the window, before the
    /// user is refused from everywhere until the window has passed.
    pub max_failures_per_user: u32,
    /// Failed sign-ins from one client address within the window, for any users, before that
    /// address is refused.
    pub max_failures_per_address: u32,
    /// The window, in seconds.
    pub failure_window_seconds: u64,
    /// Password hashes and verifications (argon2id, 19 MiB each) one server runs at once, for
    /// sign-ins and for users created through the admin API; unset: twice the CPU cores.
    pub max_concurrent_hashes: Option<usize>,
    /// How long one waits for a turn, in milliseconds, before the request is answered 503
    /// `temporarily_unavailable` with `Retry-After`.
    pub hash_wait_ms: u64,
}

impl PasswordGrantConfig {
    /// `max_concurrent_hashes`, or twice the CPU cores when it is not set.
    pub fn concurrent_hashes(&self) -> usize {
        self.max_concurrent_hashes.unwrap_or_else(|| {
            2 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

impl Default for PasswordGrantConfig {
    fn default() -> Self {
        PasswordGrantConfig {
            max_failures_per_user_and_address: 5,
            max_failures_per_user: 50,
            max_failures_per_address: 20,
            failure_window_seconds: 300,
            max_concurrent_hashes: None,
            hash_wait_ms: 200,
        }
    }
}

/// `[oauth.signing]`: the tenants' own signing keys (generated on first use, per tenant).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// The key type new keys get: `RS256` (RSA 2048), `ES256` (EC P-256) or `EdDSA` (Ed25519).
    pub algorithm: SigningAlgorithm,
    /// How long a tenant's JWKS may be cached by its readers, in seconds (`Cache-Control`).
    pub jwks_max_age: u64,
    /// A rotation publishes the new key at once and signs with it `jwks_max_age` plus this many
    /// seconds later, so that readers who cached the key set have fetched it again by then (the
    /// margin covers the nodes' cache refresh, clock differences and readers that refetch a
    /// little late).
    pub rotation_margin: u64,
}

impl Default for SigningConfig {
    fn default() -> Self {
        SigningConfig {
            algorithm: SigningAlgorithm::RS256,
            jwks_max_age: 300,
            rotation_margin: 60,
        }
    }
}

/// The JWS algorithm of a tenant's signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

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
}

/// SQLite's `synchronous` setting in WAL mode. `full` syncs the log at every commit, so a committed
/// token survives a power loss; `normal` survives a crash of the process (SIGKILL) but may lose the
/// last commits on power loss. Group commit makes one sync serve a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

/// `[oauth.grant_type.jwt]`: defined with the plugin's side in the SDK.
pub use grantor_sdk::jwt_bearer::JwtBearerSettings as JwtGrantSettings;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Default access token lifetime in seconds (a client may set its own).
    pub access_token_lifetime: u64,
    /// Default refresh token lifetime in seconds (a client may set its own).
    pub refresh_token_lifetime: u64,
    /// Absolute lifetime of a refresh token family, in seconds, from the original grant:
    /// rotation never extends it (RFC 9700 4.14.2); then the user must grant again.
    pub refresh_token_family_lifetime: u64,
    /// ID token lifetime in seconds (password grant with `scope=openid`).
    pub id_token_lifetime: u64,
}

impl ServerConfig {
    /// `shutdown_grace_ms` as a duration.
    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.shutdown_grace_ms)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 9443)),
            public_base_url: "http://localhost:9443".to_owned(),
            default_tenant: "carbon.super".to_owned(),
            max_body_bytes: 64 * 1024,
            max_in_flight: 1024,
            overload_wait_ms: 100,
            request_deadline_ms: 10_000,
            shutdown_grace_ms: 15_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 5_000,
            max_connections: 4096,
            max_connections_per_address: 256,
            trusted_proxies: Vec::new(),
            tls: TlsConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            data_dir: PathBuf::from("data"),
            pool_size: 16,
            busy_timeout_ms: 5000,
            synchronous: SqliteSynchronous::Full,
            sqlite_cache_mib: 8,
            postgres_writers: 4,
            cache_refresh_interval_ms: 1000,
            purge_interval_seconds: 600,
            purge_batch: 1000,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            access_token_lifetime: 3600,
            refresh_token_lifetime: 86400,
            refresh_token_family_lifetime: 30 * 86400,
            id_token_lifetime: 3600,
        }
    }
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

    /// Semantic checks serde cannot express; the error names the key and why.
    fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let invalid = |key, why| Err((key, why));
        let base = &self.server.public_base_url;
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.ends_with('/') {
            return invalid(
                "server.public_base_url",
                "must be an http(s) URL without a trailing slash",
            );
        }
        if self.server.tls.certificate.is_some() != self.server.tls.private_key.is_some() {
            return invalid(
                "server.tls",
                "give both certificate and private_key, or neither (a self-signed one is made)",
            );
        }
        if self
            .admin
            .token_env
            .as_deref()
            .is_some_and(|v| v.to_ascii_uppercase().starts_with(ENV_PREFIX))
        {
            return invalid(
                "admin.token_env",
                "must not start with GRANTOR_: those variables are read as configuration keys",
            );
        }
        if self.keys.encryption_key_file.is_some() && self.keys.encryption_key_env.is_some() {
            return invalid(
                "keys.encryption_key_file",
                "give encryption_key_file or encryption_key_env, not both",
            );
        }
        if self
            .keys
            .encryption_key_env
            .as_deref()
            .is_some_and(|v| v.to_ascii_uppercase().starts_with(ENV_PREFIX))
        {
            return invalid(
                "keys.encryption_key_env",
                "must not start with GRANTOR_: those variables are read as configuration keys",
            );
        }
        if crate::tenancy::validate_tenant_domain(&self.server.default_tenant).is_err() {
            return invalid("server.default_tenant", "not a valid tenant domain");
        }
        if self.server.max_body_bytes < 1024 {
            return invalid("server.max_body_bytes", "must be at least 1024");
        }
        if self.database.pool_size == 0 {
            return invalid("database.pool_size", "must be at least 1");
        }
        if self.database.postgres_writers == 0
            || self.database.postgres_writers >= self.database.pool_size as usize
        {
            return invalid(
                "database.postgres_writers",
                "must be at least 1 and less than database.pool_size (readers need connections too)",
            );
        }
        if self.database.sqlite_cache_mib == 0 {
            return invalid("database.sqlite_cache_mib", "must be at least 1");
        }
        if self.database.cache_refresh_interval_ms == 0 {
            return invalid("database.cache_refresh_interval_ms", "must be positive");
        }
        if self.database.purge_interval_seconds == 0 || self.database.purge_batch == 0 {
            return invalid(
                "database.purge_interval_seconds",
                "purge_interval_seconds and purge_batch must be positive",
            );
        }
        if self.server.header_read_timeout_ms == 0 || self.server.body_read_timeout_ms == 0 {
            return invalid(
                "server.header_read_timeout_ms",
                "header_read_timeout_ms and body_read_timeout_ms must be positive",
            );
        }
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
        if self.server.max_in_flight == 0 {
            return invalid("server.max_in_flight", "must be at least 1");
        }
        if self.plugins.max_concurrency == 0 {
            return invalid("plugins.max_concurrency", "must be at least 1");
        }
        if self.plugins.max_concurrency_per_tenant == 0
            || self.plugins.max_concurrency_per_tenant > self.plugins.max_concurrency
        {
            return invalid(
                "plugins.max_concurrency_per_tenant",
                "must be at least 1 and at most plugins.max_concurrency",
            );
        }
        if self.server.request_deadline_ms == 0 {
            return invalid("server.request_deadline_ms", "must be positive");
        }
        if self.plugins.handler_timeout_ms == 0 {
            return invalid("plugins.handler_timeout_ms", "must be positive");
        }
        if self.oauth.token.access_token_lifetime == 0 {
            return invalid("oauth.token.access_token_lifetime", "must be positive");
        }
        if self.oauth.token.refresh_token_family_lifetime == 0 {
            return invalid(
                "oauth.token.refresh_token_family_lifetime",
                "must be positive",
            );
        }
        if self.oauth.token.id_token_lifetime == 0 {
            return invalid("oauth.token.id_token_lifetime", "must be positive");
        }
        let password = &self.oauth.password_grant;
        if password.max_failures_per_user_and_address == 0
            || password.max_failures_per_user == 0
            || password.max_failures_per_address == 0
            || password.failure_window_seconds == 0
        {
            return invalid(
                "oauth.password_grant",
                "max_failures_per_user_and_address, max_failures_per_user, max_failures_per_address and failure_window_seconds must be positive",
            );
        }
        if password.max_failures_per_user_and_address > password.max_failures_per_user {
            // The per-user ceiling would then lock the user out everywhere first.
            return invalid(
                "oauth.password_grant.max_failures_per_user_and_address",
                "must be at most max_failures_per_user",
            );
        }
        if password.failure_window_seconds > i64::MAX as u64 / 2 {
            return invalid(
                "oauth.password_grant.failure_window_seconds",
                "is too large",
            );
        }
        if password.max_concurrent_hashes == Some(0) {
            return invalid(
                "oauth.password_grant.max_concurrent_hashes",
                "must be at least 1 (leave it out for twice the CPU cores)",
            );
        }
        if password.hash_wait_ms >= self.server.request_deadline_ms {
            return invalid(
                "oauth.password_grant.hash_wait_ms",
                "must be less than server.request_deadline_ms",
            );
        }
        let jwks = &self.oauth.jwks_endpoint;
        if jwks.read_timeout == 0 || jwks.connect_timeout == 0 {
            return invalid(
                "oauth.jwks_endpoint.read_timeout",
                "read_timeout and connect_timeout must be positive",
            );
        }
        if jwks.max_response_bytes < 1024 {
            return invalid(
                "oauth.jwks_endpoint.max_response_bytes",
                "must be at least 1024",
            );
        }
        if jwks.min_refresh_interval > jwks.cache_lifetime || jwks.cache_lifetime > jwks.max_stale {
            return invalid(
                "oauth.jwks_endpoint.cache_lifetime",
                "must lie between min_refresh_interval and max_stale",
            );
        }
        let script = &self.claim_transformer;
        if script.max_operations == 0
            || script.timeout_ms == 0
            || script.max_call_depth == 0
            || script.max_expression_depth == 0
            || script.max_result_depth == 0
            || script.max_string_bytes == 0
            || script.max_array_items == 0
            || script.max_map_entries == 0
            || script.max_script_bytes == 0
        {
            // Zero means "unlimited" to the script engine: never let it through.
            return invalid(
                "claim_transformer",
                "every limit must be positive (zero would mean no limit)",
            );
        }
        let jwt = &self.oauth.grant_type.jwt;
        if let Err((name, rule)) = jwt.check() {
            let key = match name {
                "iat_validity_period" => "oauth.grant_type.jwt.iat_validity_period",
                "max_assertion_lifetime" => "oauth.grant_type.jwt.max_assertion_lifetime",
                "max_assertion_bytes" => "oauth.grant_type.jwt.max_assertion_bytes",
                _ => "oauth.grant_type.jwt",
            };
            return invalid(key, rule);
        }
        if jwt.max_assertion_bytes > self.server.max_body_bytes {
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
