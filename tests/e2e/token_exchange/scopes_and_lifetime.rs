//! The issued token's scopes are never broader than the subject token's, and nothing issued
//! outlives it: not the access token, not a refresh token's family (issued only when the
//! registration says `issue_refresh_token = true` and the client may refresh).

use serde_json::json;

use super::{Setup, ACCESS_TOKEN, JWT_BEARER};
use crate::harness::{access_token, on_each_backend, unverified_claims, Backend};

fn scopes_only_narrow(backend: Backend) {
    let setup = Setup::start(backend);
    let actor = setup.client_token(&setup.actor);
    let subject = setup.user_token(json!({}));
    let description = setup
        .delegate(&subject, &actor, &[("scope", "read admin")])
        .assert_error(400, "invalid_scope");
    assert_eq!(
        description,
        "scope 'admin' is broader than the subject token's (read write)"
    );
    // A subset: exactly it.
    let answer = setup.delegate(&subject, &actor, &[("scope", "write")]);
    let answer = answer.assert_token();
    assert_eq!(answer["scope"], "write");
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    assert_eq!(claims["scope"], "write");
    setup.assert_introspected(token, "alice", "write", &claims["exp"]);
    // None: the subject token's.
    let answer = setup.delegate(&subject, &actor, &[]);
    let token = answer.assert_token()["access_token"].as_str().unwrap();
    assert_eq!(answer.json["scope"], "read write");
    assert_eq!(
        setup.claims(token, &setup.exchanger.id)["scope"],
        "read write"
    );
}
on_each_backend!(scopes_only_narrow);

fn the_issued_token_ends_with_the_subject_token(backend: Backend) {
    let setup = Setup::start(backend);
    let short = setup.deployment.add_client_with(
        "carbon.super",
        "short",
        JWT_BEARER,
        "read",
        &["--token-format", "jwt", "--access-token-lifetime", "60"],
    );
    let subject = access_token(&setup.user_token_of(&short, json!({}), "read"));
    let subject_exp = unverified_claims(&subject)["exp"].as_i64().unwrap();
    let actor = setup.client_token(&setup.actor);
    let answer = setup.delegate(&subject, &actor, &[]);
    let answer = answer.assert_token();
    let expires_in = answer["expires_in"].as_i64().unwrap();
    assert!(
        (1..=60).contains(&expires_in),
        "expires_in {expires_in} outlives the subject token's 60 s"
    );
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, &setup.exchanger.id);
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp <= subject_exp, "exp {exp} > subject's {subject_exp}");
    // (The exchanger's own lifetime, 3600 s, would have been far longer.)
    assert!(exp < claims["iat"].as_i64().unwrap() + 3600);
    setup.assert_introspected(token, "alice", "read", &claims["exp"]);
}
on_each_backend!(the_issued_token_ends_with_the_subject_token);

fn no_refresh_token_unless_configured(backend: Backend) {
    let setup = Setup::start(backend);
    let subject = setup.user_token(json!({}));
    let actor = setup.client_token(&setup.actor);
    let answer = setup.delegate(&subject, &actor, &[]);
    assert!(
        answer.assert_token().get("refresh_token").is_none(),
        "{}",
        answer.json
    );
}
on_each_backend!(no_refresh_token_unless_configured);

fn a_configured_refresh_token_never_outlives_the_subject_token(backend: Backend) {
    let setup = Setup::start_with(backend, "issue_refresh_token = true\n");
    let short = setup.deployment.add_client_with(
        "carbon.super",
        "short",
        JWT_BEARER,
        "read",
        &["--token-format", "jwt", "--access-token-lifetime", "60"],
    );
    let subject = access_token(&setup.user_token_of(&short, json!({}), "read"));
    let subject_exp = unverified_claims(&subject)["exp"].as_i64().unwrap();
    let actor = setup.client_token(&setup.actor);
    let answer = setup.delegate(&subject, &actor, &[]);
    let answer = answer.assert_token().clone();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    let refresh = answer["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token: {answer}"));
    let family_end = setup.introspect(&setup.exchanger, refresh)["exp"]
        .as_i64()
        .unwrap();
    assert!(
        family_end <= subject_exp,
        "refresh token until {family_end}, subject token until {subject_exp}"
    );
    // Refreshed, the new access token ends with the subject token too and keeps its act.
    let refreshed = setup.server.token(
        "/oauth2/token",
        &setup.exchanger,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    );
    let token = access_token(&refreshed);
    let claims = setup.claims(&token, &setup.exchanger.id);
    assert!(claims["exp"].as_i64().unwrap() <= subject_exp, "{claims}");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["act"], json!({ "sub": setup.actor.id }));
    // A client not allowed refresh tokens gets none.
    let no_refresh = setup.deployment.add_client_with(
        "carbon.super",
        "no-refresh",
        super::TOKEN_EXCHANGE,
        "read",
        &["--token-format", "jwt"],
    );
    let subject = access_token(&setup.user_token_of(&short, json!({}), "read"));
    let answer = setup.exchange(
        &no_refresh,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN),
        ],
    );
    assert!(
        answer.assert_token().get("refresh_token").is_none(),
        "{}",
        answer.json
    );
}
on_each_backend!(a_configured_refresh_token_never_outlives_the_subject_token);
