//! A tenant's signing keys: their states (never a private key) and rotation, scheduled (the new
//! key signs once caches of the key set have it) or immediate (after a compromise).

use serde_json::json;
use warp::http::StatusCode;

use super::tenants::tenant_urls;
use super::{link, time_text, Form, Page};
use crate::http::reply::HttpResponse;
use crate::provisioning::keys;

pub fn list(page: &Page, tenant: &str, notice: Option<String>) -> HttpResponse {
    let rows = match keys::list(&page.app.oauth, tenant, page.now) {
        Ok(rows) => rows,
        Err(e) => return page.refusal(&e),
    };
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|k| {
            json!({"kid": k.kid, "algorithm": k.algorithm, "state": k.state,
                "created_at": time_text(k.created_at),
                "activates_at": time_text(k.activates_at),
                "changes_at": k.changes_at.map(time_text)})
        })
        .collect();
    page.render(
        StatusCode::OK,
        "keys",
        json!({"section": "keys", "tenant": tenant, "urls": tenant_urls(tenant), "keys": rows,
            "notice": notice, "action": link(&["tenants", tenant, "keys", "rotate"])}),
    )
}

/// `immediate` = `true` rotates now and withdraws the other keys.
pub fn rotate(page: &Page, tenant: &str, form: &Form) -> HttpResponse {
    let immediate = form.text("immediate").as_deref() == Some("true");
    match keys::rotate(
        &page.app.oauth,
        tenant,
        page.now,
        immediate,
        &page.signed_in.actor,
    ) {
        Ok(rotated) => {
            let mut notice = format!(
                "Key {} added; it signs from {}.",
                rotated.kid,
                time_text(rotated.activates_at)
            );
            if !rotated.withdrawn.is_empty() {
                notice.push_str(&format!(
                    " Withdrawn from the key set now: {}.",
                    rotated.withdrawn.join(", ")
                ));
            }
            list(page, tenant, Some(notice))
        }
        Err(e) => page.refusal(&e),
    }
}
