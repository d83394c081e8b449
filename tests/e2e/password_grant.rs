//! The password grant (reference 000 step 4): users added with `grantor user add` (password on
//! stdin), signed in by a trusted client; with `scope=openid` an ID token signed by the tenant's
//! key whose `aud` holds the client and its registered extra audiences. Sign-in attempts are
//! limited per user at an address, per user and per address, counted before the password is
//! checked and shared by every node; password hashing is bounded.

use std::net::IpAddr;

use crate::harness::{on_each_backend, verified, Backend, Credentials, Deployment, Reply, Server};

const PASSWORD: &str = "correct horse battery";
const APIS_TOKEN_ENDPOINT: &str = "https://apis.example/oauth2/token";

struct Setup {
    deployment: Deployment,
    server: Server,
    webapp: Credentials,
}

fn start(backend: crate::harness::Backend, extra_config: &str) -> Setup {
    let deployment = Deployment::with_extra_config(backend, extra_config);
    deployment.cli_ok(&["tenant", "add", "idp.example"]);
    deployment.add_user(
        "idp.example",
        "alice",
        PASSWORD,
        &[
            "--claim",
            "email=alice@idp.example",
            "--claim-json",
            r#"groups=["admin","dev"]"#,
        ],
    );
    let webapp = deployment.add_client_with(
        "idp.example",
        "webapp",
        "password,refresh_token",
        "openid,read",
        &["--audience", APIS_TOKEN_ENDPOINT, "--token-format", "jwt"],
    );
    let server = deployment.start();
    Setup {
        deployment,
        server,
        webapp,
    }
}

fn sign_in(setup: &Setup, username: &str, password: &str, scope: &str) -> crate::harness::Reply {
    sign_in_at(&setup.server, &setup.webapp, username, password, scope)
}

fn sign_in_at(
    server: &Server,
    webapp: &Credentials,
    username: &str,
    password: &str,
    scope: &str,
) -> Reply {
    server.token(
        "/t/idp.example/oauth2/token",
        webapp,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", scope),
            ("nonce", "n-0S6_WzA2Mj"),
        ],
    )
}

/// A sign-in sent from `from` (a loopback address other than 127.0.0.1: the server sees another
/// client address).
fn sign_in_from(setup: &Setup, from: &str, username: &str, password: &str) -> Reply {
    let http = reqwest::blocking::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    Reply::from(
        http.post(setup.server.url("/t/idp.example/oauth2/token"))
            .basic_auth(&setup.webapp.id, Some(&setup.webapp.secret))
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .unwrap(),
    )
}

/// Sends `count` sign-ins at once (one thread each), the n-th to `servers[n % len]`; their
/// answers.
fn sign_in_at_once(
    servers: &[&Server],
    webapp: &Credentials,
    count: usize,
    username: &str,
    password: &str,
) -> Vec<Reply> {
    let start = std::sync::Barrier::new(count);
    std::thread::scope(|s| {
        let sent: Vec<_> = (0..count)
            .map(|n| {
                let (server, start) = (servers[n % servers.len()], &start);
                s.spawn(move || {
                    start.wait();
                    sign_in_at(server, webapp, username, password, "read")
                })
            })
            .collect();
        sent.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// How many answers have each status.
fn statuses(replies: &[Reply]) -> std::collections::BTreeMap<u16, usize> {
    let mut counted = std::collections::BTreeMap::new();
    for reply in replies {
        *counted.entry(reply.status).or_default() += 1;
    }
    counted
}

fn a_user_signs_in_and_gets_an_id_token_for_the_client_and_its_audiences(backend: Backend) {
    let setup = start(backend, "");
    let listed = setup
        .deployment
        .cli_ok(&["user", "list", "--tenant", "idp.example"]);
    assert!(listed.contains("alice") && listed.contains("alice@idp.example"));
    assert!(
        !listed.contains(PASSWORD) && !listed.contains("argon2"),
        "{listed}"
    );

    let reply = sign_in(&setup, "alice", PASSWORD, "openid read");
    let body = reply.assert_token().clone();
    assert_eq!(body["scope"], "openid read");
    assert!(body["refresh_token"].is_string());
    let id_token = body["id_token"].as_str().expect("an id_token");
    let jwks = "/t/idp.example/oauth2/jwks";
    let claims = verified(&setup.server, jwks, id_token, "JWT", &setup.webapp.id);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(
        claims["iss"],
        "http://localhost:9443/t/idp.example/oauth2/token"
    );
    assert_eq!(
        claims["aud"],
        serde_json::json!([setup.webapp.id, APIS_TOKEN_ENDPOINT])
    );
    assert_eq!(claims["azp"], setup.webapp.id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["email"], "alice@idp.example");
    assert_eq!(claims["groups"], serde_json::json!(["admin", "dev"]));
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 3600);
    // The other audience accepts it too: that is what the exchange at another server needs.
    verified(&setup.server, jwks, id_token, "JWT", APIS_TOKEN_ENDPOINT);
    // The access token carries the user's claims as well.
    let access = body["access_token"].as_str().unwrap();
    let access_claims = verified(&setup.server, jwks, access, "at+jwt", &setup.webapp.id);
    assert_eq!(access_claims["sub"], "alice");
    assert_eq!(access_claims["email"], "alice@idp.example");

    // No openid asked, no ID token.
    let reply = sign_in(&setup, "alice", PASSWORD, "read");
    assert!(reply.assert_token().get("id_token").is_none());

    // A client not allowed the grant.
    let machine =
        setup
            .deployment
            .add_client("idp.example", "machine", "client_credentials", "read");
    setup
        .server
        .token(
            "/t/idp.example/oauth2/token",
            &machine,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .assert_error(400, "unauthorized_client");

    // A removed user cannot sign in.
    setup.deployment.cli_ok(&[
        "user",
        "remove",
        "--tenant",
        "idp.example",
        "--username",
        "alice",
    ]);
    let description =
        sign_in(&setup, "alice", PASSWORD, "openid").assert_error(400, "invalid_grant");
    assert_eq!(description, "invalid username or password");
}
on_each_backend!(a_user_signs_in_and_gets_an_id_token_for_the_client_and_its_audiences);

fn wrong_passwords_and_unknown_users_read_alike_and_are_limited_per_user_and_address(
    backend: Backend,
) {
    let setup = start(
        backend,
        "[oauth.password_grant]\nmax_failures_per_user_and_address = 3\n\
         max_failures_per_user = 3\nmax_failures_per_address = 5\n",
    );
    for user in ["bob", "carol"] {
        setup
            .deployment
            .add_user("idp.example", user, PASSWORD, &[]);
    }
    let wrong = sign_in(&setup, "alice", "wrong", "openid").assert_error(400, "invalid_grant");
    let unknown = sign_in(&setup, "mallory", PASSWORD, "openid").assert_error(400, "invalid_grant");
    assert_eq!(wrong, "invalid username or password");
    assert_eq!(wrong, unknown);
    // Missing parameters are the client's mistake, said as such.
    setup
        .server
        .token(
            "/t/idp.example/oauth2/token",
            &setup.webapp,
            &[("grant_type", "password"), ("username", "alice")],
        )
        .assert_error(400, "invalid_request");
    // Absurd usernames and passwords are refused before anything is counted or checked (the
    // address's count below would be off by these if they were).
    let long_name = "a".repeat(257);
    let description =
        sign_in(&setup, &long_name, PASSWORD, "openid").assert_error(400, "invalid_request");
    assert!(description.contains("256 bytes"), "{description}");
    let long_password = "p".repeat(1025);
    let description =
        sign_in(&setup, "alice", &long_password, "openid").assert_error(400, "invalid_request");
    assert!(description.contains("1024 bytes"), "{description}");

    // Alice has one failure; two more reach her limit of 3.
    for _ in 0..2 {
        sign_in(&setup, "alice", "wrong", "openid").assert_error(400, "invalid_grant");
    }
    let refused = sign_in(&setup, "alice", PASSWORD, "openid");
    let description = refused.assert_error(429, "invalid_grant");
    assert!(description.contains("this user"), "{description}");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    // Another user is not held back by alice's failures.
    sign_in(&setup, "bob", PASSWORD, "openid").assert_token();

    // The address has 4 failures (alice 3, mallory 1; bob's success gave its count back); one
    // more reaches its limit of 5, and then even a right password from it is refused, for any
    // user.
    sign_in(&setup, "carol", "wrong", "openid").assert_error(400, "invalid_grant");
    let description = sign_in(&setup, "bob", PASSWORD, "openid").assert_error(429, "invalid_grant");
    assert!(description.contains("this address"), "{description}");
    // No password or hash reached the log.
    let log = setup.server.log();
    assert!(!log.contains(PASSWORD) && !log.contains("argon2"), "{log}");
}
on_each_backend!(wrong_passwords_and_unknown_users_read_alike_and_are_limited_per_user_and_address);

fn a_tenant_may_qualify_its_subjects_with_its_domain(backend: Backend) {
    let setup = start(backend, "");
    let jwks = "/t/idp.example/oauth2/jwks";
    let subjects = |setup: &Setup| {
        let body = sign_in(setup, "alice", PASSWORD, "openid")
            .assert_token()
            .clone();
        let access = body["access_token"].as_str().unwrap();
        let id_token = body["id_token"].as_str().unwrap();
        let introspected = setup.server.post_form(
            "/t/idp.example/oauth2/introspect",
            Some(&setup.webapp),
            &[("token", access)],
        );
        [
            verified(&setup.server, jwks, access, "at+jwt", &setup.webapp.id)["sub"].clone(),
            verified(&setup.server, jwks, id_token, "JWT", &setup.webapp.id)["sub"].clone(),
            introspected.json["sub"].clone(),
        ]
    };
    assert_eq!(subjects(&setup), ["alice", "alice", "alice"]);
    setup.deployment.cli_ok(&[
        "tenant",
        "update",
        "idp.example",
        "--qualified-subjects",
        "true",
    ]);
    assert_eq!(
        subjects(&setup),
        [
            "alice@idp.example",
            "alice@idp.example",
            "alice@idp.example"
        ]
    );
}
on_each_backend!(a_tenant_may_qualify_its_subjects_with_its_domain);

fn guesses_sent_at_once_are_counted_before_they_are_checked_on_every_node(backend: Backend) {
    // Room for every guess to be checked at once, were they not counted first; the address
    // limit out of the way.
    let setup = start(
        backend,
        "[oauth.password_grant]\nmax_failures_per_user_and_address = 5\n\
         max_failures_per_address = 1000\nmax_concurrent_hashes = 32\nhash_wait_ms = 5000\n",
    );
    setup
        .deployment
        .add_user("idp.example", "bob", PASSWORD, &[]);
    // A second node on the same database (SQLite: a second process on the same file).
    let other = setup.deployment.start();
    let nodes = [&setup.server, &other];

    // 30 wrong guesses at once at one node: exactly 5 are checked, the rest refused unchecked.
    let answers = sign_in_at_once(&nodes[..1], &setup.webapp, 30, "alice", "wrong");
    assert_eq!(
        statuses(&answers),
        [(400, 5), (429, 25)].into(),
        "{answers:?}"
    );
    for answer in &answers {
        match answer.status {
            400 => assert_eq!(
                answer.assert_error(400, "invalid_grant"),
                "invalid username or password"
            ),
            _ => {
                answer.assert_error(429, "invalid_grant");
                let wait: u64 = answer.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=300).contains(&wait), "{wait}");
            }
        }
    }
    // The right password now is refused too, at either node: the count is shared.
    for node in nodes {
        sign_in_at(node, &setup.webapp, "alice", PASSWORD, "read")
            .assert_error(429, "invalid_grant");
    }

    // 30 at once spread over both nodes: still 5 checked in all.
    let answers = sign_in_at_once(&nodes, &setup.webapp, 30, "bob", "wrong");
    assert_eq!(
        statuses(&answers),
        [(400, 5), (429, 25)].into(),
        "{answers:?}"
    );
    sign_in_at(&other, &setup.webapp, "bob", PASSWORD, "read").assert_error(429, "invalid_grant");
}
on_each_backend!(guesses_sent_at_once_are_counted_before_they_are_checked_on_every_node);

fn failures_from_one_address_do_not_lock_the_user_out_from_another(backend: Backend) {
    let setup = start(
        backend,
        "[oauth.password_grant]\nmax_failures_per_user_and_address = 3\n\
         max_failures_per_user = 5\nmax_failures_per_address = 1000\n",
    );
    // Someone at 127.0.0.1 guesses alice's password until refused there.
    for _ in 0..3 {
        sign_in(&setup, "alice", "wrong", "read").assert_error(400, "invalid_grant");
    }
    let description = sign_in(&setup, "alice", PASSWORD, "read").assert_error(429, "invalid_grant");
    assert!(
        description.contains("for this user from this address"),
        "{description}"
    );
    // Alice, elsewhere, still signs in.
    sign_in_from(&setup, "127.0.0.2", "alice", PASSWORD).assert_token();
    // Her success gave its count back: two more failures from there reach her ceiling of 5
    // across all addresses (3 + 2), without reaching that address's own limit of 3.
    for _ in 0..2 {
        sign_in_from(&setup, "127.0.0.2", "alice", "wrong").assert_error(400, "invalid_grant");
    }
    let refused = sign_in_from(&setup, "127.0.0.3", "alice", PASSWORD);
    let description = refused.assert_error(429, "invalid_grant");
    assert!(description.contains("for this user;"), "{description}");
    assert!(refused.header("retry-after").is_some());
    // Another user from the guessing address is not held back.
    setup
        .deployment
        .add_user("idp.example", "bob", PASSWORD, &[]);
    sign_in(&setup, "bob", PASSWORD, "read").assert_token();
}
on_each_backend!(failures_from_one_address_do_not_lock_the_user_out_from_another);

/// Behind a trusted proxy, attempts count under the client address the proxy names in
/// `X-Forwarded-For`, so one client's failures do not hold back everyone behind the proxy; from
/// anywhere else the header is the client's own words, and ignored.
#[test]
fn behind_a_trusted_proxy_attempts_count_under_the_address_it_names() {
    let deployment = Deployment::with_extra_config(
        crate::harness::Backend::Sqlite,
        "[oauth.password_grant]\nmax_failures_per_user_and_address = 2\n\
         max_failures_per_user = 50\nmax_failures_per_address = 1000\n",
    );
    deployment.cli_ok(&["tenant", "add", "idp.example"]);
    deployment.add_user("idp.example", "alice", PASSWORD, &[]);
    let webapp = deployment.add_client("idp.example", "webapp", "password", "read");
    // The proxy: 127.0.0.1. A client connecting from 127.0.0.2 is not one.
    let server =
        deployment.start_with_env(&[("GRANTOR_SERVER__TRUSTED_PROXIES", r#"["127.0.0.1/32"]"#)]);
    let sign_in = |from: &str, forwarded_for: &str, password: &str| {
        let http = reqwest::blocking::Client::builder()
            .local_address(from.parse::<IpAddr>().unwrap())
            .build()
            .unwrap();
        Reply::from(
            http.post(server.url("/t/idp.example/oauth2/token"))
                .basic_auth(&webapp.id, Some(&webapp.secret))
                .header("x-forwarded-for", forwarded_for)
                .form(&[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", password),
                ])
                .send()
                .unwrap(),
        )
    };
    // One client behind the proxy guesses until refused...
    for _ in 0..2 {
        sign_in("127.0.0.1", "198.51.100.7", "wrong").assert_error(400, "invalid_grant");
    }
    sign_in("127.0.0.1", "198.51.100.7", PASSWORD).assert_error(429, "invalid_grant");
    // ...and alice, behind the same proxy at another address, signs in; a client's own words
    // before the proxy's entry change nothing.
    sign_in("127.0.0.1", "198.51.100.7, 198.51.100.8", PASSWORD).assert_token();
    // Not through the proxy: the header is ignored, and the limit holds whatever it says.
    for forged in ["203.0.113.1", "203.0.113.2"] {
        sign_in("127.0.0.2", forged, "wrong").assert_error(400, "invalid_grant");
    }
    sign_in("127.0.0.2", "203.0.113.3", PASSWORD).assert_error(429, "invalid_grant");
}

fn password_checks_beyond_their_bound_are_told_to_come_back(backend: Backend) {
    // One check at a time and no wait for a turn; the counts out of the way.
    let setup = start(
        backend,
        "[oauth.password_grant]\nmax_concurrent_hashes = 1\nhash_wait_ms = 0\n\
         max_failures_per_user_and_address = 1000\nmax_failures_per_user = 1000\n\
         max_failures_per_address = 1000\n",
    );
    let mut seen = std::collections::BTreeMap::new();
    // Sign-ins sent together overlap: some find the one turn taken. Rounds until one has.
    for _ in 0..20 {
        let answers = sign_in_at_once(&[&setup.server], &setup.webapp, 12, "alice", PASSWORD);
        for answer in &answers {
            *seen.entry(answer.status).or_insert(0) += 1;
            match answer.status {
                200 => {
                    answer.assert_token();
                }
                503 => {
                    answer.assert_error(503, "temporarily_unavailable");
                    assert!(answer.header("retry-after").is_some(), "{answer:?}");
                }
                _ => panic!("{answer:?}"),
            }
        }
        if seen.contains_key(&503) {
            break;
        }
    }
    assert!(seen.contains_key(&503), "never turned away: {seen:?}");
    assert!(seen.contains_key(&200), "{seen:?}");
}
on_each_backend!(password_checks_beyond_their_bound_are_told_to_come_back);
