//! The login and consent forms' defences: a CSRF token bound to the browser (and to the form),
//! and failed sign-ins limited per user and address, counted by every node together.

use crate::harness::{on_each_backend, Backend, Browser, Page, Pkce, Server};

use super::{
    assert_login_page, assert_page_headers, start, AUTHORIZE, CSRF_COOKIE, PASSWORD, REDIRECT,
    SESSION_COOKIE, TENANT,
};

fn a_form_without_its_csrf_token_or_with_another_browsers_is_refused(backend: Backend) {
    let setup = start(backend, &[]);
    let pkce = Pkce::new();
    let mut browser = Browser::new();
    let mut other = Browser::new();
    let login = browser.get(&setup.authorize_url(&pkce, &[]));
    let others_login = other.get(&setup.authorize_url(&pkce, &[]));
    let others_token = others_login.hidden("csrf_token").unwrap();
    assert_ne!(others_token, login.hidden("csrf_token").unwrap());
    let credentials = [("username", "alice"), ("password", PASSWORD)];
    let action = setup.server.url(AUTHORIZE);

    let assert_forged = |page: &Page| {
        assert_eq!(page.status, 403, "{}", page.body);
        assert_page_headers(page);
        assert!(page.body.contains("security token"), "{}", page.body);
        assert!(page.set_cookies().is_empty(), "{:?}", page.set_cookies());
        assert_eq!(page.location(), None);
    };
    // Without the token.
    let without: Vec<(String, String)> = login
        .form_with(&credentials)
        .into_iter()
        .filter(|(name, _)| name != "csrf_token")
        .collect();
    assert_forged(&browser.post_form(&action, &without));
    // With another browser's token.
    assert_forged(&browser.submit(
        &login,
        &[
            ("csrf_token", &others_token),
            credentials[0],
            credentials[1],
        ],
    ));
    // With its own token but without the cookie it was made from.
    let cookie = browser.cookie(CSRF_COOKIE).unwrap().to_owned();
    browser.remove_cookie(CSRF_COOKIE);
    assert_forged(&browser.submit(&login, &credentials));
    browser.set_cookie(CSRF_COOKIE, &cookie);
    assert!(browser.cookie(SESSION_COOKIE).is_none());

    // The consent form: its own token, bound to the session, and no other.
    let consent = browser.submit(&login, &credentials);
    assert_eq!(consent.status, 200, "{}", consent.body);
    let without: Vec<(String, String)> = consent
        .form_with(&[("decision", "allow")])
        .into_iter()
        .filter(|(name, _)| name != "csrf_token")
        .collect();
    assert_forged(&browser.post_form(&action, &without));
    // The login form's token is not the consent form's.
    let login_token = login.hidden("csrf_token").unwrap();
    assert_forged(&browser.submit(
        &consent,
        &[("csrf_token", &login_token), ("decision", "allow")],
    ));
    // Nothing was allowed.
    let page = browser.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&page, "consent_required");
    browser
        .submit(&consent, &[("decision", "allow")])
        .code(REDIRECT);
}
on_each_backend!(a_form_without_its_csrf_token_or_with_another_browsers_is_refused);

fn failed_sign_ins_on_the_login_page_are_limited_across_nodes(backend: Backend) {
    let env = [
        (
            "GRANTOR_OAUTH__PASSWORD_GRANT__MAX_FAILURES_PER_USER_AND_ADDRESS",
            "3",
        ),
        ("GRANTOR_OAUTH__PASSWORD_GRANT__MAX_FAILURES_PER_USER", "3"),
        (
            "GRANTOR_OAUTH__PASSWORD_GRANT__MAX_FAILURES_PER_ADDRESS",
            "1000",
        ),
    ];
    let setup = start(backend, &env);
    setup.deployment.add_user(TENANT, "bob", PASSWORD, &[]);
    // A second node on the same database (SQLite: a second process on the same file).
    let other = setup.deployment.start_with_env(&env);
    let nodes = [&setup.server, &other, &setup.server];
    let pkce = Pkce::new();
    // One browser; its posts go to either node, as behind a load balancer.
    let mut browser = Browser::new();
    let login = browser.get(&setup.authorize_url(&pkce, &[]));
    let post = |browser: &mut Browser, node: &Server, username: &str, password: &str| {
        browser.post_form(
            &node.url(AUTHORIZE),
            &login.form_with(&[("username", username), ("password", password)]),
        )
    };

    // Three failures, split over the nodes: each node saw fewer than the limit.
    for node in nodes {
        let page = post(&mut browser, node, "alice", "wrong");
        assert_login_page(&page);
        assert!(
            page.body.contains("invalid username or password"),
            "{}",
            page.body
        );
    }
    // The limit holds on both, even for the right password.
    for node in [&other, &setup.server] {
        let page = post(&mut browser, node, "alice", PASSWORD);
        assert_eq!(page.status, 429, "{}", page.body);
        assert_page_headers(&page);
        let retry_after: u64 = page.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=300).contains(&retry_after), "{retry_after}");
        assert!(
            page.body
                .contains(&format!("Try again in {retry_after} seconds")),
            "{}",
            page.body
        );
        assert!(page.set_cookie(SESSION_COOKIE).is_none());
        // Still a login form to come back to.
        assert!(page.body.contains("name=\"password\""), "{}", page.body);
    }
    assert!(browser.cookie(SESSION_COOKIE).is_none());
    // Another user is not held back.
    let page = post(&mut browser, &other, "bob", PASSWORD);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.set_cookie(SESSION_COOKIE).is_some());
    // No password reached either node's log.
    for node in [&setup.server, &other] {
        assert!(!node.log().contains(PASSWORD));
    }
}
on_each_backend!(failed_sign_ins_on_the_login_page_are_limited_across_nodes);
