//! The JSON documents that cross the plugin boundary. Field names are part of the ABI: add fields,
//! never rename or remove them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One token request as a plugin sees it. Client secrets never cross the boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRequest {
    pub tenant: String,
    pub grant_type: String,
    pub client: ClientInfo,
    /// The form parameters, minus client credentials.
    pub params: BTreeMap<String, String>,
    pub metadata: RequestMetadata,
}

/// The authenticated client (service provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub client_id: String,
    pub name: String,
    pub allowed_scopes: Vec<String>,
    pub allowed_grant_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMetadata {
    /// Correlates the plugin's log lines with the host's.
    pub request_id: String,
    /// Unix seconds; plugins validate time against this, not their own clock.
    pub now: i64,
    /// The tenant's token endpoint URL (an audience value that names this server).
    pub token_endpoint: String,
}

/// What a plugin decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GrantResult {
    Granted(AuthorizedGrant),
    Error(GrantError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizedGrant {
    pub subject: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Whether a refresh token may be issued (the host still requires the client to allow it).
    #[serde(default)]
    pub refresh_token_allowed: bool,
}

/// An OAuth error for this request (RFC 6749 5.2 code and description).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantError {
    pub error: String,
    pub error_description: String,
}

impl GrantResult {
    pub fn error(code: &str, description: impl Into<String>) -> GrantResult {
        GrantResult::Error(GrantError {
            error: code.to_owned(),
            error_description: description.into(),
        })
    }

    pub fn invalid_grant(description: impl Into<String>) -> GrantResult {
        Self::error("invalid_grant", description)
    }
}
