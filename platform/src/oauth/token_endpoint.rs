//! The token endpoint's logic (RFC 6749 3.2), independent of HTTP, in three steps: `prepare`
//! (tenant, client authentication, grant type checks, built-in grants) and `finish` (issuance) run
//! on the blocking pool; a plugin grant runs between them under the plugin host's time and
//! concurrency bounds.

use grantor_sdk::{ClientAuthentication, ClientInfo, GrantRequest, GrantResult, RequestMetadata};

use super::assertion_client::client_named_by_assertion;
use super::client_auth::{authenticate_client, extract_client_credentials};
use super::error::OAuthError;
use super::grants::{is_built_in_grant_type, run_grant};
use super::issuance::{issue_tokens, AuthorizedGrant};
use super::scopes::narrow_scopes;
use super::wire::{TokenRequest, TokenResponse};
use crate::app::{App, SharedApp};
use crate::plugin_host::{GrantPlugin, PluginCallError};
use crate::store::ServiceProvider;

/// Parameters that never cross into a plugin.
const CLIENT_CREDENTIAL_PARAMS: &[&str] = &["client_id", "client_secret"];

enum Prepared {
    Issued(TokenResponse),
    Plugin {
        plugin: std::sync::Arc<GrantPlugin>,
        client: ServiceProvider,
        request: Box<GrantRequest>,
    },
}

/// Handles one token request end to end.
pub async fn process_token_request(
    app: SharedApp,
    request: TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let worker = app.clone();
    let prepared = blocking(move || prepare(&worker, &request, crate::clock::now_unix())).await?;
    let (plugin, client, grant_request) = match prepared {
        Prepared::Issued(response) => return Ok(response),
        Prepared::Plugin {
            plugin,
            client,
            request,
        } => (plugin, client, request),
    };
    let request_id = grant_request.metadata.request_id.clone();
    let result = plugin
        .handle(*grant_request, app.plugin_services.clone())
        .await
        .map_err(|e| plugin_failure(&request_id, e))?;
    blocking(move || finish_plugin_grant(&app, &client, result, crate::clock::now_unix())).await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, OAuthError> + Send + 'static,
) -> Result<T, OAuthError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| OAuthError::internal("token request task", e))?
}

fn prepare(app: &App, request: &TokenRequest, now: i64) -> Result<Prepared, OAuthError> {
    let tenant = &request.tenant_domain;
    if app.store.find_active_tenant(tenant)?.is_none() {
        return Err(OAuthError::unknown_tenant(tenant));
    }
    let grant_type = request
        .param("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("missing parameter: grant_type"))?;
    let (client, authentication) = match extract_client_credentials(request)? {
        Some(credentials) => (
            authenticate_client(&app.store, tenant, &credentials)?,
            ClientAuthentication::Credentials,
        ),
        None => (
            client_named_by_assertion(
                &app.store,
                tenant,
                grant_type,
                request,
                app.config.oauth.grant_type.jwt.max_assertion_bytes,
            )?,
            ClientAuthentication::Assertion,
        ),
    };
    let plugin = app.plugins.get(grant_type);
    if plugin.is_none() && !is_built_in_grant_type(grant_type) {
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
    let Some(plugin) = plugin else {
        if authentication == ClientAuthentication::Assertion {
            // Only a plugin verifies assertions; a built-in grant needs the client's credentials.
            return Err(OAuthError::invalid_client(
                "client authentication is required",
            ));
        }
        let grant = run_grant(&app.store, grant_type, request, &client, now)?;
        return issue(app, &client, &grant, now).map(Prepared::Issued);
    };
    let request = GrantRequest {
        tenant: tenant.clone(),
        grant_type: grant_type.to_owned(),
        client: ClientInfo {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            allowed_scopes: client.scopes.clone(),
            allowed_grant_types: client.grant_types.clone(),
            authentication,
        },
        params: request
            .params
            .iter()
            .filter(|(k, _)| !CLIENT_CREDENTIAL_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        metadata: RequestMetadata {
            request_id: crate::secrets::random_token(9)
                .map_err(|e| OAuthError::internal("random", e))?,
            now,
            token_endpoint: app.token_endpoint_url(tenant),
            issuer: app.issuer_url(tenant),
        },
    };
    Ok(Prepared::Plugin {
        plugin,
        client,
        request: Box::new(request),
    })
}

/// Turns a plugin's decision into tokens: its scopes narrowed to the client's, a refresh token
/// only when both the plugin and the client allow it.
fn finish_plugin_grant(
    app: &App,
    client: &ServiceProvider,
    result: GrantResult,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let granted = match result {
        GrantResult::Granted(granted) => granted,
        GrantResult::Error(e) => {
            return Err(OAuthError::from_plugin(&e.error, e.error_description))
        }
    };
    let scopes = narrow_scopes(Some(&granted.scopes), &client.scopes)?;
    let grant = AuthorizedGrant {
        subject: Some(granted.subject),
        scopes,
        issue_refresh_token: granted.refresh_token_allowed
            && client.allows_grant_type(super::grants::REFRESH_TOKEN),
    };
    issue(app, client, &grant, now)
}

fn issue(
    app: &App,
    client: &ServiceProvider,
    grant: &AuthorizedGrant,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let response = issue_tokens(&app.store, &app.config.oauth.token, client, grant, now)?;
    tracing::info!(
        tenant = %client.tenant_domain,
        client_id = %client.client_id,
        scope = %response.scope,
        "token issued"
    );
    Ok(response)
}

fn plugin_failure(request_id: &str, error: PluginCallError) -> OAuthError {
    match error {
        PluginCallError::TimedOut { .. } => {
            tracing::warn!(request_id, "{error}");
            OAuthError::temporarily_unavailable("the grant handler did not answer in time")
        }
        other => OAuthError::internal(&format!("grant plugin (request {request_id})"), other),
    }
}
