//! Reading a form body safely: bounded size (also without Content-Length), the right content type,
//! and no repeated parameters (RFC 6749 3.2: "MUST NOT be included more than once").

use std::collections::HashMap;

use bytes::{Buf, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::oauth::error::OAuthError;

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Checks `Content-Type` is a form (parameters such as `charset` allowed).
pub fn require_form_content_type(content_type: Option<&str>) -> Result<(), OAuthError> {
    let media_type = content_type
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media_type.eq_ignore_ascii_case(FORM_CONTENT_TYPE) {
        Ok(())
    } else if media_type.is_empty() {
        Err(OAuthError::invalid_request(format!(
            "missing Content-Type; expected {FORM_CONTENT_TYPE}"
        )))
    } else {
        Err(OAuthError::invalid_request(format!(
            "unsupported Content-Type '{}'; expected {FORM_CONTENT_TYPE}",
            media_type.escape_default()
        )))
    }
}

/// How far past the limit a refused body is still read (and discarded), so that an ordinary client
/// that is still sending receives the JSON error instead of a reset connection. Beyond this, the
/// connection is simply closed.
const DRAIN_FACTOR: usize = 16;

/// Why a request body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit (declared or sent).
    TooLarge { limit: usize },
    /// Not all there within the time allowed (`server.body_read_timeout_ms`).
    TooSlow { timeout: std::time::Duration },
    /// The connection failed while it was read.
    Unreadable(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => {
                write!(f, "request body exceeds the limit of {limit} bytes")
            }
            BodyError::TooSlow { timeout } => write!(
                f,
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ),
            BodyError::Unreadable(e) => write!(f, "could not read the request body: {e}"),
        }
    }
}

impl From<BodyError> for OAuthError {
    fn from(error: BodyError) -> OAuthError {
        match error {
            BodyError::TooSlow { .. } => OAuthError::request_timeout(error.to_string()),
            _ => OAuthError::invalid_request(error.to_string()),
        }
    }
}

/// Collects the body, refusing it when it passes `limit` bytes or is not all there within
/// `timeout`. Nothing is admitted or looked up before this returns, so a client that trickles its
/// body holds a connection for `timeout` at most, and never a place meant for work.
pub async fn read_bounded_body<S, B, E>(
    declared_length: Option<u64>,
    body: S,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<BytesMut, BodyError>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: Buf,
    E: std::fmt::Display,
{
    tokio::time::timeout(timeout, collect_bounded(declared_length, body, limit))
        .await
        .unwrap_or(Err(BodyError::TooSlow { timeout }))
}

async fn collect_bounded<S, B, E>(
    declared_length: Option<u64>,
    mut body: S,
    limit: usize,
) -> Result<BytesMut, BodyError>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: Buf,
    E: std::fmt::Display,
{
    let too_large = || BodyError::TooLarge { limit };
    let drain_limit = limit.saturating_mul(DRAIN_FACTOR);
    if declared_length.is_some_and(|n| n > drain_limit as u64) {
        return Err(too_large());
    }
    let mut collected = BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        seen = seen.saturating_add(chunk.remaining());
        if seen > drain_limit {
            return Err(too_large());
        }
        if seen > limit {
            chunk.advance(chunk.remaining());
            continue;
        }
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            collected.extend_from_slice(piece);
            let n = piece.len();
            chunk.advance(n);
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(collected)
}

/// The body of a form POST to a browser endpoint (authorization, logout, UserInfo): its
/// `Content-Type` a form (only when one is given, if `content_type_required` is false), then read
/// within the server's size and time bounds. The refusal carries its status (400; 408 for a body
/// that did not arrive in time) for the caller to answer in its own way.
pub async fn read_form_body<S, B>(
    server: &crate::config::ServerConfig,
    headers: &warp::http::HeaderMap,
    content_type_required: bool,
    body: S,
) -> Result<BytesMut, OAuthError>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &warp::http::HeaderValue| v.to_str().ok())
    };
    let content_type = header(warp::http::header::CONTENT_TYPE);
    if content_type_required || content_type.is_some() {
        require_form_content_type(content_type)?;
    }
    let declared = header(warp::http::header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok());
    Ok(read_bounded_body(
        declared,
        body,
        server.max_body_bytes,
        std::time::Duration::from_millis(server.body_read_timeout_ms),
    )
    .await?)
}

/// Decodes `application/x-www-form-urlencoded` pairs. Parameters without a value count as absent
/// (RFC 6749 3.2); a parameter given twice is refused, naming it.
pub fn parse_unique_params(encoded: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    parse_params(encoded, &[]).map(|(params, _)| params)
}

/// The refusal of a parameter given more than once (RFC 6749 3.2).
pub fn repeated_parameter(name: &str) -> OAuthError {
    OAuthError::invalid_request(format!(
        "parameter '{}' is repeated; each parameter may appear only once",
        name.escape_default()
    ))
}

/// Parameters the token endpoint takes more than once: token exchange's targets (RFC 8693 2.1,
/// RFC 8707 2).
pub const REPEATABLE_TOKEN_PARAMS: &[&str] = &["audience", "resource"];

/// Each repeatable parameter given, with all its values in order.
pub type ParamLists = HashMap<String, Vec<String>>;

/// As [`parse_unique_params`], except that the parameters named in `repeatable` may repeat: each
/// one given is listed with all its values in order (second map), and is in the first map too
/// when given once.
pub fn parse_params(
    encoded: &[u8],
    repeatable: &[&str],
) -> Result<(HashMap<String, String>, ParamLists), OAuthError> {
    let mut params = HashMap::new();
    let mut lists = ParamLists::new();
    for (name, value) in form_urlencoded::parse(encoded) {
        if value.is_empty() {
            continue;
        }
        if repeatable.contains(&name.as_ref()) {
            lists
                .entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
            continue;
        }
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(repeated_parameter(&name));
        }
    }
    for (name, values) in &lists {
        if let [only] = values.as_slice() {
            params.insert(name.clone(), only.clone());
        }
    }
    Ok((params, lists))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    #[test]
    fn content_types() {
        assert!(require_form_content_type(Some("application/x-www-form-urlencoded")).is_ok());
        assert!(require_form_content_type(Some(
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
        ))
        .is_ok());
        let err = require_form_content_type(Some("application/json")).unwrap_err();
        assert!(err.description.contains("application/json"));
        assert!(require_form_content_type(None).is_err());
    }

    #[test]
    fn params() {
        let p = parse_unique_params(b"grant_type=client_credentials&scope=a+b&empty=").unwrap();
        assert_eq!(p["scope"], "a b");
        assert!(!p.contains_key("empty"));
        let err = parse_unique_params(b"scope=a&scope=b").unwrap_err();
        assert!(err.description.contains("'scope' is repeated"));
        // An empty duplicate is an omitted parameter, not a repetition.
        assert!(parse_unique_params(b"scope=a&scope=").is_ok());
        // Token exchange's targets repeat; once, they are plain parameters too.
        let (p, lists) = parse_params(
            b"audience=a&resource=r&audience=b&x=1",
            REPEATABLE_TOKEN_PARAMS,
        )
        .unwrap();
        assert_eq!(lists["audience"], ["a", "b"]);
        assert!(!p.contains_key("audience"));
        assert_eq!(p["resource"], "r");
        assert_eq!(lists["resource"], ["r"]);
        assert!(parse_params(b"x=1&x=2", REPEATABLE_TOKEN_PARAMS).is_err());
    }

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<&'static [u8], String>> + Unpin {
        stream::iter(parts.iter().map(|p| Ok(*p)).collect::<Vec<_>>())
    }

    const AMPLE: std::time::Duration = std::time::Duration::from_secs(60);

    #[tokio::test]
    async fn body_limits() {
        let body = read_bounded_body(None, chunks(&[b"ab", b"cd"]), 4, AMPLE)
            .await
            .unwrap();
        assert_eq!(&body[..], b"abcd");
        // Streamed without a declared length, cut off past the limit.
        let err = read_bounded_body(None, chunks(&[b"abc", b"de"]), 4, AMPLE)
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge { limit: 4 });
        assert!(err.to_string().contains("exceeds the limit of 4 bytes"));
        // Refused from the declared length alone when far too large.
        assert!(read_bounded_body(Some(65), chunks(&[]), 4, AMPLE)
            .await
            .is_err());
        // Slightly too large: read to the end, then refused.
        let err = read_bounded_body(Some(5), chunks(&[b"abcde"]), 4, AMPLE)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exceeds"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_is_refused_in_time() {
        // One chunk, then nothing: the stream never ends.
        let stalled = futures_util::stream::iter([Ok::<_, String>(&b"grant_type=cl"[..])])
            .chain(futures_util::stream::pending());
        let timeout = std::time::Duration::from_secs(5);
        let err = read_bounded_body(None, Box::pin(stalled), 1024, timeout)
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooSlow { timeout });
        let oauth = OAuthError::from(err);
        assert_eq!((oauth.status, oauth.code), (408, "invalid_request"));
    }
}
