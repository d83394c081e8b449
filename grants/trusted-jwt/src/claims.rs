//! The registered claims (RFC 7519 4.1) the grant checks, read with their types checked: a claim
//! of the wrong type is refused, never coerced.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<Vec<String>>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
}

pub fn read(claims: &Map<String, Value>) -> Result<RegisteredClaims, String> {
    Ok(RegisteredClaims {
        iss: string(claims, "iss")?,
        sub: string(claims, "sub")?,
        aud: audience(claims)?,
        exp: numeric_date(claims, "exp")?,
        nbf: numeric_date(claims, "nbf")?,
        iat: numeric_date(claims, "iat")?,
        jti: string(claims, "jti")?,
    })
}

fn string(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(format!(
            "the assertion's {name} claim must be a non-empty string"
        )),
    }
}

/// `aud` is a string or an array of strings (RFC 7519 4.1.3).
fn audience(claims: &Map<String, Value>) -> Result<Option<Vec<String>>, String> {
    let invalid = || "the assertion's aud claim must be a string or an array of strings".to_owned();
    match claims.get("aud") {
        None => Ok(None),
        Some(Value::String(one)) => Ok(Some(vec![one.clone()])),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid()),
    }
}

/// A NumericDate (RFC 7519 2), as `grantor_jose` reads it.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, String> {
    grantor_jose::time::numeric_date(claims, name).map_err(|_| {
        format!("the assertion's {name} claim must be a NumericDate (seconds since 1970)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn registered_claims_are_read() {
        let c = read(&claims(json!({
            "iss": "i", "sub": "s", "aud": "a", "exp": 10, "nbf": 1.9, "jti": "j"
        })))
        .unwrap();
        assert_eq!(c.aud, Some(vec!["a".to_owned()]));
        assert_eq!((c.exp, c.nbf, c.iat), (Some(10), Some(1), None));
        let c = read(&claims(json!({"aud": ["a", "b"]}))).unwrap();
        assert_eq!(c.aud.unwrap().len(), 2);
        assert_eq!(read(&claims(json!({}))).unwrap().iss, None);
    }

    #[test]
    fn wrong_types_are_refused() {
        let err = |v: Value| read(&claims(v)).unwrap_err();
        assert!(err(json!({"iss": 1})).contains("iss claim must be a non-empty string"));
        assert!(err(json!({"sub": ""})).contains("sub claim"));
        assert!(err(json!({"aud": [1]})).contains("aud claim"));
        assert!(err(json!({"aud": []})).contains("aud claim"));
        assert!(err(json!({"exp": "1700000000"})).contains("exp claim must be a NumericDate"));
        assert!(err(json!({"iat": 1e300})).contains("iat claim"));
        assert!(err(json!({"jti": {}})).contains("jti claim"));
    }
}
