//! The one client-facing error: RFC 6749 section 5.2 `{error, error_description}` with its HTTP
//! status. Internal failures become `server_error` with a reference id; the detail goes only to the
//! log, never to the client.

use std::fmt::Display;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
    pub status: u16,
    /// Seconds the client should wait before trying again (`Retry-After`), when known.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    fn new(code: &'static str, status: u16, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
            status,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        Self::new("invalid_request", 400, description)
    }

    /// The request body did not arrive in time (RFC 9110 15.5.9).
    pub fn request_timeout(description: impl Into<String>) -> OAuthError {
        Self::new("invalid_request", 408, description)
    }

    /// Client authentication failed (RFC 6749 5.2): 401 with a `WWW-Authenticate` challenge.
    pub fn invalid_client(description: impl Into<String>) -> OAuthError {
        Self::new("invalid_client", 401, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        Self::new("invalid_grant", 400, description)
    }

    /// A target (`audience`, `resource`) the client may not address (RFC 8707 2, RFC 8693
    /// 2.2.2).
    pub fn invalid_target(description: impl Into<String>) -> OAuthError {
        Self::new("invalid_target", 400, description)
    }

    pub fn unauthorized_client(description: impl Into<String>) -> OAuthError {
        Self::new("unauthorized_client", 400, description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> OAuthError {
        Self::new("unsupported_grant_type", 400, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> OAuthError {
        Self::new("invalid_scope", 400, description)
    }

    /// A busy or slow dependency; the client may retry (RFC 6749 5.2 via the registry).
    pub fn temporarily_unavailable(description: impl Into<String>) -> OAuthError {
        Self::new("temporarily_unavailable", 503, description)
    }

    /// Sign-ins refused for a while after too many failures: 429 with `Retry-After`.
    pub fn too_many_failures(description: impl Into<String>, retry_after: u64) -> OAuthError {
        OAuthError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new("invalid_grant", 429, description)
        }
    }

    /// A plugin's refusal. Only codes a token endpoint may send pass through; anything else
    /// becomes `server_error` (the plugin made a mistake, the client did not).
    pub fn from_plugin(code: &str, description: String) -> OAuthError {
        match code {
            "invalid_request" => Self::invalid_request(description),
            "invalid_client" => Self::invalid_client(description),
            "invalid_grant" => Self::invalid_grant(description),
            "invalid_scope" => Self::invalid_scope(description),
            "invalid_target" => Self::invalid_target(description),
            "unauthorized_client" => Self::unauthorized_client(description),
            "temporarily_unavailable" => Self::temporarily_unavailable(description),
            // The plugin's reason goes to the log only, under the reference the client sees.
            "server_error" => Self::internal("grant plugin", description),
            other => Self::internal(
                "grant plugin",
                format!("returned unknown error code '{}'", other.escape_default()),
            ),
        }
    }

    /// The addressed tenant does not exist: 404, so it cannot be mistaken for a bad request.
    pub fn unknown_tenant(domain: &str) -> OAuthError {
        Self::new(
            "invalid_request",
            404,
            format!("tenant '{}' not found", domain.escape_default()),
        )
    }

    /// Logs the cause with a fresh reference id and returns a generic `server_error` naming it.
    pub fn internal(context: &str, cause: impl Display) -> OAuthError {
        let reference = crate::secrets::random_token(6).unwrap_or_else(|_| "-".to_owned());
        tracing::error!(reference = %reference, "{context}: {cause}");
        Self::new(
            "server_error",
            500,
            format!("internal error (reference {reference})"),
        )
    }

    pub fn is_client_authentication_failure(&self) -> bool {
        self.code == "invalid_client"
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> OAuthError {
        if e.is_unavailable() {
            // Not the client's fault and not a server bug: try again shortly (503 Retry-After).
            static OUTAGES: crate::store::outage_log::OutageLog =
                crate::store::outage_log::OutageLog::new("request");
            OUTAGES.failed(&e);
            OAuthError::temporarily_unavailable(DATABASE_UNAVAILABLE)
        } else {
            OAuthError::internal("store", e)
        }
    }
}

/// What a client hears while the database is out of reach.
pub const DATABASE_UNAVAILABLE: &str = "the database is unavailable; try again shortly";
