//! `/metrics` on the admin listener, behind the admin token: token requests by tenant, grant type
//! and outcome, with their latency; plugin calls; write batches. What clients send never becomes a
//! label value.

use std::time::{Duration, Instant};

use crate::harness::{free_port, registration, Backend, Credentials, Deployment, ECHO};

const ADMIN_TOKEN: &str = "admin-token-for-the-metrics-test";

/// The admin listener's answer to `GET path` (with `token`), once it is up.
fn admin_get(port: u16, path: &str, token: Option<&str>) -> reqwest::blocking::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut request =
            reqwest::blocking::Client::new().get(format!("http://127.0.0.1:{port}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        match request.send() {
            Ok(reply) => return reply,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "the admin listener never answered: {e}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn metrics_count_requests_plugin_calls_and_batches_with_bounded_labels() {
    let deployment =
        Deployment::with_extra_config(Backend::Sqlite, &registration(ECHO, "grant_test", ""));
    deployment.drop_plugin("grant_test");
    let client = deployment.add_client(
        "carbon.super",
        "app",
        &format!("client_credentials,{ECHO}"),
        "read",
    );
    let port = free_port();
    let port_text = format!("127.0.0.1:{port}");
    let server = deployment.start_with_env(&[
        ("GRANTOR_ADMIN__BIND", &port_text),
        ("GRANTOR_ADMIN__TOKEN_ENV", "METRICS_TEST_ADMIN_TOKEN"),
        ("METRICS_TEST_ADMIN_TOKEN", ADMIN_TOKEN),
    ]);
    let grant = |form: &[(&str, &str)]| server.token("/oauth2/token", &client, form);
    grant(&[("grant_type", "client_credentials")]).assert_token();
    grant(&[("grant_type", "client_credentials")]).assert_token();
    grant(&[("grant_type", ECHO), ("subject", "alice")]).assert_token();
    let wrong = Credentials {
        id: client.id.clone(),
        secret: "not-the-secret".into(),
    };
    let refused = server.token(
        "/oauth2/token",
        &wrong,
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(refused.status, 401);
    // A grant type and a tenant nobody configured.
    assert_eq!(
        grant(&[("grant_type", "urn:made-up:by-a-client")]).status,
        400
    );
    let elsewhere = server.token(
        "/t/nope.example/oauth2/token",
        &client,
        &[("grant_type", "client_credentials")],
    );
    assert!(elsewhere.status >= 400);
    // The authorization endpoint: a request of an unknown client (an error page), and one to a
    // tenant nobody configured.
    let http = reqwest::blocking::Client::new();
    for path in [
        "/oauth2/authorize?client_id=nobody",
        "/t/nope.example/oauth2/authorize?client_id=nobody",
    ] {
        let page = http.get(server.url(path)).send().unwrap();
        assert!(page.status().is_client_error(), "{path}");
    }

    // Without the admin token, or with another: 401, with a challenge.
    let anonymous = admin_get(port, "/metrics", None);
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(
        admin_get(port, "/metrics", Some("not-the-token-at-all")).status(),
        401
    );
    let reply = admin_get(port, "/metrics", Some(ADMIN_TOKEN));
    assert_eq!(reply.status(), 200);
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = reply.text().unwrap();
    for line in [
        r#"grantor_token_requests_total{tenant="carbon.super",grant_type="client_credentials",outcome="issued"} 2"#,
        r#"grantor_token_requests_total{tenant="carbon.super",grant_type="client_credentials",outcome="invalid_client"} 1"#,
        r#"grantor_token_requests_total{tenant="carbon.super",grant_type="urn:grantor:test:echo",outcome="issued"} 1"#,
        r#"grantor_plugin_calls_total{grant_type="urn:grantor:test:echo",outcome="ok"} 1"#,
        r#"grantor_authorization_requests_total{tenant="carbon.super",outcome="refused_without_redirect"} 1"#,
        r#"grantor_authorization_requests_total{tenant="unknown",outcome="unknown_tenant"} 1"#,
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
    assert!(text.contains(r#"grant_type="other""#), "{text}");
    assert!(text.contains(r#"tenant="unknown""#), "{text}");
    assert!(
        !text.contains("made-up") && !text.contains("nope.example"),
        "{text}"
    );
    assert!(
        text.contains("grantor_token_request_seconds_bucket{"),
        "{text}"
    );
    let batches: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("grantor_write_batch_requests_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(batches >= 1.0, "{text}");

    // Nothing else on the admin listener, and no /metrics on the clients' one.
    assert_eq!(
        admin_get(port, "/oauth2/token", Some(ADMIN_TOKEN)).status(),
        404
    );
    assert_eq!(server.get("/metrics").status, 404);
}

/// An admin listener without credentials does not start, and says what to set.
#[test]
fn an_admin_listener_without_credentials_stops_the_start() {
    let deployment = Deployment::new(Backend::Sqlite);
    let out = std::process::Command::new(crate::harness::grantor_binary())
        .arg("--config")
        .arg(&deployment.config_path)
        .arg("serve")
        .env("GRANTOR_ADMIN__BIND", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("admin.token_sha256 or admin.token_env"),
        "{stderr}"
    );
}
