//! Rules 3 and 4: the issuer is an enabled identity provider of the request's tenant, and the
//! signature verifies with its keys (by kid when it names one, else each certificate in turn).

use serde_json::json;

use crate::harness::{good_claims, on_each_backend, with, Backend, IdpKey, JwtSetup, GRANT};

fn the_issuer_must_be_a_trusted_enabled_provider_of_the_tenant(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let no_iss = setup
        .idp
        .assertion(&with(good_claims(), json!({"iss": null})));
    assert_eq!(setup.refused(&no_iss), "the assertion has no iss claim");

    let unknown = setup.idp.assertion(&with(
        good_claims(),
        json!({"iss": "https://nobody.example"}),
    ));
    assert_eq!(
        setup.refused(&unknown),
        "No registered identity provider found for the JWT with issuer name : https://nobody.example"
    );

    // A provider of another tenant is not trusted here, and this tenant's is not trusted there.
    setup.deployment.cli_ok(&["tenant", "add", "acme"]);
    let other = IdpKey::rsa(setup.keys_dir.path(), "acme-idp");
    setup.add_idp(&[
        "--tenant",
        "acme",
        "--name",
        "acme-idp",
        "--issuer",
        "https://acme-idp.example",
        "--certificate",
        other.certificate_path.to_str().unwrap(),
    ]);
    let acme_claims = with(good_claims(), json!({"iss": "https://acme-idp.example"}));
    let description = setup.refused(&other.assertion(&acme_claims));
    assert!(
        description.starts_with("No registered identity provider found"),
        "{description}"
    );
    let acme_client = setup
        .deployment
        .add_client("acme", "acme-app", GRANT, "read");
    let acme_claims = with(
        acme_claims,
        json!({"aud": "http://localhost:9443/t/acme/oauth2/token"}),
    );
    setup
        .server
        .token(
            "/t/acme/oauth2/token",
            &acme_client,
            &[
                ("grant_type", GRANT),
                ("assertion", &other.assertion(&acme_claims)),
            ],
        )
        .assert_token();
    let corp_in_acme = setup.server.token(
        "/t/acme/oauth2/token",
        &acme_client,
        &[
            ("grant_type", GRANT),
            ("assertion", &setup.idp.assertion(&good_claims())),
        ],
    );
    let description = corp_in_acme.assert_error(400, "invalid_grant");
    assert!(
        description.starts_with("No registered identity provider found"),
        "{description}"
    );

    // A disabled provider.
    let off = IdpKey::rsa(setup.keys_dir.path(), "off");
    setup.add_idp(&[
        "--name",
        "off",
        "--issuer",
        "https://off.example",
        "--disabled",
        "--certificate",
        off.certificate_path.to_str().unwrap(),
    ]);
    let description =
        setup.refused(&off.assertion(&with(good_claims(), json!({"iss": "https://off.example"}))));
    assert!(
        description.contains("'off'") && description.contains("is disabled"),
        "{description}"
    );
}
on_each_backend!(the_issuer_must_be_a_trusted_enabled_provider_of_the_tenant);

fn the_signature_must_verify_with_the_providers_keys(backend: Backend) {
    let setup = JwtSetup::start(backend);

    // Signed by a key the provider does not have.
    let stranger = IdpKey::rsa(setup.keys_dir.path(), "stranger");
    let description = setup.refused(&stranger.assertion(&good_claims()));
    assert_eq!(
        description,
        "the assertion's signature (RS256) does not verify with the keys of identity provider 'corp'"
    );

    // A payload changed after signing.
    let good = setup.idp.assertion(&good_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims = with(good_claims(), json!({"sub": "admin"}));
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        crate::harness::b64(forged_claims.to_string().as_bytes()),
        parts[2]
    );
    assert!(setup.refused(&forged).contains("does not verify"));

    // kid naming the certificate selects it; an unknown kid still tries each certificate.
    let by_kid = setup.idp.sign(
        &json!({"alg": "RS256", "kid": setup.idp.thumbprint}),
        &good_claims(),
    );
    setup.exchange(&by_kid).assert_token();
    let other_kid = setup
        .idp
        .sign(&json!({"alg": "RS256", "kid": "rotated-1"}), &good_claims());
    setup.exchange(&other_kid).assert_token();
}
on_each_backend!(the_signature_must_verify_with_the_providers_keys);

fn each_certificate_of_a_provider_is_tried(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let dir = setup.keys_dir.path();
    let (old, new) = (IdpKey::rsa(dir, "old"), IdpKey::rsa(dir, "new"));
    setup.add_idp(&[
        "--name",
        "rotating",
        "--issuer",
        "https://rotating.example",
        "--certificate",
        old.certificate_path.to_str().unwrap(),
        "--certificate",
        new.certificate_path.to_str().unwrap(),
    ]);
    let claims = || with(good_claims(), json!({"iss": "https://rotating.example"}));
    setup.exchange(&old.assertion(&claims())).assert_token();
    setup.exchange(&new.assertion(&claims())).assert_token();
    // A kid naming the old certificate does not let the new key's signature through it.
    let mismatched = new.sign(&json!({"alg": "RS256", "kid": old.thumbprint}), &claims());
    assert!(setup.refused(&mismatched).contains("does not verify"));
    assert!(setup
        .refused(&setup.idp.assertion(&claims()))
        .contains("'rotating'"));
}
on_each_backend!(each_certificate_of_a_provider_is_tried);

fn a_certificate_past_its_not_after_verifies_nothing_and_says_so(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let dir = setup.keys_dir.path();
    let (expired, current) = (
        IdpKey::rsa_expired(dir, "expired"),
        IdpKey::rsa(dir, "current"),
    );
    let out = setup.deployment.cli(&[
        "idp",
        "add",
        "--name",
        "lapsed",
        "--issuer",
        "https://lapsed.example",
        "--certificate",
        expired.certificate_path.to_str().unwrap(),
        "--certificate",
        current.certificate_path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("expired.crt: warning: EXPIRED on")
            && stderr.contains("current.crt: expires"),
        "{stderr}"
    );
    let shown = setup
        .deployment
        .cli_ok(&["idp", "show", "--name", "lapsed"]);
    assert!(
        shown.contains("certificate: EXPIRED on") && shown.contains("certificate: expires"),
        "{shown}"
    );

    let claims = || with(good_claims(), json!({"iss": "https://lapsed.example"}));
    setup.exchange(&current.assertion(&claims())).assert_token();
    // A valid signature by the expired certificate's key is refused, naming the certificate.
    let description = setup.refused(&expired.assertion(&claims()));
    assert!(
        description.contains("does not verify with the keys of identity provider 'lapsed'")
            && description.contains(&format!(
                "not used, being past their validity: certificate {} expired on",
                expired.thumbprint
            )),
        "{description}"
    );
    // Also when the header names it.
    let by_kid = expired.sign(
        &json!({"alg": "RS256", "kid": expired.thumbprint}),
        &claims(),
    );
    assert!(setup.refused(&by_kid).contains("past their validity"));
}
on_each_backend!(a_certificate_past_its_not_after_verifies_nothing_and_says_so);
