//! OpenID Connect sign-in through the authorization endpoint, driven as a browser would with plain
//! HTTP (a cookie jar, forms posted back, redirects read, never followed): the login and consent
//! pages and their headers and cookies, PKCE, redirect URI trust, the code and its exchange (one
//! use, short-lived), `prompt` and `max_age`, remembered consent, the session (new at each
//! sign-in, ended by logout), CSRF on every form, failed sign-ins limited across nodes, and the
//! parameters and response modes a relying party may send.
//!
//! Here, what the areas share: the tenant, user and client every test starts with (`start`),
//! the requests and exchanges it makes (`Setup`), and what every page must show.

mod code_flow;
mod consent;
mod login_form;
mod logout;
mod request_checks;
mod sessions;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::{
    exchange_code, verified, with_query, Backend, Browser, Credentials, Deployment, Page, Pkce,
    Reply, Server,
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
