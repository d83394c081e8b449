//! The code flow from the login page to UserInfo: the pages, their headers and cookies, the
//! code and its exchange (ID token, UserInfo by scope), a code's single use (reuse revokes what
//! it bought) and short life, and the code sent back by form post.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::harness::{
    eventually, exchange_code, now, on_each_backend, Backend, Browser, Pkce, Reply,
};

use super::{
    assert_form_may_lead_to, assert_login_page, assert_page_headers, cookie_attributes, start,
    AUTHORIZE, CLIENT_NAME, CSRF_COOKIE, NONCE, PASSWORD, REDIRECT, SCOPES, SESSION_COOKIE, STATE,
    TENANT, TENANT_NAME, TOKEN, USERINFO,
};

fn a_user_signs_in_consents_and_the_code_buys_tokens_and_userinfo(backend: Backend) {
    // Info lines logged: none of them may carry a secret.
    let setup = start(backend, &[("RUST_LOG", "info")]);
    let mut browser = Browser::new();
    let pkce = Pkce::new();

    let login = browser.get(&setup.authorize_url(&pkce, &[]));
    assert_login_page(&login);
    assert_form_may_lead_to(&login, "https://app.example");
    assert!(login.body.contains(CLIENT_NAME), "{}", login.body);
    // The request goes back with the form, as it came.
    for (name, value) in [
        ("client_id", setup.webapp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("state", STATE),
        ("nonce", NONCE),
        ("scope", SCOPES),
        ("code_challenge", pkce.challenge.as_str()),
    ] {
        assert_eq!(login.hidden(name).as_deref(), Some(value), "{name}");
    }
    let csrf = login.set_cookie(CSRF_COOKIE).expect("a CSRF cookie");
    assert_eq!(
        cookie_attributes(csrf),
        ["Path=/", "HttpOnly", "SameSite=Lax"]
    );
    // The token is derived from the cookie, not the cookie itself.
    let csrf_value = browser.cookie(CSRF_COOKIE).unwrap().to_owned();
    assert_ne!(login.hidden("csrf_token").unwrap(), csrf_value);
    assert!(!login.body.contains(&csrf_value));

    // A wrong password and an unknown user: the same page, apart from the name typed.
    let wrong = browser.submit(&login, &[("username", "alice"), ("password", "wrong")]);
    let unknown = browser.submit(&login, &[("username", "mallory"), ("password", PASSWORD)]);
    for page in [&wrong, &unknown] {
        assert_login_page(page);
        assert!(
            page.body.contains("invalid username or password"),
            "{}",
            page.body
        );
        assert!(page.set_cookie(SESSION_COOKIE).is_none());
    }
    assert_eq!(
        wrong.body.replace("alice", "NAME"),
        unknown.body.replace("mallory", "NAME")
    );

    let before_sign_in = now();
    let consent = browser.submit(&wrong, &[("username", "alice"), ("password", PASSWORD)]);
    let after_sign_in = now();
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert_page_headers(&consent);
    assert!(
        consent
            .body
            .contains(&format!("<h1>{CLIENT_NAME} asks for access</h1>")),
        "{}",
        consent.body
    );
    assert!(consent.body.contains(TENANT_NAME) && consent.body.contains("alice"));
    for scope in ["openid", "profile", "email"] {
        assert!(
            consent.body.contains(&format!("<li>{scope}</li>")),
            "{scope}: {}",
            consent.body
        );
    }
    assert!(!consent.body.to_ascii_lowercase().contains("<script"));
    assert_eq!(consent.hidden("step").as_deref(), Some("consent"));
    assert_form_may_lead_to(&consent, "https://app.example");
    let session = consent
        .set_cookie(SESSION_COOKIE)
        .expect("a session cookie");
    assert_eq!(
        cookie_attributes(session),
        ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=36000"]
    );
    let session_id = browser.cookie(SESSION_COOKIE).unwrap().to_owned();
    assert!(session_id.len() >= 32, "{session_id}");

    let back = browser.submit(&consent, &[("decision", "allow")]);
    let params = back.redirect_params(REDIRECT);
    assert_eq!(
        params.keys().collect::<Vec<_>>(),
        ["code", "iss", "state"],
        "{params:?}"
    );
    assert_eq!(params["state"], STATE);
    assert_eq!(params["iss"], setup.issuer);
    assert_eq!(back.header("cache-control"), Some("no-store"));
    let code = &params["code"];

    let tokens = setup.tokens(code, &pkce);
    assert_eq!(tokens["scope"], SCOPES);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let claims = setup.id_token_claims(&tokens);
    assert_eq!(claims["iss"], setup.issuer);
    // One audience, as a string (Core 2: an array or, for one, a string).
    assert_eq!(claims["aud"], json!(setup.webapp.id));
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], NONCE);
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(
        (before_sign_in..=after_sign_in).contains(&auth_time),
        "{auth_time} not in {before_sign_in}..={after_sign_in}"
    );
    let sid = claims["sid"].as_str().expect("sid");
    assert!(!sid.is_empty());
    // The sid names the session without being its cookie.
    assert_ne!(sid, session_id);

    let userinfo = setup.userinfo(access);
    assert_eq!(userinfo.status, 200, "{}", userinfo.json);
    assert_eq!(userinfo.json["sub"], claims["sub"]);
    assert_eq!(userinfo.json["email"], "alice@example.com");
    // POST with the token in the form: the same claims.
    let posted = setup
        .server
        .post_form(USERINFO, None, &[("access_token", access)]);
    assert_eq!(posted.status, 200, "{}", posted.json);
    assert_eq!(posted.json, userinfo.json);

    // A refreshed access token describes the same user.
    let refreshed = setup
        .server
        .token(
            TOKEN,
            &setup.webapp,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .assert_token()
        .clone();
    let userinfo = setup.userinfo(refreshed["access_token"].as_str().unwrap());
    assert_eq!(userinfo.status, 200, "{}", userinfo.json);
    assert_eq!(userinfo.json["sub"], claims["sub"]);
    assert_eq!(userinfo.json["email"], "alice@example.com");

    // Without the email scope, no email claim. The consent given covers these scopes and the
    // session is live: the code comes back without a page.
    let narrower = Pkce::new();
    let page = browser.get(&setup.authorize_url(&narrower, &[("scope", "openid profile")]));
    let tokens = setup.tokens(&page.code(REDIRECT), &narrower);
    let again = setup.id_token_claims(&tokens);
    assert_eq!(again["sid"], claims["sid"]);
    assert_eq!(again["auth_time"], claims["auth_time"]);
    let userinfo = setup.userinfo(tokens["access_token"].as_str().unwrap());
    assert_eq!(userinfo.status, 200, "{}", userinfo.json);
    assert_eq!(userinfo.json["sub"], claims["sub"]);
    assert!(userinfo.json.get("email").is_none(), "{}", userinfo.json);

    // Nothing secret in the log, though the requests were logged.
    let log = setup.server.log_containing("authorization request");
    assert!(log.contains("authorization request"), "{log}");
    for secret in [PASSWORD, code, access, refresh, &session_id, &csrf_value] {
        assert!(!log.contains(secret), "a secret in the log: {log}");
    }
}
on_each_backend!(a_user_signs_in_consents_and_the_code_buys_tokens_and_userinfo);

fn a_code_used_twice_is_refused_and_revokes_what_it_bought(backend: Backend) {
    let setup = start(backend, &[]);
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    let code = setup.code(&mut browser, &pkce, &[]);
    // Another client of the tenant cannot exchange it.
    let other = setup.deployment.add_client_with(
        TENANT,
        "other",
        "authorization_code",
        "openid",
        &["--redirect-uri", REDIRECT],
    );
    let description = exchange_code(
        &setup.server,
        TOKEN,
        &other,
        &code,
        REDIRECT,
        Some(&pkce.verifier),
    )
    .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        "the authorization code is invalid, expired, or was already used"
    );
    let tokens = setup.tokens(&code, &pkce);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(setup.userinfo(access).status, 200);
    // Nor is the token anything at another tenant's UserInfo.
    let elsewhere = Reply::from(
        setup
            .server
            .http
            .get(setup.server.url("/oauth2/userinfo"))
            .bearer_auth(access)
            .send()
            .unwrap(),
    );
    assert_eq!(elsewhere.status, 401, "{}", elsewhere.json);
    assert_eq!(setup.introspect(access)["active"], true);

    setup
        .exchange(&code, Some(&pkce.verifier))
        .assert_error(400, "invalid_grant");

    let userinfo = setup.userinfo(access);
    assert_eq!(userinfo.status, 401, "{}", userinfo.json);
    assert_eq!(userinfo.json["error"], "invalid_token");
    let challenge = userinfo.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    assert_eq!(setup.introspect(access), json!({"active": false}));
    assert_eq!(setup.introspect(refresh), json!({"active": false}));
    setup
        .server
        .token(
            TOKEN,
            &setup.webapp,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .assert_error(400, "invalid_grant");
    let log = setup
        .server
        .log_containing("authorization code was presented again");
    assert!(
        log.contains(
            "a spent authorization code was presented again: its family is revoked, access \
             tokens included"
        ),
        "{log}"
    );
    // A third try: refused the same way.
    setup
        .exchange(&code, Some(&pkce.verifier))
        .assert_error(400, "invalid_grant");

    // What the code's tokens were refreshed into is revoked with them.
    let code = setup.code(&mut browser, &pkce, &[]);
    let tokens = setup.tokens(&code, &pkce);
    let refreshed = setup
        .server
        .token(
            TOKEN,
            &setup.webapp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .assert_token()
        .clone();
    let access = refreshed["access_token"].as_str().unwrap();
    let refresh = refreshed["refresh_token"].as_str().unwrap();
    assert_eq!(setup.userinfo(access).status, 200);
    setup
        .exchange(&code, Some(&pkce.verifier))
        .assert_error(400, "invalid_grant");
    assert_eq!(setup.userinfo(access).status, 401);
    assert_eq!(setup.introspect(refresh), json!({"active": false}));
    setup
        .server
        .token(
            TOKEN,
            &setup.webapp,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .assert_error(400, "invalid_grant");
}
on_each_backend!(a_code_used_twice_is_refused_and_revokes_what_it_bought);

fn an_expired_code_is_refused(backend: Backend) {
    let setup = start(
        backend,
        &[(
            "GRANTOR_OAUTH__SIGN_IN__AUTHORIZATION_CODE_LIFETIME_SECONDS",
            "1",
        )],
    );
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    let code = setup.code(&mut browser, &pkce, &[]);
    // Asked with the wrong verifier (which leaves the code unused), the code is refused for
    // that until its second has passed, and then as expired.
    let wrong = Pkce::new();
    eventually("the code expires", Duration::from_secs(2), || {
        let description = setup
            .exchange(&code, Some(&wrong.verifier))
            .assert_error(400, "invalid_grant");
        match description.as_str() {
            "code_verifier does not match the code_challenge" => false,
            "the authorization code has expired; sign in again" => true,
            other => panic!("{other}"),
        }
    });
    let description = setup
        .exchange(&code, Some(&pkce.verifier))
        .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        "the authorization code has expired; sign in again"
    );
}
on_each_backend!(an_expired_code_is_refused);

fn request_objects_are_refused_and_form_post_returns_a_self_posting_form(backend: Backend) {
    let setup = start(backend, &[]);
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    let page = browser.get(&setup.authorize_url(&pkce, &[("request", "eyJhbGciOiJub25lIn0.e30.")]));
    let description = setup.assert_error_redirect(&page, "request_not_supported");
    assert!(description.contains("request objects"), "{description}");
    let page = browser
        .get(&setup.authorize_url(&pkce, &[("request_uri", "https://app.example/request.jwt")]));
    setup.assert_error_redirect(&page, "request_uri_not_supported");
    // Parameters an OP must accept, and unknown ones, change nothing.
    let page = browser.get(&setup.authorize_url(
        &pkce,
        &[
            ("ui_locales", "fr-CA fr en"),
            ("claims_locales", "fr"),
            ("acr_values", "urn:mace:incommon:iap:silver"),
            ("login_hint", "alice"),
            ("display", "page"),
            ("something_new", "1"),
        ],
    ));
    assert_login_page(&page);
    // login_hint fills the username in.
    assert!(
        page.body.contains("name=\"username\" value=\"alice\""),
        "{}",
        page.body
    );

    // An error by form post: a page whose form posts it to the redirect URI.
    let form_post = ("response_mode", "form_post");
    let page = browser.get(&setup.authorize_url(&pkce, &[form_post, ("prompt", "none")]));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.form_action().as_deref(), Some(REDIRECT));
    let fields: BTreeMap<String, String> = page.hidden_fields().into_iter().collect();
    assert_eq!(fields["error"], "login_required");
    assert_eq!(fields["state"], STATE);
    assert_eq!(fields["iss"], setup.issuer);

    // The code by form post, the authorization request itself posted (Core 3.1.2.1).
    let url = setup.authorize_url(&pkce, &[form_post]);
    let (_, query) = url.split_once('?').unwrap();
    let posted: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let login = browser.post_form(&setup.server.url(AUTHORIZE), &posted);
    assert_login_page(&login);
    assert_eq!(login.hidden("response_mode").as_deref(), Some("form_post"));
    let consent = browser.submit(&login, &[("username", "alice"), ("password", PASSWORD)]);
    let page = browser.submit(&consent, &[("decision", "allow")]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.location(), None);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    assert_eq!(page.form_action().as_deref(), Some(REDIRECT));
    let fields = page.hidden_fields();
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["code", "state", "iss"]);
    let fields: BTreeMap<String, String> = fields.into_iter().collect();
    assert_eq!(fields["state"], STATE);
    assert_eq!(fields["iss"], setup.issuer);
    setup.tokens(&fields["code"], &pkce);
}
on_each_backend!(request_objects_are_refused_and_form_post_returns_a_self_posting_form);
