//! Tenants: the list with the form that adds one, a tenant's overview (what it holds and its
//! token requests over the last hour), subject qualification, and removal after a confirmation
//! that names what goes with the tenant.

use serde_json::{json, Value};
use warp::http::StatusCode;

use super::{link, Confirmation, Form, Page};
use crate::http::reply::HttpResponse;
use crate::provisioning::{self, tenants};

/// The tenants and the form that adds one (filled again, with the reason, after a refusal).
pub fn list(
    page: &Page,
    notice: Option<String>,
    refused: Option<(&Form, String)>,
    status: StatusCode,
) -> HttpResponse {
    let all = match page.app.oauth.store.list_tenants() {
        Ok(all) => all,
        Err(e) => return page.refusal(&e.into()),
    };
    let rows: Vec<Value> = all
        .iter()
        .map(|t| {
            json!({"domain": t.domain, "name": t.display_name, "status": t.status,
                "qualified_subjects": t.qualified_subjects != 0,
                "created_at": super::time_text(t.created_at),
                "url": link(&["tenants", &t.domain])})
        })
        .collect();
    let (form, error) = match refused {
        Some((form, error)) => (Value::Object(form.refill()), Some(error)),
        None => (json!({}), None),
    };
    page.render(
        status,
        "tenants",
        json!({"section": "tenants", "tenants": rows, "form": form, "error": error, "notice": notice,
            "default_tenant": page.app.oauth.urls.default_tenant}),
    )
}

pub fn add(page: &Page, form: &Form) -> HttpResponse {
    let new = tenants::NewTenant {
        domain: form.text("domain").unwrap_or_default(),
        name: form.text("name"),
        qualified_subjects: form.checked("qualified_subjects"),
    };
    match tenants::add(&page.app.oauth, new, page.now, &page.signed_in.actor) {
        Ok(tenant) => {
            let added = format!("Tenant {} added.", tenant.domain);
            overview_with(page, &tenant.domain, Some(added))
        }
        Err(e) => {
            let (status, _) = super::refusal_status(&e);
            list(page, None, Some((form, super::refusal_text(&e))), status)
        }
    }
}

/// What a tenant holds, as counts, for its overview and its removal's confirmation.
fn holdings(page: &Page, domain: &str) -> provisioning::Result<Value> {
    let app = &page.app.oauth;
    Ok(json!({
        "applications": provisioning::clients::list(app, domain)?.len(),
        "identity_providers": provisioning::identity_providers::list(app, domain)?.len(),
        "users": provisioning::users::list(app, domain)?.len(),
        "keys": provisioning::keys::list(app, domain, page.now)?.len(),
    }))
}

pub fn overview(page: &Page, domain: &str) -> HttpResponse {
    overview_with(page, domain, None)
}

fn overview_with(page: &Page, domain: &str, notice: Option<String>) -> HttpResponse {
    let app = &page.app.oauth;
    let tenant = match tenants::find(app, domain) {
        Ok(tenant) => tenant,
        Err(e) => return page.refusal(&e),
    };
    let holdings = match holdings(page, domain) {
        Ok(holdings) => holdings,
        Err(e) => return page.refusal(&e),
    };
    let recent = crate::metrics::metrics().recent_token_requests(domain, page.now);
    let chart = crate::overview_chart::token_requests_svg(domain, &recent);
    page.render(
        StatusCode::OK,
        "tenant",
        json!({"section": "tenants", "tenant": tenant.domain, "tenant_info": {"domain": tenant.domain,
                "name": tenant.display_name, "qualified_subjects": tenant.qualified_subjects != 0},
            "holdings": holdings, "chart": chart, "recent": recent, "notice": notice,
            "default_tenant": tenant.domain == app.urls.default_tenant,
            "urls": tenant_urls(domain)}),
    )
}

/// The links of a tenant's pages.
pub fn tenant_urls(domain: &str) -> Value {
    json!({
        "overview": link(&["tenants", domain]),
        "identity_providers": link(&["tenants", domain, "identity-providers"]),
        "new_identity_provider": format!("{}?new", link(&["tenants", domain, "identity-providers"])),
        "applications": link(&["tenants", domain, "applications"]),
        "users": link(&["tenants", domain, "users"]),
        "keys": link(&["tenants", domain, "keys"]),
        "remove": link(&["tenants", domain, "remove"]),
        "qualified_subjects": link(&["tenants", domain, "qualified-subjects"]),
        "audit": format!("{}?tenant={}", link(&["audit"]),
            form_urlencoded::byte_serialize(domain.as_bytes()).collect::<String>()),
    })
}

pub fn set_qualified_subjects(page: &Page, domain: &str, form: &Form) -> HttpResponse {
    let change = tenants::TenantChange {
        qualified_subjects: Some(form.text("qualified_subjects").as_deref() == Some("on")),
    };
    match tenants::update(&page.app.oauth, domain, change, &page.signed_in.actor) {
        Ok(tenant) => overview_with(
            page,
            domain,
            Some(if tenant.qualified_subjects != 0 {
                format!("Subjects are now presented as user@{domain}.")
            } else {
                "Subjects are now presented as stored.".to_owned()
            }),
        ),
        Err(e) => page.refusal(&e),
    }
}

pub fn confirm_removal(page: &Page, domain: &str) -> HttpResponse {
    if let Err(e) = tenants::find(&page.app.oauth, domain) {
        return page.refusal(&e);
    }
    let holdings = match holdings(page, domain) {
        Ok(holdings) => holdings,
        Err(e) => return page.refusal(&e),
    };
    let goes = [
        ("applications", "application"),
        ("identity_providers", "identity provider"),
        ("users", "user"),
        ("keys", "signing key"),
    ]
    .iter()
    .map(|(key, noun)| {
        let n = holdings[key].as_u64().unwrap_or(0);
        format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
    })
    .chain(["every token it issued, its refresh token families, sessions and consents".to_owned()])
    .collect::<Vec<_>>();
    page.confirm(
        "tenants",
        domain,
        Confirmation {
            title: format!("Remove tenant {domain}?"),
            consequences: goes,
            action: link(&["tenants", domain, "remove"]),
            button: "Remove the tenant and all it holds",
            cancel: link(&["tenants", domain]),
        },
    )
}

pub fn remove(page: &Page, domain: &str) -> HttpResponse {
    match tenants::remove(&page.app.oauth, domain, &page.signed_in.actor) {
        Ok(()) => list(
            page,
            Some(format!("Tenant {domain} removed, with all it held.")),
            None,
            StatusCode::OK,
        ),
        Err(e) => page.refusal(&e),
    }
}
