//! Reference 000 inside one Grantor: tenant `idp.example` signs a user in with the password grant
//! and returns an ID token; tenant `apis.example` trusts `idp.example` as an identity provider by
//! its JWKS URL, and exchanges that ID token with the JWT bearer grant for a JWT access token that
//! a gateway verifies alone. Also the reference's audience error, when the identity server's client
//! does not name the API server as an audience.

use crate::harness::{
    on_each_backend, unverified_claims, verified, Backend, Reference000, API_ISSUER,
};

fn an_id_token_from_one_tenant_is_exchanged_at_another_for_a_jwt_access_token(backend: Backend) {
    let reference = Reference000::start(backend);
    let id_token = reference.id_token(&reference.webapp);
    let exchanged = reference.exchange(&id_token, Some("orders"));
    let body = exchanged.assert_token();
    assert_eq!(body["scope"], "orders");
    let access_token = body["access_token"].as_str().unwrap();
    // What a gateway checks, with nothing but the API tenant's JWKS.
    let claims = verified(
        &reference.server,
        "/t/apis.example/oauth2/jwks",
        access_token,
        "at+jwt",
        &reference.apiapp.id,
    );
    assert_eq!(claims["iss"], API_ISSUER);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], reference.apiapp.id.as_str());
    assert_eq!(claims["scope"], "orders");
    assert_eq!(claims["email"], "alice@idp.example");
    // The identity provider's claim mapping reached the token.
    assert_eq!(claims["roles"], serde_json::json!(["sales"]));
    assert!(claims.get("groups").is_none());
    // The user's claims came along; those that describe the ID token (its client, when alice
    // signed in there) did not.
    let id_claims = unverified_claims(&id_token);
    for claim in ["azp", "auth_time"] {
        assert!(id_claims.get(claim).is_some(), "{claim}: {id_claims}");
        assert!(claims.get(claim).is_none(), "{claim}: {claims}");
    }

    // The same ID token again: one-time, like every assertion.
    let replayed = reference
        .exchange(&id_token, None)
        .assert_error(400, "invalid_grant");
    assert!(replayed.contains("already been used"), "{replayed}");

    // The reference's audience error: an ID token that names only its own client.
    let careless_token = reference.id_token(&reference.careless);
    let description = reference
        .exchange(&careless_token, None)
        .assert_error(400, "invalid_grant");
    assert!(
        description.starts_with("None of the audience values matched the token endpoint")
            && description.contains(&reference.careless.id),
        "{description}"
    );
}
on_each_backend!(an_id_token_from_one_tenant_is_exchanged_at_another_for_a_jwt_access_token);
