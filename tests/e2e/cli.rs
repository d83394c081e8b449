//! The operator CLI against the same database as a running server.

use serde_json::Value;

use crate::harness::{on_each_backend, Backend, Deployment, CLIENT_CREDENTIALS};

fn tenant_and_client_management_is_seen_by_a_running_server(backend: Backend) {
    let deployment = Deployment::new(backend);
    let server = deployment.start();

    deployment.cli_ok(&["tenant", "add", "acme", "--name", "Acme Inc"]);
    let tenants: Value =
        serde_json::from_str(&deployment.cli_ok(&["tenant", "list", "--json"])).unwrap();
    let domains: Vec<_> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["domain"].clone())
        .collect();
    assert_eq!(domains, ["acme", "carbon.super"]);
    assert!(!deployment.cli(&["tenant", "add", "acme"]).status.success());

    // Plain output shows id and secret once; list never shows the secret.
    let plain = deployment.cli_ok(&[
        "client",
        "add",
        "--tenant",
        "acme",
        "--name",
        "web",
        "--grant-types",
        "client_credentials",
        "--scopes",
        "read",
    ]);
    let secret = plain
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap()
        .trim()
        .to_owned();
    let listed = deployment.cli_ok(&["client", "list", "--tenant", "acme", "--json"]);
    assert!(!listed.contains(&secret));
    let clients: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(clients[0]["name"], "web");
    assert!(clients[0].get("secret_hash").is_none());

    let api = deployment.add_client("acme", "api", "client_credentials", "read");
    server
        .token("/t/acme/oauth2/token", &api, CLIENT_CREDENTIALS)
        .assert_token();
    deployment.cli_ok(&["client", "remove", "--tenant", "acme", "--name", "api"]);
    server
        .token("/t/acme/oauth2/token", &api, CLIENT_CREDENTIALS)
        .assert_error(401, "invalid_client");

    deployment.cli_ok(&["tenant", "remove", "acme"]);
    server
        .token("/t/acme/oauth2/token", &api, CLIENT_CREDENTIALS)
        .assert_error(404, "invalid_request");
    let refused = deployment.cli(&["tenant", "remove", "carbon.super"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("default tenant"));
}
on_each_backend!(tenant_and_client_management_is_seen_by_a_running_server);

#[test]
fn cli_refuses_bad_input_clearly() {
    let deployment = Deployment::new(crate::harness::Backend::Sqlite);
    let cases: &[(&[&str], &str)] = &[
        (&["tenant", "add", "Not Valid"], "invalid tenant domain"),
        (
            &[
                "client",
                "add",
                "--tenant",
                "ghost",
                "--name",
                "x",
                "--grant-types",
                "client_credentials",
            ],
            "tenant 'ghost' not found",
        ),
        (
            &["client", "add", "--name", "x", "--grant-types", "bad/grant"],
            "invalid grant type",
        ),
        (&["client", "remove", "--name", "ghost"], "not found"),
    ];
    for (args, expected) in cases {
        let out = deployment.cli(args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    deployment.add_client("carbon.super", "dup", "client_credentials", "");
    let dup = deployment.cli(&[
        "client",
        "add",
        "--name",
        "dup",
        "--grant-types",
        "client_credentials",
    ]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
}

/// `grantor backup` copies the SQLite database while a server writes to it; a deployment started
/// from the copy knows the client and its secret. It never overwrites a file, and refuses
/// PostgreSQL.
#[test]
fn backup_while_serving_and_start_from_the_copy() {
    let deployment = Deployment::new(crate::harness::Backend::Sqlite);
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
    let server = deployment.start();
    server
        .token(
            "/oauth2/token",
            &client,
            &[("grant_type", "client_credentials")],
        )
        .assert_token();
    let copy = deployment.dir().join("backup.db");
    let out = deployment.cli_ok(&["backup", "--to", &copy.display().to_string()]);
    assert!(out.starts_with("backed up sqlite://"), "{out}");
    let again = deployment.cli(&["backup", "--to", &copy.display().to_string()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    drop(server);

    // Restore: the copy in a fresh deployment's database place, before its first start, with
    // the key-encryption key its keys are sealed under (README, "Keys at rest").
    let restored = Deployment::new(crate::harness::Backend::Sqlite);
    std::fs::copy(&copy, restored.dir().join("grantor.db")).unwrap();
    std::fs::copy(
        deployment.dir().join("key-encryption.key"),
        restored.dir().join("key-encryption.key"),
    )
    .unwrap();
    let server = restored.start();
    server
        .token(
            "/oauth2/token",
            &client,
            &[("grant_type", "client_credentials")],
        )
        .assert_token();

    if std::env::var("TEST_POSTGRES_URL").is_ok() {
        let postgres = Deployment::new(crate::harness::Backend::Postgres);
        let out = postgres.cli(&[
            "backup",
            "--to",
            &postgres.dir().join("x.db").display().to_string(),
        ]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    }
}
