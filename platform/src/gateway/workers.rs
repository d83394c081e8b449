//! Serving the gateway on one single-threaded runtime per worker thread. The listener's task
//! hands each accepted connection to the next worker in turn, and the connection stays there:
//! its requests, their validation and the upstream connections they use (each worker has its own
//! client, and pool, per API) all run on one thread.
//!
//! Why: on one work-stealing runtime a proxied request wakes other threads several times (the
//! upstream client's connection task, stolen tasks), and those wake-ups cost about a fifth of the
//! gateway's CPU per request (BENCHMARKS.md, "The API gateway").

use std::sync::Arc;

use anyhow::Context;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};

use super::{forward, serve_request, Gateway};
use crate::connection_limits::{Connection, TrackedBody};
use crate::connections::ListenerLimits;

/// An accepted connection on its way to a worker: the socket, the client's address and its
/// place among the listener's connections.
type Accepted = (std::net::TcpStream, std::net::SocketAddr, Connection);

/// How many workers `configured` asks for: 0 means one per available core.
pub fn worker_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Serves the gateway from a bound listener until `shutdown`; then stops accepting and waits,
/// at most `grace`, for the connections' in-flight requests to finish (idle keep-alive
/// connections are closed).
pub async fn serve(
    gateway: Gateway,
    listener: tokio::net::TcpListener,
    limits: ListenerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> anyhow::Result<()> {
    let gateway = Arc::new(gateway);
    let count = worker_count(gateway.config.workers);
    let mut workers = Vec::with_capacity(count);
    let mut finished = Vec::with_capacity(count);
    for index in 0..count {
        let clients = gateway
            .config
            .api
            .iter()
            .map(forward::client)
            .collect::<anyhow::Result<Arc<[_]>>>()?;
        let (connections, incoming) = mpsc::unbounded_channel();
        let (done, done_waiter) = oneshot::channel::<()>();
        let gateway = gateway.clone();
        let header_read_timeout = limits.header_read_timeout;
        std::thread::Builder::new()
            .name(format!("gateway-{index}"))
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(worker(
                        gateway,
                        clients,
                        incoming,
                        header_read_timeout,
                        grace,
                    )),
                    Err(e) => tracing::error!("gateway worker {index}: no runtime: {e}"),
                }
                drop(done);
            })
            .context("cannot start a gateway worker thread")?;
        workers.push(connections);
        finished.push(done_waiter);
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = crate::connections::accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        // Counted before a byte is read; past the caps it is closed at once.
        let Some(connection) = limits.connections.admit(peer.ip()) else {
            continue;
        };
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!("gateway accept: {e}");
                continue;
            }
        };
        if workers[next].send((stream, peer, connection)).is_err() {
            anyhow::bail!("gateway worker {next} has stopped");
        }
        next = (next + 1) % workers.len();
    }
    drop(listener);
    // Closing the channels tells each worker to finish its connections and stop.
    drop(workers);
    for done in finished {
        let _ = done.await;
    }
    Ok(())
}

/// One worker: serves the connections it is handed, until the channel closes.
async fn worker(
    gateway: Arc<Gateway>,
    clients: Arc<[forward::UpstreamClient]>,
    mut incoming: mpsc::UnboundedReceiver<Accepted>,
    header_read_timeout: std::time::Duration,
    grace: std::time::Duration,
) {
    let closing = crate::connections::Closing::new();
    while let Some((stream, peer, connection)) = incoming.recv().await {
        let stream = match tokio::net::TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!("gateway connection: {e}");
                continue;
            }
        };
        let connection = Arc::new(connection);
        let (gateway, clients, tracked) = (gateway.clone(), clients.clone(), connection.clone());
        let service = hyper::service::service_fn(move |request| {
            // In flight until the answer's body is written: never closed to make room meanwhile.
            let in_flight = tracked.request_started();
            let answer = serve_request(gateway.clone(), clients.clone(), peer, request);
            async move {
                let response = answer.await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| TrackedBody::new(body, in_flight)),
                )
            }
        });
        let serving = crate::connections::http1(header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let listener_closing = closing.subscribe();
        tokio::spawn(async move {
            let drain = header_read_timeout;
            let served =
                crate::connections::drive(serving, &connection, listener_closing, drain).await;
            if let Some(Err(e)) = served {
                tracing::debug!("gateway connection: {e}");
            }
        });
    }
    closing.finish_within(grace).await;
}
