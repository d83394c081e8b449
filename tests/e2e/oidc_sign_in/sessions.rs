//! The browser session and what it spares the user: `prompt`, `max_age` and remembered consent
//! decide which pages are shown; a client may skip consent; every sign-in starts a new session;
//! sessions end after their idle timeout and lifetime; over HTTPS the cookies are `__Host-`.

use std::time::Duration;

use crate::harness::{
    eventually, exchange_code, now, on_each_backend, verified, with_query, Backend, Browser, Pkce,
    Reply, Server,
};

use super::{
    assert_form_may_lead_to, assert_login_page, cookie_attributes, issuer_of, start, AUTHORIZE,
    CLIENT_NAME, CSRF_COOKIE, LOOPBACK, PASSWORD, REDIRECT, SESSION_COOKIE, STATE, TENANT, TOKEN,
};

fn prompt_max_age_and_remembered_consent_decide_which_pages_are_shown(backend: Backend) {
    let setup = start(backend, &[]);
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    let profile = ("scope", "openid profile");

    // No session: prompt=none cannot show the login page.
    let page = browser.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&page, "login_required");

    // Signed in, consent not yet given: prompt=none cannot ask for it.
    let consent = setup.sign_in(&mut browser, &pkce, &[profile]);
    let page = browser.get(&setup.authorize_url(&pkce, &[profile, ("prompt", "none")]));
    setup.assert_error_redirect(&page, "consent_required");
    // Denied: the client hears so, with its state.
    let denied = browser.submit(&consent, &[("decision", "deny")]);
    setup.assert_error_redirect(&denied, "access_denied");
    let page = browser.get(&setup.authorize_url(&pkce, &[profile, ("prompt", "none")]));
    setup.assert_error_redirect(&page, "consent_required");

    // Allowed: remembered for these scopes.
    let consent = browser.get(&setup.authorize_url(&pkce, &[profile]));
    assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
    browser
        .submit(&consent, &[("decision", "allow")])
        .code(REDIRECT);
    for changes in [
        &[profile, ("prompt", "none")][..],
        &[profile][..],
        &[("scope", "openid")][..],
        &[profile, ("max_age", "3600")][..],
    ] {
        let page = browser.get(&setup.authorize_url(&pkce, changes));
        let params = page.redirect_params(REDIRECT);
        assert!(params.contains_key("code"), "{changes:?}: {params:?}");
        assert_eq!(params["state"], STATE);
        assert_eq!(params["iss"], setup.issuer);
    }
    // More scopes than were allowed: asked again (or refused with prompt=none).
    let page = browser.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&page, "consent_required");
    let page = browser.get(&setup.authorize_url(&pkce, &[]));
    assert!(page.body.contains("<li>email</li>"), "{}", page.body);

    // prompt=consent asks even when remembered.
    let page = browser.get(&setup.authorize_url(&pkce, &[profile, ("prompt", "consent")]));
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(&format!("<h1>{CLIENT_NAME} asks for access</h1>")),
        "{}",
        page.body
    );

    // prompt=login, and max_age=0, sign in again despite the session.
    for changes in [
        &[profile, ("prompt", "login")][..],
        &[profile, ("max_age", "0")],
    ] {
        let page = browser.get(&setup.authorize_url(&pkce, changes));
        assert_login_page(&page);
        let signed_in = browser.submit(&page, &[("username", "alice"), ("password", PASSWORD)]);
        assert!(signed_in.set_cookie(SESSION_COOKIE).is_some());
        signed_in.code(REDIRECT);
    }

    // prompt=none combined with another value is malformed.
    let page = browser.get(&setup.authorize_url(&pkce, &[("prompt", "none login")]));
    setup.assert_error_redirect(&page, "invalid_request");
}
on_each_backend!(prompt_max_age_and_remembered_consent_decide_which_pages_are_shown);

fn a_client_that_skips_consent_gets_its_code_straight_after_sign_in(backend: Backend) {
    let setup = start(backend, &[]);
    // A first-party client of the default tenant, reached without a tenant path.
    let first_party = setup.deployment.add_client_with(
        "carbon.super",
        "Portal",
        "authorization_code",
        "openid,email",
        &[
            "--redirect-uri",
            LOOPBACK,
            "--consent",
            "skip",
            "--token-format",
            "jwt",
        ],
    );
    setup
        .deployment
        .add_user("carbon.super", "bob", PASSWORD, &[]);
    let issuer = issuer_of(&setup.server, "carbon.super");
    let mut browser = Browser::new();
    // Alice's session at acme is no session at the default tenant.
    setup.code(&mut browser, &Pkce::new(), &[]);
    let pkce = Pkce::new();
    let request = |prompt: &str| {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", first_party.id.as_str()),
            ("redirect_uri", LOOPBACK),
            ("scope", "openid email"),
            ("state", STATE),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if !prompt.is_empty() {
            params.push(("prompt", prompt));
        }
        with_query(&setup.server.url("/oauth2/authorize"), &params)
    };
    let page = browser.get(&request("none"));
    assert_eq!(
        page.redirect_params(LOOPBACK)["error"],
        "login_required",
        "{:?}",
        page.location()
    );

    let login = browser.get(&request(""));
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.form_action().as_deref(), Some("/oauth2/authorize"));
    assert_form_may_lead_to(&login, "http://127.0.0.1:51004");
    let back = browser.submit(&login, &[("username", "bob"), ("password", PASSWORD)]);
    assert!(back.set_cookie("grantor-session.carbon.super").is_some());
    let params = back.redirect_params(LOOPBACK);
    assert_eq!(params["state"], STATE);
    assert_eq!(params["iss"], issuer);
    let tokens = exchange_code(
        &setup.server,
        "/oauth2/token",
        &first_party,
        &params["code"],
        LOOPBACK,
        Some(&pkce.verifier),
    )
    .assert_token()
    .clone();
    let claims = verified(
        &setup.server,
        "/oauth2/jwks",
        tokens["id_token"].as_str().unwrap(),
        "JWT",
        &first_party.id,
    );
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["sub"], "bob");
    // Its access token is a JWT (RFC 9068): UserInfo takes it as well.
    let access = tokens["access_token"].as_str().unwrap();
    let access_claims = verified(
        &setup.server,
        "/oauth2/jwks",
        access,
        "at+jwt",
        &first_party.id,
    );
    assert_eq!(access_claims["sub"], "bob");
    let userinfo = Reply::from(
        setup
            .server
            .http
            .get(setup.server.url("/oauth2/userinfo"))
            .bearer_auth(access)
            .send()
            .unwrap(),
    );
    assert_eq!(userinfo.status, 200, "{}", userinfo.json);
    assert_eq!(userinfo.json["sub"], "bob");
    // Signed in there now: prompt=none answers with a code.
    browser.get(&request("none")).code(LOOPBACK);
}
on_each_backend!(a_client_that_skips_consent_gets_its_code_straight_after_sign_in);

fn each_sign_in_starts_a_new_session_and_ends_the_old_one(backend: Backend) {
    let setup = start(backend, &[]);
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    setup.code(&mut browser, &pkce, &[]);
    let first = browser.cookie(SESSION_COOKIE).unwrap().to_owned();

    // Signing in again in the same browser: another session id.
    let page = setup.sign_in(&mut browser, &pkce, &[("prompt", "login")]);
    let second = page
        .cookie_value(SESSION_COOKIE)
        .expect("a new session cookie")
        .to_owned();
    assert_ne!(second, first);
    page.code(REDIRECT);

    // The first session's cookie is worth nothing now; the second's signs in.
    let mut old = Browser::new();
    old.set_cookie(SESSION_COOKIE, &first);
    let page = old.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&page, "login_required");
    let mut current = Browser::new();
    current.set_cookie(SESSION_COOKIE, &second);
    current
        .get(&setup.authorize_url(&pkce, &[("prompt", "none")]))
        .code(REDIRECT);

    // A session id the server never issued (a planted one) is no session, and signing in
    // with it planted gives another.
    let mut planted = Browser::new();
    planted.set_cookie(SESSION_COOKIE, "chosen-by-the-attacker-0000000000000000000");
    let page = planted.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&page, "login_required");
    setup.sign_in(&mut planted, &pkce, &[]);
    let issued = planted.cookie(SESSION_COOKIE).unwrap();
    assert_ne!(issued, "chosen-by-the-attacker-0000000000000000000");
}
on_each_backend!(each_sign_in_starts_a_new_session_and_ends_the_old_one);

/// A session ends after its idle timeout and after its lifetime (each server of one database
/// with its own setting here), and a code issued in it is worth nothing then; with the
/// defaults, the same wait ends nothing.
fn sessions_end_after_their_idle_timeout_and_their_lifetime(backend: Backend) {
    let setup = start(backend, &[]);
    let portal = setup.deployment.add_client_with(
        TENANT,
        "Portal",
        "authorization_code",
        "openid",
        &["--redirect-uri", REDIRECT, "--consent", "skip"],
    );
    let idle = setup
        .deployment
        .start_with_env(&[("GRANTOR_OAUTH__SIGN_IN__SESSION_IDLE_TIMEOUT_SECONDS", "1")]);
    let short = setup
        .deployment
        .start_with_env(&[("GRANTOR_OAUTH__SIGN_IN__SESSION_LIFETIME_SECONDS", "1")]);
    let pkce = Pkce::new();
    let request = |server: &Server, prompt: &str| {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", portal.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("state", STATE),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if !prompt.is_empty() {
            params.push(("prompt", prompt));
        }
        with_query(&server.url(AUTHORIZE), &params)
    };
    // Signed in at each server; the code comes with the sign-in.
    let mut signed_in = Vec::new();
    for server in [&setup.server, &idle, &short] {
        let mut browser = Browser::new();
        let login = browser.get(&request(server, ""));
        let code = browser
            .submit(&login, &[("username", "alice"), ("password", PASSWORD)])
            .code(REDIRECT);
        signed_in.push((server, browser, code));
    }
    // Past both settings (whole seconds: the idle session was last seen in the second of its
    // sign-in, and lives through the next).
    let after = now() + 2;
    eventually("the clock passes", Duration::from_secs(3), || {
        now() >= after
    });
    for (n, (server, mut browser, code)) in signed_in.into_iter().enumerate() {
        let page = browser.get(&request(server, "none"));
        let exchanged = exchange_code(
            server,
            TOKEN,
            &portal,
            &code,
            REDIRECT,
            Some(&pkce.verifier),
        );
        if n == 0 {
            page.code(REDIRECT);
            exchanged.assert_token();
        } else {
            let params = page.redirect_params(REDIRECT);
            assert_eq!(params["error"], "login_required", "server {n}: {params:?}");
            let description = exchanged.assert_error(400, "invalid_grant");
            assert_eq!(
                description,
                "the sign-in session the authorization code was issued in has ended"
            );
        }
    }
}
on_each_backend!(sessions_end_after_their_idle_timeout_and_their_lifetime);

/// Behind HTTPS (`public_base_url`), the cookies are `Secure` and `__Host-` prefixed, and a
/// cookie without the prefix (which a subdomain or a plain-HTTP page could have set) counts
/// for nothing.
fn over_https_the_cookies_are_secure_and_host_prefixed(backend: Backend) {
    let setup = start(
        backend,
        &[("GRANTOR_SERVER__PUBLIC_BASE_URL", "https://id.example")],
    );
    assert_eq!(setup.issuer, "https://id.example/t/acme/oauth2/token");
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    let login = browser.get(&setup.authorize_url(&pkce, &[]));
    assert_login_page(&login);
    let csrf = login
        .set_cookie("__Host-grantor-csrf")
        .expect("a CSRF cookie");
    assert_eq!(
        cookie_attributes(csrf),
        ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"]
    );
    assert!(login.set_cookie(CSRF_COOKIE).is_none());
    let consent = browser.submit(&login, &[("username", "alice"), ("password", PASSWORD)]);
    assert_eq!(consent.status, 200, "{}", consent.body);
    let session = consent
        .set_cookie("__Host-grantor-session.acme")
        .expect("a session cookie");
    assert_eq!(
        cookie_attributes(session),
        [
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=36000",
            "Secure"
        ]
    );
    let params = browser
        .submit(&consent, &[("decision", "allow")])
        .redirect_params(REDIRECT);
    assert_eq!(params["iss"], setup.issuer);
    let claims = setup.id_token_claims(&setup.tokens(&params["code"], &pkce));
    assert_eq!(claims["iss"], setup.issuer);

    // The session's id under the plain name: no session.
    let session_id = browser
        .cookie("__Host-grantor-session.acme")
        .unwrap()
        .to_owned();
    let mut unprefixed = Browser::new();
    unprefixed.set_cookie(SESSION_COOKIE, &session_id);
    let page = unprefixed.get(&setup.authorize_url(&pkce, &[("prompt", "none")]));
    setup.assert_error_redirect(&page, "login_required");
    browser
        .get(&setup.authorize_url(&pkce, &[("prompt", "none")]))
        .code(REDIRECT);
}
on_each_backend!(over_https_the_cookies_are_secure_and_host_prefixed);
