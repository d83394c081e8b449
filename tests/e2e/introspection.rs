//! Introspection (RFC 7662) and revocation (RFC 7009), per tenant, client-authenticated, for
//! opaque and JWT access tokens and refresh tokens.

use base64::Engine;
use serde_json::json;

use crate::harness::{
    execute_on_database, good_claims, on_each_backend, stored_hash, Backend, Credentials,
    Deployment, JwtSetup, Server, GRANT,
};

fn introspect(server: &Server, path: &str, client: &Credentials, token: &str) -> serde_json::Value {
    let reply = server.token(path, client, &[("token", token)]);
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    reply.json
}

fn revoke(server: &Server, path: &str, client: &Credentials, token: &str) {
    let reply = server.token(path, client, &[("token", token)]);
    assert_eq!(reply.status, 200, "{:?}", reply.json);
}

fn tokens_are_active_until_revoked_and_only_within_their_tenant(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let deployment = &setup.deployment;
    let server = &setup.server;
    let jwt_client = deployment.add_client_with(
        "carbon.super",
        "jwt-app",
        &format!("{GRANT},refresh_token"),
        "read",
        &["--token-format", "jwt"],
    );
    let exchange = || {
        server
            .token(
                "/oauth2/token",
                &jwt_client,
                &[
                    ("grant_type", GRANT),
                    ("assertion", &setup.idp.assertion(&good_claims())),
                ],
            )
            .assert_token()
            .clone()
    };
    let first = exchange();
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();

    let active = introspect(server, "/oauth2/introspect", &setup.client, access);
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["sub"], "alice");
    assert_eq!(active["client_id"], jwt_client.id.as_str());
    assert_eq!(active["scope"], "read");
    assert_eq!(active["token_type"], "Bearer");
    // A refresh token is its own client's business only.
    assert_eq!(
        introspect(server, "/oauth2/introspect", &setup.client, refresh),
        json!({"active": false})
    );
    let refresh_view = introspect(server, "/oauth2/introspect", &jwt_client, refresh);
    assert_eq!(refresh_view["active"], true);
    assert!(refresh_view.get("token_type").is_none());
    assert_eq!(
        introspect(server, "/oauth2/introspect", &setup.client, "no-such-token"),
        json!({"active": false})
    );

    // Another tenant's client learns nothing about this tenant's tokens.
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let outsider = deployment.add_client("acme", "outsider", "client_credentials", "read");
    assert_eq!(
        introspect(server, "/t/acme/oauth2/introspect", &outsider, access),
        json!({"active": false})
    );
    // Without client authentication: 401.
    server
        .post_form("/oauth2/introspect", None, &[("token", access)])
        .assert_error(401, "invalid_client");
    server
        .token("/oauth2/introspect", &setup.client, &[])
        .assert_error(400, "invalid_request");

    // Revocation by another client is refused (RFC 7009 2.1) and changes nothing; by the
    // owner, the JWT is inactive.
    let refused = server.token("/oauth2/revoke", &setup.client, &[("token", access)]);
    assert!(refused
        .assert_error(400, "unauthorized_client")
        .contains("not issued to this client"));
    assert_eq!(
        introspect(server, "/oauth2/introspect", &setup.client, access)["active"],
        true
    );
    revoke(server, "/oauth2/revoke", &jwt_client, access);
    assert_eq!(
        introspect(server, "/oauth2/introspect", &setup.client, access),
        json!({"active": false})
    );
    // The refresh token was not revoked with its access token.
    assert_eq!(
        introspect(server, "/oauth2/introspect", &jwt_client, refresh)["active"],
        true
    );

    // Revoking a refresh token revokes its grant: the family's access tokens too.
    let second = exchange();
    let (access, refresh) = (
        second["access_token"].as_str().unwrap(),
        second["refresh_token"].as_str().unwrap(),
    );
    revoke(server, "/oauth2/revoke", &jwt_client, refresh);
    for token in [access, refresh] {
        assert_eq!(
            introspect(server, "/oauth2/introspect", &setup.client, token),
            json!({"active": false})
        );
    }
    server
        .token(
            "/oauth2/token",
            &jwt_client,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .assert_error(400, "invalid_grant");
    // Unknown tokens are revoked "successfully" (RFC 7009 2.2).
    revoke(server, "/oauth2/revoke", &jwt_client, "no-such-token");
}
on_each_backend!(tokens_are_active_until_revoked_and_only_within_their_tenant);

/// Gives the row of `token` a second token of the format before token ids (43 base64url
/// characters, found by its digest alone): a copy of the row, keyed as the migration keys the rows
/// it finds.
fn store_in_the_old_format(deployment: &Deployment, token: &str) -> String {
    let mut secret = [0u8; 32];
    openssl::rand::rand_bytes(&mut secret).unwrap();
    let old = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    // The token is its row's own, or the second of its row (`paired_*`).
    let statement = format!(
        "INSERT INTO tokens (token_id, token_hash, token_kind, tenant_domain, client_id, subject, \
         scope, issued_at, expires_at, revoked_at, family_id, claims) SELECT '{old}', '{old}', \
         CASE WHEN token_hash = '{new}' THEN token_kind ELSE paired_kind END, tenant_domain, \
         client_id, subject, scope, issued_at, \
         CASE WHEN token_hash = '{new}' THEN expires_at ELSE paired_expires_at END, \
         CASE WHEN token_hash = '{new}' THEN revoked_at ELSE paired_revoked_at END, \
         family_id, claims FROM tokens WHERE token_hash = '{new}' OR paired_hash = '{new}'",
        old = stored_hash(&old),
        new = stored_hash(token),
    );
    let copied = execute_on_database!(deployment, diesel::sql_query(statement));
    assert_eq!(copied, 1);
    old
}

fn tokens_issued_before_token_ids_still_work(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let server = &setup.server;
    let issued = setup.exchange(&setup.idp.assertion(&good_claims()));
    let issued = issued.assert_token();
    let (access, refresh) = (
        issued["access_token"].as_str().unwrap(),
        issued["refresh_token"].as_str().unwrap(),
    );
    // The current format: an id, then the secret.
    assert_eq!(access.len(), 32 + 1 + 43, "{access}");
    let old_access = store_in_the_old_format(&setup.deployment, access);
    let old_refresh = store_in_the_old_format(&setup.deployment, refresh);
    assert_eq!(old_access.len(), 43);

    let active = introspect(server, "/oauth2/introspect", &setup.client, &old_access);
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["sub"], "alice");
    assert_eq!(active["client_id"], setup.client.id.as_str());
    // A refresh token of the old format rotates into tokens of the new one, once.
    let rotated = server.token(
        "/oauth2/token",
        &setup.client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &old_refresh),
        ],
    );
    let rotated = rotated.assert_token();
    assert_eq!(
        rotated["refresh_token"].as_str().unwrap().len(),
        32 + 1 + 43
    );
    server
        .token(
            "/oauth2/token",
            &setup.client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &old_refresh),
            ],
        )
        .assert_error(400, "invalid_grant");
    // That second use was a reuse: the family is revoked, old and new tokens alike.
    for token in [
        old_access.as_str(),
        rotated["access_token"].as_str().unwrap(),
    ] {
        assert_eq!(
            introspect(server, "/oauth2/introspect", &setup.client, token),
            json!({"active": false})
        );
    }
    // Revocation finds an old access token too.
    let other = setup.exchange(&setup.idp.assertion(&good_claims()));
    let old_other = store_in_the_old_format(
        &setup.deployment,
        other.assert_token()["access_token"].as_str().unwrap(),
    );
    revoke(server, "/oauth2/revoke", &setup.client, &old_other);
    assert_eq!(
        introspect(server, "/oauth2/introspect", &setup.client, &old_other),
        json!({"active": false})
    );
}
on_each_backend!(tokens_issued_before_token_ids_still_work);
