//! `GET /health`: the process is up and its database answers.

use warp::http::StatusCode;

use super::reply::{json_response, HttpResponse};
use crate::app::SharedApp;

pub async fn health(app: SharedApp) -> HttpResponse {
    let backend = app.store.backend().name();
    let worker_app = app.clone();
    let ping = tokio::task::spawn_blocking(move || worker_app.store.ping()).await;
    match ping {
        Ok(Ok(())) => json_response(
            StatusCode::OK,
            &serde_json::json!({"status": "ok", "database": backend}),
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
