//! Grant dispatch: built-in grants live here, one file each. Plugins (later) register further
//! grant types beside them.

mod client_credentials;

use super::error::OAuthError;
use super::issuance::AuthorizedGrant;
use super::wire::TokenRequest;
use crate::store::ServiceProvider;

pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// Grant types the host implements itself.
pub const BUILT_IN_GRANT_TYPES: &[&str] = &[CLIENT_CREDENTIALS];

pub fn is_built_in_grant_type(grant_type: &str) -> bool {
    BUILT_IN_GRANT_TYPES.contains(&grant_type)
}

/// Runs the grant named by `grant_type` for an authenticated client that is allowed it.
pub fn run_grant(
    grant_type: &str,
    request: &TokenRequest,
    client: &ServiceProvider,
) -> Result<AuthorizedGrant, OAuthError> {
    match grant_type {
        CLIENT_CREDENTIALS => client_credentials::authorize(request, client),
        other => Err(OAuthError::unsupported_grant_type(format!(
            "grant type '{}' is not supported",
            other.escape_default()
        ))),
    }
}
