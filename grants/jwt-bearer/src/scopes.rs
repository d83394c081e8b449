//! Rule 8 of the grant: the scopes an assertion may obtain are limited by the client and by the
//! identity provider (RFC 6749 3.3). The host narrows to the client's once more after the plugin.

use grantor_sdk::GrantResult;

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
