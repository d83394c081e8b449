//! Impersonation (RFC 8693 1.1, 4.4): a token for the subject with no `act`, only when the
//! subject token's `may_act` names the client or the client's policy allows it; and `may_act`
//! limits who may act in a delegation.

use serde_json::json;

use super::{Setup, ACCESS_TOKEN, EXCHANGER_POLICY};
use crate::harness::{on_each_backend, Backend};

fn without_may_act_or_policy_impersonation_is_refused(backend: Backend) {
    let setup = Setup::start(backend);
    let subject = setup.user_token(json!({}));
    let description = setup
        .exchange(
            &setup.exchanger,
            &[
                ("subject_token", &subject),
                ("subject_token_type", ACCESS_TOKEN),
            ],
        )
        .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        format!(
            "impersonation is not allowed: the subject token's may_act does not name client '{}' \
             and no policy lets it impersonate; give an actor_token for delegation",
            setup.exchanger.id
        )
    );
    // A may_act naming another client does not do either.
    let elsewhere = setup.user_token(json!({ "may_act": { "client_id": setup.actor.id } }));
    setup
        .exchange(
            &setup.exchanger,
            &[
                ("subject_token", &elsewhere),
                ("subject_token_type", ACCESS_TOKEN),
            ],
        )
        .assert_error(400, "invalid_grant");
}
on_each_backend!(without_may_act_or_policy_impersonation_is_refused);

fn may_act_naming_the_client_allows_impersonation(backend: Backend) {
    let setup = Setup::start(backend);
    // The provider's may_act passes into alice's token.
    let subject = setup.user_token(json!({ "may_act": { "client_id": setup.exchanger.id } }));
    assert_eq!(
        setup.claims(&subject, &setup.app.id)["may_act"],
        json!({ "client_id": setup.exchanger.id })
    );
    let reply = setup.exchange(
        &setup.exchanger,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS_TOKEN),
        ],
    );
    let answer = reply.assert_token();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], "alice");
    assert!(claims.get("act").is_none(), "{claims}");
    // may_act described the subject token; it does not pass on.
    assert!(claims.get("may_act").is_none(), "{claims}");
    setup.assert_introspected(token, "alice", "read write", &claims["exp"]);
}
on_each_backend!(may_act_naming_the_client_allows_impersonation);

fn a_client_policy_allows_impersonation_for_that_client_only(backend: Backend) {
    let setup = Setup::start_with(
        backend,
        &format!("{EXCHANGER_POLICY}\nimpersonation = true\n"),
    );
    let subject = setup.user_token(json!({}));
    let form = [
        ("subject_token", subject.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
    ];
    let answer = setup.exchange(&setup.exchanger, &form);
    let token = answer.assert_token()["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], "alice");
    assert!(claims.get("act").is_none(), "{claims}");
    setup.assert_introspected(token, "alice", "read write", &claims["exp"]);
    // Another client of the tenant has no such policy.
    let other = setup.deployment.add_client_with(
        "carbon.super",
        "other",
        super::TOKEN_EXCHANGE,
        "read,write",
        &["--token-format", "jwt"],
    );
    let description = setup
        .exchange(&other, &form)
        .assert_error(400, "invalid_grant");
    assert!(
        description.starts_with("impersonation is not allowed"),
        "{description}"
    );
}
on_each_backend!(a_client_policy_allows_impersonation_for_that_client_only);

fn may_act_limits_who_acts(backend: Backend) {
    let setup = Setup::start(backend);
    let actor = setup.client_token(&setup.actor);
    let restricted = setup.user_token(json!({ "may_act": { "sub": "someone-else" } }));
    let description = setup
        .delegate(&restricted, &actor, &[])
        .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        "the subject token's may_act does not name the actor"
    );
    // Named, the actor acts.
    let named = setup.user_token(json!({ "may_act": { "sub": setup.actor.id } }));
    let answer = setup.delegate(&named, &actor, &[]);
    let token = answer.assert_token()["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["act"], json!({ "sub": setup.actor.id }));
}
on_each_backend!(may_act_limits_who_acts);

fn a_may_act_that_is_not_an_object_is_refused(backend: Backend) {
    let setup = Setup::start(backend);
    let actor = setup.client_token(&setup.actor);
    for may_act in [json!(setup.actor.id), json!([{ "sub": setup.actor.id }])] {
        // It restricts nothing it can be read as: refused, never taken for no restriction.
        let subject = setup.user_token(json!({ "may_act": may_act }));
        let description = setup
            .delegate(&subject, &actor, &[])
            .assert_error(400, "invalid_grant");
        assert_eq!(
            description, "subject_token: its may_act claim is not a JSON object (RFC 8693 4.4)",
            "{may_act}"
        );
    }
}
on_each_backend!(a_may_act_that_is_not_an_object_is_refused);
