//! A user's remembered consents (issue 23, item 4) as operators see them: listed and withdrawn
//! through `grantor user consents` and the admin API, and what is not there refused clearly. No
//! route grants a consent yet (the consent page is being built), so the tests store the consents
//! they need in the database the way the store does: one row per tenant, client and user, its
//! scopes a JSON list. Also the warning `client add` gives for the password grant (item 9).

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::harness::{
    admin_listener, free_port, on_each_backend, wait_until_listening, Backend, Deployment,
};

diesel::table! {
    consents (tenant_domain, client_id, subject) {
        tenant_domain -> Text,
        client_id -> Text,
        subject -> Text,
        scopes -> Text,
        granted_at -> BigInt,
    }
}

/// Stores that `subject` granted `scopes` (sorted, as the store keeps them) to a client.
fn store_consent(
    deployment: &Deployment,
    tenant: &str,
    client_id: &str,
    subject: &str,
    scopes: &[&str],
    granted_at: i64,
) {
    let row = (
        consents::tenant_domain.eq(tenant),
        consents::client_id.eq(client_id),
        consents::subject.eq(subject),
        consents::scopes.eq(json!(scopes).to_string()),
        consents::granted_at.eq(granted_at),
    );
    let url = &deployment.database_url;
    let inserted = match url.strip_prefix("sqlite://") {
        Some(path) => diesel::insert_into(consents::table)
            .values(row)
            .execute(&mut SqliteConnection::establish(path).unwrap()),
        None => diesel::insert_into(consents::table)
            .values(row)
            .execute(&mut PgConnection::establish(url).unwrap()),
    }
    .unwrap();
    assert_eq!(inserted, 1);
}

/// Tenant `acme` with clients `web` and `app` (their client_ids returned), users alice and bob;
/// alice consented to both clients, bob to none.
fn provision(deployment: &Deployment) -> (String, String) {
    deployment.cli_ok(&["tenant", "add", "acme", "--name", "Acme"]);
    let web = deployment.add_client_with(
        "acme",
        "web",
        "authorization_code",
        "openid,profile,email",
        &["--redirect-uri", "https://web.example/cb"],
    );
    let app = deployment.add_client_with(
        "acme",
        "app",
        "authorization_code",
        "openid",
        &["--redirect-uri", "https://app.example/cb"],
    );
    deployment.add_user("acme", "alice", "correct horse battery", &[]);
    deployment.add_user("acme", "bob", "correct horse battery", &[]);
    store_consent(
        deployment,
        "acme",
        &web.id,
        "alice",
        &["openid", "profile"],
        1_800_000_000,
    );
    store_consent(
        deployment,
        "acme",
        &app.id,
        "alice",
        &["openid"],
        1_800_000_100,
    );
    (web.id, app.id)
}

/// Runs the CLI; (success, stdout, stderr).
fn cli(deployment: &Deployment, args: &[&str]) -> (bool, String, String) {
    let out = deployment.cli(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn consents_are_listed_and_withdrawn_through_the_cli(backend: Backend) {
    let deployment = Deployment::new(backend);
    let (web, app) = provision(&deployment);
    let alice = [
        "user",
        "consents",
        "--tenant",
        "acme",
        "--username",
        "alice",
    ];

    let listed: Value =
        serde_json::from_str(&deployment.cli_ok(&[&alice[..], &["--json"]].concat())).unwrap();
    let mut expected = vec![
        json!({"tenant_domain": "acme", "username": "alice", "client_id": web, "client_name": "web",
               "scopes": ["openid", "profile"], "granted_at": 1_800_000_000}),
        json!({"tenant_domain": "acme", "username": "alice", "client_id": app, "client_name": "app",
               "scopes": ["openid"], "granted_at": 1_800_000_100}),
    ];
    expected.sort_by_key(|c| c["client_id"].as_str().unwrap().to_owned());
    assert_eq!(listed, Value::Array(expected));
    let plain = deployment.cli_ok(&alice);
    assert_eq!(plain.lines().count(), 2, "{plain}");
    let web_line = plain.lines().find(|l| l.starts_with(&web)).unwrap();
    assert!(
        web_line.contains("\tweb\tscopes=openid,profile\tgranted_at=1800000000 ("),
        "{web_line}"
    );

    // Withdrawn by name, then by client_id; the other consent stays until then.
    let withdrawn = deployment.cli_ok(&[&alice[..], &["--withdraw", "web"]].concat());
    assert_eq!(
        withdrawn.trim(),
        format!("consent of user 'alice' to client 'web' ({web}) withdrawn in tenant 'acme'")
    );
    let listed: Value =
        serde_json::from_str(&deployment.cli_ok(&[&alice[..], &["--json"]].concat())).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["client_id"], app.as_str());
    deployment.cli_ok(&[&alice[..], &["--withdraw", &app]].concat());
    assert_eq!(
        deployment.cli_ok(&alice).trim(),
        "user 'alice' has no consent in tenant 'acme'"
    );
    assert_eq!(
        deployment
            .cli_ok(&[&alice[..], &["--json"]].concat())
            .trim(),
        "[]"
    );

    // What is not there: non-zero, and the reason on stderr.
    let refusals: &[(&[&str], &str)] = &[
        (
            &[&alice[..], &["--withdraw", "web"]].concat(),
            "user 'alice' has no consent for client 'web' in tenant 'acme'",
        ),
        (
            &[
                "user",
                "consents",
                "--tenant",
                "acme",
                "--username",
                "bob",
                "--withdraw",
                "app",
            ],
            "user 'bob' has no consent for client 'app' in tenant 'acme'",
        ),
        (
            &[&alice[..], &["--withdraw", "ghost"]].concat(),
            "client 'ghost' not found in tenant 'acme'",
        ),
        (
            &[
                "user",
                "consents",
                "--tenant",
                "acme",
                "--username",
                "alcie",
            ],
            "user 'alcie' not found in tenant 'acme'",
        ),
        (
            &[
                "user",
                "consents",
                "--tenant",
                "ghost",
                "--username",
                "alice",
            ],
            "tenant 'ghost' not found",
        ),
        (
            &[&alice[..], &["--withdraw", "web", "--json"]].concat(),
            "cannot be used with",
        ),
    ];
    for (args, expected) in refusals {
        let (ok, stdout, stderr) = cli(&deployment, args);
        assert!(!ok, "{args:?}: {stdout}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
on_each_backend!(consents_are_listed_and_withdrawn_through_the_cli);

const TOKEN_VARIABLE: &str = "USER_CONSENTS_TEST_ADMIN_TOKEN";
const TOKEN: &str = "admin-token-for-the-user-consents-test";

/// `method path` on the admin API below `/api/server/v1/`: (status, JSON or null).
fn admin_call(port: u16, method: &str, path: &str) -> (u16, Value) {
    let reply = reqwest::blocking::Client::new()
        .request(
            method.parse().unwrap(),
            format!("http://127.0.0.1:{port}/api/server/v1/{path}"),
        )
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    let status = reply.status().as_u16();
    let text = reply.text().unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, json)
}

fn consents_are_listed_and_withdrawn_through_the_admin_api(backend: Backend) {
    let port = free_port();
    let deployment = Deployment::with_extra_config(backend, &admin_listener(port, TOKEN_VARIABLE));
    let _server = deployment.start_with_env(&[(TOKEN_VARIABLE, TOKEN)]);
    wait_until_listening(port);
    let (web, app) = provision(&deployment);
    let expect = |status: u16, method: &str, path: &str| -> Value {
        let (got, json) = admin_call(port, method, path);
        assert_eq!(got, status, "{method} {path}: {json}");
        json
    };

    let page = expect(200, "GET", "tenants/acme/users/alice/consents");
    assert_eq!(page["total"], 2);
    let items = page["items"].as_array().unwrap();
    let web_consent = items
        .iter()
        .find(|c| c["client_id"] == web.as_str())
        .unwrap();
    assert_eq!(
        *web_consent,
        json!({"tenant_domain": "acme", "username": "alice", "client_id": web, "client_name": "web",
               "scopes": ["openid", "profile"], "granted_at": 1_800_000_000})
    );
    let second = expect(
        200,
        "GET",
        "tenants/acme/users/alice/consents?offset=1&limit=1",
    );
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0], items[1]);
    let bob = expect(200, "GET", "tenants/acme/users/bob/consents");
    assert_eq!(
        (bob["total"].as_u64(), bob["items"].clone()),
        (Some(0), json!([]))
    );

    // Withdrawn by client_id (and by name), then gone; a second withdrawal is a 404.
    let withdraw_web = format!("tenants/acme/users/alice/consents/{web}");
    assert_eq!(expect(204, "DELETE", &withdraw_web), Value::Null);
    let left = expect(200, "GET", "tenants/acme/users/alice/consents/");
    assert_eq!(left["total"], 1);
    assert_eq!(left["items"][0]["client_id"], app.as_str());
    let again = expect(404, "DELETE", &withdraw_web);
    assert_eq!(again["code"], "not_found");
    assert_eq!(
        again["message"],
        format!("user 'alice' has no consent for client '{web}' in tenant 'acme'")
    );
    expect(204, "DELETE", "tenants/acme/users/alice/consents/app");
    assert_eq!(
        expect(200, "GET", "tenants/acme/users/alice/consents")["total"],
        0
    );

    // Unknown tenant, user and client are 404s naming what is missing; other methods are 405s.
    for (path, message) in [
        (
            "tenants/ghost/users/alice/consents",
            "tenant 'ghost' not found",
        ),
        (
            "tenants/acme/users/alcie/consents",
            "user 'alcie' not found in tenant 'acme'",
        ),
    ] {
        let refused = expect(404, "GET", path);
        assert_eq!(
            (refused["code"].as_str(), refused["message"].as_str()),
            (Some("not_found"), Some(message)),
            "{path}"
        );
    }
    let refused = expect(404, "DELETE", "tenants/acme/users/alice/consents/ghost");
    assert_eq!(
        refused["message"],
        "client 'ghost' not found in tenant 'acme'"
    );
    let refused = expect(404, "DELETE", "tenants/acme/users/bob/consents/web");
    assert_eq!(
        refused["message"],
        "user 'bob' has no consent for client 'web' in tenant 'acme'"
    );
    let (status, _) = admin_call(port, "POST", "tenants/acme/users/alice/consents");
    assert_eq!(status, 405);
    let (status, _) = admin_call(port, "GET", "tenants/acme/users/alice/consents/web");
    assert_eq!(status, 405);
    let (status, refused) = admin_call(port, "GET", "tenants/acme/users/alice/consents?page=2");
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid_query"))
    );
}
on_each_backend!(consents_are_listed_and_withdrawn_through_the_admin_api);

/// RFC 9700 2.4: `client add` warns about the password grant on stderr, and registers the client
/// all the same; no other grant type gets that warning.
#[test]
fn client_add_warns_that_the_password_grant_is_legacy() {
    let deployment = Deployment::new(Backend::Sqlite);
    let add = |name: &str, grants: &str| {
        cli(
            &deployment,
            &[
                "client",
                "add",
                "--name",
                name,
                "--grant-types",
                grants,
                "--json",
            ],
        )
    };
    let (ok, stdout, stderr) = add("legacy", "password,refresh_token");
    assert!(ok, "{stderr}");
    let registered: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        registered["grant_types"],
        json!(["password", "refresh_token"])
    );
    // One line, for an operator to read (the log's lines go to stderr too).
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: ") && l.contains("RFC 9700"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    for words in [
        "grant type 'password'",
        "RFC 9700",
        "section 2.4",
        "MUST NOT be used",
        "keeps working",
        "authorization code flow with PKCE",
        "authorization_code",
    ] {
        assert!(warning.contains(words), "{words}: {warning}");
    }
    for (name, grants) in [
        ("machine", "client_credentials"),
        ("browser", "authorization_code,refresh_token"),
    ] {
        let (ok, _, stderr) = add(name, grants);
        assert!(ok, "{stderr}");
        assert!(!stderr.contains("RFC 9700"), "{grants}: {stderr}");
        assert!(!stderr.contains("MUST NOT"), "{grants}: {stderr}");
    }
}
