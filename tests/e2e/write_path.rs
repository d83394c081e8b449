//! What speed work could break: a response is sent only after its writes are durable (a token
//! returned, or an assertion accepted, survives a SIGKILL of the server right after); one refresh
//! token races to one success; a configuration change reaches every node within its refresh
//! interval; past `max_in_flight` a request is told to retry instead of waiting forever.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::Value;

use crate::harness::{
    client_credentials_status, eventually, good_claims, on_each_backend, postgres_requested,
    query_database, registration, replay_key_digest, replay_keys, stored_hash, tokens, Backend,
    Credentials, Deployment, JwtSetup, Server, GRANT, IDP_ISSUER,
};

/// Runs a count query on the deployment's database directly (no server involved).
macro_rules! count_in_database {
    ($deployment:expr, $query:expr) => {{
        let count: i64 = query_database!($deployment, $query);
        count as usize
    }};
}

/// How many of these tokens the database holds.
fn stored_token_count(deployment: &Deployment, tokens_issued: &[String]) -> usize {
    let hashes: Vec<String> = tokens_issued.iter().map(|t| stored_hash(t)).collect();
    // A grant's two tokens share a row: each counts where it is.
    let first = count_in_database!(
        deployment,
        tokens::table
            .filter(tokens::token_hash.eq_any(&hashes))
            .count()
    );
    let second = count_in_database!(
        deployment,
        tokens::table
            .filter(tokens::paired_hash.eq_any(&hashes))
            .count()
    );
    first + second
}

/// How many of these assertions' replay keys (the identity provider's, in the default tenant)
/// the database holds.
fn stored_replay_key_count(deployment: &Deployment, jtis: &[String]) -> usize {
    let digests: Vec<Vec<u8>> = jtis
        .iter()
        .map(|jti| replay_key_digest("carbon.super", IDP_ISSUER, jti))
        .collect();
    count_in_database!(
        deployment,
        replay_keys::table
            .filter(replay_keys::digest.eq_any(&digests))
            .count()
    )
}

fn tokens_and_accepted_assertions_survive_a_sigkill_right_after_the_responses(backend: Backend) {
    let setup = JwtSetup::start(backend);
    // Concurrent requests, so responses come out of shared commits.
    let issued: Vec<(String, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..8)
                        .map(|_| {
                            let assertion = setup.idp.assertion(&good_claims());
                            let reply = setup.exchange(&assertion);
                            (assertion, reply.assert_token().clone())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let JwtSetup {
        deployment,
        server,
        client,
        ..
    } = setup;
    server.kill();

    let mut returned = Vec::new();
    for (_, token) in &issued {
        returned.push(token["access_token"].as_str().unwrap().to_owned());
        returned.push(token["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        stored_token_count(&deployment, &returned),
        returned.len(),
        "{backend:?}: a token the server returned is missing after SIGKILL"
    );
    let restarted = deployment.start();
    for (assertion, _) in &issued {
        let reply = restarted.token(
            "/oauth2/token",
            &client,
            &[("grant_type", GRANT), ("assertion", assertion)],
        );
        let description = reply.assert_error(400, "invalid_grant");
        assert!(
            description.contains("already been used"),
            "{backend:?}: {description}"
        );
    }
    // And the refresh tokens work after the restart.
    let refresh = issued[0].1["refresh_token"].as_str().unwrap();
    restarted
        .token(
            "/oauth2/token",
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .assert_token();
}
on_each_backend!(tokens_and_accepted_assertions_survive_a_sigkill_right_after_the_responses);

fn racing_uses_of_one_refresh_token_have_exactly_one_winner(backend: Backend) {
    let setup = JwtSetup::start(backend);
    for round in 0..3 {
        let reply = setup.exchange(&setup.idp.assertion(&good_claims()));
        let refresh = reply.assert_token()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let replies: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..12)
                .map(|_| {
                    s.spawn(|| {
                        setup.server.token(
                            "/oauth2/token",
                            &setup.client,
                            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
        assert_eq!(won.len(), 1, "round {round} on {backend:?}: {replies:?}");
        for lost in replies.iter().filter(|r| r.status != 200) {
            lost.assert_error(400, "invalid_grant");
        }
        // The losers presented a spent token: that is reuse, so the family is revoked and
        // the winner's successor no longer works either (RFC 9700 4.14.2).
        let next = won[0].json["refresh_token"].as_str().unwrap();
        setup
            .server
            .token(
                "/oauth2/token",
                &setup.client,
                &[("grant_type", "refresh_token"), ("refresh_token", next)],
            )
            .assert_error(400, "invalid_grant");
    }
}
on_each_backend!(racing_uses_of_one_refresh_token_have_exactly_one_winner);

fn expired_tokens_and_replay_keys_are_purged(backend: Backend) {
    // No clock skew, so a replay key is kept exactly until its assertion's exp.
    let setup = JwtSetup::start_with(backend, "", &["--clock-skew", "0"]);
    let short = setup.deployment.cli_ok(&[
        "client",
        "add",
        "--name",
        "short",
        "--grant-types",
        &format!("{GRANT},refresh_token"),
        "--access-token-lifetime",
        "1",
        "--refresh-token-lifetime",
        "1",
        "--json",
    ]);
    let short: Value = serde_json::from_str(&short).unwrap();
    let short = Credentials {
        id: short["client_id"].as_str().unwrap().to_owned(),
        secret: short["client_secret"].as_str().unwrap().to_owned(),
    };
    let mut issued = Vec::new();
    let mut jtis = Vec::new();
    for n in 0..3 {
        let jti = format!("purge-{n}-{}", crate::harness::now());
        let claims = crate::harness::with(
            good_claims(),
            serde_json::json!({"jti": jti, "exp": crate::harness::now() + 2}),
        );
        let reply = setup.server.token(
            "/oauth2/token",
            &short,
            &[
                ("grant_type", GRANT),
                ("assertion", &setup.idp.assertion(&claims)),
            ],
        );
        let token = reply.assert_token();
        issued.push(token["access_token"].as_str().unwrap().to_owned());
        issued.push(token["refresh_token"].as_str().unwrap().to_owned());
        jtis.push(jti);
    }
    assert_eq!(stored_token_count(&setup.deployment, &issued), 6);
    assert_eq!(stored_replay_key_count(&setup.deployment, &jtis), 3);
    // A node that purges every second (the first keeps the default interval).
    let _purger = setup
        .deployment
        .start_with_env(&[("GRANTOR_DATABASE__PURGE_INTERVAL_SECONDS", "1")]);
    eventually(
        "expired tokens and replay keys are purged",
        Duration::from_secs(5),
        || {
            stored_token_count(&setup.deployment, &issued) == 0
                && stored_replay_key_count(&setup.deployment, &jtis) == 0
        },
    );
    // What has not expired stays.
    let kept = setup.exchange(&setup.idp.assertion(&good_claims()));
    let kept = kept.assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stored_token_count(&setup.deployment, &[kept]), 1);
}
on_each_backend!(expired_tokens_and_replay_keys_are_purged);

fn a_removed_client_or_identity_provider_stops_working_on_every_node(backend: Backend) {
    let bound = Duration::from_millis(crate::harness::CACHE_REFRESH_MS);
    let setup = JwtSetup::start(backend);
    // PostgreSQL serves several nodes; SQLite one process (a second one on the same file
    // follows the same counter).
    let nodes: Vec<Server> = match backend {
        Backend::Postgres => vec![setup.deployment.start(), setup.deployment.start()],
        Backend::Sqlite => vec![setup.deployment.start()],
    };
    let billing =
        setup
            .deployment
            .add_client("carbon.super", "billing", "client_credentials", "read");
    // Every node has both cached.
    for node in &nodes {
        assert_eq!(client_credentials_status(node, &billing), 200);
        node.token(
            "/oauth2/token",
            &setup.client,
            &[
                ("grant_type", GRANT),
                ("assertion", &setup.idp.assertion(&good_claims())),
            ],
        )
        .assert_token();
    }

    let removed = setup
        .deployment
        .cli_without_waiting(&["client", "remove", "--name", "billing"]);
    assert!(removed.status.success());
    for node in &nodes {
        eventually("the removed client is refused", bound, || {
            client_credentials_status(node, &billing) == 401
        });
    }

    let removed = setup
        .deployment
        .cli_without_waiting(&["idp", "remove", "--name", "corp"]);
    assert!(removed.status.success());
    for node in &nodes {
        eventually("the removed identity provider is refused", bound, || {
            let reply = node.token(
                "/oauth2/token",
                &setup.client,
                &[
                    ("grant_type", GRANT),
                    ("assertion", &setup.idp.assertion(&good_claims())),
                ],
            );
            reply.status == 400
                && reply.json["error_description"]
                    .as_str()
                    .is_some_and(|d| d.contains(IDP_ISSUER))
        });
    }
}
on_each_backend!(a_removed_client_or_identity_provider_stops_working_on_every_node);

#[test]
fn past_max_in_flight_a_request_is_told_to_retry() {
    let slow = "urn:grantor:test:slow";
    let deployment = Deployment::with_extra_config(
        Backend::Sqlite,
        &registration(slow, "grant_test", "mode = \"slow\"\ndelay_ms = 1500"),
    );
    deployment.drop_plugin("grant_test");
    let client = deployment.add_client("carbon.super", "app", slow, "");
    let server = deployment.start_with_env(&[
        ("GRANTOR_SERVER__MAX_IN_FLIGHT", "1"),
        ("GRANTOR_SERVER__OVERLOAD_WAIT_MS", "10"),
    ]);
    // Knock while the slow request holds the only place. A knock that came first may hold it
    // when the slow request arrives (on a busy machine, longer than the 10 ms wait): then the
    // slow request is the one turned away, and the round is tried again.
    let turned_away = (0..5).find_map(|_| {
        std::thread::scope(|s| {
            let holder =
                s.spawn(|| server.token("/oauth2/token", &client, &[("grant_type", slow)]));
            let mut turned_away = None;
            eventually("a second request is turned away", Duration::ZERO, || {
                let reply = server.token(
                    "/oauth2/token",
                    &client,
                    &[("grant_type", "client_credentials")],
                );
                let busy = reply.status == 503;
                if busy {
                    turned_away = Some(reply);
                }
                busy || holder.is_finished()
            });
            let held = holder.join().unwrap();
            if turned_away.is_none() {
                // No knock was refused: the slow request must have been, or the limit failed.
                held.assert_error(503, "temporarily_unavailable");
            }
            turned_away
        })
    });
    let reply = turned_away.expect("a request was turned away while the slow one held the place");
    reply.assert_error(503, "temporarily_unavailable");
    assert_eq!(reply.header("retry-after"), Some("1"));
    // Once the place is free, requests are served again.
    let reply = server.token(
        "/oauth2/token",
        &client,
        &[("grant_type", "client_credentials")],
    );
    assert_ne!(reply.status, 503, "{}", reply.json);
}

#[test]
fn nodes_starting_at_once_on_a_fresh_postgresql_database_migrate_it_once_and_all_serve() {
    if !postgres_requested() {
        eprintln!("skipped: {} is not set", crate::harness::POSTGRES_URL_VAR);
        return;
    }
    for _ in 0..3 {
        // A fresh database each round: the nodes race for its first migration.
        let deployment = Deployment::new(Backend::Postgres);
        let nodes: Vec<Server> = std::thread::scope(|s| {
            let starting: Vec<_> = (0..3).map(|_| s.spawn(|| deployment.start())).collect();
            starting.into_iter().map(|n| n.join().unwrap()).collect()
        });
        let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
        for node in &nodes {
            assert_eq!(client_credentials_status(node, &client), 200);
        }
    }
}
