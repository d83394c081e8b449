//! Rule 8 of the grant: the scopes an assertion may obtain are limited by the client and by the
//! identity provider (RFC 6749 3.3). The host narrows to the client's once more after the plugin.

use grantor_sdk::GrantResult;
use serde_json::{Map, Value};

/// The requested scopes; `None` when the request names none.
pub fn requested(scope: Option<&str>) -> Result<Option<Vec<String>>, GrantResult> {
    let Some(text) = scope else { return Ok(None) };
    let scopes = grantor_sdk::scope::parse_scope(text)
        .map_err(|e| GrantResult::error("invalid_scope", e))?;
    Ok(if scopes.is_empty() {
        None
    } else {
        Some(scopes)
    })
}

/// The scopes an assertion's scope claim (the provider's `scope_claim`) carries: a
/// space-separated string or a list of scope tokens; `None` when it has no such claim.
pub fn from_claim(
    claims: &Map<String, Value>,
    claim: &str,
) -> Result<Option<Vec<String>>, GrantResult> {
    let invalid =
        |why: String| GrantResult::invalid_grant(format!("the assertion's {claim} claim {why}"));
    let scopes = match claims.get(claim) {
        None => return Ok(None),
        Some(Value::String(text)) => grantor_sdk::scope::parse_scope(text).map_err(invalid)?,
        Some(Value::Array(items)) => {
            let tokens: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let tokens =
                tokens.ok_or_else(|| invalid("holds an item that is not a string".into()))?;
            grantor_sdk::scope::parse_scope_list(tokens).map_err(invalid)?
        }
        Some(_) => return Err(invalid("is neither a string nor a list".into())),
    };
    Ok(Some(scopes))
}

/// The request's scopes bounded by the assertion's: a `scope` parameter may only narrow what
/// the assertion carries (RFC 7523 leaves scope to the request; a signed claim is the tighter
/// word). An explicit request of which nothing remains is `invalid_scope`.
pub fn within_assertion(
    requested: Option<Vec<String>>,
    asserted: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, GrantResult> {
    match (requested, asserted) {
        (Some(requested), Some(asserted)) => {
            match grantor_sdk::scope::narrow_scopes(Some(&requested), &asserted) {
                Some(kept) => Ok(Some(kept)),
                None => Err(GrantResult::error(
                    "invalid_scope",
                    format!(
                        "none of the requested scopes is among the assertion's: {}",
                        requested.join(" ")
                    ),
                )),
            }
        }
        (requested, asserted) => Ok(requested.or(asserted)),
    }
}

/// The scopes to grant: the request (or, without one, everything allowed) limited to the client's
/// and, when it sets a limit, the identity provider's. An explicit request of which nothing
/// remains is `invalid_scope`.
pub fn grant(
    requested: Option<&[String]>,
    client: &[String],
    provider: Option<&[String]>,
) -> Result<Vec<String>, GrantResult> {
    let allowed: Vec<String> = client
        .iter()
        .filter(|s| provider.is_none_or(|p| p.contains(s)))
        .cloned()
        .collect();
    grantor_sdk::scope::narrow_scopes(requested, &allowed).ok_or_else(|| {
        GrantResult::error(
            "invalid_scope",
            format!(
                "none of the requested scopes is allowed for this client and identity provider: {}",
                requested.unwrap_or_default().join(" ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parsing() {
        assert_eq!(requested(None).unwrap(), None);
        assert_eq!(requested(Some("  ")).unwrap(), None);
        assert_eq!(requested(Some("a b a")).unwrap(), Some(v(&["a", "b"])));
        assert!(requested(Some("a\"b")).is_err());
    }

    #[test]
    fn scopes_from_a_claim() {
        let claims = |v: Value| {
            let mut m = Map::new();
            m.insert("scope".into(), v);
            m
        };
        let read = |v: Value| from_claim(&claims(v), "scope");
        assert_eq!(
            read(serde_json::json!("a b a")).unwrap(),
            Some(v(&["a", "b"]))
        );
        assert_eq!(
            read(serde_json::json!(["a", "b"])).unwrap(),
            Some(v(&["a", "b"]))
        );
        assert_eq!(from_claim(&Map::new(), "scope").unwrap(), None);
        for bad in [
            serde_json::json!(["a b"]),
            serde_json::json!([1]),
            serde_json::json!(7),
            serde_json::json!("a\"b"),
        ] {
            assert!(read(bad).is_err());
        }
    }

    #[test]
    fn a_request_only_narrows_the_assertion() {
        let asserted = Some(v(&["a", "b"]));
        assert_eq!(within_assertion(None, asserted.clone()).unwrap(), asserted);
        assert_eq!(
            within_assertion(Some(v(&["x"])), None).unwrap(),
            Some(v(&["x"]))
        );
        assert_eq!(
            within_assertion(Some(v(&["b", "c"])), asserted.clone()).unwrap(),
            Some(v(&["b"]))
        );
        assert!(within_assertion(Some(v(&["c"])), asserted).is_err());
        assert_eq!(within_assertion(None, None).unwrap(), None);
    }

    #[test]
    fn narrowing_by_client_and_provider() {
        let client = v(&["read", "write", "admin"]);
        let idp = v(&["read", "write"]);
        assert_eq!(grant(None, &client, None).unwrap(), client);
        assert_eq!(grant(None, &client, Some(&idp)).unwrap(), idp);
        let asked = v(&["admin", "read"]);
        assert_eq!(
            grant(Some(&asked), &client, Some(&idp)).unwrap(),
            v(&["read"])
        );
        assert!(grant(Some(&v(&["admin"])), &client, Some(&idp)).is_err());
        assert!(grant(Some(&v(&["other"])), &client, None).is_err());
    }
}
