//! Rule 1: exactly one assertion, bounded, a compact JWS; JWE and unsigned tokens refused.

use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::harness::{b64, good_claims, on_each_backend, sign_raw, Backend, JwtSetup, GRANT};

fn the_assertion_must_be_one_bounded_compact_jws(backend: Backend) {
    let setup = JwtSetup::start_with(
        backend,
        "[oauth.grant_type.jwt]\nmax_assertion_bytes = 2048\n",
        &[],
    );
    let good = setup.idp.assertion(&good_claims());
    let client = &setup.client;

    // Missing and repeated: RFC 6749 5.2 invalid_request.
    let missing = setup
        .server
        .token("/oauth2/token", client, &[("grant_type", GRANT)])
        .assert_error(400, "invalid_request");
    assert!(missing.contains("assertion"), "{missing}");
    let repeated = setup
        .server
        .token(
            "/oauth2/token",
            client,
            &[
                ("grant_type", GRANT),
                ("assertion", &good),
                ("assertion", &good),
            ],
        )
        .assert_error(400, "invalid_request");
    assert!(repeated.contains("assertion"), "{repeated}");

    // Size bound, before anything is decoded.
    let padded = crate::harness::with(good_claims(), json!({ "pad": "x".repeat(2048) }));
    let big = setup.idp.assertion(&padded);
    let description = setup.refused(&big);
    assert!(description.contains("at most 2048"), "{description}");

    // Not three parts; five parts is a JWE.
    assert!(setup
        .refused("abc.def")
        .contains("expected three base64url parts"));
    let jwe = format!("{}.a.b.c.d", b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#));
    assert!(setup.refused(&jwe).contains("encrypted JWT (JWE)"));

    // Unsigned (RFC 7519 6): alg none and an empty signature.
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(good_claims().to_string().as_bytes())
    );
    let description = setup.refused(&unsigned);
    assert!(description.contains("unsigned"), "{description}");

    // Not base64url, not JSON, duplicated claims, nesting too deep.
    let parts: Vec<&str> = good.split('.').collect();
    let not_b64 = format!("{}.{}*.{}", parts[0], parts[1], parts[2]);
    assert!(setup
        .refused(&not_b64)
        .contains("claim set is not base64url"));
    let key = setup.idp.encoding_key();
    let not_json = sign_raw(r#"{"alg":"RS256"}"#, "not json", Algorithm::RS256, &key);
    assert!(setup
        .refused(&not_json)
        .contains("claim set is not a valid JSON object"));
    let claims = good_claims().to_string();
    let duplicated = claims.replacen(
        "\"sub\":\"alice\"",
        "\"sub\":\"alice\",\"sub\":\"admin\"",
        1,
    );
    assert_ne!(claims, duplicated);
    let smuggled = sign_raw(r#"{"alg":"RS256"}"#, &duplicated, Algorithm::RS256, &key);
    let description = setup.refused(&smuggled);
    assert!(
        description.contains("duplicate member name 'sub'"),
        "{description}"
    );
    let deep = claims.replacen(
        '{',
        &format!("{{\"deep\":{}1{},", "[".repeat(40), "]".repeat(40)),
        1,
    );
    let nested = sign_raw(r#"{"alg":"RS256"}"#, &deep, Algorithm::RS256, &key);
    assert!(setup.refused(&nested).contains("nested too deeply"));

    // The well-formed one passes.
    setup.exchange(&good).assert_token();
}
on_each_backend!(the_assertion_must_be_one_bounded_compact_jws);
