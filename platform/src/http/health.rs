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
                "group_commit": {
                    "batches": app.oauth.writer.stats().batches.load(std::sync::atomic::Ordering::Relaxed),
                    "requests": app.oauth.writer.stats().jobs.load(std::sync::atomic::Ordering::Relaxed),
                    "busy_us": app.oauth.writer.stats().busy_us.load(std::sync::atomic::Ordering::Relaxed),
                },
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
