//! Rules 7 and 8: one use per jti (also when requests race, also across nodes sharing the
//! database), and scopes limited by the client and the identity provider.

use serde_json::json;

use crate::harness::{good_claims, on_each_backend, with, Backend, IdpKey, JwtSetup, GRANT};

fn an_assertion_with_a_jti_is_accepted_once(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let assertion = setup.idp.assertion(&good_claims());
    setup.exchange(&assertion).assert_token();
    let description = setup.refused(&assertion);
    assert_eq!(
        description,
        "the assertion has already been used (its jti was seen before)"
    );

    // The same jti from another issuer is another assertion.
    let jti = good_claims()["jti"].clone();
    let other = IdpKey::rsa(setup.keys_dir.path(), "other");
    setup.add_idp(&[
        "--name",
        "other",
        "--issuer",
        "https://other.example",
        "--certificate",
        other.certificate_path.to_str().unwrap(),
    ]);
    setup
        .exchange(
            &setup
                .idp
                .assertion(&with(good_claims(), json!({"jti": jti}))),
        )
        .assert_token();
    let claims = with(
        good_claims(),
        json!({"jti": jti, "iss": "https://other.example"}),
    );
    setup.exchange(&other.assertion(&claims)).assert_token();

    // Without a jti, the assertion itself is remembered: accepted once (issue 12, item 1).
    let no_jti = setup
        .idp
        .assertion(&with(good_claims(), json!({"jti": null})));
    setup.exchange(&no_jti).assert_token();
    let description = setup.refused(&no_jti);
    assert_eq!(
        description,
        "the assertion has already been used (one without jti is accepted once)"
    );
    // Another assertion without jti (another iat) is another assertion.
    let other = setup.idp.assertion(&with(
        good_claims(),
        json!({"jti": null, "iat": crate::harness::now() - 1}),
    ));
    setup.exchange(&other).assert_token();
}
on_each_backend!(an_assertion_with_a_jti_is_accepted_once);

fn racing_replays_have_exactly_one_winner(backend: Backend) {
    let setup = JwtSetup::start(backend);
    for round in 0..3 {
        let assertion = setup.idp.assertion(&good_claims());
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| s.spawn(|| setup.exchange(&assertion)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().status)
                .collect()
        });
        let won = statuses.iter().filter(|s| **s == 200).count();
        let refused = statuses.iter().filter(|s| **s == 400).count();
        assert_eq!(
            (won, refused),
            (1, 15),
            "round {round} on {backend:?}: {statuses:?}"
        );
    }
}
on_each_backend!(racing_replays_have_exactly_one_winner);

fn a_replay_is_refused_by_another_node_sharing_the_database(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let second_node = setup.deployment.start();
    let assertion = setup.idp.assertion(&good_claims());
    setup.exchange(&assertion).assert_token();
    let reply = second_node.token(
        "/oauth2/token",
        &setup.client,
        &[("grant_type", GRANT), ("assertion", &assertion)],
    );
    let description = reply.assert_error(400, "invalid_grant");
    assert!(description.contains("already been used"), "{description}");
}
on_each_backend!(a_replay_is_refused_by_another_node_sharing_the_database);

fn require_jti_refuses_assertions_without_one(backend: Backend) {
    let setup = JwtSetup::start_with(backend, "[oauth.grant_type.jwt]\nrequire_jti = true\n", &[]);
    let no_jti = setup
        .idp
        .assertion(&with(good_claims(), json!({"jti": null})));
    let description = setup.refused(&no_jti);
    assert!(description.contains("has no jti claim"), "{description}");
    setup
        .exchange(&setup.idp.assertion(&good_claims()))
        .assert_token();
}
on_each_backend!(require_jti_refuses_assertions_without_one);

fn scopes_are_limited_by_client_and_provider(backend: Backend) {
    let setup = JwtSetup::start_with(
        backend,
        "",
        &["--allowed-scope", "read", "--allowed-scope", "write"],
    );
    let exchange = |scope: Option<&str>| {
        let assertion = setup.idp.assertion(&good_claims());
        match scope {
            Some(scope) => setup.exchange_with(&assertion, &[("scope", scope)]),
            None => setup.exchange(&assertion),
        }
    };
    // Client: read write admin; provider: read write.
    assert_eq!(exchange(None).assert_token()["scope"], "read write");
    assert_eq!(exchange(Some("read admin")).assert_token()["scope"], "read");
    let description = exchange(Some("admin")).assert_error(400, "invalid_scope");
    assert!(description.contains("admin"), "{description}");
    let description = exchange(Some("delete")).assert_error(400, "invalid_scope");
    assert!(description.contains("delete"), "{description}");

    // A refusal for scope does not use up the assertion.
    let assertion = setup.idp.assertion(&good_claims());
    setup
        .exchange_with(&assertion, &[("scope", "admin")])
        .assert_error(400, "invalid_scope");
    setup
        .exchange_with(&assertion, &[("scope", "write")])
        .assert_token();
}
on_each_backend!(scopes_are_limited_by_client_and_provider);
