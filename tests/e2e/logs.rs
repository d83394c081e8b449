//! What the logs of reference 000's full flow say, in JSON at the debug level: one line per token
//! request with its request id, tenant, client, grant type, outcome and time; and never a secret,
//! a password, a token or an assertion.

use serde_json::Value;

use crate::harness::{Backend, Reference000, GRANT};

#[test]
fn a_full_flow_logs_each_token_request_and_nothing_secret() {
    let reference = Reference000::start_with_env(
        Backend::Sqlite,
        &[("RUST_LOG", "debug"), ("GRANTOR_LOG__FORMAT", "json")],
    );
    let signed_in = reference.server.token(
        "/t/idp.example/oauth2/token",
        &reference.webapp,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
            ("scope", "openid"),
        ],
    );
    let signed_in = signed_in.assert_token().clone();
    let id_token = signed_in["id_token"].as_str().unwrap();
    let exchanged = reference.exchange(id_token, Some("orders"));
    let exchanged = exchanged.assert_token().clone();
    // A refused one too: the same assertion again.
    assert_eq!(reference.exchange(id_token, Some("orders")).status, 400);

    let log = reference.server.log_containing("invalid_grant");
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "token request")
        .collect();
    assert_eq!(requests.len(), 3, "{log}");
    let password = requests
        .iter()
        .find(|l| l["span"]["grant_type"] == "password")
        .unwrap();
    assert_eq!(password["span"]["tenant"], "idp.example");
    assert_eq!(password["span"]["client_id"], reference.webapp.id.as_str());
    assert_eq!(password["fields"]["outcome"], "issued");
    assert_eq!(password["fields"]["status"], 200);
    assert!(password["fields"]["elapsed_us"].as_u64().unwrap() > 0);
    assert!(crate::harness::is_request_id(
        password["span"]["request_id"].as_str().unwrap()
    ));
    let exchanges: Vec<&&Value> = requests
        .iter()
        .filter(|l| l["span"]["grant_type"] == GRANT)
        .collect();
    assert_eq!(exchanges.len(), 2);
    assert_eq!(
        exchanges[0]["span"]["client_id"],
        reference.apiapp.id.as_str()
    );
    assert_eq!(exchanges[0]["fields"]["outcome"], "issued");
    assert_eq!(exchanges[1]["fields"]["outcome"], "invalid_grant");
    assert_eq!(exchanges[1]["fields"]["status"], 400);
    assert_ne!(
        exchanges[0]["span"]["request_id"],
        exchanges[1]["span"]["request_id"]
    );

    let mut secrets = vec![
        "alice-password".to_owned(),
        reference.webapp.secret.clone(),
        reference.apiapp.secret.clone(),
    ];
    for answer in [&signed_in, &exchanged] {
        for name in ["access_token", "refresh_token", "id_token"] {
            if let Some(token) = answer[name].as_str() {
                secrets.push(token.to_owned());
                // Nor any of a JWT's parts (its signature, say).
                secrets.extend(token.split('.').filter(|p| p.len() > 16).map(str::to_owned));
            }
        }
    }
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log contains a secret: {secret}"
        );
    }
}

/// In the text format too, each request is one line that names its client once, and a client that
/// fails to authenticate at introspection or revocation is logged like one at the token endpoint.
#[test]
fn text_lines_name_the_client_once_and_every_endpoint_logs_its_requests() {
    let deployment = crate::harness::Deployment::new(Backend::Sqlite);
    let client = deployment.add_client("carbon.super", "logged", "client_credentials", "read");
    let server = deployment.start_with_env(&[("RUST_LOG", "info")]);
    let token = server
        .token(
            "/oauth2/token",
            &client,
            &[("grant_type", "client_credentials")],
        )
        .assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = crate::harness::Credentials {
        id: client.id.clone(),
        secret: "not-the-secret".into(),
    };
    for endpoint in ["/oauth2/introspect", "/oauth2/revoke"] {
        server
            .token(endpoint, &wrong, &[("token", &token)])
            .assert_error(401, "invalid_client");
    }
    assert_eq!(
        server
            .token("/oauth2/introspect", &client, &[("token", &token)])
            .status,
        200
    );
    let log = server.log_containing("introspection request outcome=\"ok\"");
    let issued = log
        .lines()
        .find(|l| l.contains("token request") && l.contains("outcome=\"issued\""))
        .unwrap_or_else(|| panic!("no token request line:\n{log}"));
    assert_eq!(issued.matches("client_id=").count(), 1, "{issued}");
    for what in ["introspection request", "revocation request"] {
        let failed = log
            .lines()
            .find(|l| l.contains(what) && l.contains("outcome=\"invalid_client\""))
            .unwrap_or_else(|| panic!("no failed {what} line:\n{log}"));
        assert!(failed.contains("status=401"), "{failed}");
        assert!(!failed.contains(&token), "{failed}");
    }
    let ok = log
        .lines()
        .find(|l| l.contains("introspection request") && l.contains("outcome=\"ok\""))
        .unwrap();
    assert_eq!(ok.matches("client_id=").count(), 1, "{ok}");
    assert!(!log.contains(&token) && !log.contains(&client.secret));
}
