//! `[gateway]`: the API gateway (`grantor gateway`, or inside `grantor serve` with `enabled`),
//! its APIs (`[[gateway.api]]`) and the token issuers it trusts (`[[gateway.jwt_issuer]]`, WSO2's
//! `[[apim.jwt.issuer]]`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Run the gateway inside `grantor serve` too (on its own `bind`).
    pub enabled: bool,
    pub bind: SocketAddr,
    /// Worker threads, each serving its share of the connections on its own single-threaded
    /// runtime; 0 means one per available core.
    pub workers: usize,
    /// Largest bearer token accepted, in bytes.
    pub max_token_bytes: usize,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub clock_skew_seconds: u64,
    /// Longest wait for an upstream's response headers (then 504), and for each next part of its
    /// body (then the answer is cut off), in milliseconds.
    pub upstream_timeout_ms: u64,
    /// Largest request body forwarded, in bytes (then 413).
    pub max_body_bytes: usize,
    /// Connections the gateway holds at once, and from one client address; as
    /// `server.max_connections` (each may use two descriptors: the client's and the upstream's).
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// How the validated claims reach the backend.
    pub backend_claims: BackendClaims,
    /// The PEM file of the key `X-JWT-Assertion`s are signed with, made on first start (default:
    /// `gateway-signing-key.pem` in `database.data_dir`). Gateway nodes sharing it sign alike.
    pub signing_key_file: Option<PathBuf>,
    pub api: Vec<ApiConfig>,
    pub jwt_issuer: Vec<JwtIssuerConfig>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            enabled: false,
            bind: SocketAddr::from(([127, 0, 0, 1], 8243)),
            workers: 0,
            max_token_bytes: 8 * 1024,
            clock_skew_seconds: 60,
            upstream_timeout_ms: 30_000,
            max_body_bytes: 10 * 1024 * 1024,
            max_connections: 4096,
            max_connections_per_address: 256,
            backend_claims: BackendClaims::Jwt,
            signing_key_file: None,
            api: Vec::new(),
            jwt_issuer: Vec::new(),
        }
    }
}

/// `jwt`: one `X-JWT-Assertion` header, a JWT of the claims signed with the gateway's key (as WSO2
/// does); `headers`: one `X-Claim-<name>` header per claim; `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendClaims {
    Jwt,
    Headers,
    None,
}

/// One API: requests under `context` go to `upstream`, if they match one of its resources.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// A path prefix, e.g. `/pizzashack/1.0.0`.
    pub context: String,
    /// Where matched requests go, e.g. `http://127.0.0.1:9000/api`; the path after the context
    /// is appended.
    pub upstream: String,
    /// For an `https://` upstream: the PEM file of the certificate authorities its certificate
    /// must chain to, trusted instead of the system's roots (a private PKI).
    #[serde(default)]
    pub upstream_ca_file: Option<PathBuf>,
    /// Pass the client's `Authorization` header on to the upstream (off: it is removed).
    #[serde(default)]
    pub keep_authorization: bool,
    #[serde(default)]
    pub resource: Vec<ResourceConfig>,
    /// Accept opaque tokens too, checked by RFC 7662 introspection (JWTs are still validated by
    /// the gateway itself).
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
}

/// An introspection endpoint and the client credentials the gateway presents there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// e.g. `https://grantor.example/t/acme/oauth2/introspect`.
    pub url: String,
    pub client_id: String,
    /// The client secret, or (better) `client_secret_env`, the environment variable holding it.
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// How long an answer is reused, in seconds (never past the token's `exp`).
    #[serde(default = "introspection_cache_seconds")]
    pub cache_seconds: u64,
}

impl IntrospectionConfig {
    /// The client secret: from `client_secret_env` when that is set, else `client_secret`.
    pub fn secret(&self) -> Option<String> {
        match &self.client_secret_env {
            Some(var) => std::env::var(var).ok(),
            None => self.client_secret.clone(),
        }
    }
}

fn introspection_cache_seconds() -> u64 {
    60
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// An HTTP method, or `*` for any.
    #[serde(default = "any_method")]
    pub method: String,
    /// A path template under the context: `/menu`, `/order/{orderId}`, or ending in `/*` for
    /// anything below.
    pub path: String,
    /// Scopes a token must carry, all of them; none: any valid token.
    #[serde(default)]
    pub scopes: Vec<String>,
}

fn any_method() -> String {
    "*".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// The `iss` of its tokens.
    pub name: String,
    #[serde(default)]
    pub jwks: Option<JwksSource>,
    /// Certificates or public keys (PEM or DER); the first is the default for tokens without
    /// `kid`.
    #[serde(default)]
    pub certificates: Vec<PathBuf>,
    /// Audiences its tokens must carry one of; none: not checked.
    #[serde(default)]
    pub audience: Vec<String>,
    #[serde(default)]
    pub claim_mapping: Vec<ClaimMapping>,
    /// Rhai claim transformer run after the mappings.
    #[serde(default)]
    pub transformer: Option<PathBuf>,
    /// The claim carrying scopes (a space-separated string or an array).
    #[serde(default = "scope_claim")]
    pub scope_claim: String,
    /// Accept only tokens whose header says `typ: at+jwt` (RFC 9068 access tokens), refusing the
    /// issuer's ID tokens. Default: on for an issuer shaped like a Grantor tenant's
    /// (`https://host/t/{tenant}/oauth2/token`), off for other issuers, many of which type their
    /// access tokens `JWT` or not at all.
    #[serde(default)]
    pub require_at_jwt: Option<bool>,
}

fn scope_claim() -> String {
    "scope".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwksSource {
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    pub remote_claim: String,
    pub local_claim: String,
}
