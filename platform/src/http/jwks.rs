//! `GET /oauth2/jwks` and `GET /t/{tenant}/oauth2/jwks`: the tenant's public signing keys, which
//! readers may cache for `oauth.signing.jwks_max_age_seconds` seconds.

use warp::http::{header, HeaderValue};

use super::reply::{cacheable_json_response, oauth_error_response, HttpResponse};
use crate::app::SharedApp;
use crate::oauth::error::OAuthError;

pub async fn jwks(app: SharedApp, path_tenant: Option<String>) -> HttpResponse {
    let tenant = path_tenant.unwrap_or_else(|| app.config.server.default_tenant.clone());
    let worker = app.clone();
    let lookup_tenant = tenant.clone();
    let found = tokio::task::spawn_blocking(move || {
        worker
            .oauth
            .tenant_keys()
            .published_key_set(&lookup_tenant, crate::clock::now_unix())
    })
    .await;
    let key_set = match found {
        Ok(Ok(Some(key_set))) => key_set,
        Ok(Ok(None)) => return oauth_error_response(&OAuthError::unknown_tenant(&tenant)),
        Ok(Err(e)) => return oauth_error_response(&e.into()),
        Err(e) => return oauth_error_response(&OAuthError::internal("jwks task", e)),
    };
    let mut response =
        cacheable_json_response(&key_set, app.config.oauth.signing.jwks_max_age_seconds);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}
