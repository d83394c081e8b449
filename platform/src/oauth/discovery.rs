//! Server metadata per tenant, exactly what this server supports: RFC 8414 authorization server
//! metadata, and OpenID Provider metadata (OpenID Connect Discovery 1.0 3) with every REQUIRED
//! field: the authorization endpoint (code flow with PKCE S256 only), UserInfo, RP-Initiated
//! Logout; the grant types are the built-in ones and those of the plugins that loaded.

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
        "authorization_endpoint": app.urls.tenant_url(tenant, "oauth2/authorize"),
        "token_endpoint": app.urls.token_endpoint_url(tenant),
        "jwks_uri": app.urls.jwks_url(tenant),
        "grant_types_supported": grant_types,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes_supported(),
        // RFC 9207: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": true,
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

/// OpenID Provider metadata of `tenant`: the RFC 8414 fields plus what ID tokens, UserInfo and
/// logout need. Reads the tenant's keys (generating its first): run it on a blocking thread.
pub fn openid_provider_metadata(
    app: &OAuthContext,
    tenant: &str,
    now: i64,
) -> Result<Value, OAuthError> {
    let algorithms = app.tenant_keys().published_algorithms(tenant, now)?;
    let mut metadata = authorization_server_metadata(app, tenant);
    metadata["subject_types_supported"] = json!(["public"]);
    metadata["id_token_signing_alg_values_supported"] = json!(algorithms);
    let mut claims: Vec<&str> = super::id_token::ID_TOKEN_CLAIMS.to_vec();
    claims.extend(
        super::userinfo::claims_supported()
            .into_iter()
            .filter(|c| !claims_contains(super::id_token::ID_TOKEN_CLAIMS, c)),
    );
    metadata["claims_supported"] = json!(claims);
    metadata["claims_parameter_supported"] = json!(false);
    metadata["request_parameter_supported"] = json!(false);
    metadata["request_uri_parameter_supported"] = json!(false);
    metadata["userinfo_endpoint"] = json!(app.urls.tenant_url(tenant, "oauth2/userinfo"));
    metadata["end_session_endpoint"] = json!(app.urls.tenant_url(tenant, "oauth2/logout"));
    metadata["prompt_values_supported"] = json!(["none", "login", "consent"]);
    metadata["frontchannel_logout_session_supported"] = json!(false);
    Ok(metadata)
}

fn claims_contains(claims: &[&str], claim: &str) -> bool {
    claims.contains(&claim)
}

/// `openid` and the standard scopes whose claims UserInfo releases.
fn scopes_supported() -> Vec<&'static str> {
    let mut scopes = vec!["openid"];
    scopes.extend(
        super::userinfo::STANDARD_SCOPES
            .iter()
            .map(|(scope, _)| *scope),
    );
    scopes
}
