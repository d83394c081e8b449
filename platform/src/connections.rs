//! The server's accept loop: each connection served over HTTP/1.1 by hyper, in plain TCP or TLS
//! (warp 0.4 has no TLS of its own, so the warp filter is served through hyper here). Each request
//! carries its client's address as a `ClientAddr` extension. On shutdown the loop stops accepting
//! and waits for in-flight requests, for a bounded time; idle keep-alive connections are closed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use warp::Filter;

use crate::tls::ServerTls;

/// The peer address of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Longest a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `filter` on `listener` (over TLS when `tls` is given) until `shutdown`; then waits
/// at most `grace` for the requests in flight.
pub async fn serve<F>(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    filter: F,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(WithClientAddr {
            inner: warp::service(filter.clone()),
            addr: peer,
        });
        let acceptor = tls.as_ref().map(|tls| tls.acceptor());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let http = http1();
            let served = match acceptor {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(tcp), service))
                        .await
                }
                Some(acceptor) => {
                    let Some(stream) = handshake(&acceptor, tcp, peer).await else {
                        return;
                    };
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
            };
            if let Err(e) = served {
                tracing::debug!(%peer, "connection: {e}");
            }
        });
    }
    drop(listener);
    finish_within(graceful, grace).await;
}

/// The next connection, with `TCP_NODELAY` set. An accept error (out of file descriptors and the
/// like) is logged and retried after a moment rather than in a spin.
pub async fn accept(listener: &TcpListener) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                return (tcp, peer);
            }
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// HTTP/1.1 as every listener serves it; the timer enables hyper's 30 s limit on reading a
/// request's headers.
pub fn http1() -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new());
    http
}

/// Waits for the watched connections' requests in flight, at most `grace`.
pub async fn finish_within(graceful: GracefulShutdown, grace: Duration) {
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "requests still in flight after the shutdown grace period: their connections are closed"
        );
    }
}

async fn handshake(
    acceptor: &openssl::ssl::SslAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
) -> Option<tokio_openssl::SslStream<tokio::net::TcpStream>> {
    let ssl = openssl::ssl::Ssl::new(acceptor.context()).ok()?;
    let mut stream = tokio_openssl::SslStream::new(ssl, tcp).ok()?;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, std::pin::Pin::new(&mut stream).accept()).await {
        Ok(Ok(())) => Some(stream),
        // A client that speaks plain HTTP, an old TLS version, or does not trust us: its problem,
        // and a common one, so not a warning.
        Ok(Err(e)) => {
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// Adds `ClientAddr` to each request before `inner` sees it.
#[derive(Clone)]
struct WithClientAddr<S> {
    inner: S,
    addr: SocketAddr,
}

impl<S, B> tower_service::Service<warp::http::Request<B>> for WithClientAddr<S>
where
    S: tower_service::Service<warp::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: warp::http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(ClientAddr(self.addr));
        self.inner.call(request)
    }
}
