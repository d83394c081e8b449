//! `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke` (RFC 7009), and both under
//! `/t/{tenant}/`. Client-authenticated like the token endpoint; the form is read the same way.

use bytes::Buf;
use futures_util::Stream;
use tracing::Instrument;
use warp::http::{HeaderMap, StatusCode};

use super::reply::{json_response, oauth_error_response, HttpResponse};
use super::token::read_token_request;
use crate::app::SharedApp;
use crate::oauth::error::OAuthError;
use crate::oauth::introspection::{introspect, revoke, Decided};

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
    let started = std::time::Instant::now();
    // One line per request, as for token requests: a client that fails to authenticate here is
    // as worth seeing as one at the token endpoint. Never the token itself.
    let span = match operation {
        Operation::Introspect => tracing::info_span!(
            "introspection_request",
            request_id = tracing::field::Empty,
            tenant = tracing::field::Empty,
            client_id = tracing::field::Empty,
        ),
        Operation::Revoke => tracing::info_span!(
            "revocation_request",
            request_id = tracing::field::Empty,
            tenant = tracing::field::Empty,
            client_id = tracing::field::Empty,
        ),
    };
    let outcome = async {
        let endpoint = match operation {
            Operation::Introspect => "oauth2/introspect",
            Operation::Revoke => "oauth2/revoke",
        };
        let request = read_token_request(
            &app,
            endpoint,
            path_tenant,
            &raw_query,
            &headers,
            remote,
            body,
        )
        .await?;
        tracing::Span::current().record("request_id", request.request_id.as_str());
        let worker = app.clone();
        let span = tracing::Span::current();
        // On the token work pool, as token requests: a lookup by key and little else, for which
        // a thread of the runtime's blocking pool, woken for each request, cost more than the
        // work. Its writes are committed after, without holding the pool's thread.
        let decided = app
            .oauth
            .token_work
            .run(move |on| -> Result<Decided, OAuthError> {
                let _entered = span.enter();
                if !worker
                    .oauth
                    .store
                    .cached_tenant_is_active(&request.tenant_domain)?
                {
                    return Err(OAuthError::unknown_tenant(&request.tenant_domain));
                }
                let now = crate::clock::now_unix();
                match operation {
                    Operation::Introspect => introspect(&worker.oauth, on, &request, now),
                    Operation::Revoke => revoke(&worker.oauth, on, &request, now),
                }
            })
            .await
            .unwrap_or_else(|e| Err(OAuthError::internal("introspection task", e)))?;
        decided.answer(&app.oauth).await
    }
    .instrument(span.clone())
    .await;
    let what = match operation {
        Operation::Introspect => "introspection request",
        Operation::Revoke => "revocation request",
    };
    super::token::log_request_outcome(&span, what, "ok", outcome.as_ref().err(), started.elapsed());
    match outcome {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => oauth_error_response(&e),
    }
}
