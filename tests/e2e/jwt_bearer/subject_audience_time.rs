//! Rules 5 and 6: subject, audience, and the assertion's time window; the sample assertion of
//! reference 001 (WSO2's documentation) is refused as expired.

use serde_json::json;

use crate::harness::{good_claims, now, on_each_backend, with, Backend, IdpKey, JwtSetup};

/// The sample request body's assertion from reference 001 (issuer `jwtIDP`, expired in 2016).
const REFERENCE_001_ASSERTION: &str = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE0NTgxNjY5ODUsInN1YiI6ImFkbWluIiwibmJmIjoxNDU4MTA2OTg1LCJhdWQiOlsiaHR0cHM6XC9cL2xvY2FsaG9zdDo5NDQzXC9vYXV0aDJcL3Rva2VuIiwid3NvMi1JUyJdLCJpc3MiOiJqd3RJRFAiLCJqdGkiOiJUb2tlbjU2NzU2IiwiaWF0IjoxNDU4MTA2OTg1fQ.ZcxdoTVEsWoil80ne42QzmsfelMWyjRZJEjUK1c2vMZJjjtrZnsWExyCA5tN6iXYFAXC_7rkFuuNSgOlBi51MNLPZw3WcgGI52j6apGEW92V2tib9zRRWOeLQLAdo8ae8KzLp7kuKZ2XunfQ2WYU9TvvLDm_vp5ruuYz3ZZrJOc";

fn subject_required_and_limited_by_the_provider(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let no_sub = setup
        .idp
        .assertion(&with(good_claims(), json!({"sub": null})));
    assert_eq!(setup.refused(&no_sub), "the assertion has no sub claim");

    let limited = IdpKey::rsa(setup.keys_dir.path(), "limited");
    setup.add_idp(&[
        "--name",
        "limited",
        "--issuer",
        "https://limited.example",
        "--certificate",
        limited.certificate_path.to_str().unwrap(),
        "--allowed-subject",
        "svc-reporting",
    ]);
    let claims = |sub: &str| {
        with(
            good_claims(),
            json!({"iss": "https://limited.example", "sub": sub}),
        )
    };
    let description = setup.refused(&limited.assertion(&claims("alice")));
    assert!(
        description.contains("subject 'alice' is not allowed"),
        "{description}"
    );
    setup
        .exchange(&limited.assertion(&claims("svc-reporting")))
        .assert_token();
}
on_each_backend!(subject_required_and_limited_by_the_provider);

fn the_audience_must_name_this_server(backend: Backend) {
    let setup = JwtSetup::start_with(backend, "", &["--alias", "https://gateway.example/token"]);
    let assertion = |aud: serde_json::Value| {
        setup
            .idp
            .assertion(&with(good_claims(), json!({ "aud": aud })))
    };

    assert_eq!(
        setup.refused(&assertion(json!(null))),
        "the assertion has no aud claim"
    );
    let description = setup.refused(&assertion(json!(["https://elsewhere.example/token"])));
    assert!(
        description.starts_with("None of the audience values matched the token"),
        "{description}"
    );
    for expected in [
        "http://localhost:9443/oauth2/token",
        "http://localhost:9443/t/carbon.super/oauth2/token",
        "https://gateway.example/token",
    ] {
        assert!(description.contains(expected), "{description}");
        setup
            .exchange(&assertion(json!(["https://elsewhere.example", expected])))
            .assert_token();
    }
}
on_each_backend!(the_audience_must_name_this_server);

fn the_time_window_is_enforced_with_the_providers_skew(backend: Backend) {
    let setup = JwtSetup::start_with(backend, "", &["--clock-skew", "60"]);
    let now = now();
    let refused = |changes: serde_json::Value| {
        setup.refused(&setup.idp.assertion(&with(good_claims(), changes)))
    };
    let accepted = |changes: serde_json::Value| {
        setup
            .exchange(&setup.idp.assertion(&with(good_claims(), changes)))
            .assert_token();
    };

    assert_eq!(
        refused(json!({"exp": null})),
        "the assertion has no exp claim"
    );
    let description = refused(json!({"iat": now - 200, "exp": now - 120}));
    assert!(
        description.contains("the assertion expired at"),
        "{description}"
    );
    accepted(json!({"iat": now - 200, "exp": now - 30})); // within the skew

    let description = refused(json!({"nbf": now + 180}));
    assert!(description.contains("not valid before"), "{description}");
    accepted(json!({"nbf": now + 30}));

    let description = refused(json!({"iat": now + 180}));
    assert!(description.contains("in the future"), "{description}");

    // Older than iat_validity_period (30 minutes by default).
    let description = refused(json!({"iat": now - 31 * 60 - 61}));
    assert!(description.contains("iat_validity_period"), "{description}");
    accepted(json!({"iat": now - 20 * 60}));

    // Longer than max_assertion_lifetime (24 hours by default), with and without iat.
    let description = refused(json!({"exp": now + 25 * 3600}));
    assert!(description.contains("(exp - iat)"), "{description}");
    let description = refused(json!({"iat": null, "exp": now + 25 * 3600}));
    assert!(description.contains("(exp - now)"), "{description}");
}
on_each_backend!(the_time_window_is_enforced_with_the_providers_skew);

fn iat_validation_and_lifetime_follow_the_configuration(backend: Backend) {
    let setup = JwtSetup::start_with(
        backend,
        "[oauth.grant_type.jwt]\nenable_iat_validation = false\nmax_assertion_lifetime = 180\n",
        &[],
    );
    let now = now();
    // Issued two hours ago: accepted with iat validation off.
    let old = setup.idp.assertion(&with(
        good_claims(),
        json!({"iat": now - 2 * 3600, "exp": now + 60}),
    ));
    setup.exchange(&old).assert_token();
    let long = setup
        .idp
        .assertion(&with(good_claims(), json!({"exp": now + 4 * 3600})));
    let description = setup.refused(&long);
    assert!(description.contains("at most 180 minutes"), "{description}");
}
on_each_backend!(iat_validation_and_lifetime_follow_the_configuration);

fn the_reference_sample_assertion_is_refused_as_expired(backend: Backend) {
    let setup = JwtSetup::start(backend);
    // Unknown issuer first, as in a fresh deployment.
    assert_eq!(
        setup.refused(REFERENCE_001_ASSERTION),
        "No registered identity provider found for the JWT with issuer name : jwtIDP"
    );
    // With an identity provider named after its issuer (as reference 001 sets one up), it is
    // refused for what it is: expired since 2016.
    let certificate = setup.idp.certificate_path.to_str().unwrap().to_owned();
    setup.add_idp(&[
        "--name",
        "jwtIDP",
        "--issuer",
        "jwtIDP",
        "--certificate",
        &certificate,
    ]);
    let description = setup.refused(REFERENCE_001_ASSERTION);
    assert!(
        description.starts_with("the assertion expired at 1458166985 (Unix time)"),
        "{description}"
    );
}
on_each_backend!(the_reference_sample_assertion_is_refused_as_expired);
