//! HTTPS on the server's own listener (`[server.tls]`): the certificate made on first start,
//! trusted by a client through the CA file it was issued by; TLS 1.1 and untrusting clients
//! refused; a configured pair replaced and reloaded on SIGHUP, and a broken replacement refused.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use openssl::hash::MessageDigest;
use openssl::ssl::{SslConnector, SslMethod, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;

use crate::harness::{Backend, Deployment, Server, TestPki};

struct Answer {
    status_line: String,
    body: String,
    /// SHA-256 of the certificate the server presented.
    certificate_sha256: Vec<u8>,
}

/// One `GET path` over a fresh TLS connection, trusting only the CAs in `ca_pem`, optionally
/// capped at `max_version`.
fn get(
    server: &Server,
    path: &str,
    ca_pem: &[u8],
    max_version: Option<SslVersion>,
) -> Result<Answer, String> {
    let address = server.base_url.strip_prefix("https://").unwrap();
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    let mut store = X509StoreBuilder::new().unwrap();
    for ca in X509::stack_from_pem(ca_pem).unwrap() {
        store.add_cert(ca).unwrap();
    }
    builder.set_cert_store(store.build());
    if let Some(max) = max_version {
        builder.set_min_proto_version(None).unwrap();
        builder.set_security_level(0);
        builder.set_max_proto_version(Some(max)).unwrap();
    }
    let connector = builder.build();
    let tcp = std::net::TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let host = address.rsplit_once(':').unwrap().0;
    let mut tls = connector
        .connect(host, tcp)
        .map_err(|e| format!("handshake: {e}"))?;
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response)
        .map_err(|e| format!("read: {e}"))?;
    let certificate_sha256 = tls
        .ssl()
        .peer_certificate()
        .unwrap()
        .digest(MessageDigest::sha256())
        .unwrap()
        .to_vec();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok(Answer {
        status_line: head.lines().next().unwrap_or_default().to_owned(),
        body: body.to_owned(),
        certificate_sha256,
    })
}

#[test]
fn https_with_the_certificate_made_on_first_start() {
    let deployment =
        Deployment::with_extra_config(Backend::Sqlite, "[server.tls]\nenabled = true\n");
    let server = deployment.start();
    assert!(
        server.base_url.starts_with("https://127.0.0.1:"),
        "{}",
        server.base_url
    );
    let ca = std::fs::read(deployment.dir().join("tls/ca.crt")).unwrap();
    let answer = get(&server, "/health", &ca, None).unwrap();
    assert_eq!(answer.status_line, "HTTP/1.1 200 OK");
    assert!(answer.body.contains("ok"), "{}", answer.body);
    // The discovery document is served over the same listener.
    let metadata = get(
        &server,
        "/.well-known/oauth-authorization-server",
        &ca,
        None,
    )
    .unwrap();
    assert_eq!(metadata.status_line, "HTTP/1.1 200 OK");

    // TLS 1.1 is refused, and so is a client that trusts another CA.
    let old = get(&server, "/health", &ca, Some(SslVersion::TLS1_1));
    assert!(old.is_err(), "a TLS 1.1 client was served");
    let stranger = TestPki::new();
    let untrusting = get(&server, "/health", &stranger.ca_pem, None);
    assert!(
        untrusting
            .as_ref()
            .err()
            .is_some_and(|e| e.contains("certificate verify failed")),
        "{:?}",
        untrusting.map(|a| a.status_line)
    );
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::blocking::Client::new()
        .get(server.base_url.replace("https://", "http://") + "/health")
        .timeout(Duration::from_secs(10))
        .send();
    assert!(plain.is_err(), "plain HTTP was answered on the TLS port");

    // The log names the CA file and its fingerprint, and never the key.
    let log = server.log();
    assert!(log.contains("ca.crt") && log.contains("ca_sha256"), "{log}");
    assert!(!log.contains("PRIVATE KEY"));

    // A restart serves the same certificate.
    let first_certificate = answer.certificate_sha256;
    drop(server);
    let again = deployment.start();
    let answer = get(&again, "/health", &ca, None).unwrap();
    assert_eq!(answer.certificate_sha256, first_certificate);
}

fn write_pair(dir: &Path, pki: &TestPki) {
    std::fs::write(dir.join("server.crt"), &pki.server_pem).unwrap();
    std::fs::write(dir.join("server.key"), &pki.key_pem).unwrap();
}

#[test]
fn sighup_reloads_a_replaced_certificate_and_keeps_serving_on_a_broken_one() {
    let keys = tempfile::tempdir().unwrap();
    let (first, second) = (TestPki::new(), TestPki::new());
    write_pair(keys.path(), &first);
    let deployment = Deployment::with_extra_config(
        Backend::Sqlite,
        &format!(
            "[server.tls]\nenabled = true\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
            keys.path().join("server.crt").display(),
            keys.path().join("server.key").display()
        ),
    );
    let server = deployment.start();
    let served = get(&server, "/health", &first.ca_pem, None).unwrap();
    let first_sha256 = X509::from_pem(&first.server_pem)
        .unwrap()
        .digest(MessageDigest::sha256())
        .unwrap()
        .to_vec();
    assert_eq!(served.certificate_sha256, first_sha256);

    // Renewed: the new pair is served once the server has had SIGHUP.
    write_pair(keys.path(), &second);
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&server, "/health", &second.ca_pem, None).is_err() {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A broken replacement is refused; the second pair keeps serving.
    std::fs::write(
        keys.path().join("server.crt"),
        "-----BEGIN CERTIFICATE-----\nbroken\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    let log = server.log_containing("not reloaded");
    assert!(log.contains("TLS certificate not reloaded"), "{log}");
    let answer = get(&server, "/health", &second.ca_pem, None).unwrap();
    assert_eq!(answer.status_line, "HTTP/1.1 200 OK");
}

#[test]
fn half_a_configured_pair_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("deployment.toml");
    std::fs::write(
        &config,
        "[server.tls]\nenabled = true\ncertificate = \"server.crt\"\n",
    )
    .unwrap();
    let output = std::process::Command::new(crate::harness::grantor_binary())
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.tls"), "{stderr}");
}
