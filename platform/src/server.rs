//! Serving HTTP from an already-bound listener (tests bind port 0), with graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::App;

/// Serves until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = Arc::new(app);
    let housekeeping = tokio::spawn(purge_replay_cache(app.clone()));
    let routes = crate::http::routes(app);
    warp::serve(routes)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    housekeeping.abort();
}

/// How often expired replay-cache entries are deleted. They never block anything (an expired
/// entry is replaced on use); purging only keeps the table small.
const REPLAY_CACHE_PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

async fn purge_replay_cache(app: Arc<App>) {
    let mut interval = tokio::time::interval(REPLAY_CACHE_PURGE_INTERVAL);
    loop {
        interval.tick().await;
        let store = app.store.clone();
        let started = std::time::Instant::now();
        let outcome =
            tokio::task::spawn_blocking(move || store.purge_expired_jtis(crate::clock::now_unix()))
                .await;
        match outcome {
            Ok(Ok(0)) => {}
            Ok(Ok(purged)) => tracing::info!(
                purged,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "expired replay-cache entries purged"
            ),
            Ok(Err(e)) => tracing::warn!("replay-cache purge failed: {e}"),
            Err(e) => tracing::warn!("replay-cache purge task failed: {e}"),
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
