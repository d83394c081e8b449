//! Serving HTTP(S) from an already-bound listener (tests bind port 0), with graceful shutdown, and
//! the server's background tasks.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::App;

mod run;
pub use run::run;

/// Serves (over TLS when `tls` is given) until `shutdown` completes, then lets in-flight
/// requests finish.
pub async fn serve(
    app: crate::app::SharedApp,
    listener: TcpListener,
    tls: Option<Arc<crate::tls::ServerTls>>,
    limits: crate::connections::ListenerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let housekeeping = [
        tokio::spawn(follow_changes(app.clone())),
        tokio::spawn(purge_expired(app.clone())),
    ];
    let routes = crate::http::routes(app.clone());
    let grace = app.config.server.shutdown_grace();
    crate::connections::serve(listener, tls, routes, limits, shutdown, grace).await;
    for task in &housekeeping {
        task.abort();
    }
    for task in housekeeping {
        let _ = task.await;
    }
    let stats = app.oauth.writer.stats();
    tracing::info!(
        batches = stats.batches.load(Ordering::Relaxed),
        requests = stats.jobs.load(Ordering::Relaxed),
        "group commit totals"
    );
    // The last reference destroys the plugin instances (on_destroy). A call that outlived its
    // deadline may still be running in a plugin: its instance must then stay.
    match Arc::try_unwrap(app) {
        Ok(app) => drop(app),
        Err(_) => tracing::warn!(
            "plugin calls are still running at shutdown; their instances are not destroyed"
        ),
    }
}

/// Polls the database's change counter, so a tenant, client or identity provider changed by the
/// CLI or another node takes effect here within `database.cache_refresh_interval_ms`.
async fn follow_changes(app: Arc<App>) {
    let every = Duration::from_millis(app.config.database.cache_refresh_interval_ms);
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        interval.tick().await;
        let store = app.oauth.store.clone();
        match tokio::task::spawn_blocking(move || store.refresh_read_cache()).await {
            Ok(Ok(changed)) => {
                if changed {
                    tracing::debug!("configuration changed: read cache dropped");
                }
                if failing {
                    tracing::info!("change counter readable again");
                    failing = false;
                }
            }
            // Keep serving from the cache; say so once, not every tick.
            Ok(Err(e)) if !failing => {
                tracing::warn!("cannot read the change counter: {e}");
                failing = true;
            }
            Ok(Err(_)) => {}
            Err(e) => tracing::warn!("change counter task failed: {e}"),
        }
    }
}

/// Deletes expired tokens, replay keys, sign-in counters, sessions and old authorization codes:
/// small steps through the group commit, one after the other, so requests' commits interleave with
/// them and never wait long.
async fn purge_expired(app: Arc<App>) {
    let every = Duration::from_secs(app.config.database.purge_interval_seconds);
    let batch = i64::from(app.config.database.purge_batch);
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let started = std::time::Instant::now();
        let now = crate::clock::now_unix();
        let mut purged = 0;
        loop {
            match app.oauth.writer.purge_expired(now, batch).await {
                Ok(0) => break,
                Ok(n) => purged += n,
                Err(e) => {
                    tracing::warn!("purge of expired rows failed: {e}");
                    break;
                }
            }
        }
        if purged > 0 {
            tracing::info!(
                purged,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "expired tokens, replay keys, sessions and authorization codes purged"
            );
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
