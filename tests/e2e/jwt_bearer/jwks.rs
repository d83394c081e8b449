//! Identity providers publishing their keys at a JWKS endpoint (a local server started by each
//! test): selection by kid, rotation without restart, bounded refetches for unknown kids, and an
//! endpoint that is slow, down, oversized or broken. No test waits for time to pass: intervals are
//! set to zero (refetch on every use) or to an hour (never within a test), and the cache's timing
//! (freshness, refresh interval, `max_stale`) is tested with a manual clock in
//! `platform/src/keys/remote_jwks.rs`.

use std::time::Duration;

use serde_json::json;

use crate::harness::{good_claims, on_each_backend, with, Backend, IdpKey, JwksServer, JwtSetup};

const ISSUER: &str = "https://jwks-idp.example";

/// Every use refetches: a change at the endpoint is seen by the next request.
const REFETCH_ALWAYS: &str = "[oauth.jwks_endpoint]\nread_timeout = 500\nconnect_timeout = 500\n\
    min_refresh_interval = 0\ncache_lifetime = 0\nmax_stale = 3600\n";

/// Nothing refetches within a test once a key set is cached.
const REFETCH_HOURLY: &str = "[oauth.jwks_endpoint]\nread_timeout = 500\nconnect_timeout = 500\n\
    min_refresh_interval = 3600\ncache_lifetime = 3600\nmax_stale = 86400\n";

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

fn keys_are_selected_by_kid_and_rotation_is_followed(backend: Backend) {
    let setup = JwtSetup::start_with(backend, REFETCH_ALWAYS, &[]);
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
    setup
        .exchange(&new.assertion_with_kid("k-new", &claims()))
        .assert_token();

    // Then drops the old one: once the cached set expires, the old key is gone.
    server.serve_keys(&[new.jwk("k-new")]);
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
on_each_backend!(keys_are_selected_by_kid_and_rotation_is_followed);

fn a_flood_of_forged_kids_costs_no_fetch_within_the_refresh_interval(backend: Backend) {
    let setup = JwtSetup::start_with(backend, REFETCH_HOURLY, &[]);
    let key = IdpKey::rsa(setup.keys_dir.path(), "k");
    let server = JwksServer::start(&[key.jwk("k1")]);
    add_jwks_idp(&setup, &server);
    setup
        .exchange(&key.assertion_with_kid("k1", &claims()))
        .assert_token();
    assert_eq!(server.hits(), 1);
    for i in 0..40 {
        let description = setup.refused(&key.assertion_with_kid(&format!("forged-{i}"), &claims()));
        assert!(
            description.contains("has no key with kid 'forged-"),
            "{description}"
        );
    }
    // The key set was fetched within the interval: no forged kid refetches it.
    assert_eq!(server.hits(), 1);
}
on_each_backend!(a_flood_of_forged_kids_costs_no_fetch_within_the_refresh_interval);

on_each_backend!(
    while_the_endpoint_fails_the_last_good_keys_serve_and_the_client_gets_a_short_reason
);
fn while_the_endpoint_fails_the_last_good_keys_serve_and_the_client_gets_a_short_reason(
    backend: Backend,
) {
    let setup = JwtSetup::start_with(backend, REFETCH_ALWAYS, &[]);
    let key = IdpKey::rsa(setup.keys_dir.path(), "k");
    let server = JwksServer::start(&[key.jwk("k1")]);
    add_jwks_idp(&setup, &server);
    setup
        .exchange(&key.assertion_with_kid("k1", &claims()))
        .assert_token();

    // Down (HTTP 500): refetched on use, failing, and the last good set (within max_stale) serves.
    server.set(|b| b.status = 500);
    setup
        .exchange(&key.assertion_with_kid("k1", &claims()))
        .assert_token();
    assert_eq!(server.hits(), 2);
    let log = setup.server.log_containing("HTTP status 500");
    assert!(
        log.contains("HTTP status 500") && log.contains(&server.url),
        "{log}"
    );

    // A provider whose endpoint never answered has no keys: a 503 with a short reason; the
    // endpoint and the cause go to the log only.
    let down = JwksServer::start(&[]);
    down.set(|b| b.status = 500);
    let issuer = "https://down.example";
    setup.add_idp(&[
        "--name",
        "down",
        "--issuer",
        issuer,
        "--jwks-uri",
        &down.url,
    ]);
    let description = setup
        .exchange(&key.assertion_with_kid("k1", &with(good_claims(), json!({ "iss": issuer }))))
        .assert_error(503, "temporarily_unavailable");
    assert!(
        description.contains("could not be fetched"),
        "{description}"
    );
    assert!(
        !description.contains("HTTP status 500") && !description.contains(&down.url),
        "{description}"
    );
}

fn slow_oversized_and_malformed_key_sets_are_refused_within_the_timeout(backend: Backend) {
    let setup = JwtSetup::start_with(backend, REFETCH_ALWAYS, &[]);
    let key = IdpKey::rsa(setup.keys_dir.path(), "k");
    type Breakage = Box<dyn Fn(&mut crate::harness::Behaviour)>;
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
        // A request waits for one fetch at most, and the fetch for its timeouts at most (the
        // endpoint's 5 s delay is cut at 500 ms): the reply comes, and says so.
        let description = setup
            .exchange(&key.assertion_with_kid("k1", &with(good_claims(), json!({ "iss": issuer }))))
            .assert_error(503, "temporarily_unavailable");
        assert!(
            !description.contains(cause) && !description.contains(&server.url),
            "{cause}: {description}"
        );
        let log = setup.server.log_containing(cause);
        assert!(log.contains(cause), "{cause}: {log}");
    }
}
on_each_backend!(slow_oversized_and_malformed_key_sets_are_refused_within_the_timeout);
