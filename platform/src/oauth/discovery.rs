//! Authorization server metadata (RFC 8414) per tenant: exactly what this server supports now.
//! There is no authorization endpoint (no browser flows), so no response types; the grant types
//! are the built-in ones and those of the plugins that loaded. OpenID Provider metadata waits for
//! ID tokens: publishing it before would promise what the server cannot do.

use serde_json::{json, Value};

use super::grants::BUILT_IN_GRANT_TYPES;
use crate::app::App;

pub fn authorization_server_metadata(app: &App, tenant: &str) -> Value {
    let mut grant_types: Vec<String> = BUILT_IN_GRANT_TYPES
        .iter()
        .map(|g| (*g).to_owned())
        .collect();
    grant_types.extend(app.plugins.grant_types());
    json!({
        "issuer": app.issuer_url(tenant),
        "token_endpoint": app.token_endpoint_url(tenant),
        "jwks_uri": app.jwks_url(tenant),
        "grant_types_supported": grant_types,
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    })
}
