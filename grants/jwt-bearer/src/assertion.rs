//! Rule 1 of the grant: the `assertion` is one compact JWS of bounded size, three base64url parts
//! with a JSON header and a JSON claim set. Encrypted (JWE) and unsigned tokens are refused here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// Containers may nest this deep in a header or claim set (the top-level object counts as one).
pub const MAX_JSON_DEPTH: usize = 16;

/// A compact JWS split and decoded, not yet verified.
#[derive(Debug)]
pub struct ParsedAssertion<'a> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// `BASE64URL(header) . BASE64URL(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The third part, still base64url.
    pub signature: &'a str,
}

pub fn parse(assertion: &str, max_bytes: usize) -> Result<ParsedAssertion<'_>, String> {
    if assertion.len() > max_bytes {
        return Err(format!(
            "the assertion is {} bytes; at most {max_bytes} are accepted",
            assertion.len()
        ));
    }
    let parts: Vec<&str> = assertion.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(
                "the assertion is an encrypted JWT (JWE); only signed JWTs (JWS) are accepted"
                    .into(),
            )
        }
        n => {
            return Err(format!(
                "the assertion is not a JWT: expected three base64url parts separated by '.', found {n}"
            ))
        }
    }
    let header = decode_object(parts[0], "header")?;
    if header.contains_key("enc") {
        return Err(
            "the assertion is an encrypted JWT (JWE); only signed JWTs (JWS) are accepted".into(),
        );
    }
    let claims = decode_object(parts[1], "claim set")?;
    if parts[2].is_empty() {
        return Err("the assertion is unsigned (its signature part is empty)".into());
    }
    if URL_SAFE_NO_PAD.decode(parts[2]).is_err() {
        return Err("the assertion's signature is not base64url".into());
    }
    let signing_input_len = parts[0].len() + 1 + parts[1].len();
    Ok(ParsedAssertion {
        header,
        claims,
        signing_input: &assertion[..signing_input_len],
        signature: parts[2],
    })
}

fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| format!("the assertion's {what} is not base64url (unpadded)"))?;
    crate::strict_json::parse_object(&bytes, MAX_JSON_DEPTH)
        .map_err(|e| format!("the assertion's {what} is not a valid JSON object: {e}"))
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

    #[test]
    fn a_compact_jws_parses() {
        let t = token(r#"{"alg":"RS256"}"#, r#"{"iss":"a"}"#, "c2ln");
        let parsed = parse(&t, 16384).unwrap();
        assert_eq!(parsed.header["alg"], "RS256");
        assert_eq!(parsed.claims["iss"], "a");
        assert_eq!(parsed.signature, "c2ln");
        assert_eq!(parsed.signing_input, &t[..t.rfind('.').unwrap()]);
    }

    #[test]
    fn shape_errors_are_precise() {
        let err = |t: &str| parse(t, 16384).unwrap_err();
        assert!(err("abc").contains("found 1"));
        assert!(err("a.b.c.d.e").contains("JWE"));
        let jwe_header = token(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#, "{}", "c2ln");
        assert!(err(&jwe_header).contains("JWE"));
        assert!(err(&token(r#"{"alg":"none"}"#, "{}", "")).contains("unsigned"));
        assert!(err(&format!("{}.{}.c2ln", "!!", b64("{}"))).contains("header is not base64url"));
        assert!(err(&token("[1]", "{}", "c2ln")).contains("header is not a valid JSON object"));
        assert!(err(&token("{}", r#"{"sub":"a","sub":"b"}"#, "c2ln")).contains("duplicate"));
        assert!(err(&token("{}", "{}", "c2ln=")).contains("signature is not base64url"));
        // Padding is not base64url as JWS uses it.
        assert!(err(&format!("{}=.{}.c2ln", b64("{}"), b64("{}"))).contains("header"));
    }

    #[test]
    fn size_is_bounded_before_anything_is_decoded() {
        let t = token("{}", &format!(r#"{{"x":"{}"}}"#, "a".repeat(600)), "c2ln");
        assert!(parse(&t, 512).unwrap_err().contains("at most 512"));
    }
}
