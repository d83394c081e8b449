//! `GET /.well-known/oauth-authorization-server` and `GET /t/{tenant}/.well-known/...`: the
//! tenant's RFC 8414 metadata, cacheable like its JWKS.

use super::reply::{cacheable_json_response, oauth_error_response, HttpResponse};
use crate::app::SharedApp;
use crate::oauth::discovery::authorization_server_metadata;
use crate::oauth::error::OAuthError;

pub async fn metadata(app: SharedApp, path_tenant: Option<String>) -> HttpResponse {
    let tenant = path_tenant.unwrap_or_else(|| app.config.server.default_tenant.clone());
    let worker = app.clone();
    let lookup = tenant.clone();
    let active =
        tokio::task::spawn_blocking(move || worker.store.cached_tenant_is_active(&lookup)).await;
    match active {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return oauth_error_response(&OAuthError::unknown_tenant(&tenant)),
        Ok(Err(e)) => return oauth_error_response(&e.into()),
        Err(e) => return oauth_error_response(&OAuthError::internal("discovery task", e)),
    }
    cacheable_json_response(
        &authorization_server_metadata(&app, &tenant),
        app.config.oauth.signing.jwks_max_age,
    )
}
