//! What the authorization request must be before anything is shown: PKCE S256, a client and
//! redirect URI to trust (else a page and never a redirect), and the other parameters (else the
//! error goes back to the client, with its state and the issuer).

use crate::harness::{
    decode_html, exchange_code, on_each_backend, with_query, Backend, Browser, Pkce,
};

use super::{
    assert_login_page, assert_page_headers, start, Changes, OTHER_REDIRECT, REDIRECT,
    SESSION_COOKIE, TENANT, TOKEN,
};

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
