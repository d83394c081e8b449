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

/// Collects the body, refusing it when it passes `limit` bytes.
pub async fn read_bounded_body<S, B, E>(
    declared_length: Option<u64>,
    mut body: S,
    limit: usize,
) -> Result<BytesMut, OAuthError>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: Buf,
    E: std::fmt::Display,
{
    let too_large =
        || OAuthError::invalid_request(format!("request body exceeds the limit of {limit} bytes"));
    let drain_limit = limit.saturating_mul(DRAIN_FACTOR);
    if declared_length.is_some_and(|n| n > drain_limit as u64) {
        return Err(too_large());
    }
    let mut collected = BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| {
            OAuthError::invalid_request(format!("could not read the request body: {e}"))
        })?;
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

/// Decodes `application/x-www-form-urlencoded` pairs. Parameters without a value count as absent
/// (RFC 6749 3.2); a parameter given twice is refused, naming it.
pub fn parse_unique_params(encoded: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut params = HashMap::new();
    for (name, value) in form_urlencoded::parse(encoded) {
        if value.is_empty() {
            continue;
        }
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(OAuthError::invalid_request(format!(
                "parameter '{}' is repeated; each parameter may appear only once",
                name.escape_default()
            )));
        }
    }
    Ok(params)
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
    }

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<&'static [u8], String>> + Unpin {
        stream::iter(parts.iter().map(|p| Ok(*p)).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn body_limits() {
        let body = read_bounded_body(None, chunks(&[b"ab", b"cd"]), 4)
            .await
            .unwrap();
        assert_eq!(&body[..], b"abcd");
        // Streamed without a declared length, cut off past the limit.
        let err = read_bounded_body(None, chunks(&[b"abc", b"de"]), 4)
            .await
            .unwrap_err();
        assert!(err.description.contains("exceeds the limit of 4 bytes"));
        // Refused from the declared length alone when far too large.
        assert!(read_bounded_body(Some(65), chunks(&[]), 4).await.is_err());
        // Slightly too large: read to the end, then refused.
        let err = read_bounded_body(Some(5), chunks(&[b"abcde"]), 4)
            .await
            .unwrap_err();
        assert!(err.description.contains("exceeds"));
    }
}
