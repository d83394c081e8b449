//! Rule 2: only asymmetric algorithms that match the provider's key; `none`, HMAC and unknown
//! `crit` refused; `jku`, `x5u`, `jwk` and `x5c` never trusted.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use crate::harness::{b64, good_claims, on_each_backend, sign_raw, Backend, IdpKey, JwtSetup};

fn none_and_hmac_are_refused_including_algorithm_confusion(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let claims = good_claims().to_string();

    // alg none with something in the signature part.
    let none = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"none"}"#),
        b64(claims.as_bytes()),
        b64(b"sig")
    );
    let description = setup.refused(&none);
    assert!(
        description.contains("alg 'none' is not accepted"),
        "{description}"
    );

    // Algorithm confusion: HS256 keyed with the provider's public key, which a verifier that
    // let the token choose the algorithm would accept.
    let confused = sign_raw(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &claims,
        Algorithm::HS256,
        &EncodingKey::from_secret(&setup.idp.public_pem),
    );
    let description = setup.refused(&confused);
    assert!(
        description.contains("alg 'HS256' (HMAC) is not accepted"),
        "{description}"
    );

    // An algorithm of another family than the provider's (RSA) key.
    let ec = IdpKey::ec_p256(setup.keys_dir.path(), "other-ec");
    let description = setup.refused(&ec.assertion(&good_claims()));
    assert!(
        description.contains("has no key for alg ES256"),
        "{description}"
    );

    // The provider's own algorithm passes.
    setup
        .exchange(&setup.idp.assertion(&good_claims()))
        .assert_token();
}
on_each_backend!(none_and_hmac_are_refused_including_algorithm_confusion);

fn critical_extensions_are_refused_and_embedded_keys_ignored(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let crit = setup.idp.sign(
        &json!({"alg": "RS256", "crit": ["exp-ext"], "exp-ext": 1}),
        &good_claims(),
    );
    let description = setup.refused(&crit);
    assert!(
        description.contains("critical") && description.contains("exp-ext"),
        "{description}"
    );

    // An attacker signs with their own key and points at it every way JOSE allows.
    let attacker = IdpKey::rsa(setup.keys_dir.path(), "attacker");
    let rsa = attacker.private.rsa().unwrap();
    let jwk = json!({
        "kty": "RSA",
        "n": b64(&rsa.n().to_vec()),
        "e": b64(&rsa.e().to_vec()),
    });
    let certificate = std::fs::read(&attacker.certificate_path).unwrap();
    let der = openssl::x509::X509::from_pem(&certificate)
        .unwrap()
        .to_der()
        .unwrap();
    let x5c = openssl::base64::encode_block(&der);
    let hostile = attacker.sign(
        &json!({
            "alg": "RS256",
            "jwk": jwk,
            "x5c": [x5c],
            "jku": "https://attacker.example/jwks.json",
            "x5u": "https://attacker.example/cert.pem",
        }),
        &good_claims(),
    );
    let description = setup.refused(&hostile);
    assert!(
        description.contains("does not verify with the keys of identity provider 'corp'"),
        "{description}"
    );
    // The same headers on a token the provider really signed change nothing.
    let honest = setup.idp.sign(
        &json!({"alg": "RS256", "jku": "https://attacker.example/jwks.json"}),
        &good_claims(),
    );
    setup.exchange(&honest).assert_token();
}
on_each_backend!(critical_extensions_are_refused_and_embedded_keys_ignored);
