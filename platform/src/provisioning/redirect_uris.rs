//! A client's redirect URIs (RFC 6749 3.1.2) and post-logout redirect URIs (OpenID Connect
//! RP-Initiated Logout 1.0) as registered: each checked for shape here, kept as given (the
//! authorization endpoint compares exact strings, `Client::redirect_uri_registered`), and its
//! consent setting. Never normalises a URI: what is stored is what is matched.

use super::{Field, ProvisioningError, Result};
use crate::store::{CONSENT_REQUIRED, CONSENT_SKIP};

/// At most this many URIs of each kind per client.
pub const MAX_REDIRECT_URIS: usize = 20;
/// At most this many bytes per URI.
pub const MAX_REDIRECT_URI_BYTES: usize = 2000;

/// The URIs checked one by one, duplicates removed, order kept; the refusal names the field.
pub fn check_redirect_uris(field: Field, uris: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for uri in uris {
        check_redirect_uri(&uri).map_err(|reason| {
            ProvisioningError::invalid(field, format!("'{}': {reason}", uri.escape_default()))
        })?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    if out.len() > MAX_REDIRECT_URIS {
        return Err(ProvisioningError::invalid(
            field,
            format!("at most {MAX_REDIRECT_URIS} URIs, not {}", out.len()),
        ));
    }
    Ok(out)
}

/// `required` (the default) or `skip`.
pub fn check_consent(field: Field, consent: Option<String>) -> Result<String> {
    let consent = consent.unwrap_or_else(|| CONSENT_REQUIRED.to_owned());
    if consent != CONSENT_REQUIRED && consent != CONSENT_SKIP {
        return Err(ProvisioningError::invalid(
            field,
            format!("'{}': use required or skip", consent.escape_default()),
        ));
    }
    Ok(consent)
}

/// Absolute, without a fragment (RFC 6749 3.1.2), and either `https`, `http` to a loopback host
/// (RFC 8252 7.3), or a private-use scheme with a dot in it (RFC 8252 7.1: the reverse domain
/// name of the native app, such as `com.example.app:/cb`).
fn check_redirect_uri(uri: &str) -> std::result::Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI_BYTES {
        return Err(format!("longer than {MAX_REDIRECT_URI_BYTES} bytes"));
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain white space or control characters".into());
    }
    if uri.contains('#') {
        return Err("must not have a fragment (RFC 6749 3.1.2)".into());
    }
    let url = url::Url::parse(uri).map_err(|e| format!("not an absolute URI ({e})"))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if crate::keys::remote_jwks::is_loopback(&url) => Ok(()),
        "http" => Err(
            "must be https (plain http only to a loopback host: 127.0.0.1, [::1] or localhost, \
             RFC 8252 7.3)"
                .into(),
        ),
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "scheme {scheme}: use https, or a private-use scheme with a dot such as \
             com.example.app (RFC 8252 7.1)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::field;

    fn check(uris: &[&str]) -> Result<Vec<String>> {
        check_redirect_uris(
            field::REDIRECT_URIS,
            uris.iter().map(|u| (*u).to_owned()).collect(),
        )
    }

    #[test]
    fn web_loopback_and_native_app_uris_are_accepted_as_given() {
        let good = [
            "https://app.example/cb",
            "https://app.example:8443/cb?tenant=a",
            "https://APP.example/Cb",
            "http://127.0.0.1:51004/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
            "com.example.app:callback",
        ];
        assert_eq!(check(&good).unwrap(), good);
    }

    #[test]
    fn duplicates_are_removed_keeping_order() {
        assert_eq!(
            check(&[
                "https://b.example/",
                "https://a.example/",
                "https://b.example/"
            ])
            .unwrap(),
            ["https://b.example/", "https://a.example/"]
        );
        assert!(check(&[]).unwrap().is_empty());
    }

    #[test]
    fn bad_uris_are_refused_naming_the_field_and_the_uri() {
        for (uri, reason) in [
            ("https://app.example/cb#x", "must not have a fragment"),
            ("https://app.example/cb#", "must not have a fragment"),
            ("http://app.example/cb", "must be https"),
            ("http://127.0.0.2.example/cb", "must be https"),
            ("/cb", "not an absolute URI"),
            ("app.example/cb", "not an absolute URI"),
            ("javascript:alert(1)", "scheme javascript"),
            ("data:text/html,x", "scheme data"),
            ("myapp:/cb", "scheme myapp"),
            ("https://app.example/a b", "white space"),
            ("https://app.example/cb\n", "control characters"),
            ("https://app.example/\u{7f}", "control characters"),
            ("https://app.example/\u{a0}", "white space"),
            ("", "not an absolute URI"),
        ] {
            let e = check(&["https://ok.example/", uri])
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("redirect_uris: '"), "{uri}: {e}");
            assert!(e.contains(reason), "{uri}: {e}");
        }
        let e = check(&["http://app.example/cb"]).unwrap_err();
        assert_eq!(
            e.for_command_line(),
            "--redirect-uri: 'http://app.example/cb': must be https (plain http only to a \
             loopback host: 127.0.0.1, [::1] or localhost, RFC 8252 7.3)"
        );
    }

    #[test]
    fn counts_and_lengths_are_bounded() {
        let long = format!("https://app.example/{}", "a".repeat(MAX_REDIRECT_URI_BYTES));
        let e = check(&[long.as_str()]).unwrap_err().to_string();
        assert!(e.contains("longer than 2000 bytes"), "{e}");
        let just = format!(
            "https://app.example/{}",
            "a".repeat(MAX_REDIRECT_URI_BYTES - "https://app.example/".len())
        );
        assert_eq!(check(&[just.as_str()]).unwrap(), [just]);
        let many: Vec<String> = (0..=MAX_REDIRECT_URIS)
            .map(|i| format!("https://app.example/{i}"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = check(&refs).unwrap_err().to_string();
        assert_eq!(e, "redirect_uris: at most 20 URIs, not 21");
        assert_eq!(check(&refs[..MAX_REDIRECT_URIS]).unwrap().len(), 20);
        // Duplicates do not count against the limit.
        let mut repeated = refs[..MAX_REDIRECT_URIS].to_vec();
        repeated.push(refs[0]);
        assert_eq!(check(&repeated).unwrap().len(), 20);
    }

    #[test]
    fn consent_is_required_or_skip() {
        assert_eq!(check_consent(field::CONSENT, None).unwrap(), "required");
        assert_eq!(
            check_consent(field::CONSENT, Some("skip".into())).unwrap(),
            "skip"
        );
        let e = check_consent(field::CONSENT, Some("Skip".into())).unwrap_err();
        assert_eq!(e.to_string(), "consent: 'Skip': use required or skip");
        assert_eq!(
            e.for_command_line(),
            "--consent: 'Skip': use required or skip"
        );
    }
}
