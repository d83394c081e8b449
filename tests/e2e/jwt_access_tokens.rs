//! JWT access tokens (RFC 9068) for clients registered with `--token-format jwt`: signed with the
//! tenant's current key, verifiable by anyone holding the tenant's JWKS (checked as `jwt_verify`
//! does, against the JWKS fetched over HTTP).

use serde_json::{json, Value};

use crate::harness::{
    access_token, good_claims, on_each_backend, verified, with, Backend, Credentials, JwtSetup,
    GRANT,
};

const ISSUER_BASE: &str = "http://localhost:9443";

/// A rotation whose key signs at once (nothing may cache the JWKS, no margin).
const SWITCH_AT_ONCE: &str = "[oauth.signing]\njwks_max_age = 0\nrotation_margin = 0\n";

fn a_jwt_client_gets_signed_access_tokens_with_the_rfc_9068_claims(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let deployment = &setup.deployment;
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let machine: Credentials = deployment.add_client_with(
        "acme",
        "machine",
        "client_credentials",
        "read,write",
        &["--token-format", "jwt"],
    );
    let reply = setup.server.token(
        "/t/acme/oauth2/token",
        &machine,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    );
    let token = access_token(&reply);
    let claims = verified(
        &setup.server,
        "/t/acme/oauth2/jwks",
        &token,
        "at+jwt",
        &machine.id,
    );
    assert_eq!(
        claims["iss"],
        format!("{ISSUER_BASE}/t/acme/oauth2/token"),
        "{claims}"
    );
    assert_eq!(claims["sub"], machine.id.as_str());
    assert_eq!(claims["client_id"], machine.id.as_str());
    assert_eq!(claims["scope"], "read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["jti"].as_str().unwrap().len() >= 20);
    // Another tenant's keys do not verify it.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let other = setup.server.get("/oauth2/jwks").json;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert!(!other["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == header.kid.clone().unwrap().as_str()));

    // An opaque client is unchanged.
    let opaque = deployment.add_client("acme", "opaque", "client_credentials", "read");
    let reply = setup.server.token(
        "/t/acme/oauth2/token",
        &opaque,
        &[("grant_type", "client_credentials")],
    );
    assert!(jsonwebtoken::decode_header(access_token(&reply)).is_err());
}
on_each_backend!(a_jwt_client_gets_signed_access_tokens_with_the_rfc_9068_claims);

on_each_backend!(
    the_exchanged_assertions_claims_reach_the_token_and_rotation_keeps_old_tokens_verifiable
);
fn the_exchanged_assertions_claims_reach_the_token_and_rotation_keeps_old_tokens_verifiable(
    backend: Backend,
) {
    // No JWKS caching and no margin: the rotation's key signs at once, and the old key stays
    // published (rotations across a switch that verifiers wait for: key_rotation.rs).
    let setup = JwtSetup::start_with(backend, SWITCH_AT_ONCE, &[]);
    let app = setup.deployment.add_client_with(
        "carbon.super",
        "api-client",
        GRANT,
        "read",
        &["--token-format", "jwt"],
    );
    let exchange = |claims: Value| {
        setup.server.token(
            "/oauth2/token",
            &app,
            &[
                ("grant_type", GRANT),
                ("assertion", &setup.idp.assertion(&claims)),
            ],
        )
    };
    let before = access_token(&exchange(with(
        good_claims(),
        json!({"department": "sales", "groups": ["a", "b"]}),
    )));
    let claims = verified(&setup.server, "/oauth2/jwks", &before, "at+jwt", &app.id);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["department"], "sales");
    assert_eq!(claims["groups"], json!(["a", "b"]));
    // The token is this server's, not the identity provider's.
    assert_eq!(
        claims["iss"],
        format!("{ISSUER_BASE}/t/carbon.super/oauth2/token")
    );

    setup.deployment.cli_ok(&["keys", "rotate"]);
    let after = access_token(&exchange(good_claims()));
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert_ne!(kid(&before), kid(&after));
    // Both verify: the old key is still published.
    verified(&setup.server, "/oauth2/jwks", &before, "at+jwt", &app.id);
    verified(&setup.server, "/oauth2/jwks", &after, "at+jwt", &app.id);
}
