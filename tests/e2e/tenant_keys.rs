//! Tenants' signing keys: generated on first use, published per tenant at `/oauth2/jwks` and
//! `/t/{tenant}/oauth2/jwks` with `Cache-Control`, identified by their RFC 7638 thumbprint, rotated
//! with `grantor keys rotate` (the next key published first, the old one still signing). Private
//! keys never appear in what the server or the CLI shows. Rotations across the switch are in
//! `key_rotation.rs`; keys at rest in `keys_at_rest.rs`.

use serde_json::Value;

use crate::harness::{on_each_backend, Backend, Deployment, Server};

fn key_set(server: &Server, path: &str) -> Vec<Value> {
    let reply = server.get(path);
    assert_eq!(reply.status, 200, "{path}: {:?}", reply.json);
    assert_eq!(reply.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(
        reply.header("content-type"),
        Some("application/jwk-set+json")
    );
    reply.json["keys"].as_array().unwrap().clone()
}

fn kids(keys: &[Value]) -> Vec<String> {
    keys.iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_public(key: &Value) {
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "{private} published: {key}");
    }
    assert_eq!(key["use"], "sig");
}

fn each_tenant_publishes_its_own_key_and_rotation_publishes_the_next_one_first(backend: Backend) {
    let deployment = Deployment::new(backend);
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let server = deployment.start();

    // First use makes the default tenant's key; it stays the same key.
    let default_keys = key_set(&server, "/oauth2/jwks");
    assert_eq!(default_keys.len(), 1);
    let key = &default_keys[0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    assert_public(key);
    assert_eq!(kids(&key_set(&server, "/oauth2/jwks")), kids(&default_keys));

    // Another tenant has a key of its own.
    let acme = key_set(&server, "/t/acme/oauth2/jwks");
    assert_eq!(acme.len(), 1);
    assert_ne!(kids(&acme), kids(&default_keys));
    server
        .get("/t/nowhere/oauth2/jwks")
        .assert_error(404, "invalid_request");

    // Rotation: the new key is published at once as the next one; the old one still signs.
    let rotated = deployment.cli_ok(&["keys", "rotate", "--tenant", "acme"]);
    let listed = deployment.cli_ok(&["keys", "list", "--tenant", "acme", "--json"]);
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["state"], "next");
    assert!(
        rotated.contains(listed[0]["kid"].as_str().unwrap()),
        "{rotated}"
    );
    // It signs after the JWKS max-age plus the margin (300 + 60 s by default) ...
    let activates_at = listed[0]["activates_at"].as_i64().unwrap();
    assert_eq!(listed[0]["changes_at"], activates_at);
    assert!(
        rotated.contains("300 s + rotation_margin 60 s"),
        "{rotated}"
    );
    // ... until when the old key signs, then stays published for an hour (token lifetime).
    assert_eq!(listed[1]["kid"], acme[0]["kid"]);
    assert_eq!(listed[1]["state"], "current");
    assert_eq!(listed[1]["signs_until"], activates_at);
    assert_eq!(listed[1]["published_until"], activates_at + 3600);
    let after = key_set(&server, "/t/acme/oauth2/jwks");
    assert_eq!(
        kids(&after),
        [
            acme[0]["kid"].as_str().unwrap().to_owned(),
            listed[0]["kid"].as_str().unwrap().to_owned(),
        ]
    );
    // One rotation at a time.
    let again = deployment.cli(&["keys", "rotate", "--tenant", "acme"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("rotation pending"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    for output in [
        rotated,
        deployment.cli_ok(&["keys", "list", "--tenant", "acme"]),
    ] {
        assert!(!output.contains("PRIVATE"), "{output}");
    }
    assert!(!server.log().contains("PRIVATE KEY"));
}
on_each_backend!(each_tenant_publishes_its_own_key_and_rotation_publishes_the_next_one_first);

#[test]
fn the_key_type_follows_the_configuration() {
    for (algorithm, kty, crv) in [("ES256", "EC", "P-256"), ("EdDSA", "OKP", "Ed25519")] {
        let deployment = Deployment::with_extra_config(
            Backend::Sqlite,
            &format!("[oauth.signing]\nalgorithm = \"{algorithm}\"\n"),
        );
        let server = deployment.start();
        let keys = key_set(&server, "/oauth2/jwks");
        assert_eq!(keys[0]["kty"], kty);
        assert_eq!(keys[0]["crv"], crv);
        assert_eq!(keys[0]["alg"], algorithm);
        assert_public(&keys[0]);
    }
}
