//! The gateway's own answers (RFC 6750 3 for token problems): a JSON body with `error` and
//! `error_description`, and for 401 and 403 a `WWW-Authenticate: Bearer` challenge saying the same.
//! No description ever contains the token.

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use warp::http::{header, HeaderValue, Response, StatusCode};

/// What the gateway answers with: its own JSON, or an upstream's body as it streams (the same
/// boxed body type it sends upstream).
pub type GatewayBody = super::forward::UpstreamBody;
pub type GatewayResponse = Response<GatewayBody>;

/// A body that is all here.
pub fn full(bytes: impl Into<Bytes>) -> GatewayBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn answer(status: StatusCode, error: &str, description: &str) -> GatewayResponse {
    let body = json!({ "error": error, "error_description": description }).to_string();
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A quoted-string for a challenge parameter: quotes and backslashes escaped, controls dropped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(if c.is_ascii() { c } else { '?' });
    }
    out.push('"');
    out
}

fn challenge(response: &mut GatewayResponse, parameters: &[(&str, &str)]) {
    let mut value = String::from("Bearer realm=\"grantor\"");
    for (name, text) in parameters {
        value.push_str(&format!(", {name}={}", quoted(text)));
    }
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
}

/// 401 without a token (none, or credentials of another scheme): the challenge names no error
/// (RFC 6750 3.1: "If the request lacks any authentication information ... the resource server
/// SHOULD NOT include an error code").
pub fn no_token() -> GatewayResponse {
    let mut response = answer(
        StatusCode::UNAUTHORIZED,
        "missing_token",
        "the request has no bearer token",
    );
    challenge(&mut response, &[]);
    response
}

/// 400: bearer credentials that are malformed (RFC 6750 3.1 `invalid_request`).
pub fn malformed_credentials(description: &str) -> GatewayResponse {
    let mut response = answer(StatusCode::BAD_REQUEST, "invalid_request", description);
    challenge(
        &mut response,
        &[
            ("error", "invalid_request"),
            ("error_description", description),
        ],
    );
    response
}

/// 401: a token that is malformed, expired or untrusted.
pub fn invalid_token(description: &str) -> GatewayResponse {
    let mut response = answer(StatusCode::UNAUTHORIZED, "invalid_token", description);
    challenge(
        &mut response,
        &[
            ("error", "invalid_token"),
            ("error_description", description),
        ],
    );
    response
}

/// 403: a valid token without the scopes the resource needs.
pub fn insufficient_scope(required: &[String]) -> GatewayResponse {
    let scope = required.join(" ");
    let description = format!("the resource needs the scopes: {scope}");
    let mut response = answer(StatusCode::FORBIDDEN, "insufficient_scope", &description);
    challenge(
        &mut response,
        &[
            ("error", "insufficient_scope"),
            ("error_description", &description),
            ("scope", &scope),
        ],
    );
    response
}

/// 400: a request the gateway will not route (a path that cannot be normalised safely).
pub fn bad_request(description: &str) -> GatewayResponse {
    answer(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// 405: the API has resources at this path, none for this method (RFC 9110 15.5.6).
pub fn method_not_allowed(allow: &str) -> GatewayResponse {
    let mut response = answer(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "the API has no resource for this method at this path",
    );
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

pub fn not_found(description: &str) -> GatewayResponse {
    answer(StatusCode::NOT_FOUND, "not_found", description)
}

pub fn payload_too_large(limit: usize) -> GatewayResponse {
    answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        &format!("the request body is larger than {limit} bytes"),
    )
}

/// 408: the client stopped sending its request body.
pub fn request_timeout(idle: std::time::Duration) -> GatewayResponse {
    answer(
        StatusCode::REQUEST_TIMEOUT,
        "invalid_request",
        &format!(
            "the request body stopped arriving (nothing for {} ms)",
            idle.as_millis()
        ),
    )
}

/// The gateway's own failure (a claim transformer that fails); the log has the detail.
pub fn internal_error() -> GatewayResponse {
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the gateway could not process the token's claims",
    )
}

pub fn bad_gateway() -> GatewayResponse {
    answer(
        StatusCode::BAD_GATEWAY,
        "bad_gateway",
        "the upstream service failed",
    )
}

pub fn gateway_timeout() -> GatewayResponse {
    answer(
        StatusCode::GATEWAY_TIMEOUT,
        "gateway_timeout",
        "the upstream service did not answer in time",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_say_what_the_body_says() {
        let response = invalid_token("the token's issuer \"x\" is not trusted");
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="grantor", error="invalid_token", error_description="the token's issuer \"x\" is not trusted""#
        );
        let response = no_token();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="grantor""#
        );
        let response = insufficient_scope(&["orders".into(), "admin".into()]);
        assert_eq!(response.status(), 403);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(challenge.contains(r#"error="insufficient_scope""#));
        assert!(
            challenge.ends_with(r#"scope="orders admin""#),
            "{challenge}"
        );
    }
}
