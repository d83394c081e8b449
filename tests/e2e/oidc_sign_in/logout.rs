//! RP-Initiated Logout: with an ID token as its hint, at once; without, after the user confirms
//! on a page with a CSRF token; back only to a registered URI; the session ended everywhere.

use crate::harness::{on_each_backend, with_query, Backend, Browser, Pkce};

use super::{
    assert_form_may_lead_to, assert_page_headers, cookie_attributes, start, LOGOUT, REDIRECT,
    SESSION_COOKIE, SIGNED_OUT, TENANT_NAME,
};

fn logout_ends_the_session_and_returns_only_to_a_registered_uri(backend: Backend) {
    let setup = start(backend, &[]);
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    let code = setup.code(&mut browser, &pkce, &[]);
    let id_token = setup.tokens(&code, &pkce)["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = browser.cookie(SESSION_COOKIE).unwrap().to_owned();
    let logout = |params: &[(&str, &str)]| with_query(&setup.server.url(LOGOUT), params);

    // An unregistered post_logout_redirect_uri: an error page, nowhere sent, still signed in.
    let page = browser.get(&logout(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", "https://evil.example/bye"),
        ("state", "bye-1"),
    ]));
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(page.location(), None);
    assert_page_headers(&page);
    assert!(
        page.body
            .contains("the post_logout_redirect_uri is not registered for this client"),
        "{}",
        page.body
    );
    assert!(page.set_cookies().is_empty());
    // A code issued in the session, for later.
    let pending = Pkce::new();
    let pending_code = browser
        .get(&setup.authorize_url(&pending, &[("prompt", "none")]))
        .code(REDIRECT);

    // With the ID token as its hint: signed out at once, sent back with the state.
    let page = browser.get(&logout(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", SIGNED_OUT),
        ("state", "bye-1"),
    ]));
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location(),
        Some("https://app.example/signed-out?state=bye-1")
    );
    let cleared = page.set_cookie(SESSION_COOKIE).expect("the cookie cleared");
    assert!(
        cleared.starts_with(&format!("{SESSION_COOKIE}=;")),
        "{cleared}"
    );
    assert!(
        cookie_attributes(cleared).contains(&"Max-Age=0"),
        "{cleared}"
    );
    assert!(browser.cookie(SESSION_COOKIE).is_none());
    let page = browser.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&page, "login_required");
    // The old cookie, kept by a browser that ignored the clearing: ended all the same.
    let mut kept = Browser::new();
    kept.set_cookie(SESSION_COOKIE, &session);
    let page = kept.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&page, "login_required");
    // A code of the ended session buys nothing.
    let description = setup
        .exchange(&pending_code, Some(&pending.verifier))
        .assert_error(400, "invalid_grant");
    assert!(description.contains("session"), "{description}");

    // Without a hint: the user is asked, on a page whose form has a CSRF token.
    setup.code(&mut browser, &pkce, &[]);
    let confirm = browser.get(&logout(&[
        ("client_id", &setup.webapp.id),
        ("post_logout_redirect_uri", SIGNED_OUT),
        ("state", "bye-2"),
    ]));
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_page_headers(&confirm);
    assert!(
        confirm
            .body
            .contains(&format!("<h1>Sign out of {TENANT_NAME}?</h1>")),
        "{}",
        confirm.body
    );
    assert!(!confirm.hidden("csrf_token").unwrap_or_default().is_empty());
    assert_form_may_lead_to(&confirm, "https://app.example");
    assert!(confirm.set_cookies().is_empty());
    // Still signed in while the page waits; a post without the token only asks again.
    browser
        .get(&setup.authorize_url(&pkce, &[("prompt", "none")]))
        .code(REDIRECT);
    let without: Vec<(String, String)> = confirm
        .form_with(&[("decision", "logout")])
        .into_iter()
        .filter(|(name, _)| name != "csrf_token")
        .collect();
    let again = browser.post_form(&setup.server.url(LOGOUT), &without);
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.contains("Sign out of"), "{}", again.body);
    browser
        .get(&setup.authorize_url(&pkce, &[("prompt", "none")]))
        .code(REDIRECT);
    // Confirmed: signed out and sent back.
    let page = browser.submit(&confirm, &[("decision", "logout")]);
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location(),
        Some("https://app.example/signed-out?state=bye-2")
    );
    assert!(browser.cookie(SESSION_COOKIE).is_none());
    let page = browser.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&page, "login_required");
}
on_each_backend!(logout_ends_the_session_and_returns_only_to_a_registered_uri);
