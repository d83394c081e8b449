//! Slow and stalled clients against every listener: bodies that stop arriving, headers that never
//! end, and floods of connections from one address under a lowered open-file limit. Nothing here
//! asserts how long anything took: each test counts what was served and what was refused, and
//! waits (with a deadline) only for answers that must come.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::{
    admin_listener, client_credentials_status, free_port, now, start_gateway, wait_until_listening,
    Backend, Deployment, IdpKey, ProcessLimits, Server, Upstream,
};

/// How long a test waits for an answer that must come (never a measure of speed).
const ANSWER_DEADLINE: Duration = Duration::from_secs(20);

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// An answer with this status.
    Answered(u16),
    /// Closed (or reset) without an answer: turned away at accept, or a header timeout.
    Closed,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn address(base_url: &str) -> SocketAddr {
    base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("{base_url}: {e}"))
}

/// Connects from `source` (any 127.x.y.z works on loopback) and sends `bytes`.
async fn connect_and_send(server: SocketAddr, source: IpAddr, bytes: &[u8]) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    let mut stream = socket.connect(server).await.ok()?;
    // A write to a connection the server already closed may fail: that is an ending too.
    stream.write_all(bytes).await.ok()?;
    Some(stream)
}

/// Waits for the connection's answer (its status) or its closing.
async fn ending(stream: Option<TcpStream>) -> Ended {
    let Some(mut stream) = stream else {
        return Ended::Closed;
    };
    let mut received = Vec::new();
    let read = tokio::time::timeout(ANSWER_DEADLINE, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    received.extend_from_slice(&buffer[..n]);
                    if received.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "a connection neither answered nor closed");
    let text = String::from_utf8_lossy(&received);
    match text.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
        Some(status) if text.starts_with("HTTP/1.1") => Ended::Answered(status),
        _ => Ended::Closed,
    }
}

/// A POST whose body announces 1,000 bytes and sends 6 of them.
fn stalled_post(path: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         {extra_headers}Content-Length: 1000\r\n\r\ntoken="
    )
    .into_bytes()
}

/// Headers that never end.
fn stalled_headers(path: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applica").into_bytes()
}

/// Waits until the server answers `/health`: its accept loop has taken every connection opened
/// before this call.
fn wait_for_health(server: &Server) {
    let deadline = Instant::now() + ANSWER_DEADLINE;
    while server
        .http
        .get(server.url("/health"))
        .send()
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "the server stopped answering");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn slow_token_bodies_take_no_admission_place() {
    // Two places, a short wait for one; bodies have 2 s to arrive.
    let deployment = Deployment::new(Backend::Sqlite);
    let client = deployment.add_client("carbon.super", "legit", "client_credentials", "read");
    let server = deployment.start_with_env(&[
        ("GRANTOR_SERVER__MAX_IN_FLIGHT", "2"),
        ("GRANTOR_SERVER__OVERLOAD_WAIT_MS", "50"),
        ("GRANTOR_SERVER__BODY_READ_TIMEOUT_MS", "2000"),
    ]);
    let address = address(&server.base_url);
    let runtime = runtime();
    // Thirty connections trickle a token request's body, without credentials.
    let stalled: Vec<_> = runtime.block_on(async {
        let mut streams = Vec::new();
        for _ in 0..30 {
            let stream = connect_and_send(
                address,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                &stalled_post("/oauth2/token", ""),
            )
            .await;
            streams.push(stream);
        }
        streams
    });
    wait_for_health(&server);
    // Twenty legitimate requests, four at a time, while those bodies stall.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..5)
                        .map(|_| client_credentials_status(&server, &client))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(
        statuses,
        vec![200; 20],
        "legitimate requests were turned away"
    );
    // Each stalled body is refused once its time is up.
    let endings = runtime.block_on(futures_util::future::join_all(
        stalled.into_iter().map(ending),
    ));
    assert_eq!(endings, vec![Ended::Answered(408); 30]);
}

#[test]
fn stalled_bodies_and_headers_end_on_every_listener() {
    const ADMIN_TOKEN: &str = "admin-token-for-the-slow-clients-test";
    let admin_port = free_port();
    let deployment = Deployment::with_extra_config(
        Backend::Sqlite,
        &admin_listener(admin_port, "SLOW_CLIENTS_ADMIN_TOKEN"),
    );
    let server = deployment.start_with_env(&[
        ("SLOW_CLIENTS_ADMIN_TOKEN", ADMIN_TOKEN),
        ("GRANTOR_SERVER__BODY_READ_TIMEOUT_MS", "1000"),
        ("GRANTOR_SERVER__HEADER_READ_TIMEOUT_MS", "1000"),
    ]);
    let server_address = address(&server.base_url);
    let admin_address: SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
    // The gateway, with a resource a token of a certificate issuer may call.
    let dir = tempfile::tempdir().unwrap();
    let key = IdpKey::rsa(dir.path(), "slow");
    let upstream = Upstream::start();
    let gateway = start_gateway(&format!(
        "[server]\nbody_read_timeout_ms = 1000\nheader_read_timeout_ms = 1000\n\
         [gateway]\nbind = \"127.0.0.1:0\"\nbackend_claims = \"none\"\n\
         [[gateway.api]]\ncontext = \"/api\"\nupstream = \"{}\"\n\
         [[gateway.api.resource]]\npath = \"/*\"\n\
         [[gateway.jwt_issuer]]\nname = \"https://slow.example\"\ncertificates = [\"{}\"]\n",
        upstream.url,
        key.certificate_path.display()
    ));
    let gateway_address = address(&gateway.server.base_url);
    let token = key.assertion(&json!({"iss": "https://slow.example", "sub": "dave",
                                      "iat": now(), "exp": now() + 300}));
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let runtime = runtime();
    // The admin listener starts beside the server's: wait for it.
    wait_until_listening(admin_port);
    let admin_auth = format!("Authorization: Bearer {ADMIN_TOKEN}\r\n");
    let gateway_auth = format!("Authorization: Bearer {token}\r\n");
    let cases: Vec<(&str, SocketAddr, Vec<u8>, Ended)> = vec![
        (
            "introspection body",
            server_address,
            stalled_post("/oauth2/introspect", ""),
            Ended::Answered(408),
        ),
        (
            "revocation body",
            server_address,
            stalled_post("/oauth2/revoke", ""),
            Ended::Answered(408),
        ),
        (
            "token body",
            server_address,
            stalled_post("/t/carbon.super/oauth2/token", ""),
            Ended::Answered(408),
        ),
        (
            "admin body",
            admin_address,
            stalled_post("/api/server/v1/tenants", &admin_auth),
            Ended::Answered(408),
        ),
        (
            "gateway body",
            gateway_address,
            stalled_post("/api/upload", &gateway_auth),
            Ended::Answered(408),
        ),
        (
            "server headers",
            server_address,
            stalled_headers("/oauth2/token"),
            Ended::Closed,
        ),
        (
            "admin headers",
            admin_address,
            stalled_headers("/api/server/v1/tenants"),
            Ended::Closed,
        ),
        (
            "gateway headers",
            gateway_address,
            stalled_headers("/api/upload"),
            Ended::Closed,
        ),
    ];
    let endings = runtime.block_on(futures_util::future::join_all(cases.iter().map(
        |(_, address, bytes, _)| async move {
            ending(connect_and_send(*address, local, bytes).await).await
        },
    )));
    for ((name, _, _, expected), ended) in cases.iter().zip(endings) {
        // A header timeout may be answered with 408 before the close.
        let acceptable =
            ended == *expected || (*expected == Ended::Closed && ended == Ended::Answered(408));
        assert!(acceptable, "{name}: {ended:?}, expected {expected:?}");
    }
    // What a stalled body leaves behind at the gateway: the upstream never saw a request.
    drop(gateway);
}

#[test]
fn a_flood_from_one_address_leaves_room_for_everyone_else() {
    // 512 descriptors in all; one address may hold 50 connections.
    let deployment = Deployment::new(Backend::Sqlite);
    let client = deployment.add_client("carbon.super", "legit", "client_credentials", "read");
    let server = deployment.start_limited(
        &[
            ("GRANTOR_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "50"),
            ("GRANTOR_SERVER__BODY_READ_TIMEOUT_MS", "3000"),
            ("GRANTOR_SERVER__HEADER_READ_TIMEOUT_MS", "3000"),
        ],
        ProcessLimits {
            open_files: Some(512),
            ..ProcessLimits::default()
        },
    );
    let address = address(&server.base_url);
    let runtime = runtime();
    let stalling = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let idling = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    // 600 connections that stall an introspection body, and 600 that send nothing: together
    // more than the process may open.
    let (stalled, idle) = runtime.block_on(async {
        let mut stalled = Vec::new();
        let mut idle = Vec::new();
        for _ in 0..600 {
            stalled.push(
                connect_and_send(address, stalling, &stalled_post("/oauth2/introspect", "")).await,
            );
            idle.push(connect_and_send(address, idling, b"").await);
        }
        (stalled, idle)
    });
    // Everyone else is served meanwhile.
    wait_for_health(&server);
    let statuses: Vec<u16> = (0..20)
        .map(|_| client_credentials_status(&server, &client))
        .collect();
    assert_eq!(statuses, vec![200; 20]);
    let endings = runtime.block_on(futures_util::future::join_all(
        stalled.into_iter().chain(idle).map(ending),
    ));
    let (stalled_endings, idle_endings) = endings.split_at(600);
    // Of the stalled bodies, those admitted (at most the per-address cap, plus the slack for
    // connections being closed) got their 408; the rest were closed at once.
    let timed_out = stalled_endings
        .iter()
        .filter(|e| **e == Ended::Answered(408))
        .count();
    let closed = stalled_endings
        .iter()
        .filter(|e| **e == Ended::Closed)
        .count();
    assert!(
        (1..=50 + 32).contains(&timed_out),
        "{timed_out} stalled bodies were admitted"
    );
    assert_eq!(timed_out + closed, 600, "{stalled_endings:?}");
    assert!(idle_endings.iter().all(|e| *e == Ended::Closed));
    let log = server.log();
    assert!(
        !log.contains("Too many open files"),
        "the server ran out of descriptors:\n{log}"
    );
}
