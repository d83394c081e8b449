//! The tokens a client may present as the subject: this tenant's access tokens (JWT or opaque,
//! active only), its ID tokens (by the client they were issued to), a trusted identity
//! provider's ID tokens (once); never a refresh token; and a request missing one is malformed.

use serde_json::json;

use super::{Setup, ACCESS_TOKEN, API, ID_TOKEN, JWT, REFRESH_TOKEN, TOKEN_EXCHANGE};
use crate::harness::{access_token, eventually, on_each_backend, unverified_claims, Backend};

/// A provider's JWT presented again, as the host says it when the request commits.
pub const REPLAYED: &str = "the assertion has already been used (its jti was seen before)";
const INACTIVE: &str =
    "subject_token: not an active token of this server (unknown, expired or revoked)";

fn an_opaque_access_token_is_exchanged(backend: Backend) {
    let setup = Setup::start(backend);
    let opaque_app = setup.deployment.add_client_with(
        "carbon.super",
        "opaque-app",
        super::JWT_BEARER,
        "read,write",
        &["--token-format", "opaque"],
    );
    let subject = access_token(&setup.user_token_of(&opaque_app, json!({}), "read"));
    assert_ne!(subject.split('.').count(), 3, "not a JWT: {subject}");
    let actor = setup.client_token(&setup.actor);
    let answer = setup.delegate(&subject, &actor, &[]);
    let answer = answer.assert_token();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(answer["scope"], "read");
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["act"], json!({ "sub": setup.actor.id }));
    setup.assert_introspected(token, "alice", "read", &claims["exp"]);
}
on_each_backend!(an_opaque_access_token_is_exchanged);

fn an_external_id_token_is_exchanged_once(backend: Backend) {
    let setup = Setup::start(backend);
    let id_token = setup.assertion(json!({ "sub": "bob", "email": "bob@idp.example.com" }));
    let actor = setup.client_token(&setup.actor);
    let form = [
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
        ("scope", "read"),
    ];
    let answer = setup.exchange(&setup.exchanger, &form);
    let answer = answer.assert_token();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(answer["scope"], "read");
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["email"], "bob@idp.example.com");
    // It ends when the provider's ID token does (five minutes), not in the exchanger's hour.
    let id_token_exp = unverified_claims(&id_token)["exp"].as_i64().unwrap();
    assert!(claims["exp"].as_i64().unwrap() <= id_token_exp, "{claims}");
    assert!(answer["expires_in"].as_i64().unwrap() <= 300, "{answer}");
    assert_eq!(claims["act"], json!({ "sub": setup.actor.id }));
    setup.assert_introspected(token, "bob", "read", &claims["exp"]);
    // One use only (found when the second request commits, so in the host's words).
    let description = setup
        .exchange(&setup.exchanger, &form)
        .assert_error(400, "invalid_grant");
    assert_eq!(description, REPLAYED);
}
on_each_backend!(an_external_id_token_is_exchanged_once);

fn an_own_id_token_is_exchanged_by_its_client_only(backend: Backend) {
    let setup = Setup::start(backend);
    setup
        .deployment
        .add_user("carbon.super", "carol", "correct horse battery", &[]);
    let webapp = setup.deployment.add_client_with(
        "carbon.super",
        "webapp",
        &format!("password,{TOKEN_EXCHANGE}"),
        "openid,read",
        &["--token-format", "jwt", "--audience", API],
    );
    let signed_in = setup.server.token(
        "/oauth2/token",
        &webapp,
        &[
            ("grant_type", "password"),
            ("username", "carol"),
            ("password", "correct horse battery"),
            ("scope", "openid read"),
        ],
    );
    let signed_in = signed_in.assert_token();
    let id_token = signed_in["id_token"].as_str().unwrap();
    let carol = unverified_claims(signed_in["access_token"].as_str().unwrap())["sub"].clone();
    let actor = setup.client_token(&setup.actor);
    let mut form = vec![
        ("subject_token", id_token),
        ("subject_token_type", ID_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
        ("scope", "read"),
    ];
    // Not for tokens here: the user consented to scopes for the client, which the ID token does
    // not carry (its access token is the token to exchange).
    let description = setup
        .exchange(&webapp, &form)
        .assert_error(400, "invalid_request");
    assert!(
        description.starts_with("subject_token: an ID token of this server is exchanged only for a grant to another domain"),
        "{description}"
    );
    // For a grant to another domain.
    form.extend([("requested_token_type", JWT), ("audience", API)]);
    let answer = setup.exchange(&webapp, &form);
    let answer = answer.assert_issued("N_A");
    assert_eq!(answer["issued_token_type"], JWT);
    assert_eq!(answer["scope"], "read");
    let claims = unverified_claims(answer["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], carol);
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["act"]["sub"], setup.actor.id.as_str());
    // Another client may not exchange it.
    let description = setup
        .exchange(&setup.exchanger, &form)
        .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        "subject_token: an ID token is exchanged only by the client it was issued to"
    );
}
on_each_backend!(an_own_id_token_is_exchanged_by_its_client_only);

fn a_refresh_token_is_not_exchanged(backend: Backend) {
    let setup = Setup::start(backend);
    let tokens = setup.user_token_of(&setup.app, json!({}), "read");
    let refresh = tokens.assert_token()["refresh_token"].as_str().unwrap();
    let actor = setup.client_token(&setup.actor);
    let description = setup
        .exchange(
            &setup.exchanger,
            &[
                ("subject_token", refresh),
                ("subject_token_type", REFRESH_TOKEN),
                ("actor_token", &actor),
                ("actor_token_type", ACCESS_TOKEN),
            ],
        )
        .assert_error(400, "invalid_request");
    assert_eq!(
        description,
        format!(
            "subject_token: a refresh token is not exchanged (subject_token_type {REFRESH_TOKEN}): it stays with its client"
        )
    );
    // Nor one presented as an access token.
    let description = setup
        .delegate(refresh, &actor, &[])
        .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        "subject_token: a token of type refresh_token is presented where access_token is expected"
    );
}
on_each_backend!(a_refresh_token_is_not_exchanged);

fn revoked_expired_and_unknown_subject_tokens_are_refused(backend: Backend) {
    let setup = Setup::start(backend);
    let actor = setup.client_token(&setup.actor);
    // Revoked.
    let revoked = setup.user_token(json!({}));
    let reply = setup
        .server
        .token("/oauth2/revoke", &setup.app, &[("token", &revoked)]);
    assert_eq!(reply.status, 200, "{}", reply.json);
    let description = setup
        .delegate(&revoked, &actor, &[])
        .assert_error(400, "invalid_grant");
    assert_eq!(description, INACTIVE);
    // Expired: a client whose tokens live one second.
    let brief = setup.deployment.add_client_with(
        "carbon.super",
        "brief",
        super::JWT_BEARER,
        "read",
        &["--token-format", "jwt", "--access-token-lifetime", "1"],
    );
    let expired = access_token(&setup.user_token_of(&brief, json!({}), "read"));
    eventually(
        "the one-second token to expire",
        std::time::Duration::from_secs(30),
        || setup.introspect(&setup.exchanger, &expired)["active"] == false,
    );
    let description = setup
        .delegate(&expired, &actor, &[])
        .assert_error(400, "invalid_grant");
    assert_eq!(description, INACTIVE);
    // Garbage.
    let description = setup
        .delegate("not-a-token-at-all", &actor, &[])
        .assert_error(400, "invalid_grant");
    assert_eq!(description, INACTIVE);
    // A revoked actor token is refused as the actor's.
    let subject = setup.user_token(json!({}));
    let reply = setup
        .server
        .token("/oauth2/revoke", &setup.actor, &[("token", &actor)]);
    assert_eq!(reply.status, 200, "{}", reply.json);
    let description = setup
        .delegate(&subject, &actor, &[])
        .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        "actor_token: not an active token of this server (unknown, expired or revoked)"
    );
}
on_each_backend!(revoked_expired_and_unknown_subject_tokens_are_refused);

fn missing_parameters_are_invalid_requests(backend: Backend) {
    let setup = Setup::start(backend);
    let subject = setup.user_token(json!({}));
    let actor = setup.client_token(&setup.actor);
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("subject_token_type", ACCESS_TOKEN)],
            "missing parameter: subject_token",
        ),
        (
            &[("subject_token", &subject)],
            "missing parameter: subject_token_type",
        ),
        (
            &[
                ("subject_token", &subject),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token", &actor),
            ],
            "actor_token_type is required with actor_token",
        ),
        (
            &[
                ("subject_token", &subject),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token_type", ACCESS_TOKEN),
            ],
            "actor_token_type is given without actor_token",
        ),
    ];
    for (form, expected) in cases {
        let description = setup
            .exchange(&setup.exchanger, form)
            .assert_error(400, "invalid_request");
        assert_eq!(description, expected, "{form:?}");
    }
    // A token type not issued here.
    let description = setup
        .delegate(&subject, &actor, &[("requested_token_type", REFRESH_TOKEN)])
        .assert_error(400, "invalid_request");
    assert_eq!(
        description,
        format!(
            "requested_token_type '{REFRESH_TOKEN}' is not issued here; ask for {ACCESS_TOKEN}, {}, \
             urn:ietf:params:oauth:token-type:id-jag",
            super::JWT
        )
    );
    // One subject token only.
    let description = setup
        .delegate(&subject, &actor, &[("subject_token", "another")])
        .assert_error(400, "invalid_request");
    assert_eq!(
        description,
        "parameter 'subject_token' is repeated; each parameter may appear only once"
    );
    // Nothing was used up: the subject token still works.
    setup.delegate(&subject, &actor, &[]).assert_token();
}
on_each_backend!(missing_parameters_are_invalid_requests);

fn another_tenants_or_kinds_tokens_are_refused(backend: Backend) {
    let setup = Setup::start(backend);
    let actor = setup.client_token(&setup.actor);
    // Another tenant's access token is no token of this one.
    setup.deployment.cli_ok(&["tenant", "add", "acme"]);
    let machine = setup.deployment.add_client_with(
        "acme",
        "machine",
        "client_credentials",
        "read",
        &["--token-format", "jwt"],
    );
    let foreign = access_token(&setup.server.token(
        "/t/acme/oauth2/token",
        &machine,
        &[("grant_type", "client_credentials")],
    ));
    let description = setup
        .delegate(&foreign, &actor, &[])
        .assert_error(400, "invalid_grant");
    assert_eq!(description, INACTIVE);
    // An access token presented as an ID token is not one.
    let subject = setup.user_token(json!({}));
    let description = setup
        .exchange(
            &setup.exchanger,
            &[
                ("subject_token", &subject),
                ("subject_token_type", ID_TOKEN),
                ("actor_token", &actor),
                ("actor_token_type", ACCESS_TOKEN),
            ],
        )
        .assert_error(400, "invalid_grant");
    assert_eq!(
        description,
        "subject_token: a token of type access_token is presented where id_token is expected"
    );
    // An unknown token type.
    let description = setup
        .exchange(
            &setup.exchanger,
            &[
                ("subject_token", &subject),
                ("subject_token_type", "urn:example:saml"),
            ],
        )
        .assert_error(400, "invalid_request");
    assert_eq!(
        description,
        format!("subject_token: subject_token_type 'urn:example:saml' is not accepted; use {ACCESS_TOKEN}, {ID_TOKEN} or {}", super::JWT)
    );
}
on_each_backend!(another_tenants_or_kinds_tokens_are_refused);

fn a_clients_own_token_and_a_providers_jwt_are_subjects_too(backend: Backend) {
    let setup = Setup::start(backend);
    let actor = setup.client_token(&setup.actor);
    // A client's token for itself: its subject is the client.
    let service = setup.deployment.add_client_with(
        "carbon.super",
        "service",
        "client_credentials",
        "read",
        &["--token-format", "jwt"],
    );
    let own = setup.client_token(&service);
    let reply = setup.delegate(&own, &actor, &[]);
    let answer = reply.assert_token();
    assert_eq!(answer["scope"], "read");
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], service.id.as_str());
    assert_eq!(claims["act"], json!({ "sub": setup.actor.id }));
    setup.assert_introspected(token, &service.id, "read", &claims["exp"]);
    // A provider's JWT (not an ID token), with its may_act naming the exchanging client and
    // its issuer: impersonation.
    let jwt = setup.assertion(json!({
        "sub": "dave",
        "may_act": { "client_id": setup.exchanger.id },
    }));
    let reply = setup.exchange(
        &setup.exchanger,
        &[
            ("subject_token", &jwt),
            ("subject_token_type", super::JWT),
            ("scope", "write"),
        ],
    );
    let answer = reply.assert_token();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(answer["scope"], "write");
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["sub"], "dave");
    assert!(claims.get("act").is_none(), "{claims}");
    assert!(claims.get("may_act").is_none(), "{claims}");
    setup.assert_introspected(token, "dave", "write", &claims["exp"]);
}
on_each_backend!(a_clients_own_token_and_a_providers_jwt_are_subjects_too);
