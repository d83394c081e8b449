//! Delegation (RFC 8693 1.1, 4.1): with an actor token the issued token names the actor in `act`
//! (with its issuer when a trusted identity provider issued it), and a delegated token exchanged
//! again nests the first actor inside the second.

use serde_json::json;

use super::{Setup, ACCESS_TOKEN, ID_TOKEN, JWT};
use crate::harness::{on_each_backend, Backend, IDP_ISSUER};

fn an_actor_token_of_the_tenant_is_named_in_act(backend: Backend) {
    let setup = Setup::start(backend);
    let subject = setup.user_token(json!({}));
    let actor = setup.client_token(&setup.actor);
    let reply = setup.delegate(&subject, &actor, &[]);
    let answer = reply.assert_token();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(answer["scope"], "read write");
    assert!(answer.get("refresh_token").is_none(), "{answer}");
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], setup.exchanger.id.as_str());
    assert_eq!(claims["client_id"], setup.exchanger.id.as_str());
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["act"], json!({ "sub": setup.actor.id }));
    setup.assert_introspected(token, "alice", "read write", &claims["exp"]);
}
on_each_backend!(an_actor_token_of_the_tenant_is_named_in_act);

fn an_external_actor_is_named_with_its_issuer(backend: Backend) {
    let setup = Setup::start(backend);
    let subject = setup.user_token(json!({}));
    let actor = setup.assertion(json!({ "sub": "svc-robot" }));
    let reply = setup.exchange(
        &setup.exchanger,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", JWT),
        ],
    );
    let answer = reply.assert_token();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(
        claims["act"],
        json!({ "sub": "svc-robot", "iss": IDP_ISSUER })
    );
    setup.assert_introspected(token, "alice", "read write", &claims["exp"]);
    // The provider's JWT was used up as an actor token too.
    let again = setup.exchange(
        &setup.exchanger,
        &[
            ("subject_token", &setup.user_token(json!({}))),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", JWT),
        ],
    );
    let description = again.assert_error(400, "invalid_grant");
    assert_eq!(description, super::subject_tokens::REPLAYED);
}
on_each_backend!(an_external_actor_is_named_with_its_issuer);

fn a_delegated_token_exchanged_again_nests_the_first_actor(backend: Backend) {
    let setup = Setup::start(backend);
    let second = setup.deployment.add_client_with(
        "carbon.super",
        "second-actor",
        "client_credentials",
        "read",
        &["--token-format", "jwt"],
    );
    let subject = setup.user_token(json!({}));
    let first = setup
        .delegate(&subject, &setup.client_token(&setup.actor), &[])
        .assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = setup.delegate(&first, &setup.client_token(&second), &[]);
    let answer = reply.assert_token();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(
        claims["act"],
        json!({ "sub": second.id, "act": { "sub": setup.actor.id } })
    );
    setup.assert_introspected(token, "alice", "read write", &claims["exp"]);
}
on_each_backend!(a_delegated_token_exchanged_again_nests_the_first_actor);

fn an_opaque_delegated_token_keeps_its_actor_when_exchanged_again(backend: Backend) {
    let setup = Setup::start(backend);
    let opaque = setup.deployment.add_client_with(
        "carbon.super",
        "opaque-exchanger",
        super::TOKEN_EXCHANGE,
        "read,write",
        &["--token-format", "opaque"],
    );
    let subject = setup.user_token(json!({}));
    let first_actor = setup.client_token(&setup.actor);
    let first = setup.exchange(
        &opaque,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &first_actor),
            ("actor_token_type", ACCESS_TOKEN),
        ],
    );
    let first = first.assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first.split('.').count(), 3, "not a JWT: {first}");
    // The act of an opaque token is kept with it: a second exchange nests it.
    let external = setup.assertion(json!({ "sub": "svc-robot" }));
    let reply = setup.exchange(
        &setup.exchanger,
        &[
            ("subject_token", &first),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &external),
            ("actor_token_type", JWT),
        ],
    );
    let token = reply.assert_token()["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(
        claims["act"],
        json!({ "sub": "svc-robot", "iss": IDP_ISSUER, "act": { "sub": setup.actor.id } })
    );
}
on_each_backend!(an_opaque_delegated_token_keeps_its_actor_when_exchanged_again);

fn the_actor_tokens_life_caps_the_issued_token(backend: Backend) {
    let setup = Setup::start(backend);
    let brief_actor = setup.deployment.add_client_with(
        "carbon.super",
        "brief-actor",
        "client_credentials",
        "read",
        &["--token-format", "jwt", "--access-token-lifetime", "60"],
    );
    let actor = setup.client_token(&brief_actor);
    let actor_exp = crate::harness::unverified_claims(&actor)["exp"]
        .as_i64()
        .unwrap();
    let reply = setup.delegate(&setup.user_token(json!({})), &actor, &[]);
    let token = reply.assert_token()["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    let exp = claims["exp"].as_i64().unwrap();
    assert!(
        exp <= actor_exp,
        "exp {exp} > the actor token's {actor_exp}"
    );
    assert!(
        reply.json["expires_in"].as_i64().unwrap() <= 60,
        "{}",
        reply.json
    );
}
on_each_backend!(the_actor_tokens_life_caps_the_issued_token);

fn a_providers_subject_token_with_a_malformed_act_is_refused(backend: Backend) {
    // The client may impersonate too: a kept act is held to the same form as a nested one.
    let setup = Setup::start_with(
        backend,
        &format!("{}\nimpersonation = true\n", super::EXCHANGER_POLICY),
    );
    let actor = setup.client_token(&setup.actor);
    for (act, why) in [
        (
            json!({ "iss": IDP_ISSUER }),
            "an actor without a non-empty string sub",
        ),
        (
            json!({ "sub": "svc", "iss": 7 }),
            "an actor's iss is not a non-empty string",
        ),
        (
            json!({ "sub": "svc", "act": { "sub": "" } }),
            "an actor without a non-empty string sub",
        ),
    ] {
        let subject = setup.assertion(json!({ "sub": "erin", "act": act }));
        let form = [
            ("subject_token", subject.as_str()),
            ("subject_token_type", ID_TOKEN),
            ("actor_token", actor.as_str()),
            ("actor_token_type", ACCESS_TOKEN),
        ];
        for form in [&form[..], &form[..2]] {
            let description = setup
                .exchange(&setup.exchanger, form)
                .assert_error(400, "invalid_grant");
            assert_eq!(
                description,
                format!("subject_token: its act claim is malformed ({why})"),
                "{act}"
            );
        }
    }
    // A well-formed one is nested.
    let subject = setup.assertion(json!({ "sub": "erin", "act": { "sub": "gateway" } }));
    let reply = setup.exchange(
        &setup.exchanger,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ID_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN),
        ],
    );
    let token = reply.assert_token()["access_token"].as_str().unwrap();
    assert_eq!(
        setup.claims(token, &setup.exchanger.id)["act"],
        json!({ "sub": setup.actor.id, "act": { "sub": "gateway" } })
    );
}
on_each_backend!(a_providers_subject_token_with_a_malformed_act_is_refused);
