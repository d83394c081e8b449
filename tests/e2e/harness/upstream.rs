//! A backend for the gateway tests: answers every request with what it received (method, path,
//! query, headers, body) as JSON; `/api/slow` answers after a long pause, and `/api/stall` sends
//! its headers and stops halfway through its body, for the gateway's upstream time limits. It
//! also runs over TLS, with a certificate from a test CA (`TestPki`).

use std::time::Duration;

use futures_util::StreamExt;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{Ssl, SslAcceptor, SslMethod};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509NameBuilder, X509};
use serde_json::{json, Map, Value};
use warp::Filter;

pub struct Upstream {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    _runtime: tokio::runtime::Runtime,
}

impl Upstream {
    pub fn start() -> Upstream {
        Self::serve(None)
    }

    /// The same backend over TLS, with `pki`'s server certificate.
    pub fn start_tls(pki: &TestPki) -> Upstream {
        Self::serve(Some(pki.acceptor.clone()))
    }

    fn serve(tls: Option<SslAcceptor>) -> Upstream {
        let tls_used = tls.is_some();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                |method: warp::http::Method,
                 path: warp::path::FullPath,
                 query: String,
                 headers: warp::http::HeaderMap,
                 body: bytes::Bytes| async move {
                    if path.as_str().ends_with("/slow") {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    if path.as_str().ends_with("/drip") {
                        // Four chunks with a pause before each, every pause well inside the
                        // gateway's idle limit (1 s) though together they are longer.
                        let chunks =
                            futures_util::stream::iter([300u64; 4]).then(|pause| async move {
                                tokio::time::sleep(Duration::from_millis(pause)).await;
                                Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(
                                    b"drip ",
                                ))
                            });
                        return warp::reply::Reply::into_response(warp::reply::stream(chunks));
                    }
                    if path.as_str().ends_with("/stall") {
                        // The headers and a first chunk at once, then nothing for 30 s.
                        let chunks =
                            futures_util::stream::iter([0u64, 30]).then(|pause| async move {
                                tokio::time::sleep(Duration::from_secs(pause)).await;
                                Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(
                                    b"partial ",
                                ))
                            });
                        return warp::reply::Reply::into_response(warp::reply::stream(chunks));
                    }
                    let mut seen = Map::new();
                    for (name, value) in &headers {
                        seen.insert(
                            name.as_str().to_owned(),
                            json!(value.to_str().unwrap_or("?")),
                        );
                    }
                    let reply = json!({
                        "method": method.as_str(),
                        "path": path.as_str(),
                        "query": query,
                        "headers": Value::Object(seen),
                        "body": String::from_utf8_lossy(&body),
                    });
                    let response = warp::http::Response::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .header("x-upstream", "echo")
                        .body(reply.to_string())
                        .unwrap();
                    warp::reply::Reply::into_response(response)
                },
            );
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        match tls {
            None => {
                runtime.spawn(warp::serve(route).incoming(listener).run());
            }
            Some(acceptor) => {
                runtime.spawn(serve_tls(listener, acceptor, route));
            }
        }
        Upstream {
            url: format!("{}://{address}", if tls_used { "https" } else { "http" }),
            _runtime: runtime,
        }
    }
}

/// Accepts TLS connections and serves `route` on each (warp 0.4 has no TLS of its own).
async fn serve_tls<F>(listener: tokio::net::TcpListener, acceptor: SslAcceptor, route: F)
where
    F: warp::Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let Ok(ssl) = Ssl::new(acceptor.context()) else {
            continue;
        };
        let route = route.clone();
        tokio::spawn(async move {
            let mut stream = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
            // A client that refuses the certificate ends here.
            if std::pin::Pin::new(&mut stream).accept().await.is_err() {
                return;
            }
            let service = hyper_util::service::TowerToHyperService::new(warp::service(route));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A certificate authority made for one test, and a server certificate for 127.0.0.1 it issued.
pub struct TestPki {
    pub ca_pem: Vec<u8>,
    /// The server certificate and its key, PEM.
    pub server_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    acceptor: SslAcceptor,
}

impl TestPki {
    pub fn new() -> TestPki {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let ca_key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let server_key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let name = |cn: &str| {
            let mut name = X509NameBuilder::new().unwrap();
            name.append_entry_by_text("CN", cn).unwrap();
            name.build()
        };
        let builder = |subject: &openssl::x509::X509NameRef, key: &PKey<Private>, serial: u32| {
            let mut builder = X509::builder().unwrap();
            builder.set_version(2).unwrap();
            builder
                .set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap())
                .unwrap();
            builder.set_subject_name(subject).unwrap();
            builder.set_pubkey(key).unwrap();
            builder
                .set_not_before(&Asn1Time::days_from_now(0).unwrap())
                .unwrap();
            builder
                .set_not_after(&Asn1Time::days_from_now(1).unwrap())
                .unwrap();
            builder
        };
        let ca_name = name("grantor test CA");
        let mut ca = builder(&ca_name, &ca_key, 1);
        ca.set_issuer_name(&ca_name).unwrap();
        ca.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        ca.append_extension(KeyUsage::new().critical().key_cert_sign().build().unwrap())
            .unwrap();
        ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = ca.build();
        let mut server = builder(&name("127.0.0.1"), &server_key, 2);
        server.set_issuer_name(ca.subject_name()).unwrap();
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .build(&server.x509v3_context(Some(&ca), None))
            .unwrap();
        server.append_extension(san).unwrap();
        server
            .append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
        server.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let server = server.build();
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        acceptor.set_private_key(&server_key).unwrap();
        acceptor.set_certificate(&server).unwrap();
        TestPki {
            ca_pem: ca.to_pem().unwrap(),
            server_pem: server.to_pem().unwrap(),
            key_pem: server_key.private_key_to_pem_pkcs8().unwrap(),
            acceptor: acceptor.build(),
        }
    }
}
