//! The server's accept loop: each connection served over HTTP/1.1 by hyper, in plain TCP or TLS
//! (warp 0.4 has no TLS of its own, so the warp filter is served through hyper here). Each request
//! carries its client's address as a `ClientAddr` extension. On shutdown the loop stops accepting
//! and waits for in-flight requests, for a bounded time; idle keep-alive connections are closed.
//!
//! Every listener bounds its connections (`connection_limits`: counted at accept, the longest-idle
//! one closed to make room) and the time a request's headers may take, which also bounds how long
//! a keep-alive connection waits idle for its next request. Bodies are read under their own time
//! limit where they are read (`http::form`, the gateway's forwarding).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use warp::Filter;

use crate::connection_limits::{Connection, ConnectionTracker, TrackedBody};
use crate::tls::ServerTls;

/// The peer address of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Longest a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener bounds: its connections, and the time a request's headers may take.
#[derive(Clone)]
pub struct ListenerLimits {
    pub connections: Arc<ConnectionTracker>,
    pub header_read_timeout: Duration,
}

/// The limits of the listeners a process runs (`None` for one it does not run).
pub struct PlannedListeners {
    pub server: Option<ListenerLimits>,
    pub admin: Option<ListenerLimits>,
    pub gateway: Option<ListenerLimits>,
}

/// Descriptors kept for what is not a client connection: the database pool (a SQLite connection
/// holds three files), plugin libraries, logs, key and introspection fetches.
fn reserved_descriptors(config: &crate::config::Config, database: bool) -> u64 {
    let pool = if database {
        u64::from(config.database.pool_size) * 4
    } else {
        0
    };
    128 + pool
}

/// Raises the open-file limit, then fits the configured connection caps of the listeners asked
/// for (`server`: the server and the database; `admin`; `gateway`) within it.
pub fn plan_listeners(
    config: &crate::config::Config,
    server: bool,
    admin: bool,
    gateway: bool,
) -> PlannedListeners {
    use crate::connection_limits::{plan_connection_caps, ConnectionCaps, Wanted};
    let open_files = crate::connection_limits::raise_open_file_limit();
    let wish = |name, max_connections, max_per_address, descriptors_per_connection| Wanted {
        name,
        caps: ConnectionCaps {
            max_connections,
            max_per_address,
        },
        descriptors_per_connection,
    };
    let all = [
        (
            server,
            wish(
                "server",
                config.server.max_connections,
                config.server.max_connections_per_address,
                1,
            ),
        ),
        (
            admin,
            wish(
                "admin",
                config.admin.max_connections,
                config.admin.max_connections,
                1,
            ),
        ),
        (
            gateway,
            wish(
                "gateway",
                config.gateway.max_connections,
                config.gateway.max_connections_per_address,
                2,
            ),
        ),
    ];
    let wanted: Vec<Wanted> = all
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| w)
        .collect();
    let caps = plan_connection_caps(open_files, reserved_descriptors(config, server), &wanted);
    let header_read_timeout = Duration::from_millis(config.server.header_read_timeout_ms);
    // In the order asked for: server, admin, gateway.
    let mut made = wanted.iter().zip(caps).map(|(w, caps)| ListenerLimits {
        connections: ConnectionTracker::new(w.name, caps),
        header_read_timeout,
    });
    PlannedListeners {
        server: if server { made.next() } else { None },
        admin: if admin { made.next() } else { None },
        gateway: if gateway { made.next() } else { None },
    }
}

/// Serves `filter` on `listener` (over TLS when `tls` is given) until `shutdown`; then waits
/// at most `grace` for the requests in flight.
pub async fn serve<F>(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    filter: F,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let closing = Closing::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        // Counted before a byte is read; past the caps it is closed at once.
        let Some(connection) = limits.connections.admit(peer.ip()) else {
            continue;
        };
        let connection = Arc::new(connection);
        let service = TowerToHyperService::new(Tracked {
            inner: warp::service(filter.clone()),
            addr: peer,
            connection: connection.clone(),
        });
        let acceptor = tls.as_ref().map(|tls| tls.acceptor());
        let listener_closing = closing.subscribe();
        let http = http1(limits.header_read_timeout);
        let drain = limits.header_read_timeout;
        tokio::spawn(async move {
            let served = match acceptor {
                None => {
                    let serving = http.serve_connection(TokioIo::new(tcp), service);
                    drive(serving, &connection, listener_closing, drain).await
                }
                Some(acceptor) => {
                    // Nothing is in flight during the handshake: a shed connection just goes.
                    let handshake = handshake(&acceptor, tcp, peer);
                    let stream = tokio::select! {
                        stream = handshake => stream,
                        () = connection.shed() => None,
                    };
                    let Some(stream) = stream else {
                        return;
                    };
                    let serving = http.serve_connection(TokioIo::new(stream), service);
                    drive(serving, &connection, listener_closing, drain).await
                }
            };
            if let Some(Err(e)) = served {
                tracing::debug!(%peer, "connection: {e}");
            }
        });
    }
    drop(listener);
    closing.finish_within(grace).await;
}

/// A connection that can be asked to finish: stop reading requests, finish the answer it is
/// writing (the last bytes included, which it may still hold after its body ended), then close.
pub trait GracefulConnection: Future {
    fn start_closing(self: std::pin::Pin<&mut Self>);
}

impl<I, B, S> GracefulConnection for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn start_closing(self: std::pin::Pin<&mut Self>) {
        hyper::server::conn::http1::Connection::graceful_shutdown(self);
    }
}

/// Serves a connection to its end. When the listener closes, the connection is asked to finish
/// (`Closing` bounds the wait); when the tracker asks it to make room (only while no request is in
/// flight), it is asked the same and given `drain` to write what it still holds: a slow reader's
/// last bytes are not cut off, nor is it kept longer. `None` when the drain ran out.
pub async fn drive<C, E>(
    serving: C,
    connection: &Connection,
    mut listener_closing: tokio::sync::watch::Receiver<bool>,
    drain: Duration,
) -> Option<Result<(), E>>
where
    C: GracefulConnection<Output = Result<(), E>>,
{
    let mut serving = std::pin::pin!(serving);
    tokio::select! {
        done = serving.as_mut() => Some(done),
        () = connection.shed() => {
            serving.as_mut().start_closing();
            tokio::time::timeout(drain, serving).await.ok()
        }
        _ = listener_closing.changed() => {
            serving.as_mut().start_closing();
            Some(serving.await)
        }
    }
}

/// Tells a listener's connections that it is closing, and waits for them to finish.
pub struct Closing(tokio::sync::watch::Sender<bool>);

impl Default for Closing {
    fn default() -> Self {
        Self::new()
    }
}

impl Closing {
    pub fn new() -> Closing {
        Closing(tokio::sync::watch::channel(false).0)
    }

    /// For one connection, held until it ends (`drive`).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.subscribe()
    }

    /// Asks every connection to finish, and waits until they have, at most `grace`.
    pub async fn finish_within(self, grace: Duration) {
        let _ = self.0.send(true);
        if tokio::time::timeout(grace, self.0.closed()).await.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "requests still in flight after the shutdown grace period: their connections are closed"
            );
        }
    }
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

/// HTTP/1.1 as every listener serves it: a request's headers must arrive within
/// `header_read_timeout` of the connection starting to wait for them (for a keep-alive
/// connection, from the end of its previous answer), or the connection is closed.
pub fn http1(header_read_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new());
    http.header_read_timeout(header_read_timeout);
    http
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

/// Adds `ClientAddr` to each request before `inner` sees it, and keeps the request counted in
/// flight on its connection until its answer's body is written.
#[derive(Clone)]
pub struct Tracked<S> {
    pub inner: S,
    pub addr: SocketAddr,
    pub connection: Arc<Connection>,
}

impl<S, B, R> tower_service::Service<warp::http::Request<B>> for Tracked<S>
where
    S: tower_service::Service<warp::http::Request<B>, Response = warp::http::Response<R>>,
    S::Future: Send + 'static,
    R: 'static,
{
    type Response = warp::http::Response<TrackedBody<R>>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: warp::http::Request<B>) -> Self::Future {
        let in_flight = self.connection.request_started();
        request.extensions_mut().insert(ClientAddr(self.addr));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| TrackedBody::new(body, in_flight)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection_limits::{ConnectionCaps, ConnectionTracker};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A connection still writing its last answer: once asked to close, it finishes after
    /// `flushes` more polls (asking to be polled again meanwhile), or never, with `None` (a
    /// reader that stopped reading).
    struct Writing {
        asked: bool,
        flushes: Option<u32>,
    }

    impl Future for Writing {
        type Output = Result<(), ()>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            match (self.asked, self.flushes) {
                (true, Some(0)) => Poll::Ready(Ok(())),
                (true, Some(n)) => {
                    self.flushes = Some(n - 1);
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                _ => Poll::Pending,
            }
        }
    }

    impl GracefulConnection for Writing {
        fn start_closing(mut self: Pin<&mut Self>) {
            self.asked = true;
        }
    }

    fn two_connections() -> (Arc<ConnectionTracker>, Connection) {
        let tracker = ConnectionTracker::new(
            "test",
            ConnectionCaps {
                max_connections: 1,
                max_per_address: 10,
            },
        );
        let local = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let idle = tracker.admit(local).unwrap();
        (tracker, idle)
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_shed_to_make_room_finishes_writing_first() {
        let (tracker, idle) = two_connections();
        let local = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        // The cap is reached: the idle connection is asked to make room.
        let _newcomer = tracker.admit(local).unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let writing = Writing {
            asked: false,
            flushes: Some(3),
        };
        let outcome = drive(writing, &idle, rx, Duration::from_secs(10)).await;
        assert_eq!(outcome, Some(Ok(())), "its last bytes were cut off");
    }

    #[tokio::test(start_paused = true)]
    async fn a_shed_connection_that_cannot_finish_is_dropped_after_the_drain() {
        let (tracker, idle) = two_connections();
        let local = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let _newcomer = tracker.admit(local).unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let stuck = Writing {
            asked: false,
            flushes: None,
        };
        assert_eq!(drive(stuck, &idle, rx, Duration::from_secs(10)).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closing_listener_lets_its_connections_finish() {
        let (_tracker, connection) = two_connections();
        let closing = Closing::new();
        let rx = closing.subscribe();
        let writing = Writing {
            asked: false,
            flushes: Some(2),
        };
        let served =
            tokio::spawn(
                async move { drive(writing, &connection, rx, Duration::from_secs(10)).await },
            );
        closing.finish_within(Duration::from_secs(30)).await;
        assert_eq!(served.await.unwrap(), Some(Ok(())));
    }
}
