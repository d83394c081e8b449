//! One JOSE header policy (RFC 7515 4.1, RFC 8725 3): the algorithm must be on the caller's
//! allow-list (a subset of [`Algorithm::ALL`], so never `none` or HMAC); `crit` is refused, since
//! no extension is understood here (RFC 7515 4.1.11); `typ` is checked when the caller's policy
//! asks (RFC 8725 3.11, RFC 9068 2.1); `kid` must be a non-empty string when present; the
//! parameters that point at keys (`jku`, `x5u`, `jwk`, `x5c`) are never read, only reported
//! (RFC 8725 3.10: a token must not bring its own key).

use serde_json::{Map, Value};

use crate::Algorithm;

/// Header parameters that could point at keys. Never used.
pub const KEY_POINTERS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

/// What a caller accepts: its algorithm subset and its `typ` rule.
#[derive(Debug, Clone, Copy)]
pub struct HeaderPolicy<'a> {
    pub algorithms: &'a [Algorithm],
    pub typ: TypRule<'a>,
}

/// How `typ` is checked. Values are compared as RFC 7515 4.1.9 says: case-insensitively, with
/// the `application/` prefix left out; the rule's values are written in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypRule<'a> {
    /// Not checked.
    Any,
    /// Absent, or one of these.
    AbsentOrOneOf(&'a [&'a str]),
    /// Present and this one.
    Exactly(&'a str),
}

/// The header fields a caller uses after the policy passed.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedHeader {
    pub algorithm: Algorithm,
    pub kid: Option<String>,
    /// `typ` in lowercase without `application/`, when it is a string.
    pub typ: Option<String>,
    /// Key-pointing parameters present in the header (and ignored).
    pub ignored_key_pointers: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("no alg")]
    AlgMissing,
    #[error("alg is not a string")]
    AlgNotString,
    /// `alg` is `none` (in any case).
    #[error("alg none")]
    Unsigned,
    /// An algorithm outside the caller's list (the name as the header gives it).
    #[error("alg {0} not accepted")]
    NotAccepted(String),
    /// `crit` names these parameters, none of which is understood.
    #[error("crit {0:?}")]
    Critical(Vec<String>),
    /// `crit` is not a non-empty array of strings.
    #[error("crit malformed")]
    CriticalMalformed,
    /// `typ` breaks the rule (its normalised value, if it is a string).
    #[error("typ {0:?}")]
    Typ(Option<String>),
    #[error("kid is not a string")]
    KidNotString,
    #[error("kid is empty")]
    KidEmpty,
}

impl HeaderPolicy<'_> {
    /// Checks in this order: `alg`, `crit`, `typ`, `kid`.
    pub fn check(&self, header: &Map<String, Value>) -> Result<CheckedHeader, HeaderError> {
        let name = match header.get("alg") {
            Some(Value::String(name)) => name.as_str(),
            Some(_) => return Err(HeaderError::AlgNotString),
            None => return Err(HeaderError::AlgMissing),
        };
        if name.eq_ignore_ascii_case("none") {
            return Err(HeaderError::Unsigned);
        }
        let algorithm = Algorithm::from_name(name)
            .filter(|a| self.algorithms.contains(a))
            .ok_or_else(|| HeaderError::NotAccepted(name.to_owned()))?;
        if let Some(critical) = header.get("crit") {
            let names: Option<Vec<String>> = critical.as_array().and_then(|items| {
                items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect()
            });
            return Err(match names {
                Some(names) if !names.is_empty() => HeaderError::Critical(names),
                _ => HeaderError::CriticalMalformed,
            });
        }
        let typ = match header.get("typ") {
            None => None,
            Some(Value::String(typ)) => Some(normalised_typ(typ)),
            Some(_) if self.typ == TypRule::Any => None,
            Some(_) => return Err(HeaderError::Typ(None)),
        };
        let checked = CheckedHeader {
            algorithm,
            kid: match header.get("kid") {
                None => None,
                Some(Value::String(kid)) if kid.is_empty() => return Err(HeaderError::KidEmpty),
                Some(Value::String(kid)) => Some(kid.clone()),
                Some(_) => return Err(HeaderError::KidNotString),
            },
            typ,
            ignored_key_pointers: KEY_POINTERS
                .into_iter()
                .filter(|p| header.contains_key(*p))
                .collect(),
        };
        checked.check_typ(self.typ)?;
        Ok(checked)
    }
}

impl CheckedHeader {
    /// `typ` against `rule` (also for a rule known only later, such as an issuer's).
    pub fn check_typ(&self, rule: TypRule<'_>) -> Result<(), HeaderError> {
        let passes = match (rule, self.typ.as_deref()) {
            (TypRule::Any, _) => true,
            (TypRule::AbsentOrOneOf(_), None) => true,
            (TypRule::AbsentOrOneOf(accepted), Some(typ)) => accepted.contains(&typ),
            (TypRule::Exactly(wanted), typ) => typ == Some(wanted),
        };
        if passes {
            Ok(())
        } else {
            Err(HeaderError::Typ(self.typ.clone()))
        }
    }
}

fn normalised_typ(typ: &str) -> String {
    let typ = typ.to_ascii_lowercase();
    match typ.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => typ,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: HeaderPolicy<'static> = HeaderPolicy {
        algorithms: Algorithm::ALL,
        typ: TypRule::Any,
    };

    fn header(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn check(policy: HeaderPolicy<'_>, value: Value) -> Result<CheckedHeader, HeaderError> {
        policy.check(&header(value))
    }

    #[test]
    fn the_allow_list_is_the_callers() {
        let checked = check(ALL, json!({"alg": "PS512", "kid": "k1"})).unwrap();
        assert_eq!(checked.algorithm, Algorithm::PS512);
        assert_eq!(checked.kid.as_deref(), Some("k1"));
        let rsa_only = HeaderPolicy {
            algorithms: &[Algorithm::RS256],
            typ: TypRule::Any,
        };
        assert_eq!(
            check(rsa_only, json!({"alg": "ES256"})),
            Err(HeaderError::NotAccepted("ES256".into()))
        );
        for (value, error) in [
            (json!({"alg": "none"}), HeaderError::Unsigned),
            (json!({"alg": "NoNe"}), HeaderError::Unsigned),
            (
                json!({"alg": "HS256"}),
                HeaderError::NotAccepted("HS256".into()),
            ),
            (
                json!({"alg": "rs256"}),
                HeaderError::NotAccepted("rs256".into()),
            ),
            (json!({"typ": "JWT"}), HeaderError::AlgMissing),
            (json!({"alg": 1}), HeaderError::AlgNotString),
            (json!({"alg": "RS256", "kid": 7}), HeaderError::KidNotString),
            (json!({"alg": "RS256", "kid": ""}), HeaderError::KidEmpty),
        ] {
            assert_eq!(check(ALL, value.clone()), Err(error), "{value}");
        }
    }

    #[test]
    fn crit_is_refused_since_nothing_is_understood() {
        assert_eq!(
            check(ALL, json!({"alg": "RS256", "crit": ["b64"], "b64": false})),
            Err(HeaderError::Critical(vec!["b64".into()]))
        );
        for crit in [json!([]), json!("b64"), json!([1])] {
            assert_eq!(
                check(ALL, json!({"alg": "RS256", "crit": crit})),
                Err(HeaderError::CriticalMalformed)
            );
        }
    }

    #[test]
    fn key_pointers_are_reported_never_used() {
        let checked = check(
            ALL,
            json!({"alg": "RS256", "jku": "https://evil", "jwk": {}, "x5c": []}),
        )
        .unwrap();
        assert_eq!(checked.ignored_key_pointers, vec!["jku", "jwk", "x5c"]);
    }

    #[test]
    fn typ_when_the_policy_asks() {
        let jwt_or_at = HeaderPolicy {
            algorithms: Algorithm::ALL,
            typ: TypRule::AbsentOrOneOf(&["jwt", "at+jwt"]),
        };
        assert!(check(jwt_or_at, json!({"alg": "RS256"})).is_ok());
        let checked = check(
            jwt_or_at,
            json!({"alg": "RS256", "typ": "application/AT+JWT"}),
        )
        .unwrap();
        assert_eq!(checked.typ.as_deref(), Some("at+jwt"));
        assert!(checked.check_typ(TypRule::Exactly("at+jwt")).is_ok());
        assert_eq!(
            check(jwt_or_at, json!({"alg": "RS256", "typ": "dpop+jwt"})),
            Err(HeaderError::Typ(Some("dpop+jwt".into())))
        );
        assert_eq!(
            check(jwt_or_at, json!({"alg": "RS256", "typ": 1})),
            Err(HeaderError::Typ(None))
        );
        // Not asked: anything goes.
        assert!(check(ALL, json!({"alg": "RS256", "typ": 1})).is_ok());
        let untyped = check(ALL, json!({"alg": "RS256"})).unwrap();
        assert_eq!(
            untyped.check_typ(TypRule::Exactly("at+jwt")),
            Err(HeaderError::Typ(None))
        );
        let id_token = check(ALL, json!({"alg": "RS256", "typ": "JWT"})).unwrap();
        assert!(id_token.check_typ(TypRule::Exactly("at+jwt")).is_err());
    }
}
