//! Stage 1: who is asking, for what. The tenant must be active, the grant type named, the client
//! authenticated (by its secret, its signed assertion, or, for a JWT bearer grant only, as the
//! client an identity provider's service account is bound to), the grant type supported and
//! allowed to that client.

use std::sync::Arc;

use grantor_sdk::ClientAuthentication;

use crate::blocking::OnBlockingThread;
use crate::oauth::client_auth::authenticate as authenticate_client;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::is_built_in_grant_type;
use crate::oauth::service_account::client_named_by_assertion;
use crate::oauth::wire::TokenRequest;
use crate::store::{Client, ReplayKey};

/// Who decides the grant: the host itself, or the plugin registered for its grant type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    BuiltIn,
    Plugin,
}

/// A request whose client is known and may ask for its grant type.
pub struct Authenticated {
    pub client: Arc<Client>,
    pub grant_type: String,
    /// How the client proved itself: by its credentials, or only through the assertion a plugin
    /// has yet to verify (a service account).
    pub method: ClientAuthentication,
    /// The client's own assertion (`private_key_jwt`), recorded as used when the request commits.
    pub replay_key: Option<ReplayKey>,
}

pub fn authenticate(
    ctx: &OAuthContext,
    on: OnBlockingThread,
    request: &TokenRequest,
    handler: Handler,
    now: i64,
) -> Result<Authenticated, OAuthError> {
    let tenant = &request.tenant_domain;
    if !ctx.store.cached_tenant_is_active(tenant)? {
        return Err(OAuthError::unknown_tenant(tenant));
    }
    let grant_type = request
        .param("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("missing parameter: grant_type"))?;
    let (client, method, replay_key) = match authenticate_client(ctx, on, request, now)? {
        Some(authenticated) => (
            authenticated.client,
            ClientAuthentication::Credentials,
            authenticated.replay_key,
        ),
        None => (
            client_named_by_assertion(
                &ctx.store,
                tenant,
                grant_type,
                request,
                ctx.settings.grant_type.jwt.max_assertion_bytes,
            )?,
            ClientAuthentication::Assertion,
            None,
        ),
    };
    if handler == Handler::BuiltIn && !is_built_in_grant_type(grant_type) {
        return Err(OAuthError::unsupported_grant_type(format!(
            "grant type '{}' is not supported",
            grant_type.escape_default()
        )));
    }
    if !client.allows_grant_type(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "client is not allowed the grant type '{grant_type}'"
        )));
    }
    if handler == Handler::BuiltIn && method == ClientAuthentication::Assertion {
        // Only a plugin verifies assertions; a built-in grant needs the client's credentials.
        return Err(OAuthError::invalid_client(
            "client authentication is required",
        ));
    }
    Ok(Authenticated {
        client,
        grant_type: grant_type.to_owned(),
        method,
        replay_key,
    })
}
