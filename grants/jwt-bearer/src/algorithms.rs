//! Rule 2 of the grant: which JOSE header an assertion may carry. Only asymmetric algorithms are
//! accepted, each tied to the one key type that may verify it (RFC 8725 3.1, 3.2): `none` and
//! HMAC can never be used, and a key is never used with an algorithm of another family.

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

/// Header parameters that could point at keys. They are never read: trusting them would let the
/// assertion bring its own key (RFC 8725 3.10).
const KEY_POINTERS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

/// The accepted algorithms, as the description of a refusal lists them.
const ACCEPTED: &str = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA";

/// The header fields the rest of the grant uses.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedHeader {
    pub algorithm: Algorithm,
    pub kid: Option<String>,
    /// Key-pointing parameters present in the header (and ignored).
    pub ignored_key_pointers: Vec<&'static str>,
}

pub fn check_header(header: &Map<String, Value>) -> Result<CheckedHeader, String> {
    let name = match header.get("alg") {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err("the assertion's alg header is not a string".into()),
        None => return Err("the assertion's header has no alg".into()),
    };
    let algorithm = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ if name.eq_ignore_ascii_case("none") => {
            return Err(
                "alg 'none' is not accepted: the assertion must be signed by the identity provider"
                    .into(),
            )
        }
        "HS256" | "HS384" | "HS512" => {
            return Err(format!(
                "alg '{name}' (HMAC) is not accepted: assertions must be signed with an asymmetric key ({ACCEPTED})"
            ))
        }
        other => {
            return Err(format!(
                "alg '{}' is not supported; accepted: {ACCEPTED}",
                crate::shown(other)
            ))
        }
    };
    if let Some(critical) = header.get("crit") {
        return Err(describe_crit(critical));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err("the assertion's kid header is not a string".into()),
    };
    let ignored_key_pointers = KEY_POINTERS
        .into_iter()
        .filter(|p| header.contains_key(*p))
        .collect();
    Ok(CheckedHeader {
        algorithm,
        kid,
        ignored_key_pointers,
    })
}

/// This server understands no JWS extension, so any `crit` (RFC 7515 4.1.11) is refused; the
/// description says which names were marked critical.
fn describe_crit(critical: &Value) -> String {
    let names: Option<Vec<&str>> = critical
        .as_array()
        .and_then(|items| items.iter().map(Value::as_str).collect());
    match names {
        Some(names) if !names.is_empty() => format!(
            "the assertion marks header parameters critical that this server does not understand: {}",
            names
                .iter()
                .map(|n| crate::shown(n))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "the assertion's crit header must be a non-empty array of names".into(),
    }
}

/// Whether a JWK may verify `algorithm`: its key type (and curve) must be the algorithm's, its
/// `use` (if any) `sig`, its `alg` (if any) this very algorithm.
pub fn key_fits(jwk: &Value, algorithm: Algorithm) -> bool {
    let (kty, crv) = match algorithm {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => ("RSA", None),
        Algorithm::ES256 => ("EC", Some("P-256")),
        Algorithm::ES384 => ("EC", Some("P-384")),
        Algorithm::EdDSA => ("OKP", Some("Ed25519")),
        _ => return false,
    };
    if jwk["kty"].as_str() != Some(kty) {
        return false;
    }
    if let Some(crv) = crv {
        if jwk["crv"].as_str() != Some(crv) {
            return false;
        }
    }
    if let Some(usage) = jwk.get("use") {
        if usage.as_str() != Some("sig") {
            return false;
        }
    }
    match jwk.get("alg").and_then(Value::as_str) {
        Some(alg) => alg == algorithm_name(algorithm),
        None => true,
    }
}

pub fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        // The enum is non-exhaustive; check_header never yields another variant.
        _ => "unsupported",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn asymmetric_algorithms_pass() {
        for (name, alg) in [
            ("RS256", Algorithm::RS256),
            ("PS512", Algorithm::PS512),
            ("ES384", Algorithm::ES384),
            ("EdDSA", Algorithm::EdDSA),
        ] {
            let checked = check_header(&header(json!({"alg": name, "kid": "k1"}))).unwrap();
            assert_eq!(checked.algorithm, alg);
            assert_eq!(checked.kid.as_deref(), Some("k1"));
            assert_eq!(algorithm_name(alg), name);
        }
    }

    #[test]
    fn none_hmac_and_unknown_are_refused() {
        let err = |v: Value| check_header(&header(v)).unwrap_err();
        assert!(err(json!({"alg": "none"})).contains("'none' is not accepted"));
        assert!(err(json!({"alg": "NoNe"})).contains("'none' is not accepted"));
        assert!(err(json!({"alg": "HS256"})).contains("(HMAC) is not accepted"));
        assert!(err(json!({"alg": "ES512"})).contains("not supported"));
        assert!(err(json!({"typ": "JWT"})).contains("no alg"));
        assert!(err(json!({"alg": 1})).contains("not a string"));
    }

    #[test]
    fn crit_is_refused_and_key_pointers_ignored() {
        let err = check_header(&header(
            json!({"alg": "RS256", "crit": ["b64"], "b64": false}),
        ))
        .unwrap_err();
        assert!(err.contains("b64"), "{err}");
        assert!(check_header(&header(json!({"alg": "RS256", "crit": []}))).is_err());
        let checked = check_header(&header(
            json!({"alg": "RS256", "jku": "https://evil", "jwk": {}, "x5c": []}),
        ))
        .unwrap();
        assert_eq!(checked.ignored_key_pointers, vec!["jku", "jwk", "x5c"]);
    }

    #[test]
    fn keys_fit_only_their_algorithm_family() {
        let rsa = json!({"kty": "RSA", "n": "x", "e": "AQAB"});
        let p256 = json!({"kty": "EC", "crv": "P-256"});
        let ed = json!({"kty": "OKP", "crv": "Ed25519"});
        assert!(key_fits(&rsa, Algorithm::RS256) && key_fits(&rsa, Algorithm::PS384));
        assert!(!key_fits(&rsa, Algorithm::ES256) && !key_fits(&rsa, Algorithm::HS256));
        assert!(key_fits(&p256, Algorithm::ES256) && !key_fits(&p256, Algorithm::ES384));
        assert!(key_fits(&ed, Algorithm::EdDSA) && !key_fits(&ed, Algorithm::RS256));
        assert!(!key_fits(
            &json!({"kty": "oct", "k": "c2Vj"}),
            Algorithm::HS256
        ));
        assert!(!key_fits(
            &json!({"kty": "RSA", "use": "enc"}),
            Algorithm::RS256
        ));
        assert!(!key_fits(
            &json!({"kty": "RSA", "alg": "RS256"}),
            Algorithm::PS256
        ));
    }
}
