//! `GET /health`: the process is up and its database answers. It also tells how far this node's
//! read cache has followed configuration changes: `cache_generation` equal to
//! `database_generation` means every change made before this request is in effect here.

use warp::http::StatusCode;

use super::reply::{json_response, HttpResponse};
use crate::app::SharedApp;

pub async fn health(app: SharedApp) -> HttpResponse {
    let backend = app.oauth.store.backend().name();
    let worker_app = app.clone();
    let ping = tokio::task::spawn_blocking(move || {
        // Cache first: a change seen by the cache was in the database before the read below.
        let cached = worker_app.oauth.store.cached_generation();
        worker_app
            .oauth
            .store
            .database_generation()
            .map(|database| (cached, database))
    })
    .await;
    match ping {
        Ok(Ok((cached, database))) => json_response(
            StatusCode::OK,
            &serde_json::json!({
                "status": "ok",
                "database": backend,
                "cache_generation": cached,
                "database_generation": database,
                "group_commit": group_commit(&app.oauth.writer),
            }),
        ),
        Ok(Err(e)) => {
            tracing::warn!("health check: {e}");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"status": "unavailable", "database": backend}),
            )
        }
        Err(e) => {
            tracing::error!("health check task: {e}");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"status": "unavailable", "database": backend}),
            )
        }
    }
}

/// How the group commit has been doing since the start: for operators and the benchmark harness.
fn group_commit(writer: &crate::store::GroupCommitter) -> serde_json::Value {
    let stats = writer.stats();
    let read =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    serde_json::json!({
        "batches": read(&stats.batches),
        "requests": read(&stats.jobs),
        "busy_us": read(&stats.busy_us),
        "cpu_us": read(&stats.cpu_us),
        "wal_frames": writer.wal_frames(),
    })
}
