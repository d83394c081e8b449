//! Rule 2 of the grant: which JOSE header an assertion may carry, as `grantor_jose`'s header
//! policy checks it (every asymmetric algorithm, no `crit`, key pointers ignored, `typ` not
//! checked), in this grant's words.

use grantor_jose::algorithm::names;
use grantor_jose::{Algorithm, CheckedHeader, HeaderError, HeaderPolicy, TypRule};
use serde_json::{Map, Value};

/// The grant's policy: each asymmetric algorithm; `typ` is not this grant's concern (RFC 7523
/// names none).
const POLICY: HeaderPolicy<'static> = HeaderPolicy {
    algorithms: Algorithm::ALL,
    typ: TypRule::Any,
};

pub fn check_header(header: &Map<String, Value>) -> Result<CheckedHeader, String> {
    POLICY.check(header).map_err(|error| describe(&error))
}

fn describe(error: &HeaderError) -> String {
    match error {
        HeaderError::AlgMissing => "the assertion's header has no alg".into(),
        HeaderError::AlgNotString => "the assertion's alg header is not a string".into(),
        HeaderError::Unsigned => {
            "alg 'none' is not accepted: the assertion must be signed by the identity provider"
                .into()
        }
        HeaderError::NotAccepted(name) if matches!(name.as_str(), "HS256" | "HS384" | "HS512") => {
            format!(
                "alg '{name}' (HMAC) is not accepted: assertions must be signed with an asymmetric key ({})",
                names(POLICY.algorithms)
            )
        }
        HeaderError::NotAccepted(name) => format!(
            "alg '{}' is not supported; accepted: {}",
            crate::shown(name),
            names(POLICY.algorithms)
        ),
        // This server understands no JWS extension (RFC 7515 4.1.11); say which were marked.
        HeaderError::Critical(critical) => format!(
            "the assertion marks header parameters critical that this server does not understand: {}",
            critical
                .iter()
                .map(|n| crate::shown(n))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        HeaderError::CriticalMalformed => {
            "the assertion's crit header must be a non-empty array of names".into()
        }
        HeaderError::KidNotString => "the assertion's kid header is not a string".into(),
        HeaderError::KidEmpty => "the assertion's kid header is empty".into(),
        // Not checked by this policy.
        HeaderError::Typ(_) => "the assertion's typ header is not accepted".into(),
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
            assert_eq!(alg.name(), name);
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
        assert!(err(json!({"alg": "ES512"}))
            .ends_with("accepted: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"));
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
}
