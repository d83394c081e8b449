//! Refresh token families (RFC 9700 4.14.2), on both backends: a spent refresh token presented
//! again revokes the family, access tokens included; a family never outlives its absolute
//! lifetime; removing or disabling the identity provider of the original grant stops its
//! families. What a client cannot observe yet (revocation of access tokens, expiry dates) is read
//! from the database (`database_view.rs`) until introspection exists.

use serde_json::Value;

use crate::harness::{family_row, good_claims, on_each_backend, token_row, Backend, JwtSetup};

fn refresh(setup: &JwtSetup, token: &str) -> crate::harness::Reply {
    setup.server.token(
        "/oauth2/token",
        &setup.client,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
}

fn field(token: &Value, name: &str) -> String {
    token[name].as_str().unwrap().to_owned()
}

fn grant(setup: &JwtSetup) -> Value {
    setup
        .exchange(&setup.idp.assertion(&good_claims()))
        .assert_token()
        .clone()
}

fn a_spent_refresh_token_presented_again_revokes_its_whole_family(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let first = grant(&setup);
    let second = refresh(&setup, &field(&first, "refresh_token"))
        .assert_token()
        .clone();
    let unrelated = grant(&setup);

    let family = token_row(&setup.deployment, &field(&first, "access_token"))
        .2
        .unwrap();
    for token in [&first, &second] {
        for kind in ["access_token", "refresh_token"] {
            let (_, revoked, in_family) = token_row(&setup.deployment, &field(token, kind));
            assert_eq!(in_family.as_deref(), Some(family.as_str()), "{kind}");
            assert!(kind == "refresh_token" && token == &first || revoked.is_none());
        }
    }

    // The first refresh token again: reuse.
    let description =
        refresh(&setup, &field(&first, "refresh_token")).assert_error(400, "invalid_grant");
    assert!(description.contains("already used"), "{description}");
    // Its successor is revoked, and so is every access token of the family.
    refresh(&setup, &field(&second, "refresh_token")).assert_error(400, "invalid_grant");
    for token in [&first, &second] {
        let (_, revoked, _) = token_row(&setup.deployment, &field(token, "access_token"));
        assert!(revoked.is_some(), "access token of the family still active");
    }
    assert!(family_row(&setup.deployment, &family).1.is_some());
    let log = setup.server.log_containing("its family is revoked");
    assert!(log.contains("its family is revoked"), "{log}");

    // Another grant's family is untouched.
    let (_, revoked, _) = token_row(&setup.deployment, &field(&unrelated, "access_token"));
    assert!(revoked.is_none());
    refresh(&setup, &field(&unrelated, "refresh_token")).assert_token();
}
on_each_backend!(a_spent_refresh_token_presented_again_revokes_its_whole_family);

fn rotation_never_extends_the_familys_absolute_lifetime(backend: Backend) {
    let setup = JwtSetup::start_with(
        backend,
        "[oauth.token]\nrefresh_token_lifetime = 86400\nrefresh_token_family_lifetime = 600\n",
        &[],
    );
    let first = grant(&setup);
    let (expires, _, family) = token_row(&setup.deployment, &field(&first, "refresh_token"));
    let (family_expires, _) = family_row(&setup.deployment, &family.unwrap());
    // A day's refresh token, cut to the family's ten minutes...
    assert_eq!(expires, family_expires);
    // ...and so is each successor, however late it is issued.
    let mut token = field(&first, "refresh_token");
    for _ in 0..3 {
        let next = refresh(&setup, &token).assert_token().clone();
        token = field(&next, "refresh_token");
        let (expires, _, _) = token_row(&setup.deployment, &token);
        assert_eq!(expires, family_expires);
    }
}
on_each_backend!(rotation_never_extends_the_familys_absolute_lifetime);

fn disabling_or_removing_the_identity_provider_stops_its_families(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let before = grant(&setup);
    let disabled = setup
        .deployment
        .cli_ok(&["idp", "disable", "--name", "corp"]);
    assert!(
        disabled.contains("1 refresh token families revoked"),
        "{disabled}"
    );
    refresh(&setup, &field(&before, "refresh_token")).assert_error(400, "invalid_grant");
    let (_, revoked, _) = token_row(&setup.deployment, &field(&before, "access_token"));
    assert!(revoked.is_some());
    // Enabled again, new grants work; the revoked family stays revoked.
    setup
        .deployment
        .cli_ok(&["idp", "enable", "--name", "corp"]);
    let after = grant(&setup);
    refresh(&setup, &field(&before, "refresh_token")).assert_error(400, "invalid_grant");

    let removed = setup
        .deployment
        .cli_ok(&["idp", "remove", "--name", "corp"]);
    assert!(
        removed.contains("1 refresh token families revoked"),
        "{removed}"
    );
    refresh(&setup, &field(&after, "refresh_token")).assert_error(400, "invalid_grant");
}
on_each_backend!(disabling_or_removing_the_identity_provider_stops_its_families);
