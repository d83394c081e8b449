//! A tenant's users: the list with their claims, the form that adds one (the password typed
//! twice, never shown or kept: only its hash is stored), and removal.

use serde_json::{json, Map, Value};
use warp::http::StatusCode;

use super::tenants::tenant_urls;
use super::{link, Confirmation, Form, Page};
use crate::http::reply::HttpResponse;
use crate::provisioning::users::{self, NewUser};
use crate::provisioning::{field, ProvisioningError};

pub fn list(page: &Page, tenant: &str, notice: Option<String>) -> HttpResponse {
    list_with(page, tenant, notice, None)
}

fn list_with(
    page: &Page,
    tenant: &str,
    notice: Option<String>,
    refused: Option<(&Form, String, StatusCode)>,
) -> HttpResponse {
    let all = match users::list(&page.app.oauth, tenant) {
        Ok(all) => all,
        Err(e) => return page.refusal(&e),
    };
    let rows: Vec<Value> = all
        .iter()
        .map(|u| {
            let claims: Vec<String> = u
                .claims_object()
                .iter()
                .map(|(name, value)| match value {
                    Value::String(text) => format!("{name}={text}"),
                    other => format!("{name}={other}"),
                })
                .collect();
            json!({"username": u.username, "claims": claims,
                "created_at": super::time_text(u.created_at),
                "remove_url": link(&["tenants", tenant, "users", &u.username, "remove"])})
        })
        .collect();
    let (status, form, error) = match refused {
        Some((form, error, status)) => (status, Value::Object(form.refill()), Some(error)),
        None => (StatusCode::OK, json!({}), None),
    };
    page.render(
        status,
        "users",
        json!({"section": "users", "tenant": tenant, "urls": tenant_urls(tenant),
            "users": rows, "form": form, "error": error, "notice": notice,
            "action": link(&["tenants", tenant, "users"])}),
    )
}

/// `NAME=VALUE` lines, as the command line's `--claim` (a string each).
fn claims(form: &Form) -> Result<Map<String, Value>, ProvisioningError> {
    let mut claims = Map::new();
    for line in form.lines("claims") {
        let Some((name, value)) = line.split_once('=') else {
            return Err(ProvisioningError::invalid(
                field::CLAIMS,
                format!("'{line}' must be NAME=VALUE"),
            ));
        };
        claims.insert(
            name.trim().to_owned(),
            Value::String(value.trim().to_owned()),
        );
    }
    Ok(claims)
}

pub fn add(page: &Page, tenant: &str, form: &Form) -> HttpResponse {
    let added = (|| {
        let password = form.raw("password");
        if password != form.raw("password_again") {
            return Err(ProvisioningError::invalid(
                field::PASSWORD,
                "the two passwords differ",
            ));
        }
        let new = NewUser {
            username: form.text("username").unwrap_or_default(),
            password: password.to_owned(),
            claims: claims(form)?,
        };
        users::add(
            &page.app.oauth,
            page.on,
            tenant,
            new,
            page.now,
            &page.signed_in.actor,
        )
    })();
    match added {
        Ok(user) => list(page, tenant, Some(format!("User {} added.", user.username))),
        Err(e) => {
            let (status, _) = super::refusal_status(&e);
            if !matches!(status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) {
                return page.refusal(&e);
            }
            list_with(
                page,
                tenant,
                None,
                Some((form, super::refusal_text(&e), status)),
            )
        }
    }
}

pub fn confirm_removal(page: &Page, tenant: &str, username: &str) -> HttpResponse {
    if let Err(e) = users::find(&page.app.oauth, tenant, username) {
        return page.refusal(&e);
    }
    page.confirm(
        "users",
        tenant,
        Confirmation {
            title: format!("Remove user {username}?"),
            consequences: vec![
                "the user can no longer sign in".to_owned(),
                "the user's sessions end, and the consents the user gave are withdrawn".to_owned(),
            ],
            action: link(&["tenants", tenant, "users", username, "remove"]),
            button: "Remove the user",
            cancel: link(&["tenants", tenant, "users"]),
        },
    )
}

pub fn remove(page: &Page, tenant: &str, username: &str) -> HttpResponse {
    match users::remove(&page.app.oauth, tenant, username, &page.signed_in.actor) {
        Ok(()) => list(page, tenant, Some(format!("User {username} removed."))),
        Err(e) => page.refusal(&e),
    }
}
