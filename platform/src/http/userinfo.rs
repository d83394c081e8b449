//! `GET|POST /oauth2/userinfo` and `/t/{tenant}/oauth2/userinfo` (OpenID Connect Core 5.3): the
//! signed-in user's claims, for an access token granted with `openid`, sent as a bearer token in
//! the `Authorization` header or (POST) the form's `access_token` (RFC 6750 2.1, 2.2; never both).
//! Refusals carry a `WWW-Authenticate: Bearer` challenge (RFC 6750 3).

use bytes::Buf;
use futures_util::Stream;
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};

use super::form::{parse_unique_params, read_form_body};
use super::reply::{json_response, HttpResponse};
use crate::app::SharedApp;
use crate::oauth::userinfo::{userinfo, BearerRefusal};
use crate::oauth::wire::ErrorResponse;

pub async fn userinfo_endpoint<S, B>(
    app: SharedApp,
    path_tenant: Option<String>,
    headers: HeaderMap,
    body: Option<S>,
) -> HttpResponse
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let tenant = path_tenant.unwrap_or_else(|| app.config.server.default_tenant.clone());
    let from_header = match bearer_from_header(&headers) {
        Ok(token) => token,
        Err(description) => {
            return challenge(StatusCode::BAD_REQUEST, "invalid_request", description)
        }
    };
    let from_body = match body {
        None => None,
        Some(body) => {
            // A POST without a form body may still carry its token in the header.
            let params = match read_form_body(&app.config.server, &headers, false, body).await {
                Ok(bytes) => parse_unique_params(&bytes),
                Err(e) => Err(e),
            };
            match params {
                Ok(mut params) => params.remove("access_token"),
                Err(e) => {
                    return challenge(
                        super::authorize::status_of(&e),
                        "invalid_request",
                        &e.description,
                    )
                }
            }
        }
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return challenge(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the access token was sent twice; use one method (RFC 6750 2)",
            )
        }
        (Some(token), None) | (None, Some(token)) => token,
        (None, None) => return no_token(),
    };
    let worker = app.clone();
    let answer = tokio::task::spawn_blocking(move || {
        userinfo(&worker.oauth, &tenant, &token, crate::clock::now_unix())
    })
    .await;
    match answer {
        Ok(Ok(Ok(claims))) => json_response(StatusCode::OK, &claims),
        Ok(Ok(Err(BearerRefusal::InvalidToken))) => challenge(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid, expired or revoked",
        ),
        Ok(Ok(Err(BearerRefusal::InsufficientScope))) => challenge(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token was not granted the openid scope for a user",
        ),
        Ok(Err(e)) => {
            let error = crate::oauth::error::OAuthError::from(e);
            super::reply::oauth_error_response(&error)
        }
        Err(e) => super::reply::oauth_error_response(&crate::oauth::error::OAuthError::internal(
            "userinfo task",
            e,
        )),
    }
}

/// The bearer token of the `Authorization` header, if it has one.
fn bearer_from_header(headers: &HeaderMap) -> Result<Option<String>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("the Authorization header is repeated");
    }
    let value = value
        .to_str()
        .map_err(|_| "the Authorization header is not text")?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err("the Authorization header must be 'Bearer <access token>'"),
    }
}

/// RFC 6750 3.1: a request without authentication gets the challenge without an error code.
fn no_token() -> HttpResponse {
    let mut response = json_response(
        StatusCode::UNAUTHORIZED,
        &ErrorResponse {
            error: "invalid_token",
            error_description: "send an access token as a bearer token",
        },
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"grantor\""),
    );
    response
}

fn challenge(status: StatusCode, error: &'static str, description: &str) -> HttpResponse {
    let mut response = json_response(
        status,
        &ErrorResponse {
            error,
            error_description: description,
        },
    );
    // The description is this server's own text: no quote or backslash to escape.
    let value = format!(
        "Bearer realm=\"grantor\", error=\"{error}\", error_description=\"{}\"",
        description.replace(['"', '\\'], "'")
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
