//! `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke` (RFC 7009), and both under
//! `/t/{tenant}/`. Client-authenticated like the token endpoint; the form is read the same way.

use bytes::Buf;
use futures_util::Stream;
use warp::http::{HeaderMap, StatusCode};

use super::reply::{json_response, oauth_error_response, HttpResponse};
use super::token::read_token_request;
use crate::app::SharedApp;
use crate::oauth::error::OAuthError;
use crate::oauth::introspection::{introspect, revoke};

#[derive(Clone, Copy)]
pub enum Operation {
    Introspect,
    Revoke,
}

pub async fn endpoint<S, B>(
    operation: Operation,
    app: SharedApp,
    path_tenant: Option<String>,
    raw_query: String,
    headers: HeaderMap,
    remote: Option<std::net::SocketAddr>,
    body: S,
) -> HttpResponse
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let request =
        match read_token_request(&app, path_tenant, &raw_query, &headers, remote, body).await {
            Ok(request) => request,
            Err(e) => return oauth_error_response(&e),
        };
    let worker = app.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, OAuthError> {
        if !worker
            .store
            .cached_tenant_is_active(&request.tenant_domain)?
        {
            return Err(OAuthError::unknown_tenant(&request.tenant_domain));
        }
        let now = crate::clock::now_unix();
        match operation {
            Operation::Introspect => introspect(&worker, &request, now),
            Operation::Revoke => revoke(&worker, &request, now).map(|()| serde_json::json!({})),
        }
    })
    .await;
    match outcome {
        Ok(Ok(body)) => json_response(StatusCode::OK, &body),
        Ok(Err(e)) => oauth_error_response(&e),
        Err(e) => oauth_error_response(&OAuthError::internal("introspection task", e)),
    }
}
