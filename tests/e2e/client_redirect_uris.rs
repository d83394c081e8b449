//! A client's redirect URIs, post-logout redirect URIs and consent setting, registered through
//! the CLI and shown back by `client list`; the URIs the authorization code flow must never
//! accept refused with the flag and the reason.

use serde_json::{json, Value};

use crate::harness::{on_each_backend, Backend, Deployment};

fn redirect_uris_and_consent_are_registered_and_listed(backend: Backend) {
    let deployment = Deployment::new(backend);
    let added: Value = serde_json::from_str(&deployment.cli_ok(&[
        "client",
        "add",
        "--name",
        "web",
        "--grant-types",
        "authorization_code,refresh_token",
        "--redirect-uri",
        "https://app.example/cb",
        "--redirect-uri",
        "http://127.0.0.1:51004/cb",
        "--redirect-uri",
        "com.example.app:/oauth2redirect",
        "--redirect-uri",
        "https://app.example/cb",
        "--post-logout-redirect-uri",
        "https://app.example/signed-out",
        "--consent",
        "skip",
        "--json",
    ]))
    .unwrap();
    let registered_uris = json!([
        "https://app.example/cb",
        "http://127.0.0.1:51004/cb",
        "com.example.app:/oauth2redirect"
    ]);
    assert_eq!(added["redirect_uris"], registered_uris, "{added}");
    let listed: Value =
        serde_json::from_str(&deployment.cli_ok(&["client", "list", "--json"])).unwrap();
    let web = &listed[0];
    assert_eq!(web["client_id"], added["client_id"]);
    assert_eq!(web["redirect_uris"], registered_uris);
    assert_eq!(
        web["post_logout_redirect_uris"],
        json!(["https://app.example/signed-out"])
    );
    assert_eq!(web["consent"], "skip");

    // Without the flags: none registered, and consent is asked for.
    deployment.add_client("carbon.super", "worker", "client_credentials", "");
    let listed: Value =
        serde_json::from_str(&deployment.cli_ok(&["client", "list", "--json"])).unwrap();
    let worker = &listed[1];
    assert_eq!(worker["name"], "worker");
    assert_eq!(worker["redirect_uris"], json!([]));
    assert_eq!(worker["post_logout_redirect_uris"], json!([]));
    assert_eq!(worker["consent"], "required");

    let plain = deployment.cli_ok(&["client", "list"]);
    assert!(
        plain.contains(
            "consent=skip\tredirect_uris=https://app.example/cb http://127.0.0.1:51004/cb \
             com.example.app:/oauth2redirect\tpost_logout_redirect_uris=https://app.example/signed-out"
        ),
        "{plain}"
    );
}
on_each_backend!(redirect_uris_and_consent_are_registered_and_listed);

fn unsafe_redirect_uris_are_refused_naming_the_flag(backend: Backend) {
    let deployment = Deployment::new(backend);
    let add = |extra: &[&str]| {
        let mut args = vec![
            "client",
            "add",
            "--name",
            "web",
            "--grant-types",
            "authorization_code",
        ];
        args.extend_from_slice(extra);
        deployment.cli(&args)
    };
    for (extra, expected) in [
        (
            &["--redirect-uri", "https://app.example/cb#frag"][..],
            "--redirect-uri: 'https://app.example/cb#frag': must not have a fragment",
        ),
        (
            &["--redirect-uri", "http://app.example/cb"][..],
            "--redirect-uri: 'http://app.example/cb': must be https",
        ),
        (
            &["--post-logout-redirect-uri", "http://app.example/bye"][..],
            "--post-logout-redirect-uri: 'http://app.example/bye': must be https",
        ),
        (
            &["--redirect-uri", "javascript:alert(1)"][..],
            "--redirect-uri: 'javascript:alert(1)': scheme javascript",
        ),
        (
            &["--consent", "never"][..],
            "--consent: 'never': use required or skip",
        ),
    ] {
        let out = add(extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    // Nothing was registered by the refused commands.
    let listed: Value =
        serde_json::from_str(&deployment.cli_ok(&["client", "list", "--json"])).unwrap();
    assert_eq!(listed, json!([]));
}
on_each_backend!(unsafe_redirect_uris_are_refused_naming_the_flag);
