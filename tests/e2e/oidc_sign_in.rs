//! OpenID Connect sign-in through the authorization endpoint, driven as a browser would with plain
//! HTTP (a cookie jar, forms posted back, redirects read, never followed): the login and consent
//! pages and their headers and cookies, PKCE, redirect URI trust, the code and its exchange (one
//! use, short-lived), `prompt` and `max_age`, remembered consent, the session (new at each
//! sign-in, ended by logout), CSRF on every form, failed sign-ins limited across nodes, and the
//! parameters and response modes a relying party may send.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{
    decode_html, eventually, exchange_code, now, on_each_backend, verified, with_query, Backend,
    Browser, Credentials, Deployment, Page, Pkce, Reply, Server,
};

const TENANT: &str = "acme";
const TENANT_NAME: &str = "Acme Inc.";
const AUTHORIZE: &str = "/t/acme/oauth2/authorize";
const TOKEN: &str = "/t/acme/oauth2/token";
const USERINFO: &str = "/t/acme/oauth2/userinfo";
const LOGOUT: &str = "/t/acme/oauth2/logout";
const INTROSPECT: &str = "/t/acme/oauth2/introspect";
const JWKS: &str = "/t/acme/oauth2/jwks";
const SESSION_COOKIE: &str = "grantor-session.acme";
const CSRF_COOKIE: &str = "grantor-csrf";

const CLIENT_NAME: &str = "Example Web App";
const REDIRECT: &str = "https://app.example/cb";
const OTHER_REDIRECT: &str = "https://app.example/other";
const SIGNED_OUT: &str = "https://app.example/signed-out";
/// A native app's redirect URI (RFC 8252 7.3).
const LOOPBACK: &str = "http://127.0.0.1:51004/cb";
/// Echoed unchanged: characters the query must encode, and HTML the pages must escape.
const STATE: &str = "st/1 +&=é\"'><script>alert(1)</script>";
const NONCE: &str = "n-0S6_WzA2Mj";
const PASSWORD: &str = "wonderland rabbit hole";
const SCOPES: &str = "openid profile email";

/// Parameters of an authorization request to set (or, empty, to remove).
type Changes<'a> = &'a [(&'a str, &'a str)];

struct Setup {
    deployment: Deployment,
    server: Server,
    webapp: Credentials,
    /// The tenant's issuer, as its discovery document says.
    issuer: String,
}

/// Tenant `acme` ("Acme Inc."), its user alice (with an email claim) and a client that asks
/// for consent, with two redirect URIs and a post-logout one; a server with `env` started.
fn start(backend: Backend, env: &[(&str, &str)]) -> Setup {
    let deployment = Deployment::new(backend);
    deployment.cli_ok(&["tenant", "add", TENANT, "--name", TENANT_NAME]);
    deployment.add_user(
        TENANT,
        "alice",
        PASSWORD,
        &["--claim", "email=alice@example.com"],
    );
    let webapp = deployment.add_client_with(
        TENANT,
        CLIENT_NAME,
        "authorization_code,refresh_token",
        "openid,profile,email",
        &[
            "--redirect-uri",
            REDIRECT,
            "--redirect-uri",
            OTHER_REDIRECT,
            "--post-logout-redirect-uri",
            SIGNED_OUT,
        ],
    );
    let server = deployment.start_with_env(env);
    let issuer = issuer_of(&server, TENANT);
    Setup {
        deployment,
        server,
        webapp,
        issuer,
    }
}

fn issuer_of(server: &Server, tenant: &str) -> String {
    server
        .get(&format!("/t/{tenant}/.well-known/openid-configuration"))
        .json["issuer"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl Setup {
    /// An authorization request of the web app: code flow, S256, `REDIRECT`, `SCOPES`, `STATE`,
    /// `NONCE`; `changes` set a parameter, or remove it when empty.
    fn authorize_url(&self, pkce: &Pkce, changes: Changes) -> String {
        let mut params: BTreeMap<&str, &str> = [
            ("response_type", "code"),
            ("client_id", self.webapp.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", SCOPES),
            ("state", STATE),
            ("nonce", NONCE),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .into();
        for (name, value) in changes {
            match value {
                &"" => params.remove(name),
                value => params.insert(name, value),
            };
        }
        let params: Vec<(&str, &str)> = params.into_iter().collect();
        with_query(&self.server.url(AUTHORIZE), &params)
    }

    /// The login page for a request, signed in as alice: what comes next (the consent page, or
    /// the redirect with the code).
    fn sign_in(&self, browser: &mut Browser, pkce: &Pkce, changes: Changes) -> Page {
        let login = browser.get(&self.authorize_url(pkce, changes));
        assert_login_page(&login);
        browser.submit(&login, &[("username", "alice"), ("password", PASSWORD)])
    }

    /// A code for a request, through whatever pages it takes (login, consent: allowed).
    fn code(&self, browser: &mut Browser, pkce: &Pkce, changes: Changes) -> String {
        let mut page = browser.get(&self.authorize_url(pkce, changes));
        if page.status == 200 && page.body.contains("name=\"password\"") {
            page = browser.submit(&page, &[("username", "alice"), ("password", PASSWORD)]);
        }
        if page.status == 200 && page.body.contains("value=\"allow\"") {
            page = browser.submit(&page, &[("decision", "allow")]);
        }
        page.code(REDIRECT)
    }

    fn exchange(&self, code: &str, verifier: Option<&str>) -> Reply {
        exchange_code(&self.server, TOKEN, &self.webapp, code, REDIRECT, verifier)
    }

    /// The tokens a code buys with its verifier.
    fn tokens(&self, code: &str, pkce: &Pkce) -> Value {
        self.exchange(code, Some(&pkce.verifier))
            .assert_token()
            .clone()
    }

    fn userinfo(&self, access_token: &str) -> Reply {
        Reply::from(
            self.server
                .http
                .get(self.server.url(USERINFO))
                .bearer_auth(access_token)
                .send()
                .unwrap(),
        )
    }

    fn introspect(&self, token: &str) -> Value {
        let reply = self
            .server
            .token(INTROSPECT, &self.webapp, &[("token", token)]);
        assert_eq!(reply.status, 200, "{}", reply.json);
        reply.json
    }

    /// The ID token's claims, its signature verified with the tenant's published key.
    fn id_token_claims(&self, tokens: &Value) -> Value {
        let id_token = tokens["id_token"].as_str().expect("an id_token");
        verified(&self.server, JWKS, id_token, "JWT", &self.webapp.id)
    }

    /// Asserts an error sent back to `REDIRECT` (with the request's state and the issuer, never
    /// a code); returns its description.
    fn assert_error_redirect(&self, page: &Page, error: &str) -> String {
        let params = page.redirect_params(REDIRECT);
        assert_eq!(
            params.get("error").map(String::as_str),
            Some(error),
            "{params:?}"
        );
        assert_eq!(params.get("state").map(String::as_str), Some(STATE));
        assert_eq!(params.get("iss"), Some(&self.issuer));
        assert_eq!(
            params.keys().collect::<Vec<_>>(),
            ["error", "error_description", "iss", "state"]
        );
        assert_eq!(page.header("cache-control"), Some("no-store"));
        params["error_description"].clone()
    }
}

/// The headers every page carries: HTML, never framed, never cached.
fn assert_page_headers(page: &Page) {
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
}

/// A page whose form's answer may be a redirect to `target`: browsers check `form-action` again
/// at every redirect after a form post (Chromium stops a 303 to another origin otherwise), so
/// its policy allows the page itself and `target`'s origin, and nothing else.
fn assert_form_may_lead_to(page: &Page, target: &str) {
    let policy = page.header("content-security-policy").unwrap();
    let form_action = policy
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("form-action "))
        .unwrap_or_else(|| panic!("no form-action: {policy}"));
    assert_eq!(
        form_action,
        format!("form-action 'self' {target}"),
        "{policy}"
    );
}

/// A login page: the tenant's name, a CSRF token, the request carried in hidden fields, no
/// script.
fn assert_login_page(page: &Page) {
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page_headers(page);
    assert!(
        page.body
            .contains(&format!("<h1>Sign in to {TENANT_NAME}</h1>")),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    assert!(!page.hidden("csrf_token").unwrap_or_default().is_empty());
    assert_eq!(page.hidden("step").as_deref(), Some("sign-in"));
    assert!(
        !page.body.to_ascii_lowercase().contains("<script"),
        "{}",
        page.body
    );
}

/// A `Set-Cookie` value's attributes after its name and value, in order.
fn cookie_attributes(set_cookie: &str) -> Vec<&str> {
    set_cookie.split(';').skip(1).map(str::trim).collect()
}

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

fn pkce_is_required_s256_only_and_its_verifier_checked(backend: Backend) {
    let setup = start(backend, &[]);
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    // Refused before any page, back to the client, never with a code.
    for (changes, says) in [
        (&[("code_challenge", "")][..], "PKCE is required"),
        (
            &[("code_challenge_method", "plain")][..],
            "code_challenge_method 'plain' is not supported",
        ),
        (
            &[("code_challenge_method", "")][..],
            "code_challenge_method is required",
        ),
        (
            &[("code_challenge", "too-short")][..],
            "code_challenge must be 43 base64url characters",
        ),
    ] {
        let page = browser.get(&setup.authorize_url(&pkce, changes));
        let description = setup.assert_error_redirect(&page, "invalid_request");
        assert!(description.contains(says), "{changes:?}: {description}");
    }
    assert!(browser.cookie(SESSION_COOKIE).is_none());

    // A code each: the wrong verifier, none, a malformed one: refused.
    let code = setup.code(&mut browser, &pkce, &[]);
    let description = setup
        .exchange(&code, Some(&Pkce::new().verifier))
        .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        "code_verifier does not match the code_challenge"
    );
    let code = setup.code(&mut browser, &pkce, &[]);
    let description = setup
        .exchange(&code, None)
        .assert_error(400, "invalid_grant");
    assert!(
        description.contains("code_verifier is required"),
        "{description}"
    );
    let code = setup.code(&mut browser, &pkce, &[]);
    setup
        .exchange(&code, Some("abc"))
        .assert_error(400, "invalid_grant");
    // The right one buys tokens.
    let code = setup.code(&mut browser, &pkce, &[]);
    setup.tokens(&code, &pkce);
}
on_each_backend!(pkce_is_required_s256_only_and_its_verifier_checked);

fn an_untrusted_redirect_uri_or_client_gets_an_error_page_and_no_redirect(backend: Backend) {
    let setup = start(backend, &[]);
    let elsewhere = setup.deployment.add_client_with(
        "carbon.super",
        "elsewhere",
        "authorization_code",
        "openid",
        &["--redirect-uri", REDIRECT],
    );
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    let cases: &[(Changes, &str)] = &[
        (
            &[("redirect_uri", "https://evil.example/cb")],
            "the redirect_uri is not registered for this client",
        ),
        (
            &[("redirect_uri", "https://app.example/cb/more")],
            "the redirect_uri is not registered for this client",
        ),
        (
            &[("redirect_uri", "https://app.example/cb?next=x")],
            "the redirect_uri is not registered for this client",
        ),
        (
            &[("redirect_uri", "https://APP.example/cb")],
            "the redirect_uri is not registered for this client",
        ),
        // Trust is checked before anything else: a request wrong in other ways too is still
        // not sent to an unregistered URI.
        (
            &[
                ("redirect_uri", "https://evil.example/cb"),
                ("code_challenge", ""),
                ("response_type", "token"),
            ],
            "the redirect_uri is not registered for this client",
        ),
        (&[("redirect_uri", "")], "the request has no redirect_uri"),
        (&[("client_id", "no-such-client")], "unknown client"),
        // A client of another tenant is unknown here.
        (&[("client_id", elsewhere.id.as_str())], "unknown client"),
        (&[("client_id", "")], "the request has no client_id"),
    ];
    for (changes, says) in cases {
        let page = browser.get(&setup.authorize_url(&pkce, changes));
        assert_eq!(page.status, 400, "{changes:?}: {}", page.body);
        assert_eq!(page.location(), None, "{changes:?}");
        assert_page_headers(&page);
        assert!(
            page.body.contains(says),
            "{changes:?}: expected {says:?} in {}",
            page.body
        );
        assert!(!page.body.contains("evil.example"), "{}", page.body);
    }

    // A code bound to one registered URI is refused with another at the token endpoint.
    let code = setup.code(&mut browser, &pkce, &[]);
    let description = exchange_code(
        &setup.server,
        TOKEN,
        &setup.webapp,
        &code,
        OTHER_REDIRECT,
        Some(&pkce.verifier),
    )
    .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        "redirect_uri is not the one the authorization code was issued for"
    );
}
on_each_backend!(an_untrusted_redirect_uri_or_client_gets_an_error_page_and_no_redirect);

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
    // A third try: refused the same way.
    setup
        .exchange(&code, Some(&pkce.verifier))
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

fn malformed_requests_go_back_to_the_client_and_unknown_tenants_get_a_page(backend: Backend) {
    let setup = start(backend, &[]);
    let machine = setup.deployment.add_client_with(
        TENANT,
        "machine",
        "client_credentials",
        "openid",
        &["--redirect-uri", REDIRECT],
    );
    let mut browser = Browser::new();
    let pkce = Pkce::new();
    let cases: &[(Changes, &str, &str)] = &[
        (
            &[("response_type", "token")],
            "unsupported_response_type",
            "use code",
        ),
        (
            &[("response_type", "")],
            "invalid_request",
            "no response_type",
        ),
        (
            &[("scope", "profile email")],
            "invalid_scope",
            "must include openid",
        ),
        (
            &[("prompt", "select_account")],
            "invalid_request",
            "select_account",
        ),
        (&[("max_age", "-1")], "invalid_request", "max_age"),
        (
            &[("response_mode", "fragment")],
            "invalid_request",
            "response_mode",
        ),
        (
            &[("client_id", machine.id.as_str())],
            "unauthorized_client",
            "authorization_code",
        ),
    ];
    for (changes, error, says) in cases {
        let page = browser.get(&setup.authorize_url(&pkce, changes));
        let description = setup.assert_error_redirect(&page, error);
        assert!(description.contains(says), "{changes:?}: {description}");
    }
    // A parameter given twice: which redirect URI to trust is not known, so a page.
    let url = setup.authorize_url(&pkce, &[]) + "&state=again";
    let page = browser.get(&url);
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(page.location(), None);
    assert!(
        decode_html(&page.body).contains("parameter 'state' is repeated"),
        "{}",
        page.body
    );
    // An unknown tenant: a page, whatever the request.
    let url = setup
        .authorize_url(&pkce, &[])
        .replace("/t/acme/", "/t/nowhere/");
    let page = browser.get(&url);
    assert_eq!(page.status, 404, "{}", page.body);
    assert_eq!(page.location(), None);
    assert!(page.body.contains("unknown tenant"), "{}", page.body);
    // The tenant named by tenantDomain, as WSO2 clients do.
    let url = with_query(
        &setup.authorize_url(&pkce, &[]).replace("/t/acme/", "/"),
        &[("tenantDomain", TENANT)],
    );
    let page = browser.get(&url);
    assert_login_page(&page);
}
on_each_backend!(malformed_requests_go_back_to_the_client_and_unknown_tenants_get_a_page);

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
