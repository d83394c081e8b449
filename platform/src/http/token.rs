//! `POST /oauth2/token` and `POST /t/{tenant}/oauth2/token` (plus `?tenantDomain=`).

use std::time::Instant;

use tracing::Instrument;

use bytes::Buf;
use futures_util::Stream;
use warp::http::{HeaderMap, StatusCode};

use super::form::{
    parse_params, parse_unique_params, read_bounded_body, repeated_parameter,
    require_form_content_type, REPEATABLE_TOKEN_PARAMS,
};
use super::reply::{json_response, oauth_error_response, HttpResponse};
use crate::app::SharedApp;
use crate::oauth::error::OAuthError;
use crate::oauth::token::process_token_request;
use crate::oauth::wire::TokenRequest;
use crate::tenancy::resolve_tenant_domain;
use grantor_sdk::wire::TOKEN_EXCHANGE_GRANT_TYPE;

pub async fn token_endpoint<S, B>(
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
    let started = Instant::now();
    // One line per request, with what the request is (filled in as it becomes known) and how it
    // ended. Never a secret, token, password or assertion: only these fields.
    let span = tracing::info_span!(
        "token_request",
        request_id = tracing::field::Empty,
        tenant = tracing::field::Empty,
        grant_type = tracing::field::Empty,
        client_id = tracing::field::Empty,
    );
    // The tenant and grant type as the metrics may name them (known values only).
    let labels = std::sync::OnceLock::<(String, String)>::new();
    // The body is read (bounded in size and time) before admission: a client that trickles its
    // body holds its connection, never one of the places meant for work.
    let result = async {
        let request = read_token_request(
            &app,
            TOKEN_ENDPOINT,
            path_tenant,
            &raw_query,
            &headers,
            remote,
            body,
        )
        .await?;
        tracing::Span::current().record("request_id", request.request_id.as_str());
        let _ = labels.set(metric_labels(&app, &request));
        process_admitted(&app, request).await
    }
    .instrument(span.clone())
    .await;
    let elapsed = started.elapsed();
    let (tenant, grant_type) = labels
        .into_inner()
        .unwrap_or_else(|| ("unknown".to_owned(), "other".to_owned()));
    crate::metrics::metrics().token_request(
        crate::metrics::RequestLabels {
            tenant,
            grant_type,
            outcome: match &result {
                Ok(_) => "issued".to_owned(),
                Err(e) => e.code.to_owned(),
            },
        },
        elapsed,
        crate::clock::now_unix(),
    );
    log_request_outcome(
        &span,
        "token request",
        "issued",
        result.as_ref().err(),
        elapsed,
    );
    match result {
        Ok(token) => json_response(StatusCode::OK, &token),
        Err(error) => oauth_error_response(&error),
    }
}

/// The one line a request to a client-authenticated endpoint leaves in the log, in its span (its
/// request id, tenant and client): how it ended and how long it took. Never the request's secrets:
/// only these fields and the refusal's description.
pub(super) fn log_request_outcome(
    span: &tracing::Span,
    what: &str,
    success: &str,
    error: Option<&OAuthError>,
    elapsed: std::time::Duration,
) {
    let elapsed_us = elapsed.as_micros() as u64;
    span.in_scope(|| match error {
        None => tracing::info!(outcome = success, status = 200, elapsed_us, "{what}"),
        Some(e) => tracing::info!(
            outcome = e.code,
            status = e.status,
            description = %e.description,
            elapsed_us,
            "{what}"
        ),
    });
}

/// Admission, then the request within its deadline. Past `max_in_flight` a request waits
/// briefly, then is told to come back, rather than queueing until the client gives up.
async fn process_admitted(
    app: &SharedApp,
    request: TokenRequest,
) -> Result<crate::oauth::wire::TokenResponse, OAuthError> {
    let Some(_admitted) = admit(app).await else {
        return Err(OAuthError::temporarily_unavailable(
            "the server is at capacity; retry shortly",
        ));
    };
    let deadline = std::time::Duration::from_millis(app.config.server.request_deadline_ms);
    // Whatever is still running past the deadline (a commit waiting for a database that is down)
    // finishes or fails on its own; this request has its answer. A commit landing after the
    // answer only stores a token nobody received.
    match tokio::time::timeout(deadline, process_token_request(app.oauth.clone(), request)).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                deadline_ms = app.config.server.request_deadline_ms,
                "token request passed its deadline"
            );
            Err(OAuthError::temporarily_unavailable(
                "the request could not be completed in time; try again shortly",
            ))
        }
    }
}

/// The request's tenant and grant type for the metrics: `unknown` for a tenant that does not
/// exist and `other` for a grant type this server does not serve, so clients cannot grow the
/// label sets.
fn metric_labels(app: &SharedApp, request: &TokenRequest) -> (String, String) {
    let tenant = match app
        .oauth
        .store
        .cached_tenant_is_active(&request.tenant_domain)
    {
        Ok(true) => request.tenant_domain.clone(),
        _ => "unknown".to_owned(),
    };
    let grant_type = match request.param("grant_type") {
        Some(g) if crate::oauth::grants::BUILT_IN_GRANT_TYPES.contains(&g) => g.to_owned(),
        Some(g) if app.oauth.plugins.get(g).is_some() => g.to_owned(),
        _ => "other".to_owned(),
    };
    (tenant, grant_type)
}

/// A short name for a request, for its log lines and its plugin's (never derived from what it
/// carries): this process's random prefix, drawn once, and the request's number in it. Unique
/// across nodes and restarts without a draw of its own per request (a call into OpenSSL's
/// generator is about a microsecond, 1 % of a token request's CPU). Never shown to a client.
fn request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix =
        PREFIX.get_or_init(|| crate::secrets::random_token(6).unwrap_or_else(|_| "-".to_owned()));
    let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}.{sequence:x}")
}

async fn admit(app: &SharedApp) -> Option<tokio::sync::SemaphorePermit<'_>> {
    if let Ok(permit) = app.admission.try_acquire() {
        return Some(permit);
    }
    let wait = std::time::Duration::from_millis(app.config.server.overload_wait_ms);
    match tokio::time::timeout(wait, app.admission.acquire()).await {
        Ok(Ok(permit)) => Some(permit),
        _ => {
            tracing::warn!(
                max_in_flight = app.config.server.max_in_flight,
                "token request turned away: server at capacity"
            );
            None
        }
    }
}

/// The token endpoint, below a tenant's prefix.
pub const TOKEN_ENDPOINT: &str = "oauth2/token";

/// Reads a form POST addressed to a tenant's `endpoint` (token, introspection and revocation
/// requests alike).
pub(super) async fn read_token_request<S, B>(
    app: &SharedApp,
    endpoint: &'static str,
    path_tenant: Option<String>,
    raw_query: &str,
    headers: &HeaderMap,
    remote: Option<std::net::SocketAddr>,
    body: S,
) -> Result<TokenRequest, OAuthError>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let header_text = |name: warp::http::header::HeaderName| -> Result<Option<&str>, OAuthError> {
        let mut values = headers.get_all(&name).iter();
        let value = values.next();
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "header {name} is repeated"
            )));
        }
        value
            .map(|v| {
                v.to_str().map_err(|_| {
                    OAuthError::invalid_request(format!("header {name} is not valid text"))
                })
            })
            .transpose()
    };
    require_form_content_type(header_text(warp::http::header::CONTENT_TYPE)?)?;
    let query = parse_unique_params(raw_query.as_bytes())?;
    let tenant_domain = resolve_tenant_domain(
        path_tenant.as_deref(),
        query.get("tenantDomain").map(String::as_str),
        &app.config.server.default_tenant,
    )
    .map_err(OAuthError::invalid_request)?;
    let declared_length =
        header_text(warp::http::header::CONTENT_LENGTH)?.and_then(|v| v.trim().parse::<u64>().ok());
    let body = read_bounded_body(
        declared_length,
        body,
        app.config.server.max_body_bytes,
        std::time::Duration::from_millis(app.config.server.body_read_timeout_ms),
    )
    .await?;
    let (params, param_lists) = parse_params(&body, REPEATABLE_TOKEN_PARAMS)?;
    // Only token exchange takes its targets more than once (RFC 8693 2.1); to every other grant a
    // repeated parameter is the error it always was.
    if params.get("grant_type").map(String::as_str) != Some(TOKEN_EXCHANGE_GRANT_TYPE) {
        if let Some((name, _)) = param_lists.iter().find(|(_, values)| values.len() > 1) {
            return Err(repeated_parameter(name));
        }
    }
    tracing::Span::current().record("tenant", tenant_domain.as_str());
    if let Some(grant_type) = params.get("grant_type") {
        tracing::Span::current().record("grant_type", grant_type.as_str());
    }
    Ok(TokenRequest {
        request_id: request_id(),
        tenant_domain,
        endpoint,
        authorization: header_text(warp::http::header::AUTHORIZATION)?.map(str::to_owned),
        remote_address: remote.map(|a| {
            crate::client_network::client_address(
                a.ip(),
                headers,
                &app.config.server.trusted_proxies,
            )
        }),
        params,
        param_lists,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_never_repeat_and_carry_the_process_prefix() {
        let ids: Vec<String> = (0..1000).map(|_| super::request_id()).collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let prefix = |id: &str| id.rsplit_once('.').map(|(p, _)| p.to_owned());
        let first = prefix(&ids[0]).unwrap();
        // Six random bytes: another process's ids differ from these.
        assert_eq!(first.len(), 8);
        assert!(ids
            .iter()
            .all(|id| prefix(id).as_deref() == Some(first.as_str())));
    }
}
