//! `/metrics` on the admin listener: token requests by tenant, grant type and outcome, with their
//! latency; plugin calls; write batches. What clients send never becomes a label value.

use std::time::{Duration, Instant};

use crate::harness::{registration, Backend, Credentials, Deployment};

const ECHO: &str = "urn:grantor:test:echo";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The admin listener's answer to `GET path`, once it is up.
fn admin_get(port: u16, path: &str) -> reqwest::blocking::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match reqwest::blocking::get(format!("http://127.0.0.1:{port}{path}")) {
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
    let server = deployment.start_with_env(&[("GRANTOR_ADMIN__BIND", &port_text)]);
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

    let reply = admin_get(port, "/metrics");
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
    assert_eq!(admin_get(port, "/oauth2/token").status(), 404);
    assert_eq!(server.get("/metrics").status, 404);
}
