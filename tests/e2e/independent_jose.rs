//! Grantor's JWTs checked by an independent JOSE implementation: PyJWT (with `cryptography`),
//! installed by the test setup (`third_party`).
//! PyJWT fetches the tenant's JWKS over HTTP itself and verifies signature, `typ`, `iss`, `aud`
//! and the registered claims: JWT access tokens of each key type, tokens signed before a key
//! rotation, the claims of an identity provider's mappings and transformer, and ID tokens.

use std::process::Command;

use serde_json::{json, Value};

use crate::harness::{
    access_token, good_claims, kid_of, on_each_backend, with, with_scope_forged, Backend,
    Deployment, JwtSetup, Server, GRANT,
};

const VERIFY: &str = r#"
import json, sys, jwt
token, jwks_url, typ, audience, issuer = sys.argv[1:6]
header = jwt.get_unverified_header(token)
assert header.get("typ") == typ, f"typ {header.get('typ')!r}, expected {typ!r}"
key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
claims = jwt.decode(
    token, key.key, algorithms=["RS256", "ES256", "EdDSA"], audience=audience, issuer=issuer,
    options={"require": ["exp", "iat", "iss", "sub", "aud"]},
)
print(json.dumps({"alg": header["alg"], "claims": claims}))
"#;

/// PyJWT run on `token` with the tenant's JWKS URL, the expected `typ`, audience and issuer.
fn run_pyjwt(
    server: &Server,
    jwks_path: &str,
    token: &str,
    typ: &str,
    audience: &str,
    issuer: &str,
) -> std::process::Output {
    let jwks_url = server.url(jwks_path);
    Command::new(crate::harness::python())
        .args(["-c", VERIFY, token, &jwks_url, typ, audience, issuer])
        .output()
        .unwrap()
}

/// PyJWT's verdict on `token`: the claims, or the test fails with PyJWT's reason.
fn pyjwt_verified(
    server: &Server,
    jwks_path: &str,
    token: &str,
    typ: &str,
    audience: &str,
    issuer: &str,
) -> Value {
    let out = run_pyjwt(server, jwks_path, token, typ, audience, issuer);
    assert!(
        out.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// PyJWT must refuse `token` (a tampered one, say).
fn pyjwt_refuses(server: &Server, jwks_path: &str, token: &str, audience: &str, issuer: &str) {
    let out = run_pyjwt(server, jwks_path, token, "at+jwt", audience, issuer);
    assert!(!out.status.success(), "PyJWT accepted a tampered token");
}

fn pyjwt_verifies_jwt_access_tokens_of_each_key_type_across_a_rotation(backend: Backend) {
    for algorithm in ["RS256", "ES256", "EdDSA"] {
        // A rotation's key signs at once (no JWKS caching, no margin; key_rotation.rs has
        // rotations that verifiers wait for), and the old key stays published.
        let deployment = Deployment::with_extra_config(
            backend,
            &format!(
                "[oauth.signing]\nalgorithm = \"{algorithm}\"\njwks_max_age = 0\nrotation_margin = 0\n"
            ),
        );
        deployment.cli_ok(&["tenant", "add", "acme"]);
        let machine = deployment.add_client_with(
            "acme",
            "machine",
            "client_credentials",
            "read",
            &["--token-format", "jwt"],
        );
        let server = deployment.start();
        let issue = || {
            access_token(&server.token(
                "/t/acme/oauth2/token",
                &machine,
                &[("grant_type", "client_credentials")],
            ))
        };
        let issuer = "http://localhost:9443/t/acme/oauth2/token";
        let jwks = "/t/acme/oauth2/jwks";
        let before = issue();
        let verdict = pyjwt_verified(&server, jwks, &before, "at+jwt", &machine.id, issuer);
        assert_eq!(verdict["alg"], algorithm);
        assert_eq!(verdict["claims"]["client_id"], machine.id.as_str());
        assert_eq!(verdict["claims"]["scope"], "read");
        assert!(verdict["claims"]["jti"].is_string());

        deployment.cli_ok(&["keys", "rotate", "--tenant", "acme"]);
        let after = issue();
        assert_ne!(
            kid_of(&before),
            kid_of(&after),
            "the rotation made a new current key"
        );
        // Both verify: the old key stays published until its tokens have expired.
        pyjwt_verified(&server, jwks, &before, "at+jwt", &machine.id, issuer);
        pyjwt_verified(&server, jwks, &after, "at+jwt", &machine.id, issuer);
        // A changed claim breaks the signature for PyJWT too.
        pyjwt_refuses(
            &server,
            jwks,
            &with_scope_forged(&after, "read admin"),
            &machine.id,
            issuer,
        );
    }
}
on_each_backend!(pyjwt_verifies_jwt_access_tokens_of_each_key_type_across_a_rotation);

fn pyjwt_sees_the_mapped_and_transformed_claims_and_verifies_id_tokens(backend: Backend) {
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("department.rhai");
    std::fs::write(
        &script,
        r#"fn transform(claims, context) {
                claims.department = if claims.email.ends_with("@sales.example") { "sales" } else { "other" };
                #{ claims: claims }
            }"#,
    )
    .unwrap();
    let setup = JwtSetup::start_with(
        backend,
        "",
        &[
            "--claim-mapping",
            "upn=email",
            "--transformer",
            script.to_str().unwrap(),
        ],
    );
    let app = setup.deployment.add_client_with(
        "carbon.super",
        "jwt-app",
        GRANT,
        "read",
        &["--token-format", "jwt"],
    );
    let assertion = setup
        .idp
        .assertion(&with(good_claims(), json!({"upn": "bob@sales.example"})));
    let reply = setup.server.token(
        "/oauth2/token",
        &app,
        &[("grant_type", GRANT), ("assertion", &assertion)],
    );
    let token = access_token(&reply);
    let issuer = "http://localhost:9443/t/carbon.super/oauth2/token";
    let verdict = pyjwt_verified(
        &setup.server,
        "/oauth2/jwks",
        &token,
        "at+jwt",
        &app.id,
        issuer,
    );
    assert_eq!(verdict["claims"]["email"], "bob@sales.example");
    assert!(verdict["claims"].get("upn").is_none());
    assert_eq!(verdict["claims"]["department"], "sales");

    // An ID token of the password grant, with the client's extra audience.
    setup.deployment.add_user(
        "carbon.super",
        "carol",
        "carol-password",
        &["--claim", "email=carol@example.com"],
    );
    let webapp = setup.deployment.add_client_with(
        "carbon.super",
        "webapp",
        "password",
        "openid",
        &["--audience", "https://apis.example/token"],
    );
    let reply = setup.server.token(
        "/oauth2/token",
        &webapp,
        &[
            ("grant_type", "password"),
            ("username", "carol"),
            ("password", "carol-password"),
            ("scope", "openid"),
        ],
    );
    let id_token = reply.assert_token()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for audience in [webapp.id.as_str(), "https://apis.example/token"] {
        let verdict = pyjwt_verified(
            &setup.server,
            "/oauth2/jwks",
            &id_token,
            "JWT",
            audience,
            issuer,
        );
        assert_eq!(verdict["claims"]["sub"], "carol");
        assert_eq!(verdict["claims"]["email"], "carol@example.com");
    }
}
on_each_backend!(pyjwt_sees_the_mapped_and_transformed_claims_and_verifies_id_tokens);
