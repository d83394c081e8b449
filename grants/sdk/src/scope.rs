//! The `scope` parameter's syntax (RFC 6749 3.3), shared by the host and every plugin so that a
//! scope means the same on both sides of the boundary.

/// Splits a `scope` value into its tokens, duplicates dropped and order kept. A token with a
/// character RFC 6749 3.3 does not allow (`scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`) is
/// refused; the error names it, escaped.
pub fn parse_scope(text: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for token in text.split(' ').filter(|t| !t.is_empty()) {
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(format!(
                "scope '{}' contains characters not allowed in a scope",
                token.escape_default()
            ));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    Ok(scopes)
}

/// A list of scope tokens (a JSON array rather than a `scope` string): each item must be exactly
/// one valid token; duplicates are dropped, order kept. The error names the offending item.
pub fn parse_scope_list<'a>(
    items: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for item in items {
        if item.is_empty() || item.contains(' ') {
            return Err(format!("'{}' is not one scope", item.escape_default()));
        }
        parse_scope(item)?;
        if !scopes.iter().any(|s| s == item) {
            scopes.push(item.to_owned());
        }
    }
    Ok(scopes)
}

/// The scopes to grant: the request narrowed to `allowed`, or everything allowed when the request
/// names none. `None` when an explicit, non-empty request keeps nothing (`invalid_scope`; each
/// side words the refusal for what limited it).
pub fn narrow_scopes(requested: Option<&[String]>, allowed: &[String]) -> Option<Vec<String>> {
    match requested {
        None => Some(allowed.to_vec()),
        Some(requested) => {
            let granted: Vec<String> = requested
                .iter()
                .filter(|s| allowed.contains(s))
                .cloned()
                .collect();
            (!granted.is_empty() || requested.is_empty()).then_some(granted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_deduplicated_in_order_and_bad_characters_refused() {
        assert_eq!(parse_scope(" b a  b ").unwrap(), vec!["b", "a"]);
        assert!(parse_scope("").unwrap().is_empty());
        assert!(parse_scope("a\"b").unwrap_err().contains("a\\\"b"));
        assert!(parse_scope("caf\u{e9}").is_err());
    }

    #[test]
    fn lists_hold_one_token_per_item() {
        assert_eq!(parse_scope_list(["b", "a", "b"]).unwrap(), vec!["b", "a"]);
        assert!(parse_scope_list([]).unwrap().is_empty());
        for bad in [["a b"], [""], ["a\"b"]] {
            assert!(parse_scope_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn narrowing_keeps_the_allowed_part_of_a_request() {
        let allowed = vec!["read".to_owned(), "write".to_owned()];
        let ask = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(narrow_scopes(None, &allowed), Some(allowed.clone()));
        assert_eq!(
            narrow_scopes(Some(&ask(&["write", "admin"])), &allowed),
            Some(ask(&["write"]))
        );
        assert_eq!(narrow_scopes(Some(&ask(&["admin"])), &allowed), None);
        assert_eq!(narrow_scopes(Some(&[]), &allowed), Some(Vec::new()));
    }
}
