//! Signing in to the console: only with the admin token, from the console's own form (CSRF),
//! with the cookie out of reach of scripts and other sites, failures limited per address under
//! concurrency, and signing out ending the session on the server.

use super::{text, ConsoleSetup, TOKEN};
use crate::harness::{on_each_backend, Backend, Browser};

fn only_the_admin_token_signs_in_and_signing_out_ends_the_session(backend: Backend) {
    let setup = ConsoleSetup::start(backend);
    let mut browser = Browser::new();

    // Not signed in: every page leads to the sign-in form.
    let page = browser.get(&setup.url("/tenants"));
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), Some("/console/sign-in"));
    let form = browser.get(&setup.url("/sign-in"));
    let policy = form.header("content-security-policy").unwrap().to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let inline_handler = form
        .body
        .split_whitespace()
        .any(|word| word.starts_with("on") && word.contains('='));
    assert!(
        !form.body.contains("<script>") && !inline_handler,
        "no inline script: {}",
        form.body
    );
    assert_eq!(form.header("x-frame-options"), Some("DENY"));

    // A post without the form's CSRF token (another site's form) is refused before the token
    // is looked at.
    let forged = browser.post_form(&setup.url("/sign-in"), &[("token".into(), TOKEN.into())]);
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.set_cookie("grantor-console").is_none());

    let wrong = setup.sign_in(&mut browser, "not-the-admin-token-at-all");
    assert_eq!(wrong.status, 401);
    assert!(
        text(&wrong).contains("That is not the admin token."),
        "{}",
        wrong.body
    );
    assert!(wrong.set_cookie("grantor-console").is_none());

    let signed_in = setup.sign_in(&mut browser, TOKEN);
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location(), Some("/console/tenants"));
    let cookie = signed_in.set_cookie("grantor-console").unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // Plain HTTP to the admin listener: not Secure (the browser would drop it), no prefix.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let tenants = browser.get(&setup.url("/tenants"));
    assert_eq!(tenants.status, 200);
    assert!(tenants.body.contains("carbon.super"), "{}", tenants.body);
    assert_eq!(tenants.header("cache-control"), Some("no-store"));

    // The session id is never stored: the database holds its digest only.
    let session = browser.cookie("grantor-console").unwrap().to_owned();
    assert!(!setup.server.log().contains(&session));

    // Signing out ends it on the server: the same cookie, sent again, signs nobody in.
    let csrf = tenants.hidden("csrf_token").unwrap();
    let out = browser.post_form(&setup.url("/sign-out"), &[("csrf_token".into(), csrf)]);
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/console/sign-in"));
    let mut replay = Browser::new();
    replay.set_cookie("grantor-console", &session);
    let page = replay.get(&setup.url("/tenants"));
    assert_eq!(page.status, 303, "a session that signed out is over");
    assert!(!setup.server.log().contains(TOKEN));
}
on_each_backend!(only_the_admin_token_signs_in_and_signing_out_ends_the_session);

/// 30 wrong tokens at once from one address: each is counted before it is checked, so exactly
/// the limit (10) are checked and the rest refused; then even the right token waits.
fn parallel_guesses_are_limited_per_address(backend: Backend) {
    let setup = ConsoleSetup::start(backend);
    let forms: Vec<(Browser, crate::harness::Page)> = (0..30)
        .map(|_| {
            let mut browser = Browser::new();
            let form = browser.get(&setup.url("/sign-in"));
            (browser, form)
        })
        .collect();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let guesses: Vec<_> = forms
            .into_iter()
            .enumerate()
            .map(|(i, (mut browser, form))| {
                scope.spawn(move || {
                    browser
                        .submit(&form, &[("token", &format!("wrong-guess-number-{i}"))])
                        .status
                })
            })
            .collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, limited), (10, 20), "{statuses:?}");
    let mut browser = Browser::new();
    let right = setup.sign_in(&mut browser, TOKEN);
    assert_eq!(right.status, 429, "{}", right.body);
    assert!(right.header("retry-after").is_some());
    assert!(text(&right).contains("Too many failed sign-ins from this address"));
}
on_each_backend!(parallel_guesses_are_limited_per_address);
