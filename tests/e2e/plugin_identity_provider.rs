//! The identity provider a plugin grant relied on is the one the plugin names in its answer: its
//! refresh token families stop with that provider, whichever issuers' replay keys the plugin
//! recorded (the host once guessed the provider from the first replay key).

use crate::harness::{
    fixture_deployment, on_each_backend, registration, Backend, Deployment, ECHO,
};

fn add_provider(deployment: &Deployment, name: &str, issuer: &str) {
    deployment.cli_ok(&[
        "idp",
        "add",
        "--name",
        name,
        "--issuer",
        issuer,
        "--jwks-uri",
        "https://keys.invalid/jwks",
    ]);
}

fn a_plugin_grants_family_stops_with_the_provider_the_plugin_names(backend: Backend) {
    let deployment = fixture_deployment(
        backend,
        &registration(ECHO, "grant_test", "mode = \"echo\""),
    );
    add_provider(&deployment, "named", "https://named.example");
    add_provider(&deployment, "recorded", "https://recorded.example");
    let client = deployment.add_client(
        "carbon.super",
        "app",
        &format!("{ECHO},refresh_token"),
        "read",
    );
    let server = deployment.start();
    // The plugin records a replay key of one issuer and names another as the provider used.
    let reply = server.token(
        "/oauth2/token",
        &client,
        &[
            ("grant_type", ECHO),
            ("subject", "alice"),
            ("scope", "read"),
            ("replay_issuer", "https://recorded.example"),
            ("jti", "j-1"),
            ("identity_provider", "https://named.example"),
        ],
    );
    let refresh_token = reply.assert_token()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The provider whose replay key was recorded is not the family's.
    let removed = deployment.cli_ok(&["idp", "remove", "--name", "recorded"]);
    assert!(
        removed.contains("0 refresh token families revoked"),
        "{removed}"
    );
    let reply = server.token(
        "/oauth2/token",
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
    );
    let refresh_token = reply.assert_token()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The named one is.
    let removed = deployment.cli_ok(&["idp", "remove", "--name", "named"]);
    assert!(
        removed.contains("1 refresh token families revoked"),
        "{removed}"
    );
    server
        .token(
            "/oauth2/token",
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
        )
        .assert_error(400, "invalid_grant");
}

on_each_backend!(a_plugin_grants_family_stops_with_the_provider_the_plugin_names);
