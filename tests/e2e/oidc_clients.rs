//! OpenID Connect sign-in done by software this repository does not write: an independent relying
//! party (Authlib, unmodified) from discovery to logout, and a real browser (Debian's chromium,
//! driven by playwright-core) clicking through the login, consent and logout pages, with and
//! without JavaScript, for a relying party made with openid-client. The scripts they run are
//! beside this file (`oidc_clients/`); each prints what it saw as JSON, and the assertions are
//! here.

use std::time::Instant;

use serde_json::Value;

use crate::harness::{
    chromium, free_port, on_each_backend, run_node_with_env, run_python, succeeded, Backend,
    Credentials, Deployment, Server,
};

const AUTHLIB_RELYING_PARTY: &str = include_str!("oidc_clients/authlib_relying_party.py");
const BROWSER_SIGN_IN: &str = include_str!("oidc_clients/browser_sign_in.mjs");

/// A server at its real address (`public_base_url`, so discovery names endpoints a client can
/// reach), tenant `acme` ("Acme Corp") with users alice and bob, and a web application that asks
/// for consent, with a redirect URI and a post-logout redirect URI on a loopback port of its own.
struct SignInSetup {
    server: Server,
    deployment: Deployment,
    issuer: String,
    client: Credentials,
    redirect_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Http,
    Https,
}

const ALICE_PASSWORD: &str = "alice-wonderland-pw";
const BOB_PASSWORD: &str = "bob-builder-pw";

impl SignInSetup {
    fn start(backend: Backend) -> SignInSetup {
        Self::start_over(backend, Transport::Http)
    }

    fn start_over(backend: Backend, transport: Transport) -> SignInSetup {
        let port = free_port();
        let (scheme, extra_config) = match transport {
            Transport::Http => ("http", ""),
            // The certificate made on first start, its CA in `<data_dir>/tls/ca.crt`.
            Transport::Https => ("https", "[server.tls]\nenabled = true\n"),
        };
        let base = format!("{scheme}://127.0.0.1:{port}");
        let deployment = Deployment::with_extra_config(backend, extra_config);
        deployment.cli_ok(&["tenant", "add", "acme", "--name", "Acme Corp"]);
        deployment.add_user(
            "acme",
            "alice",
            ALICE_PASSWORD,
            &[
                "--claim",
                "email=alice@example.com",
                "--claim",
                "name=Alice",
            ],
        );
        deployment.add_user("acme", "bob", BOB_PASSWORD, &["--claim", "name=Bob"]);
        let redirect_port = free_port();
        let client = deployment.add_client_with(
            "acme",
            "webapp",
            "authorization_code,refresh_token",
            "openid,profile,email",
            &[
                "--redirect-uri",
                &format!("http://127.0.0.1:{redirect_port}/cb"),
                "--post-logout-redirect-uri",
                &format!("http://127.0.0.1:{redirect_port}/bye"),
            ],
        );
        let server = deployment.start_with_env(&[
            ("GRANTOR_SERVER__BIND", &format!("127.0.0.1:{port}")),
            ("GRANTOR_SERVER__PUBLIC_BASE_URL", &base),
            // Everything the server says, to be sure no secret is among it.
            ("RUST_LOG", "debug"),
        ]);
        SignInSetup {
            server,
            deployment,
            issuer: format!("{base}/t/acme/oauth2/token"),
            client,
            redirect_port,
        }
    }

    fn redirect_uri(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.redirect_port)
    }
}

fn an_independent_relying_party_signs_in_and_out_with_authlib(backend: Backend) {
    let setup = SignInSetup::start(backend);
    let started = Instant::now();
    let out = succeeded(
        "Authlib relying party",
        &run_python(
            AUTHLIB_RELYING_PARTY,
            &[
                &setup.issuer,
                &setup.client.id,
                &setup.client.secret,
                &setup.redirect_uri("/cb"),
                &setup.redirect_uri("/bye"),
                "alice",
                ALICE_PASSWORD,
            ],
        ),
    );
    eprintln!("Authlib sign-in and logout: {:?}", started.elapsed());
    let seen: Value = serde_json::from_str(out.trim()).unwrap();

    // The authorization response (RFC 6749 4.1.2, RFC 9207).
    let response = &seen["response"];
    assert!(!response["code"].as_str().unwrap().is_empty(), "{seen}");
    assert_eq!(response["state"], seen["state_sent"]);
    assert_eq!(response["iss"], setup.issuer.as_str());
    // The tokens, and the ID token as Authlib verified it.
    assert_eq!(seen["token_type"], "Bearer");
    assert_eq!(seen["scope"], "openid profile email");
    let claims = &seen["claims"];
    assert_eq!(claims["iss"], setup.issuer.as_str());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], setup.client.id.as_str());
    assert_eq!(claims["nonce"], seen["nonce_sent"]);
    assert!(claims["auth_time"].is_i64(), "{claims}");
    assert!(claims["sid"].is_string(), "{claims}");
    // UserInfo speaks of the ID token's user, with the claims of the scopes granted.
    let userinfo = &seen["userinfo"];
    assert_eq!(userinfo["sub"], claims["sub"]);
    assert_eq!(userinfo["email"], "alice@example.com");
    assert_eq!(userinfo["name"], "Alice");
    // Authlib's refresh rotates the grant's two tokens (one row, store/tokens.rs): the new ones
    // work, the spent refresh token is refused and takes its successors with it.
    let refresh = &seen["refresh"];
    assert_eq!(refresh["new_tokens"], true, "{refresh}");
    assert_eq!(refresh["userinfo_status"], 200, "{refresh}");
    assert_eq!(refresh["userinfo_sub"], "alice", "{refresh}");
    assert_eq!(refresh["reused_status"], 400, "{refresh}");
    assert_eq!(refresh["reused_error"], "invalid_grant", "{refresh}");
    assert_eq!(refresh["after_reuse_status"], 401, "{refresh}");
    // Logout went back to the registered URI with the state, and the session is over: the next
    // request that may not show a page is told to sign in.
    let logout = &seen["logout"];
    assert_eq!(logout["status"], 303, "{logout}");
    assert_eq!(
        logout["location"],
        format!(
            "{}?state={}",
            setup.redirect_uri("/bye"),
            logout["state_sent"].as_str().unwrap()
        )
    );
    let after = &seen["after_logout"];
    assert_eq!(after["status"], 303, "{after}");
    assert_eq!(after["params"]["error"], "login_required", "{after}");
    assert_eq!(after["params"]["state"], after["state_sent"]);
    assert_eq!(after["params"]["iss"], setup.issuer.as_str());

    // Nothing secret reached the log, at its most talkative.
    let log = setup.server.log_containing("logout request");
    assert!(log.contains("signed_out"), "{log}");
    let tokens_and_cookies = seen["secrets"].as_array().unwrap();
    // The access, ID and refresh tokens, the refreshed access and refresh tokens, the session and
    // CSRF cookies.
    assert_eq!(tokens_and_cookies.len(), 7, "{seen}");
    let secrets = tokens_and_cookies
        .iter()
        .map(|s| s.as_str().unwrap())
        .chain([
            ALICE_PASSWORD,
            response["code"].as_str().unwrap(),
            &setup.client.secret,
        ]);
    for secret in secrets {
        assert!(
            !log.contains(secret),
            "the log holds a secret ({secret}):\n{log}"
        );
    }
}
on_each_backend!(an_independent_relying_party_signs_in_and_out_with_authlib);

fn a_real_browser_signs_in_through_the_login_and_consent_pages(backend: Backend) {
    sign_in_with_a_real_browser(backend, Transport::Http);
}
on_each_backend!(a_real_browser_signs_in_through_the_login_and_consent_pages);

/// Over HTTPS the cookies are `Secure` and `__Host-` prefixed: a browser keeps such a cookie only
/// when it is set as the prefix demands (Secure, `Path=/`, no `Domain`), or the sign-in could not
/// carry its CSRF token and session from one page to the next.
fn a_real_browser_keeps_the_host_prefixed_cookies_over_https(backend: Backend) {
    sign_in_with_a_real_browser(backend, Transport::Https);
}
on_each_backend!(a_real_browser_keeps_the_host_prefixed_cookies_over_https);

fn sign_in_with_a_real_browser(backend: Backend, transport: Transport) {
    let browser = chromium();
    let setup = SignInSetup::start_over(backend, transport);
    // openid-client trusts the server's CA; the browser is told to accept its certificate.
    let ca_file = setup.deployment.dir().join("tls/ca.crt");
    let env: &[(&str, &str)] = match transport {
        Transport::Http => &[],
        Transport::Https => &[("NODE_EXTRA_CA_CERTS", ca_file.to_str().unwrap())],
    };
    let started = Instant::now();
    let out = succeeded(
        "chromium through playwright-core",
        &run_node_with_env(
            "browser-sign-in",
            BROWSER_SIGN_IN,
            &[
                browser.to_str().unwrap(),
                &setup.issuer,
                &setup.client.id,
                &setup.client.secret,
                &setup.redirect_port.to_string(),
                "alice",
                ALICE_PASSWORD,
                "bob",
                BOB_PASSWORD,
            ],
            env,
        ),
    );
    let seen: Value = serde_json::from_str(out.trim()).unwrap();
    eprintln!(
        "chromium {} over {transport:?}: three sign-ins and a logout in {:?}",
        seen["browser"].as_str().unwrap_or_default(),
        started.elapsed()
    );
    let runs = seen["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{seen}");
    let pages = ["Sign in to Acme Corp", "webapp asks for access"];
    // With JavaScript; the same browser again with response_mode=form_post (signed in, consent
    // remembered: no page, the form post page submits itself); a browser without JavaScript.
    let expected = [
        ("alice", &pages[..], "GET"),
        ("alice", &[][..], "POST"),
        ("bob", &pages[..], "GET"),
    ];
    for (run, (user, titles, method)) in runs.iter().zip(expected) {
        assert_eq!(run["titles"], serde_json::json!(titles), "{run}");
        assert_eq!(run["method"], method, "{run}");
        let response = &run["response"];
        assert!(!response["code"].as_str().unwrap().is_empty(), "{run}");
        assert_eq!(response["state"], run["state"], "{run}");
        assert_eq!(response["iss"], setup.issuer.as_str(), "{run}");
        // Redeemed by openid-client, which checked the ID token's nonce; so do we.
        let claims = &run["tokens"]["claims"];
        assert_eq!(claims["nonce"], run["nonce"], "{run}");
        assert_eq!(claims["sub"], user, "{run}");
        assert_eq!(claims["iss"], setup.issuer.as_str(), "{run}");
        assert_eq!(claims["aud"], setup.client.id.as_str(), "{run}");
        assert_eq!(run["tokens"]["scope"], "openid profile email", "{run}");
        // The browser refused nothing (a Content Security Policy violation is a console error).
        assert_eq!(run["problems"], serde_json::json!([]), "{run}");
    }
    // Signed out on the page that asks, back at the post-logout redirect URI with the state; then
    // no session is left.
    let logout = &seen["logout"];
    assert_eq!(logout["title"], "Sign out of Acme Corp", "{logout}");
    assert_eq!(
        logout["back"],
        serde_json::json!({"state": logout["state"]})
    );
    assert_eq!(logout["afterwards"], "login_required", "{logout}");
    assert_eq!(logout["problems"], serde_json::json!([]), "{logout}");
    // The cookies as the browser keeps them: out of reach of scripts, not sent on another site's
    // form posts, and over HTTPS Secure and `__Host-` prefixed.
    let (prefix, secure) = match transport {
        Transport::Http => ("", false),
        Transport::Https => ("__Host-", true),
    };
    let mut names: Vec<&str> = seen["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cookie| {
            assert_eq!(cookie["httpOnly"], true, "{cookie}");
            assert_eq!(cookie["sameSite"], "Lax", "{cookie}");
            assert_eq!(cookie["secure"], secure, "{cookie}");
            cookie["name"].as_str().unwrap()
        })
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            format!("{prefix}grantor-csrf"),
            format!("{prefix}grantor-session.acme")
        ]
    );
}
