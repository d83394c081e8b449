//! Identity providers publishing their keys at a JWKS endpoint (a local server started by each
//! test): selection by kid, rotation without restart, bounded refetches for unknown kids, and an
//! endpoint that is slow, down, oversized or broken.

use std::time::{Duration, Instant};

use serde_json::json;

use super::fixture::{good_claims, with, IdpKey, JwtSetup};
use super::jwks_server::JwksServer;
use crate::harness::{backends, Backend};

const ISSUER: &str = "https://jwks-idp.example";

/// Short intervals so rotation can be watched within a test.
const FAST_JWKS: &str = "[oauth.jwks_endpoint]\nread_timeout = 500\nconnect_timeout = 500\n\
    min_refresh_interval = 1\ncache_lifetime = 2\nmax_stale = 6\n";

fn claims() -> serde_json::Value {
    with(good_claims(), json!({ "iss": ISSUER }))
}

fn add_jwks_idp(setup: &JwtSetup, server: &JwksServer) {
    setup.add_idp(&[
        "--name",
        "published",
        "--issuer",
        ISSUER,
        "--jwks-uri",
        &server.url,
    ]);
}

#[test]
fn keys_are_selected_by_kid_and_rotation_is_followed() {
    for backend in backends() {
        let setup = JwtSetup::start_with(backend, FAST_JWKS, &[]);
        let dir = setup.keys_dir.path();
        let (old, new) = (IdpKey::rsa(dir, "old"), IdpKey::rsa(dir, "new"));
        let server = JwksServer::start(&[old.jwk("k-old")]);
        add_jwks_idp(&setup, &server);

        setup
            .exchange(&old.assertion_with_kid("k-old", &claims()))
            .assert_token();
        // Without kid: every key that fits the algorithm is tried.
        setup.exchange(&old.assertion(&claims())).assert_token();

        // The provider adds a key: an assertion naming it triggers a refetch, no restart.
        server.serve_keys(&[old.jwk("k-old"), new.jwk("k-new")]);
        std::thread::sleep(Duration::from_millis(1100));
        setup
            .exchange(&new.assertion_with_kid("k-new", &claims()))
            .assert_token();

        // Then drops the old one: once the cached set expires, the old key is gone.
        server.serve_keys(&[new.jwk("k-new")]);
        std::thread::sleep(Duration::from_millis(2100));
        let description = setup.refused(&old.assertion_with_kid("k-old", &claims()));
        assert_eq!(
            description,
            "identity provider 'published' has no key with kid 'k-old'"
        );
        setup
            .exchange(&new.assertion_with_kid("k-new", &claims()))
            .assert_token();

        // A key under the right kid but the wrong signer is still refused.
        let forged = old.assertion_with_kid("k-new", &claims());
        assert!(setup.refused(&forged).contains("does not verify"));
    }
}

#[test]
fn a_flood_of_forged_kids_costs_at_most_one_fetch_per_interval() {
    let setup = JwtSetup::start_with(Backend::Sqlite, FAST_JWKS, &[]);
    let key = IdpKey::rsa(setup.keys_dir.path(), "k");
    let server = JwksServer::start(&[key.jwk("k1")]);
    add_jwks_idp(&setup, &server);
    setup
        .exchange(&key.assertion_with_kid("k1", &claims()))
        .assert_token();
    let before = server.hits();
    let started = Instant::now();
    for i in 0..40 {
        let description = setup.refused(&key.assertion_with_kid(&format!("forged-{i}"), &claims()));
        assert!(
            description.contains("has no key with kid 'forged-"),
            "{description}"
        );
    }
    let elapsed = started.elapsed().as_secs();
    let fetches = server.hits() - before;
    // One per started interval of a second, at most.
    assert!(
        fetches <= elapsed + 1,
        "{fetches} fetches in {elapsed} s for 40 forged kids"
    );
}

#[test]
fn a_failing_endpoint_gets_a_clear_answer_quickly_and_the_last_good_keys_serve_meanwhile() {
    let setup = JwtSetup::start_with(Backend::Sqlite, FAST_JWKS, &[]);
    let key = IdpKey::rsa(setup.keys_dir.path(), "k");
    let server = JwksServer::start(&[key.jwk("k1")]);
    add_jwks_idp(&setup, &server);
    setup
        .exchange(&key.assertion_with_kid("k1", &claims()))
        .assert_token();

    // Down (HTTP 500) after the cache lifetime: the last good set is used while fresh enough.
    server.set(|b| b.status = 500);
    std::thread::sleep(Duration::from_millis(2100));
    setup
        .exchange(&key.assertion_with_kid("k1", &claims()))
        .assert_token();
    // Past max_stale: no keys, a 503 with a short reason; the endpoint and the cause go to the
    // log only.
    std::thread::sleep(Duration::from_millis(4500));
    let description = setup
        .exchange(&key.assertion_with_kid("k1", &claims()))
        .assert_error(503, "temporarily_unavailable");
    assert!(
        description.contains("could not be fetched"),
        "{description}"
    );
    assert!(
        !description.contains("HTTP status 500") && !description.contains(&server.url),
        "{description}"
    );
    let log = setup.server.log_containing("HTTP status 500");
    assert!(
        log.contains("HTTP status 500") && log.contains(&server.url),
        "{log}"
    );
}

#[test]
fn slow_oversized_and_malformed_key_sets_are_refused_within_the_timeout() {
    let setup = JwtSetup::start_with(Backend::Sqlite, FAST_JWKS, &[]);
    let key = IdpKey::rsa(setup.keys_dir.path(), "k");
    type Breakage = Box<dyn Fn(&mut super::jwks_server::Behaviour)>;
    let cases: [(&str, Breakage); 3] = [
        ("timed out", Box::new(|b| b.delay = Duration::from_secs(5))),
        (
            "larger than 51200 bytes",
            Box::new(|b| {
                b.body = json!({ "keys": [], "pad": "x".repeat(60_000) })
                    .to_string()
                    .into_bytes()
            }),
        ),
        (
            "not JSON",
            Box::new(|b| b.body = b"<html>oops</html>".to_vec()),
        ),
    ];
    for (i, (cause, behaviour)) in cases.into_iter().enumerate() {
        let server = JwksServer::start(&[key.jwk("k1")]);
        server.set(behaviour);
        let issuer = format!("https://broken-{i}.example");
        setup.add_idp(&[
            "--name",
            &format!("broken-{i}"),
            "--issuer",
            &issuer,
            "--jwks-uri",
            &server.url,
        ]);
        let started = Instant::now();
        let description = setup
            .exchange(&key.assertion_with_kid("k1", &with(good_claims(), json!({ "iss": issuer }))))
            .assert_error(503, "temporarily_unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            !description.contains(cause) && !description.contains(&server.url),
            "{cause}: {description}"
        );
        let log = setup.server.log_containing(cause);
        assert!(log.contains(cause), "{cause}: {log}");
    }
}
