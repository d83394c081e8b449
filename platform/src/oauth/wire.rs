//! Wire types of the token endpoint (RFC 6749 5.1 and 5.2), imported by everything that speaks
//! to clients.

use std::collections::HashMap;

use serde::Serialize;

/// A successful token response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    /// `Bearer`, or `N_A` for a token that is no access token here (RFC 8693 2.2.1).
    pub token_type: &'static str,
    /// What `access_token` holds, when a token exchange says (RFC 8693 2.2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An OpenID Connect ID token, when the grant signed a user in with `scope=openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// An error response body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorResponse<'a> {
    pub error: &'a str,
    pub error_description: &'a str,
}

/// A token request as it reaches the OAuth layer: tenant chosen, parameters decoded, each at most
/// once, empty values dropped (RFC 6749 3.2: "sent without a value MUST be treated as if omitted").
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// Names this request in the logs, and to a plugin.
    pub request_id: String,
    pub tenant_domain: String,
    /// The endpoint it was posted to, below the tenant's prefix (`oauth2/token`,
    /// `oauth2/introspect`, `oauth2/revoke`): a client assertion may name it as its audience.
    pub endpoint: &'static str,
    /// The raw `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The peer's address (a proxy's, behind one): the key for limiting failed sign-ins.
    pub remote_address: Option<std::net::IpAddr>,
    pub params: HashMap<String, String>,
    /// Every value of each parameter that may repeat (`audience`, `resource`), in order; one
    /// given once is in `params` too.
    pub param_lists: HashMap<String, Vec<String>>,
}

impl TokenRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}
