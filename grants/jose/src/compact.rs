//! A compact JWS (RFC 7515 7.1) split and decoded, not yet verified: exactly three parts of
//! unpadded base64url (no padding, no whitespace), a JSON object as header and as claim set
//! (duplicate member names refused, nesting bounded: `strict_json`), and a non-empty signature.
//! An encrypted JWT (JWE, RFC 7516: five parts, or an `enc` header) is told apart, so callers can
//! say so. The size bound is checked before anything is decoded.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// Containers may nest this deep in a header or claim set (the top-level object counts as one).
pub const MAX_JSON_DEPTH: usize = 16;

/// A compact JWS split and decoded, not yet verified.
#[derive(Debug)]
pub struct Jws<'a> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// `BASE64URL(header) . BASE64URL(payload)`: what the signature covers.
    signing_input: &'a str,
    signature: Vec<u8>,
}

/// What is wrong with a part (header or claim set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartError {
    NotBase64,
    /// Not a JSON object; the parser's reason (duplicate member, depth, syntax).
    NotJsonObject(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{len} bytes; at most {max} are accepted")]
    TooLarge { len: usize, max: usize },
    #[error("an encrypted JWT (JWE)")]
    Encrypted,
    #[error("{parts} parts instead of three")]
    NotCompact { parts: usize },
    #[error("header: {0:?}")]
    Header(PartError),
    #[error("claims: {0:?}")]
    Claims(PartError),
    #[error("unsigned (empty signature)")]
    Unsigned,
    #[error("signature not base64url")]
    SignatureNotBase64,
}

/// How many `.`-separated parts `token` has: 3 for a JWS, 5 for a JWE, anything else for an opaque
/// token (what the gateway uses to tell a JWT from a reference token before choosing a check).
pub fn part_count(token: &str) -> usize {
    token.bytes().filter(|b| *b == b'.').count() + 1
}

impl<'a> Jws<'a> {
    /// Parses `token`, of at most `max_bytes`. Checks come in this order, so each caller's first
    /// refusal is stable: size, shape (JWE, part count), header, `enc`, claims, signature.
    pub fn parse(token: &'a str, max_bytes: usize) -> Result<Jws<'a>, ParseError> {
        if token.len() > max_bytes {
            return Err(ParseError::TooLarge {
                len: token.len(),
                max: max_bytes,
            });
        }
        let parts: Vec<&str> = token.split('.').collect();
        match parts.len() {
            3 => {}
            5 => return Err(ParseError::Encrypted),
            n => return Err(ParseError::NotCompact { parts: n }),
        }
        let header = decode_object(parts[0]).map_err(ParseError::Header)?;
        if header.contains_key("enc") {
            return Err(ParseError::Encrypted);
        }
        let claims = decode_object(parts[1]).map_err(ParseError::Claims)?;
        if parts[2].is_empty() {
            return Err(ParseError::Unsigned);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(parts[2])
            .map_err(|_| ParseError::SignatureNotBase64)?;
        Ok(Jws {
            header,
            claims,
            signing_input: &token[..parts[0].len() + 1 + parts[1].len()],
            signature,
        })
    }

    /// What the signature covers.
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    /// The signature, decoded.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// A claim that is a non-empty string (read before verification only to find whose keys
    /// verify the token).
    pub fn string_claim(&self, name: &str) -> Option<&str> {
        match self.claims.get(name) {
            Some(Value::String(value)) if !value.is_empty() => Some(value),
            _ => None,
        }
    }
}

fn decode_object(part: &str) -> Result<Map<String, Value>, PartError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| PartError::NotBase64)?;
    crate::strict_json::parse_object(&bytes, MAX_JSON_DEPTH).map_err(PartError::NotJsonObject)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, claims: &str, signature: &str) -> String {
        format!("{}.{}.{signature}", b64(header), b64(claims))
    }

    fn err(token: &str) -> ParseError {
        Jws::parse(token, 16384).unwrap_err()
    }

    #[test]
    fn a_compact_jws_parses() {
        let t = token(r#"{"alg":"RS256"}"#, r#"{"iss":"a","n":""}"#, "c2ln");
        let jws = Jws::parse(&t, 16384).unwrap();
        assert_eq!(jws.header["alg"], "RS256");
        assert_eq!(jws.string_claim("iss"), Some("a"));
        assert_eq!(jws.string_claim("n"), None);
        assert_eq!(jws.signature(), b"sig");
        assert_eq!(jws.signing_input(), &t[..t.rfind('.').unwrap()]);
    }

    #[test]
    fn shapes_and_jwe() {
        assert_eq!(err("abc"), ParseError::NotCompact { parts: 1 });
        assert_eq!(err("a.b.c.d"), ParseError::NotCompact { parts: 4 });
        assert_eq!(err("a.b.c.d.e"), ParseError::Encrypted);
        let jwe_header = token(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#, "{}", "c2ln");
        assert_eq!(err(&jwe_header), ParseError::Encrypted);
        assert_eq!(
            err(&token(r#"{"alg":"none"}"#, "{}", "")),
            ParseError::Unsigned
        );
        assert_eq!(part_count("a.b.c"), 3);
        assert_eq!(part_count("opaque"), 1);
        assert_eq!(part_count("a.b.c.d.e"), 5);
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(
            err(&format!("!!.{}.c2ln", b64("{}"))),
            ParseError::Header(PartError::NotBase64)
        );
        // Padding, whitespace and the standard alphabet are not base64url as JWS uses it.
        assert_eq!(
            err(&format!("{}=.{}.c2ln", b64("{}"), b64("{}"))),
            ParseError::Header(PartError::NotBase64)
        );
        assert_eq!(
            err(&format!("{}.{} .c2ln", b64("{}"), b64("{}"))),
            ParseError::Claims(PartError::NotBase64)
        );
        assert_eq!(
            err(&token("{}", "{}", "c2ln=")),
            ParseError::SignatureNotBase64
        );
        assert_eq!(
            err(&token("{}", "{}", "c2/n")),
            ParseError::SignatureNotBase64
        );
    }

    #[test]
    fn json_is_strict() {
        assert!(matches!(
            err(&token("[1]", "{}", "c2ln")),
            ParseError::Header(PartError::NotJsonObject(_))
        ));
        match err(&token("{}", r#"{"sub":"a","sub":"b"}"#, "c2ln")) {
            ParseError::Claims(PartError::NotJsonObject(why)) => {
                assert!(why.contains("duplicate"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(20), "]".repeat(20));
        assert!(matches!(
            err(&token("{}", &deep, "c2ln")),
            ParseError::Claims(PartError::NotJsonObject(_))
        ));
        assert!(matches!(
            err(&token("", "{}", "c2ln")),
            ParseError::Header(PartError::NotJsonObject(_))
        ));
    }

    #[test]
    fn size_is_bounded_before_anything_is_decoded() {
        let t = token("{}", &format!(r#"{{"x":"{}"}}"#, "a".repeat(600)), "c2ln");
        assert_eq!(
            Jws::parse(&t, 512).unwrap_err(),
            ParseError::TooLarge {
                len: t.len(),
                max: 512
            }
        );
        assert_eq!(
            err(&"a".repeat(20_000)),
            ParseError::TooLarge {
                len: 20_000,
                max: 16384
            }
        );
    }
}
