//! The audit log: every change made through the console, the REST API or the command line, newest
//! first, for one tenant or all, a page at a time.

use serde_json::json;
use warp::http::StatusCode;

use super::{link, time_text, Page};
use crate::http::reply::HttpResponse;
use crate::store::AuditFilter;

/// Entries a page shows.
const PAGE_SIZE: usize = 100;

/// `?tenant=` narrows to one tenant; `?before=` (an entry id) pages back.
pub fn list(page: &Page, query: Option<&str>) -> HttpResponse {
    let mut filter = AuditFilter {
        tenant: None,
        before_id: None,
        limit: PAGE_SIZE,
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "tenant" if !value.is_empty() => filter.tenant = Some(value.into_owned()),
            "before" => match value.parse::<i64>() {
                Ok(id) => filter.before_id = Some(id),
                Err(_) => {
                    return page.message(
                        StatusCode::BAD_REQUEST,
                        "Not valid",
                        "before: an entry number",
                    )
                }
            },
            _ => {}
        }
    }
    let entries = match page.app.oauth.store.list_audit(&filter) {
        Ok(entries) => entries,
        Err(e) => return page.refusal(&e.into()),
    };
    let older = (entries.len() == PAGE_SIZE)
        .then(|| entries.last().map(|e| e.id))
        .flatten()
        .map(|id| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(tenant) = &filter.tenant {
                query.append_pair("tenant", tenant);
            }
            query.append_pair("before", &id.to_string());
            format!("{}?{}", link(&["audit"]), query.finish())
        });
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            json!({"id": e.id, "at": time_text(e.at), "actor": e.actor, "via": e.via,
                "from": e.from_address, "action": e.action, "tenant": e.tenant_domain,
                "target": e.target, "detail": e.detail.to_string()})
        })
        .collect();
    page.render(
        StatusCode::OK,
        "audit",
        json!({"section": "audit", "entries": rows, "tenant_filter": filter.tenant,
            "older": older, "action": link(&["audit"])}),
    )
}
