//! The one place that turns OAuth results into HTTP responses: JSON, `Cache-Control: no-store`
//! (RFC 6749 5.1), and a `WWW-Authenticate` challenge on `invalid_client` (5.2).

use serde::Serialize;
use warp::http::{header, HeaderValue, Response, StatusCode};
use warp::hyper::body::Bytes;

use crate::oauth::error::OAuthError;
use crate::oauth::wire::ErrorResponse;

pub type HttpResponse = Response<warp::hyper::body::Bytes>;

pub fn json_response(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A JSON answer readers may cache for `max_age` seconds (published keys, metadata), instead of
/// the `no-store` of token responses.
pub fn cacheable_json_response(body: &impl Serialize, max_age: u64) -> HttpResponse {
    let mut response = json_response(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.remove(header::PRAGMA);
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}

pub fn oauth_error_response(error: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = json_response(
        status,
        &ErrorResponse {
            error: error.code,
            error_description: &error.description,
        },
    );
    if error.is_client_authentication_failure() {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"grantor\""),
        );
    }
    // RFC 9110 10.2.3: when to try again, so clients back off instead of hammering.
    let retry_after = match (error.retry_after, status) {
        (Some(seconds), _) => Some(HeaderValue::from(seconds)),
        (None, StatusCode::SERVICE_UNAVAILABLE) => Some(HeaderValue::from_static("1")),
        (None, _) => None,
    };
    if let Some(value) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
