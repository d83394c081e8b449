//! Scope parsing and narrowing (RFC 6749 3.3).

use super::error::OAuthError;

/// Splits a `scope` parameter into its tokens (RFC 6749 3.3 syntax, shared with plugins through
/// the SDK); a malformed one is `invalid_scope`.
pub fn parse_scope(text: &str) -> Result<Vec<String>, OAuthError> {
    grantor_sdk::scope::parse_scope(text).map_err(OAuthError::invalid_scope)
}

/// The scopes of a stored grant (a token's, a code's: space-separated, as this server wrote them).
pub fn stored_scopes(scope: &str) -> Vec<String> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The scopes to grant: the request narrowed to what is allowed, or everything allowed when the
/// request names none. An explicit request of which nothing is allowed is `invalid_scope`.
pub fn narrow_scopes(
    requested: Option<&[String]>,
    allowed: &[String],
) -> Result<Vec<String>, OAuthError> {
    grantor_sdk::scope::narrow_scopes(requested, allowed).ok_or_else(|| {
        OAuthError::invalid_scope(format!(
            "none of the requested scopes is allowed for this client: {}",
            requested.unwrap_or_default().join(" ")
        ))
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
        assert_eq!(
            parse_scope("read  write read").unwrap(),
            v(&["read", "write"])
        );
        assert_eq!(parse_scope("").unwrap(), v(&[]));
        assert_eq!(parse_scope("a\"b").unwrap_err().code, "invalid_scope");
        assert_eq!(parse_scope("a\\b").unwrap_err().code, "invalid_scope");
        assert_eq!(parse_scope("é").unwrap_err().code, "invalid_scope");
    }

    #[test]
    fn narrowing() {
        let allowed = v(&["read", "write"]);
        assert_eq!(narrow_scopes(None, &allowed).unwrap(), allowed);
        assert_eq!(
            narrow_scopes(Some(&v(&["write", "admin"])), &allowed).unwrap(),
            v(&["write"])
        );
        let err = narrow_scopes(Some(&v(&["admin"])), &allowed).unwrap_err();
        assert_eq!(err.code, "invalid_scope");
        assert!(err.description.contains("admin"));
    }
}
