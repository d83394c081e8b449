//! The audit log (issue 25, item 3): changes made on the command line and through the admin API
//! are listed by `grantor audit` (text and `--json`) and `GET /api/server/v1/audit`, newest
//! first, each with who made it, how, from where and what it was; no secret (a client secret, a
//! password, the admin token) appears in any of it; the entries of a removed tenant stay.

use serde_json::{json, Value};

use crate::harness::{
    admin_listener, free_port, on_each_backend, wait_until_listening, Backend, Deployment,
};

const TOKEN_VARIABLE: &str = "AUDIT_TEST_ADMIN_TOKEN";
const TOKEN: &str = "admin-token-for-the-audit-test";
const TENANT: &str = "audit.example";
const CLI_PASSWORD: &str = "cli-password-Xq7!";
const API_PASSWORD: &str = "api-password-Zr4?";

/// `method path` on the admin API with the admin token; asserts `status`, returns the JSON body.
fn admin(port: u16, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
    let mut request = reqwest::blocking::Client::new()
        .request(
            method.parse().unwrap(),
            format!("http://127.0.0.1:{port}/api/server/v1/{path}"),
        )
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().unwrap();
    let got = reply.status().as_u16();
    let text = reply.text().unwrap();
    assert_eq!(got, status, "{method} {path}: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// Who the command line's entries name: the OS user the tests run as.
fn os_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|user| user.trim().to_owned())
        .find(|user| !user.is_empty())
}

/// (action, via, target) of each entry, in the order listed.
fn summary(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["via"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn changes_through_the_cli_and_the_api_are_audited_without_secrets(backend: Backend) {
    let port = free_port();
    let deployment = Deployment::with_extra_config(backend, &admin_listener(port, TOKEN_VARIABLE));
    let _server = deployment.start_with_env(&[(TOKEN_VARIABLE, TOKEN)]);
    wait_until_listening(port);

    // On the command line: a tenant, a client (its secret printed once), a user with a password.
    deployment.cli_ok(&["tenant", "add", TENANT]);
    let cli_client = deployment.add_client(TENANT, "cli-app", "client_credentials", "read");
    deployment.add_user(
        TENANT,
        "alice",
        CLI_PASSWORD,
        &["--claim", "email=alice@audit.example"],
    );
    deployment.cli_ok(&["keys", "rotate", "--tenant", TENANT]);

    // Through the admin API: a client, a user, their removal, a plugin reload.
    let api_client = admin(
        port,
        "POST",
        &format!("tenants/{TENANT}/applications"),
        Some(json!({"name": "api-app", "grant_types": ["client_credentials"]})),
        201,
    );
    let api_secret = api_client["client_secret"].as_str().unwrap().to_owned();
    let api_client_id = api_client["client_id"].as_str().unwrap().to_owned();
    admin(
        port,
        "POST",
        &format!("tenants/{TENANT}/users"),
        Some(json!({"username": "bob", "password": API_PASSWORD})),
        201,
    );
    admin(
        port,
        "DELETE",
        &format!("tenants/{TENANT}/users/bob"),
        None,
        204,
    );
    admin(
        port,
        "DELETE",
        &format!("tenants/{TENANT}/applications/{api_client_id}"),
        None,
        204,
    );
    admin(port, "POST", "plugins/reload", None, 200);
    // And back on the command line, the client removed by name.
    deployment.cli_ok(&["client", "remove", "--tenant", TENANT, "--name", "cli-app"]);

    // `grantor audit --json`: every change, newest first.
    let json_lines = deployment.cli_ok(&["audit", "--json"]);
    let entries: Vec<Value> = json_lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected = [
        ("client.remove", "cli", cli_client.id.as_str()),
        ("plugins.reload", "api", "grant plugins"),
        ("client.remove", "api", api_client_id.as_str()),
        ("user.remove", "api", "bob"),
        ("user.add", "api", "bob"),
        ("client.add", "api", api_client_id.as_str()),
    ];
    let newest: Vec<(String, String, String)> = summary(&entries[..expected.len()]);
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, v, t)| ((*a).to_owned(), (*v).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(newest, expected, "{json_lines}");
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[expected.len()..],
        ["keys.rotate", "user.add", "client.add", "tenant.add"],
        "{json_lines}"
    );
    assert!(
        entries
            .windows(2)
            .all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64()),
        "{json_lines}"
    );
    for entry in &entries {
        match entry["via"].as_str().unwrap() {
            "api" => {
                assert_eq!(entry["actor"], "admin token", "{entry}");
                assert_eq!(entry["from_address"], "127.0.0.1", "{entry}");
            }
            "cli" => {
                let who = entry["actor"].as_str().unwrap();
                match os_user() {
                    Some(user) => assert_eq!(who, user, "{entry}"),
                    None => assert!(who.starts_with("uid "), "{entry}"),
                }
                assert!(entry["from_address"].as_str().is_some(), "{entry}");
            }
            other => panic!("via {other}: {entry}"),
        }
        assert!(entry["at"].as_i64().unwrap() > 1_700_000_000, "{entry}");
    }
    let tenant_add = entries.last().unwrap();
    assert_eq!(tenant_add["tenant_domain"], TENANT);
    assert_eq!(tenant_add["target"], TENANT);
    let user_add = &entries[entries.len() - 3];
    // A user's claims by name only.
    assert_eq!(
        user_add["detail"],
        json!({"claims": ["email"]}),
        "{user_add}"
    );
    let cli_client_add = &entries[entries.len() - 2];
    assert_eq!(cli_client_add["target"], cli_client.id.as_str());
    assert_eq!(cli_client_add["detail"]["name"], "cli-app");
    assert_eq!(
        cli_client_add["detail"]["authentication"], "client_secret",
        "{cli_client_add}"
    );
    let reload = &entries[1];
    assert_eq!(reload["tenant_domain"], Value::Null);

    // The admin API lists the same entries, one tenant's and paged.
    let listed = admin(
        port,
        "GET",
        &format!("audit?tenant={TENANT}&limit=3"),
        None,
        200,
    );
    let page = listed["items"].as_array().unwrap();
    assert_eq!(
        summary(page),
        summary(&[entries[0].clone(), entries[2].clone(), entries[3].clone()]),
        "{listed}"
    );
    let next = admin(
        port,
        "GET",
        &format!(
            "audit?tenant={TENANT}&limit=3&before={}",
            listed["next_before"]
        ),
        None,
        200,
    );
    assert_eq!(next["items"][0]["action"], "user.add", "{next}");
    assert_eq!(next["items"][0]["target"], "bob", "{next}");
    let everything = admin(port, "GET", "audit", None, 200);
    let refused = reqwest::blocking::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/api/server/v1/audit?limit=0"
        ))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    let unauthorized = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/server/v1/audit"))
        .send()
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    // The text form: one line per entry, tab-separated, time in UTC first.
    let text = deployment.cli_ok(&["audit", "--tenant", TENANT, "--limit", "2"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields.len(), 8, "{text}");
    assert!(
        fields[0].len() == 20 && fields[0].ends_with('Z') && fields[0].as_bytes()[10] == b'T',
        "{text}"
    );
    assert_eq!(fields[2], "cli", "{text}");
    assert_eq!(fields[4], "client.remove", "{text}");
    assert_eq!(fields[5], TENANT);
    assert_eq!(fields[6], cli_client.id);

    // No secret anywhere: not the client secrets, not the passwords, not the admin token.
    let outputs = [
        json_lines.clone(),
        text.clone(),
        everything.to_string(),
        deployment.cli_ok(&["audit"]),
    ];
    for secret in [
        cli_client.secret.as_str(),
        api_secret.as_str(),
        CLI_PASSWORD,
        API_PASSWORD,
        TOKEN,
    ] {
        for output in &outputs {
            assert!(
                !output.contains(secret),
                "a secret is in the audit log: {output}"
            );
        }
    }

    // A removed tenant's entries stay, its removal last.
    admin(port, "DELETE", &format!("tenants/{TENANT}"), None, 204);
    let after = deployment.cli_ok(&["audit", "--json", "--tenant", TENANT]);
    let after: Vec<Value> = after
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let of_the_tenant = entries
        .iter()
        .filter(|e| e["tenant_domain"] == TENANT)
        .count();
    assert_eq!(after.len(), of_the_tenant + 1, "{after:?}");
    assert_eq!(after[0]["action"], "tenant.remove");
    assert_eq!(after[0]["via"], "api");
}
on_each_backend!(changes_through_the_cli_and_the_api_are_audited_without_secrets);
