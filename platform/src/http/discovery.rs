//! A tenant's metadata documents, cacheable like its JWKS:
//! `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/openid-configuration`
//! (OpenID Connect Discovery), each also under `/t/{tenant}/`, and the OpenID document also where
//! OpenID clients look for it, at the issuer plus `/.well-known/openid-configuration`.

use super::reply::{cacheable_json_response, oauth_error_response, HttpResponse};
use crate::app::SharedApp;
use crate::oauth::discovery::{authorization_server_metadata, openid_provider_metadata};
use crate::oauth::error::OAuthError;

#[derive(Debug, Clone, Copy)]
pub enum Document {
    AuthorizationServer,
    OpenIdProvider,
}

pub async fn metadata(
    document: Document,
    app: SharedApp,
    path_tenant: Option<String>,
) -> HttpResponse {
    let tenant = path_tenant.unwrap_or_else(|| app.config.server.default_tenant.clone());
    let worker = app.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        if !worker.oauth.store.cached_tenant_is_active(&tenant)? {
            return Err(OAuthError::unknown_tenant(&tenant));
        }
        match document {
            Document::AuthorizationServer => {
                Ok(authorization_server_metadata(&worker.oauth, &tenant))
            }
            Document::OpenIdProvider => {
                openid_provider_metadata(&worker.oauth, &tenant, crate::clock::now_unix())
            }
        }
    })
    .await;
    match outcome {
        Ok(Ok(metadata)) => {
            cacheable_json_response(&metadata, app.config.oauth.signing.jwks_max_age_seconds)
        }
        Ok(Err(e)) => oauth_error_response(&e),
        Err(e) => oauth_error_response(&OAuthError::internal("discovery task", e)),
    }
}
