//! Rule 1 of the grant: the `assertion` is one compact JWS of bounded size, three base64url parts
//! with a JSON header and a JSON claim set, as `grantor_jose::Jws` parses it. Encrypted (JWE) and
//! unsigned tokens are refused here, in this grant's words.

use grantor_jose::{Jws, ParseError, PartError};

pub fn parse(assertion: &str, max_bytes: usize) -> Result<Jws<'_>, String> {
    Jws::parse(assertion, max_bytes).map_err(|error| describe(&error))
}

fn describe(error: &ParseError) -> String {
    let part = |what: &str, error: &PartError| match error {
        PartError::NotBase64 => format!("the assertion's {what} is not base64url (unpadded)"),
        PartError::NotJsonObject(why) => {
            format!("the assertion's {what} is not a valid JSON object: {why}")
        }
    };
    match error {
        ParseError::TooLarge { len, max } => {
            format!("the assertion is {len} bytes; at most {max} are accepted")
        }
        ParseError::Encrypted => {
            "the assertion is an encrypted JWT (JWE); only signed JWTs (JWS) are accepted".into()
        }
        ParseError::NotCompact { parts } => format!(
            "the assertion is not a JWT: expected three base64url parts separated by '.', found {parts}"
        ),
        ParseError::Header(error) => part("header", error),
        ParseError::Claims(error) => part("claim set", error),
        ParseError::Unsigned => "the assertion is unsigned (its signature part is empty)".into(),
        ParseError::SignatureNotBase64 => "the assertion's signature is not base64url".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

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
        assert_eq!(parsed.signature(), b"sig");
        assert_eq!(parsed.signing_input(), &t[..t.rfind('.').unwrap()]);
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
