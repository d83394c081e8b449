//! The token endpoint's logic (RFC 6749 3.2), independent of HTTP: tenant, client authentication,
//! grant dispatch, issuance. Blocking: runs on the blocking pool.

use super::client_auth::{authenticate_client, extract_client_credentials};
use super::error::OAuthError;
use super::grants::{is_built_in_grant_type, run_grant};
use super::issuance::issue_tokens;
use super::wire::{TokenRequest, TokenResponse};
use crate::app::App;

pub fn handle_token_request(
    app: &App,
    request: &TokenRequest,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let tenant = &request.tenant_domain;
    if app.store.find_active_tenant(tenant)?.is_none() {
        return Err(OAuthError::unknown_tenant(tenant));
    }
    let grant_type = request
        .param("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("missing parameter: grant_type"))?;
    let credentials = extract_client_credentials(request)?
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    let client = authenticate_client(&app.store, tenant, &credentials)?;
    if !is_built_in_grant_type(grant_type) {
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
    let grant = run_grant(grant_type, request, &client)?;
    let response = issue_tokens(&app.store, &app.config.oauth.token, &client, &grant, now)?;
    tracing::info!(
        tenant = %tenant,
        client_id = %client.client_id,
        grant_type = %grant_type,
        scope = %response.scope,
        "token issued"
    );
    Ok(response)
}
