//! Rule 9 and the walk-through: an assertion minted with `grantor assertion mint` is exchanged
//! for an access token (and a refresh token when the client may have one).

use serde_json::{json, Value};

use crate::harness::{
    good_claims, on_each_backend, Backend, JwtSetup, DEFAULT_TOKEN_ENDPOINT, GRANT, IDP_ISSUER,
};

fn a_minted_assertion_is_exchanged_for_tokens(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let key_file = setup.keys_dir.path().join("corp.key");
    setup.idp.write_private_key(&key_file);
    let assertion = setup
        .deployment
        .cli_ok(&[
            "assertion",
            "mint",
            "--key",
            key_file.to_str().unwrap(),
            "--issuer",
            IDP_ISSUER,
            "--subject",
            "alice",
            "--audience",
            DEFAULT_TOKEN_ENDPOINT,
        ])
        .trim()
        .to_owned();
    let reply = setup.exchange_with(&assertion, &[("scope", "read write")]);
    let token = reply.assert_token();
    assert_eq!(token["scope"], "read write");
    assert_eq!(token["expires_in"], 3600);
    assert!(
        token["refresh_token"].as_str().unwrap().len() >= 32,
        "{token}"
    );
    // The assertion never appears in what the server says.
    assert!(!reply.json.to_string().contains(&assertion));
}
on_each_backend!(a_minted_assertion_is_exchanged_for_tokens);

fn every_signature_algorithm_family_is_accepted(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let dir = setup.keys_dir.path();
    for (name, key) in [
        ("ec", crate::harness::IdpKey::ec_p256(dir, "ec")),
        ("ed", crate::harness::IdpKey::ed25519(dir, "ed")),
    ] {
        let issuer = format!("https://{name}.example.com");
        setup.add_idp(&[
            "--name",
            name,
            "--issuer",
            &issuer,
            "--certificate",
            key.certificate_path.to_str().unwrap(),
        ]);
        let claims = crate::harness::with(good_claims(), json!({ "iss": issuer }));
        setup.exchange(&key.assertion(&claims)).assert_token();
    }
    // PS256 with the RSA provider's key.
    let assertion = setup.idp.sign(&json!({"alg": "PS256"}), &good_claims());
    setup.exchange(&assertion).assert_token();
}
on_each_backend!(every_signature_algorithm_family_is_accepted);

fn refresh_tokens_only_for_clients_allowed_them(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let plain = setup
        .deployment
        .add_client("carbon.super", "no-refresh", GRANT, "read");
    let reply = setup.server.token(
        "/oauth2/token",
        &plain,
        &[
            ("grant_type", GRANT),
            ("assertion", &setup.idp.assertion(&good_claims())),
        ],
    );
    let token = reply.assert_token();
    assert!(token.get("refresh_token").is_none(), "{token}");
    assert_eq!(token["scope"], "read");
}
on_each_backend!(refresh_tokens_only_for_clients_allowed_them);

fn client_authentication_comes_first(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let assertion = setup.idp.assertion(&good_claims());
    let mut wrong = setup.client.clone();
    wrong.secret.push('x');
    setup
        .server
        .token(
            "/oauth2/token",
            &wrong,
            &[("grant_type", GRANT), ("assertion", &assertion)],
        )
        .assert_error(401, "invalid_client");
    let other = setup
        .deployment
        .add_client("carbon.super", "cc-only", "client_credentials", "");
    setup
        .server
        .token(
            "/oauth2/token",
            &other,
            &[("grant_type", GRANT), ("assertion", &assertion)],
        )
        .assert_error(400, "unauthorized_client");
    // Neither refusal used up the assertion.
    setup.exchange(&assertion).assert_token();
}
on_each_backend!(client_authentication_comes_first);

fn the_refresh_token_is_used_once_for_the_same_subject_and_scopes(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let first = setup
        .exchange_with(
            &setup.idp.assertion(&good_claims()),
            &[("scope", "read write")],
        )
        .assert_token()
        .clone();
    let refresh = first["refresh_token"].as_str().unwrap();
    let use_it = |token: &str, scope: Option<&str>| {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        setup.server.token("/oauth2/token", &setup.client, &form)
    };
    // More than was granted: refused, and the token is not used up by it.
    let description = use_it(refresh, Some("read admin")).assert_error(400, "invalid_scope");
    assert!(description.contains("admin"), "{description}");
    let second = use_it(refresh, Some("read")).assert_token().clone();
    assert_eq!(second["scope"], "read");
    assert_ne!(second["access_token"], first["access_token"]);
    // Rotated: the new one works.
    let third = use_it(second["refresh_token"].as_str().unwrap(), None);
    assert_eq!(third.assert_token()["scope"], "read");
    // For the same subject, with the original grant's claims.
    let view = |reply: &Value| {
        let token = reply["access_token"].as_str().unwrap();
        crate::harness::token_grant(&setup.deployment, token)
    };
    let (subject, claims) = view(&first);
    assert_eq!(subject.as_deref(), Some("alice"));
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(view(&second), (subject.clone(), claims.clone()));
    assert_eq!(view(&third.json), (subject, claims));
    // Another client cannot use it.
    let other = setup
        .deployment
        .add_client("carbon.super", "other", "refresh_token", "read");
    let stolen = third.json["refresh_token"].as_str().unwrap();
    setup
        .server
        .token(
            "/oauth2/token",
            &other,
            &[("grant_type", "refresh_token"), ("refresh_token", stolen)],
        )
        .assert_error(400, "invalid_grant");
    // The spent one presented again is refused, and takes its whole family down with it
    // (tests/e2e/refresh_families.rs has the rest).
    let description = use_it(refresh, None).assert_error(400, "invalid_grant");
    assert!(description.contains("already used"), "{description}");
    use_it(stolen, None).assert_error(400, "invalid_grant");
}
on_each_backend!(the_refresh_token_is_used_once_for_the_same_subject_and_scopes);
