//! Server metadata per tenant, exactly what this server supports now: RFC 8414 authorization
//! server metadata, and OpenID Provider metadata (OpenID Connect Discovery 1.0) for the ID tokens
//! the password grant issues. There is no authorization endpoint (no browser flows), so no
//! response types; the grant types are the built-in ones and those of the plugins that loaded.

use serde_json::{json, Value};

use super::error::OAuthError;
use super::grants::BUILT_IN_GRANT_TYPES;
use crate::oauth::context::OAuthContext;

/// How clients authenticate, at the token, introspection and revocation endpoints alike.
pub const CLIENT_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// What a `private_key_jwt` client may sign its assertions with (`private_key_jwt.rs`).
fn client_assertion_algorithms() -> Vec<&'static str> {
    super::private_key_jwt::CLIENT_ASSERTION_ALGORITHMS
        .iter()
        .map(|alg| alg.name())
        .collect()
}

/// RFC 8414 metadata of `tenant`.
pub fn authorization_server_metadata(app: &OAuthContext, tenant: &str) -> Value {
    let mut grant_types: Vec<String> = BUILT_IN_GRANT_TYPES
        .iter()
        .map(|g| (*g).to_owned())
        .collect();
    grant_types.extend(app.plugins.grant_types());
    json!({
        "issuer": app.urls.issuer_url(tenant),
        "token_endpoint": app.urls.token_endpoint_url(tenant),
        "jwks_uri": app.urls.jwks_url(tenant),
        "grant_types_supported": grant_types,
        "response_types_supported": [],
        "scopes_supported": ["openid"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": client_assertion_algorithms(),
        "introspection_endpoint": app.urls.tenant_url(tenant, "oauth2/introspect"),
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        // RFC 8414 2: required wherever private_key_jwt is listed for the endpoint.
        "introspection_endpoint_auth_signing_alg_values_supported": client_assertion_algorithms(),
        "revocation_endpoint": app.urls.tenant_url(tenant, "oauth2/revoke"),
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": client_assertion_algorithms(),
    })
}

/// OpenID Provider metadata of `tenant`: the RFC 8414 fields plus what ID tokens need. It has no
/// `authorization_endpoint` (Discovery 3 requires one of a provider with browser flows; this
/// one signs users in only through the password grant) and says so in `grant_types_supported`.
/// Reads the tenant's keys (generating its first): run it on a blocking thread.
pub fn openid_provider_metadata(
    app: &OAuthContext,
    tenant: &str,
    now: i64,
) -> Result<Value, OAuthError> {
    let algorithms = app.tenant_keys().published_algorithms(tenant, now)?;
    let mut metadata = authorization_server_metadata(app, tenant);
    metadata["subject_types_supported"] = json!(["public"]);
    metadata["id_token_signing_alg_values_supported"] = json!(algorithms);
    metadata["claims_supported"] = json!(super::id_token::ID_TOKEN_CLAIMS);
    metadata["claims_parameter_supported"] = json!(false);
    metadata["request_parameter_supported"] = json!(false);
    Ok(metadata)
}
