//! Grant plugins: the registrations serving now, and a reload with the report of what changed
//! (or, when it is refused, why: the plugins loaded before keep serving).

use serde_json::json;
use warp::http::StatusCode;

use super::{link, Console, Page, SignedIn};
use crate::http::reply::HttpResponse;

pub fn list(page: &Page) -> HttpResponse {
    page.render(StatusCode::OK, "plugins", values(page.app, None, None))
}

fn values(
    app: &crate::app::SharedApp,
    report: Option<serde_json::Value>,
    refused: Option<String>,
) -> serde_json::Value {
    json!({"section": "plugins", "plugins": app.oauth.plugins.running(),
        "report": report, "refused": refused, "action": link(&["plugins", "reload"])})
}

/// Reloads the plugins (as `grantor plugins reload` and the REST API do) and records it; a
/// refused reload changes nothing and is not recorded (as the REST API does).
pub async fn reload(console: &Console, signed_in: &SignedIn, now: i64) -> HttpResponse {
    let page = |status, values: serde_json::Value| {
        signed_in.page(&console.theme, status, "plugins", values)
    };
    let report = match console.plugins.reload().await {
        Ok(report) => report,
        Err(e) => {
            let refused = format!("{e}\nThe grant plugins loaded before keep serving.");
            return page(
                StatusCode::CONFLICT,
                values(&console.app, None, Some(refused)),
            );
        }
    };
    let change = crate::audit::Change {
        action: "plugins.reload",
        tenant: None,
        target: "grant plugins".into(),
        detail: serde_json::to_value(&report).unwrap_or_default(),
    };
    let store = console.app.oauth.store.clone();
    let actor = signed_in.actor.clone();
    let recorded = crate::blocking::OnBlockingThread::spawn(move |_| {
        crate::audit::record(&store, &actor, change, now)
    })
    .await;
    let shown = json!({"summary": report.summary(), "changes": report.changes});
    let mut values = values(&console.app, Some(shown), None);
    if !matches!(recorded, Ok(Ok(()))) {
        tracing::error!("a plugin reload was made but not recorded in the audit log: {recorded:?}");
        values["audit_failed"] = true.into();
    }
    page(StatusCode::OK, values)
}
