//! Grant dispatch: built-in grants live here, one file each. Plugins register further grant types
//! beside them.

mod client_credentials;
mod password;
mod refresh_token;

pub use refresh_token::{family_revocation, invalid_token as invalid_refresh_token};

use super::error::OAuthError;
use super::issuance::AuthorizedGrant;
use super::wire::TokenRequest;
use crate::app::App;
use crate::store::ServiceProvider;

pub const CLIENT_CREDENTIALS: &str = "client_credentials";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const PASSWORD: &str = "password";

/// Grant types the host implements itself.
pub const BUILT_IN_GRANT_TYPES: &[&str] = &[CLIENT_CREDENTIALS, REFRESH_TOKEN, PASSWORD];

pub fn is_built_in_grant_type(grant_type: &str) -> bool {
    BUILT_IN_GRANT_TYPES.contains(&grant_type)
}

/// Runs the grant named by `grant_type` for an authenticated client that is allowed it.
pub fn run_grant(
    app: &App,
    grant_type: &str,
    request: &TokenRequest,
    client: &ServiceProvider,
    now: i64,
) -> Result<AuthorizedGrant, OAuthError> {
    match grant_type {
        CLIENT_CREDENTIALS => client_credentials::authorize(request, client),
        REFRESH_TOKEN => refresh_token::authorize(&app.store, &app.writer, request, client, now),
        PASSWORD => password::authorize(app, request, client, now),
        other => Err(OAuthError::unsupported_grant_type(format!(
            "grant type '{}' is not supported",
            other.escape_default()
        ))),
    }
}
