//! Signing in to the console: only with the admin token, from the console's own form (CSRF),
//! with the cookie out of reach of scripts and other sites, failures limited per address under
//! concurrency, and signing out ending the session on the server.

use diesel::prelude::*;

use super::{text, ConsoleSetup, TOKEN, TOKEN_VARIABLE};
use crate::harness::{
    console_sessions, on_each_backend, query_database, stored_hash, wait_until_listening, Backend,
    Browser,
};

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
    let stored = |id: &str| -> i64 {
        query_database!(
            setup.deployment,
            console_sessions::table
                .filter(console_sessions::id_hash.eq(id.to_owned()))
                .count()
        )
    };
    assert_eq!((stored(&stored_hash(&session)), stored(&session)), (1, 0));
    // Signing in again ends the browser's former session.
    let again = setup.sign_in(&mut browser, TOKEN);
    assert_eq!(again.status, 303);
    let mut former = Browser::new();
    former.set_cookie("grantor-console", &session);
    assert_eq!(former.get(&setup.url("/tenants")).status, 303);
    let session = browser.cookie("grantor-console").unwrap().to_owned();
    let tenants = browser.get(&setup.url("/tenants"));
    assert_eq!(tenants.status, 200);

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

/// A new admin token ends the console sessions the old one opened, on the next request.
fn a_new_admin_token_ends_the_old_ones_sessions(backend: Backend) {
    let setup = ConsoleSetup::start(backend);
    let browser = setup.signed_in();
    let session = browser.cookie("grantor-console").unwrap().to_owned();
    let port: u16 = setup
        .console
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/console")
        .parse()
        .unwrap();
    let ConsoleSetup {
        deployment,
        server,
        console,
    } = setup;
    server.terminate();
    let _server = deployment.start_with_env(&[(TOKEN_VARIABLE, "a-new-admin-token-after-a-leak")]);
    wait_until_listening(port);
    let mut replay = Browser::new();
    replay.set_cookie("grantor-console", &session);
    let page = replay.get(&format!("{console}/tenants"));
    assert_eq!(
        page.status, 303,
        "a session of the old token is over: {}",
        page.body
    );
}
on_each_backend!(a_new_admin_token_ends_the_old_ones_sessions);

/// Behind a trusted proxy: failures count per client it names (one client's guesses do not lock
/// out the others behind it), the audit log names that client, and the cookie is Secure with the
/// `__Host-` prefix when the proxy says the browser used HTTPS.
fn behind_a_trusted_proxy_the_client_it_names_counts(backend: Backend) {
    let setup = ConsoleSetup::start_with(
        backend,
        &[("GRANTOR_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]")],
    );
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // One form (its CSRF cookie and token), asked for over "HTTPS", posted as if from several
    // clients.
    let form = http
        .get(setup.url("/sign-in"))
        .header("x-forwarded-proto", "https")
        .send()
        .unwrap();
    let csrf_cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-grantor-console-sign-in="))
        .expect("the sign-in form's cookie, __Host- prefixed over HTTPS");
    let csrf_cookie = csrf_cookie.split(';').next().unwrap().to_owned();
    let body = form.text().unwrap();
    let csrf = hidden_csrf_token(&body);
    let post = |client: &str, token: &str| {
        http.post(setup.url("/sign-in"))
            .header("cookie", &csrf_cookie)
            .header("x-forwarded-for", client)
            .header("x-forwarded-proto", "https")
            .form(&[("csrf_token", csrf.as_str()), ("token", token)])
            .send()
            .unwrap()
    };
    for _ in 0..10 {
        assert_eq!(
            post("203.0.113.1", "wrong-token-from-one-client")
                .status()
                .as_u16(),
            401
        );
    }
    assert_eq!(post("203.0.113.1", TOKEN).status().as_u16(), 429);
    let other = post("203.0.113.2", TOKEN);
    assert_eq!(
        other.status().as_u16(),
        303,
        "another client behind the proxy signs in"
    );
    let cookie = other
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-grantor-console="))
        .expect("the session cookie, __Host- prefixed over HTTPS");
    assert!(
        cookie.contains("; Secure") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // A change made in that session names the client in the audit log.
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = http
        .get(setup.url("/tenants"))
        .header("cookie", &session)
        .header("x-forwarded-for", "203.0.113.2")
        .header("x-forwarded-proto", "https")
        .send()
        .unwrap()
        .text()
        .unwrap();
    let token = hidden_csrf_token(&page);
    let added = http
        .post(setup.url("/tenants"))
        .header("cookie", &session)
        .header("x-forwarded-for", "203.0.113.2")
        .header("x-forwarded-proto", "https")
        .form(&[
            ("csrf_token", token.as_str()),
            ("domain", "proxied.example"),
        ])
        .send()
        .unwrap();
    assert_eq!(added.status().as_u16(), 200);
    let printed = setup.deployment.cli_ok(&["audit", "--json"]);
    let entry: serde_json::Value = serde_json::from_str(printed.lines().next().unwrap()).unwrap();
    assert_eq!(entry["action"], "tenant.add", "{printed}");
    assert_eq!(entry["from_address"], "203.0.113.2", "{printed}");
}
on_each_backend!(behind_a_trusted_proxy_the_client_it_names_counts);

/// The CSRF token of a page's form.
fn hidden_csrf_token(html: &str) -> String {
    const FIELD: &str = "name=\"csrf_token\" value=\"";
    let start = html.find(FIELD).unwrap() + FIELD.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}
