//! Compatibility across ABI minors: a plugin built against an older 1.x header keeps loading and
//! serving, unchanged, on this host. The witness is c-echo compiled against the frozen ABI 1.0
//! header (`tests/plugins/abi-1.0`), never against the shipped one.

use crate::harness::{
    compile_c_echo_against_abi_1_0, compile_c_plugin, eventually, on_each_backend, registration,
    unverified_claims, Backend, Deployment, C_ECHO,
};

/// What c-echo logs through `host_log` once per request it handles.
const C_ECHO_LOG_LINE: &str = "c-echo handling a request";

fn a_plugin_built_against_abi_1_0_is_loaded_and_served(backend: Backend) {
    let deployment =
        Deployment::with_extra_config(backend, &registration(C_ECHO, "grant_c_echo", ""));
    compile_c_echo_against_abi_1_0(&deployment, "grant_c_echo");

    // Loaded, with the name and version of its 1.0 descriptor.
    let listing: serde_json::Value =
        serde_json::from_str(&deployment.cli_ok(&["plugins", "list", "--json"])).unwrap();
    assert_eq!(listing[0]["grant_type"], C_ECHO, "{listing}");
    assert_eq!(listing[0]["loaded"], true, "{listing}");
    assert_eq!(listing[0]["plugin"], "c-echo 1.0.0", "{listing}");
    let listing = deployment.cli_ok(&["plugins", "list"]);
    assert!(
        listing.contains(&format!("{C_ECHO}\tloaded\tc-echo 1.0.0\t")),
        "{listing}"
    );

    deployment.cli_ok(&["tenant", "add", "acme"]);
    let client = deployment.add_client("acme", "app", C_ECHO, "read,write");
    let server =
        deployment.start_with_env(&[("RUST_LOG", "info"), ("GRANTOR_LOG__FORMAT", "json")]);
    let subjects = ["bob", "carol"];
    for subject in subjects {
        let reply = server.token(
            "/t/acme/oauth2/token",
            &client,
            &[("grant_type", C_ECHO), ("subject", subject)],
        );
        let token = reply.assert_token().clone();
        // c-echo grants "read" whatever was asked, as the subject it read from the request.
        assert_eq!(token["scope"], "read", "{token}");
        assert!(token.get("refresh_token").is_none(), "{token}");
        let reply = server.token(
            "/t/acme/oauth2/introspect",
            &client,
            &[("token", token["access_token"].as_str().unwrap())],
        );
        assert_eq!(reply.status, 200, "{:?}", reply.json);
        assert_eq!(reply.json["active"], true, "{:?}", reply.json);
        assert_eq!(reply.json["sub"], subject, "{:?}", reply.json);
        assert_eq!(reply.json["scope"], "read", "{:?}", reply.json);
    }

    // host_log, the host callback c-echo calls, still works through the 1.0 table layout: one
    // line per request in the host's log, at the level c-echo asked for, with the fields the host
    // adds to a plugin's lines.
    let c_echo_lines = |log: &str| -> Vec<serde_json::Value> {
        log.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .filter(|line: &serde_json::Value| line["fields"]["message"] == C_ECHO_LOG_LINE)
            .collect()
    };
    eventually(
        "c-echo's log line for each request",
        std::time::Duration::from_secs(5),
        || c_echo_lines(&server.log()).len() >= subjects.len(),
    );
    let lines = c_echo_lines(&server.log());
    assert_eq!(lines.len(), subjects.len(), "{lines:?}");
    for line in &lines {
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["fields"]["tenant"], "acme", "{line}");
        assert_eq!(line["fields"]["plugin"], "c-echo", "{line}");
        assert!(
            line["fields"]["request_id"]
                .as_str()
                .is_some_and(crate::harness::is_request_id),
            "{line}"
        );
    }
}
on_each_backend!(a_plugin_built_against_abi_1_0_is_loaded_and_served);

/// c-echo built against the shipped (1.1) header, its granted result carrying `extra` (raw JSON
/// members), for a client of tenant acme that gets JWT access tokens.
fn c_echo_answering(backend: Backend, extra: &str) -> (Deployment, crate::harness::Credentials) {
    let deployment =
        Deployment::with_extra_config(backend, &registration(C_ECHO, "grant_c_echo", ""));
    let define = format!("-DC_ECHO_EXTRA_RESULT=\"{}\"", extra.replace('"', "\\\""));
    compile_c_plugin(&deployment, "grant_c_echo", &[&define], None);
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let client =
        deployment.add_client_with("acme", "app", C_ECHO, "read", &["--token-format", "jwt"]);
    (deployment, client)
}

/// ABI 1.1's result fields, as a plugin writes them, reach the token: the audience and `act` the
/// result says (not those its claims say), and a lifetime cut at `expires_at_most`.
fn result_fields_of_abi_1_1_shape_the_token(backend: Backend) {
    let cap = crate::harness::now() + 120;
    let (deployment, client) = c_echo_answering(
        backend,
        &format!(
            r#","audience":["https://api.example/"],"act":{{"sub":"svc","act":{{"sub":"first"}}}},"expires_at_most":{cap},"issued_token_type":"urn:ietf:params:oauth:token-type:access_token""#
        ),
    );
    let server = deployment.start();
    let reply = server.token(
        "/t/acme/oauth2/token",
        &client,
        &[("grant_type", C_ECHO), ("subject", "bob")],
    );
    let token = reply.assert_token().clone();
    assert_eq!(
        token["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token",
        "{token}"
    );
    let expires_in = token["expires_in"].as_i64().unwrap();
    assert!((1..=120).contains(&expires_in), "{token}");
    let claims = unverified_claims(token["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://api.example/", "{claims}");
    assert_eq!(
        claims["act"],
        serde_json::json!({"sub": "svc", "act": {"sub": "first"}}),
        "{claims}"
    );
    assert!(claims["exp"].as_i64().unwrap() <= cap, "{claims}");
    assert_eq!(claims["sub"], "bob", "{claims}");
    // Introspection says the same of it (RFC 8693 2.1, 4.1).
    let reply = server.token(
        "/t/acme/oauth2/introspect",
        &client,
        &[("token", token["access_token"].as_str().unwrap())],
    );
    assert_eq!(reply.json["active"], true, "{:?}", reply.json);
    assert_eq!(
        reply.json["aud"], "https://api.example/",
        "{:?}",
        reply.json
    );
    assert_eq!(reply.json["act"], claims["act"], "{:?}", reply.json);
    assert!(
        reply.json["exp"].as_i64().unwrap() <= cap,
        "{:?}",
        reply.json
    );
}
on_each_backend!(result_fields_of_abi_1_1_shape_the_token);

/// A malformed 1.1 result field refuses the whole result: the client gets server_error, and the
/// log names the field.
fn a_malformed_result_field_is_refused_by_name(backend: Backend) {
    for (extra, field) in [
        (r#","audience":"https://api.example/""#, "audience"),
        (r#","act":{"iss":"https://idp"}"#, "act"),
        (r#","expires_at_most":"soon""#, "expires_at_most"),
        (
            r#","issued_token_type":"urn:ietf:params:oauth:token-type:refresh_token""#,
            "issued_token_type",
        ),
    ] {
        let (deployment, client) = c_echo_answering(backend, extra);
        let server = deployment.start();
        let reply = server.token(
            "/t/acme/oauth2/token",
            &client,
            &[("grant_type", C_ECHO), ("subject", "bob")],
        );
        assert_eq!(reply.status, 500, "{extra}: {:?}", reply.json);
        assert_eq!(reply.json["error"], "server_error", "{:?}", reply.json);
        let wanted = format!("field '{field}'");
        eventually(
            "the log line naming the field",
            std::time::Duration::from_secs(5),
            || server.log().contains(&wanted),
        );
    }
}
on_each_backend!(a_malformed_result_field_is_refused_by_name);
