//! What the console creates serves real token requests: a tenant, an identity provider from an
//! uploaded DER certificate, an application allowed the JWT bearer grant (its secret shown once),
//! then a JWT bearer exchange with them; disabling the provider says how many refresh token
//! families it revoked; keys rotate; plugins reload with their report; the overview charts the
//! requests; and every change is in the audit log (the console's page and `grantor audit`),
//! with no secret anywhere.

use serde_json::{json, Value};

use super::{text, ConsoleSetup, TOKEN};
use crate::harness::{
    good_claims, on_each_backend, wait_until_changes_are_seen, Backend, Credentials, IdpKey, Page,
    DEFAULT_TOKEN_ENDPOINT, GRANT, IDP_ISSUER,
};

/// The text of the element with `id` (`<code id="...">text</code>`).
fn element_text(page: &Page, id: &str) -> String {
    let start = page
        .body
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in {}", page.body));
    let rest = &page.body[start + id.len() + 6..];
    crate::harness::decode_html(&rest[..rest.find('<').unwrap()])
}

fn what_the_console_creates_serves_a_jwt_bearer_exchange_and_is_audited(backend: Backend) {
    let setup = ConsoleSetup::start(backend);
    let mut browser = setup.signed_in();
    let tenant = setup.post(
        &mut browser,
        "/tenants",
        &[("domain", "acme.example"), ("name", "Acme")],
    );
    assert_eq!(tenant.status, 200, "{}", tenant.body);

    // The provider's certificate uploaded as a DER file (.cer), as reference 001's "Browse".
    let dir = tempfile::tempdir().unwrap();
    let key = IdpKey::rsa(dir.path(), "corp");
    let der = openssl::x509::X509::from_pem(&std::fs::read(&key.certificate_path).unwrap())
        .unwrap()
        .to_der()
        .unwrap();
    let idp = setup.post_files(
        &mut browser,
        "/tenants/acme.example/identity-providers",
        &[
            ("name", "corp"),
            ("issuer", IDP_ISSUER),
            ("aliases", DEFAULT_TOKEN_ENDPOINT),
            ("clock_skew", "30"),
            ("enabled", "on"),
        ],
        &[("certificate_files", "corp.cer", &der)],
    );
    assert_eq!(idp.status, 200, "{}", idp.body);
    assert!(super::shows_expiry(&text(&idp)), "{}", idp.body);

    let app = setup.post_files(
        &mut browser,
        "/tenants/acme.example/applications",
        &[
            ("name", "web"),
            ("grant_types", GRANT),
            ("grant_types", "refresh_token"),
            ("scopes", "read write"),
            ("token_format", "opaque"),
            ("consent", "required"),
        ],
        &[],
    );
    assert_eq!(app.status, 201, "{}", app.body);
    let credentials = Credentials {
        id: element_text(&app, "client-id"),
        secret: element_text(&app, "client-secret"),
    };
    assert!(credentials.secret.len() >= 32, "{}", credentials.secret);
    assert_eq!(app.header("cache-control"), Some("no-store"));
    let listed = browser.get(&setup.url("/tenants/acme.example/applications"));
    assert!(listed.body.contains(&credentials.id));
    assert!(
        !listed.body.contains(&credentials.secret),
        "a secret is shown once"
    );

    wait_until_changes_are_seen(&setup.server.base_url);
    let reply = setup.server.token(
        "/t/acme.example/oauth2/token",
        &credentials,
        &[
            ("grant_type", GRANT),
            ("assertion", &key.assertion(&good_claims())),
            ("scope", "read"),
        ],
    );
    let token = reply.assert_token();
    assert!(token["refresh_token"].is_string(), "{token}");

    // The overview charts the request, by grant type and outcome.
    let overview = browser.get(&setup.url("/tenants/acme.example"));
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("<svg"), "{}", overview.body);
    assert!(overview.body.contains(GRANT), "{}", overview.body);

    // Disabling says what it revoked: the one refresh token family the exchange started.
    let disabled = setup.post(
        &mut browser,
        "/tenants/acme.example/identity-providers/corp/enabled",
        &[("enabled", "false")],
    );
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert!(
        text(&disabled).contains("disabled: 1 refresh token family revoked"),
        "{}",
        disabled.body
    );

    let rotated = setup.post(
        &mut browser,
        "/tenants/acme.example/keys/rotate",
        &[("immediate", "false")],
    );
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert!(
        text(&rotated).contains("added; it signs from"),
        "{}",
        rotated.body
    );

    let plugins = browser.get(&setup.url("/plugins"));
    assert!(
        plugins.body.contains(GRANT) && plugins.body.contains("loaded"),
        "{}",
        plugins.body
    );
    let reloaded = setup.post(&mut browser, "/plugins/reload", &[]);
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    assert!(text(&reloaded).contains("unchanged"), "{}", reloaded.body);

    // Every change, in the console's audit log and `grantor audit`, made via the console.
    let audit = browser.get(&setup.url("/audit?tenant=acme.example"));
    assert_eq!(audit.status, 200);
    for action in [
        "tenant.add",
        "identity_provider.add",
        "client.add",
        "identity_provider.update",
        "keys.rotate",
    ] {
        assert!(audit.body.contains(action), "{action}: {}", audit.body);
    }
    let all = browser.get(&setup.url("/audit"));
    assert!(all.body.contains("plugins.reload"), "{}", all.body);
    let printed = setup.deployment.cli_ok(&["audit", "--json"]);
    let entries: Vec<Value> = printed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let client_added = entries
        .iter()
        .find(|e| e["action"] == "client.add")
        .unwrap_or_else(|| panic!("{printed}"));
    assert_eq!(client_added["via"], "console", "{client_added}");
    assert_eq!(client_added["tenant_domain"], "acme.example");
    assert_eq!(
        client_added["from_address"],
        json!("127.0.0.1"),
        "{client_added}"
    );
    for place in [&all.body, &audit.body, &printed, &setup.server.log()] {
        assert!(
            !place.contains(&credentials.secret),
            "a secret in the audit log or the log"
        );
        assert!(
            !place.contains(TOKEN),
            "the admin token in the audit log or the log"
        );
    }
}
on_each_backend!(what_the_console_creates_serves_a_jwt_bearer_exchange_and_is_audited);
