//! Where the issued token may be used (`audience`, `resource`; RFC 8693 2.1, RFC 8707): only
//! narrowed to targets the client may address (its registered audiences, its policy's), each
//! then in the JWT's `aud`; anything else is `invalid_target` and uses up no subject token.

use serde_json::json;

use super::{Setup, ACCESS_TOKEN, API, EXCHANGER_POLICY, ID_TOKEN};
use crate::harness::{on_each_backend, Backend};

const POLICY_API: &str = "https://policy.example.com/";

fn narrowed_to_a_registered_audience_without_a_refresh_token(backend: Backend) {
    // Even where exchanged tokens may be refreshed, a narrowed one is not.
    let setup = Setup::start_with(backend, "issue_refresh_token = true\n");
    let subject = setup.user_token(json!({}));
    let actor = setup.client_token(&setup.actor);
    let reply = setup.delegate(&subject, &actor, &[("audience", API)]);
    let answer = reply.assert_token();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    assert!(answer.get("refresh_token").is_none(), "{answer}");
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, API);
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], setup.exchanger.id.as_str());
    setup.assert_introspected(token, "alice", "read write", &claims["exp"]);
}
on_each_backend!(narrowed_to_a_registered_audience_without_a_refresh_token);

fn two_targets_make_an_audience_array(backend: Backend) {
    let setup = Setup::start_with(
        backend,
        &format!("{EXCHANGER_POLICY}\naudiences = [\"{POLICY_API}\"]\n"),
    );
    let subject = setup.user_token(json!({}));
    let actor = setup.client_token(&setup.actor);
    let reply = setup.delegate(
        &subject,
        &actor,
        &[("audience", API), ("resource", POLICY_API)],
    );
    let token = reply.assert_token()["access_token"].as_str().unwrap();
    let claims = setup.claims(token, POLICY_API);
    assert_eq!(claims["aud"], json!([API, POLICY_API]));
    // Two audience parameters, too.
    let subject = setup.user_token(json!({}));
    let reply = setup.delegate(
        &subject,
        &actor,
        &[("audience", POLICY_API), ("audience", API)],
    );
    let token = reply.assert_token()["access_token"].as_str().unwrap();
    assert_eq!(setup.claims(token, API)["aud"], json!([POLICY_API, API]));
}
on_each_backend!(two_targets_make_an_audience_array);

fn a_policy_audience_may_be_addressed(backend: Backend) {
    let setup = Setup::start_with(
        backend,
        &format!("{EXCHANGER_POLICY}\naudiences = [\"{POLICY_API}\"]\n"),
    );
    let subject = setup.user_token(json!({}));
    let actor = setup.client_token(&setup.actor);
    let reply = setup.delegate(&subject, &actor, &[("resource", POLICY_API)]);
    let token = reply.assert_token()["access_token"].as_str().unwrap();
    assert_eq!(setup.claims(token, POLICY_API)["aud"], POLICY_API);
    // Without the policy the same target is refused.
    let plain = Setup::start(backend);
    let subject = plain.user_token(json!({}));
    let actor = plain.client_token(&plain.actor);
    let description = plain
        .delegate(&subject, &actor, &[("resource", POLICY_API)])
        .assert_error(400, "invalid_target");
    assert_eq!(
        description,
        format!(
            "client '{}' may not address '{POLICY_API}'",
            plain.exchanger.id
        )
    );
}
on_each_backend!(a_policy_audience_may_be_addressed);

fn a_target_the_client_may_not_address_is_refused_before_the_token_is_used(backend: Backend) {
    let setup = Setup::start(backend);
    let id_token = setup.assertion(json!({ "sub": "bob" }));
    let actor = setup.client_token(&setup.actor);
    let form = |target: &'static str| {
        vec![
            ("subject_token", id_token.clone()),
            ("subject_token_type", ID_TOKEN.to_owned()),
            ("actor_token", actor.clone()),
            ("actor_token_type", ACCESS_TOKEN.to_owned()),
            ("audience", target.to_owned()),
        ]
    };
    let send = |form: Vec<(&str, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        setup.exchange(&setup.exchanger, &form)
    };
    let description =
        send(form("https://elsewhere.example.com/")).assert_error(400, "invalid_target");
    assert_eq!(
        description,
        format!(
            "client '{}' may not address 'https://elsewhere.example.com/'",
            setup.exchanger.id
        )
    );
    // The provider's ID token was not used up by the refusal.
    let reply = send(form(API));
    let token = reply.assert_token()["access_token"].as_str().unwrap();
    let claims = setup.claims(token, API);
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["aud"], API);
}
on_each_backend!(a_target_the_client_may_not_address_is_refused_before_the_token_is_used);

fn a_resource_that_is_not_an_absolute_uri_is_refused(backend: Backend) {
    let setup = Setup::start(backend);
    let subject = setup.user_token(json!({}));
    let actor = setup.client_token(&setup.actor);
    for (resource, expected) in [
        (
            "api.example.com",
            "resource 'api.example.com' is not an absolute URI without a fragment (RFC 8707 2)",
        ),
        (
            "https://api.example.com/#part",
            "resource 'https://api.example.com/#part' is not an absolute URI without a fragment (RFC 8707 2)",
        ),
    ] {
        let description = setup
            .delegate(&subject, &actor, &[("resource", resource)])
            .assert_error(400, "invalid_target");
        assert_eq!(description, expected);
    }
}
on_each_backend!(a_resource_that_is_not_an_absolute_uri_is_refused);
