//! Rule 5 of the grant, the audience (RFC 7523 3, item 3): the assertion must name this server, by
//! the tenant's token endpoint URL, its issuer identifier, or one of the aliases the identity
//! provider uses for it.

/// Most audience values a refusal lists (an assertion may carry many).
const MAX_LISTED: usize = 5;

/// The values that name this server for one identity provider, in the order a refusal lists them.
pub fn accepted_audiences(token_endpoint: &str, issuer: &str, aliases: &[String]) -> Vec<String> {
    let mut accepted: Vec<String> = Vec::new();
    for value in [token_endpoint, issuer]
        .into_iter()
        .chain(aliases.iter().map(String::as_str))
    {
        if !value.is_empty() && !accepted.iter().any(|a| a == value) {
            accepted.push(value.to_owned());
        }
    }
    accepted
}

/// Exact, case-sensitive comparison (RFC 7519 4.1.3 compares StringOrURI values as strings).
pub fn check_audience(audiences: &[String], accepted: &[String]) -> Result<(), String> {
    if audiences.iter().any(|a| accepted.contains(a)) {
        return Ok(());
    }
    let mut given: Vec<String> = audiences
        .iter()
        .take(MAX_LISTED)
        .map(|a| crate::shown(a))
        .collect();
    if audiences.len() > MAX_LISTED {
        given.push(format!("and {} more", audiences.len() - MAX_LISTED));
    }
    Err(format!(
        "None of the audience values matched the token endpoint: the assertion's aud is [{}]; \
         expected one of: {} (the token endpoint URL, the tenant's issuer, or an alias of the identity provider)",
        given.join(", "),
        accepted.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn any_name_of_this_server_matches() {
        let accepted = accepted_audiences(
            "https://h/oauth2/token",
            "https://h/t/x/oauth2/token",
            &v(&["alias"]),
        );
        assert_eq!(accepted.len(), 3);
        assert!(check_audience(&v(&["other", "alias"]), &accepted).is_ok());
        assert!(check_audience(&v(&["https://h/oauth2/token"]), &accepted).is_ok());
        assert!(check_audience(&v(&["https://h/t/x/oauth2/token"]), &accepted).is_ok());
    }

    #[test]
    fn a_mismatch_names_what_would_have_matched() {
        let accepted = accepted_audiences("https://h/oauth2/token", "https://h/oauth2/token", &[]);
        assert_eq!(accepted.len(), 1);
        let err = check_audience(&v(&["https://H/oauth2/token"]), &accepted).unwrap_err();
        assert!(
            err.starts_with("None of the audience values matched the token"),
            "{err}"
        );
        assert!(
            err.contains("expected one of: https://h/oauth2/token"),
            "{err}"
        );
        let many: Vec<String> = (0..9).map(|i| format!("a{i}")).collect();
        assert!(check_audience(&many, &accepted)
            .unwrap_err()
            .contains("and 4 more"));
    }
}
