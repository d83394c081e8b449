//! A consent given on the consent page, as the operator sees it: `grantor user consents` lists it
//! with the scopes allowed, and once withdrawn the next sign-in to the client asks again
//! (`prompt=none` is then told `consent_required`); a denial goes back as `access_denied`.

use super::{start, REDIRECT, TENANT};
use crate::harness::{on_each_backend, Backend, Browser, Pkce};

fn a_consent_given_on_the_page_is_listed_and_once_withdrawn_asked_again(backend: Backend) {
    let setup = start(backend, &[]);
    let mut browser = Browser::new();

    // Denied first: back to the client with access_denied, nothing remembered.
    let pkce = Pkce::new();
    let consent = setup.sign_in(&mut browser, &pkce, &[]);
    assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
    let denied = browser.submit(&consent, &[("decision", "deny")]);
    setup.assert_error_redirect(&denied, "access_denied");
    let consents = [
        "user",
        "consents",
        "--tenant",
        TENANT,
        "--username",
        "alice",
    ];
    let none = setup.deployment.cli_ok(&consents);
    assert_eq!(
        none.trim(),
        "user 'alice' has no consent in tenant 'acme'",
        "{none}"
    );

    // Allowed: remembered with its scopes, and the next request needs no page at all.
    let code = setup.code(&mut browser, &pkce, &[]);
    setup.tokens(&code, &pkce);
    let listed = setup.deployment.cli_ok(&consents);
    assert!(
        listed.starts_with(&setup.webapp.id) && listed.contains("scopes=email,openid,profile"),
        "{listed}"
    );
    let pkce = Pkce::new();
    let silent = browser.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    assert!(silent.code(REDIRECT).len() > 20);

    // Withdrawn by the operator: asked again.
    setup
        .deployment
        .cli_ok(&[&consents[..], &["--withdraw", &setup.webapp.id]].concat());
    let silent = browser.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&silent, "consent_required");
    let asked = browser.get(&setup.authorize_url(&pkce, &[]));
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("value=\"allow\""), "{}", asked.body);
}
on_each_backend!(a_consent_given_on_the_page_is_listed_and_once_withdrawn_asked_again);
