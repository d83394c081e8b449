//! PostgreSQL going away under load and coming back: no request hangs or gets a 500; each is told
//! `503 temporarily_unavailable` with `Retry-After` within the request deadline, and service
//! resumes by itself once the database is back. The outage is a TCP proxy between the server and
//! PostgreSQL that drops every connection and refuses new ones (as a stopped server does), so the
//! shared PostgreSQL of the other tests keeps running.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{postgres_requested, Backend, Deployment, ProcessLimits, POSTGRES_URL_VAR};

struct Proxy {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up_flag, connections) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if !up_flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut all = connections.lock().unwrap();
                all.push(client.try_clone().unwrap());
                all.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { address, up, open }
    }

    /// Every connection dropped, new ones refused.
    fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn resume(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// `host:port` of a `postgres://user:pass@host:port/db` URL.
fn host_and_port(url: &str) -> String {
    let after_at = url.rsplit_once('@').unwrap().1;
    after_at.split('/').next().unwrap().to_owned()
}

#[test]
fn requests_get_503_while_postgresql_is_down_and_service_resumes_when_it_is_back() {
    if !postgres_requested() {
        eprintln!("skipped: {POSTGRES_URL_VAR} is not set");
        return;
    }
    let deployment = Deployment::new(Backend::Postgres);
    let upstream = host_and_port(&deployment.database_url);
    let proxy = Proxy::start(upstream.clone());
    let config = std::fs::read_to_string(&deployment.config_path).unwrap();
    std::fs::write(
        &deployment.config_path,
        config.replace(&upstream, &proxy.address.to_string()),
    )
    .unwrap();
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
    let server = deployment.start_with_env(&[
        ("GRANTOR_DATABASE__BUSY_TIMEOUT_MS", "500"),
        ("GRANTOR_SERVER__REQUEST_DEADLINE_MS", "3000"),
    ]);
    let request = || {
        server.token(
            "/oauth2/token",
            &client,
            &[("grant_type", "client_credentials")],
        )
    };
    for _ in 0..5 {
        request().assert_token();
    }

    proxy.stop();
    let during: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..5).map(|_| request()).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    for reply in &during {
        reply.assert_error(503, "temporarily_unavailable");
        assert_eq!(reply.header("retry-after"), Some("1"), "{reply:?}");
    }

    proxy.resume();
    // Service resumes by itself: wait for it (with a deadline), then it stays up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = request();
        if reply.status == 200 {
            break;
        }
        reply.assert_error(503, "temporarily_unavailable");
        assert!(Instant::now() < deadline, "service did not resume");
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..20 {
        request().assert_token();
    }
}

/// A full disk (here: a file-size limit on the server's process, so that SQLite's writes fail
/// as they do when the disk is full): every request that cannot be stored is told `503
/// temporarily_unavailable` with `Retry-After`, never a 500, and the log says so a few times, not
/// once per request.
#[test]
fn a_full_disk_is_a_503_said_once_per_period_in_the_log() {
    let deployment = Deployment::new(Backend::Sqlite);
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
    // The database and its log as the commands left them (the log is written first).
    let size: u64 = ["grantor.db", "grantor.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(deployment.dir().join(f)).map_or(0, |m| m.len()))
        .max()
        .unwrap_or(0);
    // Room for a few hundred tokens beyond what is there.
    let server = deployment.start_limited(
        &[],
        ProcessLimits {
            file_size: Some(size + 256 * 1024),
            ..ProcessLimits::default()
        },
    );
    let request = || {
        server.token(
            "/oauth2/token",
            &client,
            &[("grant_type", "client_credentials")],
        )
    };
    // Fill it: four clients at once until the first refusals, then as many again.
    let full = AtomicBool::new(false);
    let statuses: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut seen = Vec::new();
                    let mut after_full = 0;
                    for _ in 0..20_000 {
                        let reply = request();
                        if reply.status == 503 {
                            full.store(true, Ordering::Relaxed);
                        }
                        if full.load(Ordering::Relaxed) {
                            after_full += 1;
                        }
                        seen.push((reply.status, reply.header("retry-after").map(str::to_owned)));
                        assert_ne!(reply.status, 500, "{:?}", reply.json);
                        if after_full >= 100 {
                            break;
                        }
                    }
                    seen
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let refused: Vec<_> = statuses.iter().filter(|(s, _)| *s == 503).collect();
    assert!(
        refused.len() >= 100,
        "the disk never filled: {} requests",
        statuses.len()
    );
    assert!(refused
        .iter()
        .all(|(_, retry)| retry.as_deref() == Some("1")));
    assert!(statuses.iter().all(|(s, _)| *s == 200 || *s == 503));
    let log = server.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("the database is unavailable"))
        .count();
    assert!(lines >= 1, "nothing logged:\n{log}");
    assert!(
        lines * 20 <= refused.len(),
        "{lines} log lines for {} refusals:\n{log}",
        refused.len()
    );
    assert!(!log.contains("ERROR"), "{log}");
}
