//! Applications (OAuth clients): the list with the form that registers one (allowed grant types
//! listing the built-in grants and those of the loaded plugins, scopes, token format, audiences,
//! redirect URIs, certificates or a JWKS URI for `private_key_jwt`), the page that shows a new
//! application's secret once, and removal.

use serde_json::{json, Value};
use warp::http::StatusCode;

use super::tenants::tenant_urls;
use super::{link, Confirmation, Form, Page};
use crate::http::reply::HttpResponse;
use crate::provisioning::clients::{self, ClientRegistration};
use crate::provisioning::{self, ProvisioningError};
use crate::store::{CONSENT_REQUIRED, CONSENT_SKIP, TOKEN_FORMAT_JWT, TOKEN_FORMAT_OPAQUE};

pub fn list(
    page: &Page,
    tenant: &str,
    refused: Option<(&Form, String, StatusCode)>,
) -> HttpResponse {
    list_with(page, tenant, refused, None)
}

fn list_with(
    page: &Page,
    tenant: &str,
    refused: Option<(&Form, String, StatusCode)>,
    notice: Option<String>,
) -> HttpResponse {
    let app = &page.app.oauth;
    let all = match clients::list(app, tenant) {
        Ok(all) => all,
        Err(e) => return page.refusal(&e),
    };
    let rows: Vec<Value> = all
        .iter()
        .map(|c| {
            json!({"name": c.name, "client_id": c.client_id, "grant_types": c.grant_types,
                "scopes": c.scopes, "token_format": c.token_format,
                "authentication": if c.uses_private_key_jwt() { "private_key_jwt" } else { "client_secret" },
                "remove_url": link(&["tenants", tenant, "applications", &c.client_id, "remove"])})
        })
        .collect();
    let mut grant_types = clients::registered_grant_types(&app.settings, app.plugins.grant_types());
    grant_types.sort();
    grant_types.dedup();
    let plugin_grants = app.plugins.grant_types();
    let grant_types: Vec<Value> = grant_types
        .iter()
        .map(|g| json!({"name": g, "plugin": plugin_grants.contains(g)}))
        .collect();
    let (status, form, checked, error) = match refused {
        Some((form, error, status)) => (
            status,
            Value::Object(form.refill()),
            form.list("grant_types"),
            Some(error),
        ),
        None => (
            StatusCode::OK,
            json!({"token_format": TOKEN_FORMAT_OPAQUE, "consent": CONSENT_REQUIRED}),
            Vec::new(),
            None,
        ),
    };
    page.render(
        status,
        "applications",
        json!({"section": "applications", "tenant": tenant, "urls": tenant_urls(tenant),
            "applications": rows, "grant_types": grant_types, "form": form, "error": error,
            "checked_grant_types": checked,
            "notice": notice, "token_formats": [TOKEN_FORMAT_OPAQUE, TOKEN_FORMAT_JWT],
            "consents": [CONSENT_REQUIRED, CONSENT_SKIP],
            "action": link(&["tenants", tenant, "applications"])}),
    )
}

fn lifetime(form: &Form, name: &'static str) -> provisioning::Result<Option<u32>> {
    form.text(name)
        .map(|text| {
            text.parse::<u32>().map_err(|_| {
                ProvisioningError::invalid(
                    provisioning::Field { name, flag: name },
                    format!("'{text}': a whole number of seconds"),
                )
            })
        })
        .transpose()
}

pub fn add(page: &Page, tenant: &str, form: &Form) -> HttpResponse {
    let registered = (|| {
        let (certificates, files) = super::identity_providers::posted_keys(form)?;
        let registration = ClientRegistration {
            name: form.text("name").unwrap_or_default(),
            grant_types: form.list("grant_types"),
            scopes: form.list("scopes"),
            access_token_lifetime: lifetime(form, "access_token_lifetime")?,
            refresh_token_lifetime: lifetime(form, "refresh_token_lifetime")?,
            token_format: form.text("token_format"),
            audiences: form.list("audiences"),
            certificates,
            jwks_uri: form.text("jwks_uri"),
            redirect_uris: form.list("redirect_uris"),
            post_logout_redirect_uris: form.list("post_logout_redirect_uris"),
            consent: form.text("consent"),
        };
        clients::add(
            &page.app.oauth,
            tenant,
            registration,
            files,
            page.now,
            &page.signed_in.actor,
        )
    })();
    match registered {
        // Shown here once, never stored, never in a URL: the page is not cached (no-store).
        Ok(registered) => page.render(
            StatusCode::CREATED,
            "application_created",
            json!({"section": "applications", "tenant": tenant, "urls": tenant_urls(tenant),
                "application": {"name": registered.client.name,
                    "client_id": registered.client.client_id,
                    "grant_types": registered.client.grant_types},
                "client_secret": registered.client_secret, "warnings": registered.warnings,
                "token_endpoint": page.app.oauth.urls.token_endpoint_url(tenant)}),
        ),
        Err(e) => {
            let (status, _) = super::refusal_status(&e);
            if !matches!(status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) {
                return page.refusal(&e);
            }
            list(page, tenant, Some((form, super::refusal_text(&e), status)))
        }
    }
}

pub fn confirm_removal(page: &Page, tenant: &str, client_id: &str) -> HttpResponse {
    let client = match clients::find(&page.app.oauth, tenant, client_id) {
        Ok(client) => client,
        Err(e) => return page.refusal(&e),
    };
    page.confirm(
        "applications",
        tenant,
        Confirmation {
            title: format!("Remove application {}?", client.name),
            consequences: vec![
                format!("client {} can no longer get tokens", client.client_id),
                "the tokens it holds stop working, and its refresh token families are revoked"
                    .to_owned(),
            ],
            action: link(&["tenants", tenant, "applications", client_id, "remove"]),
            button: "Remove the application",
            cancel: link(&["tenants", tenant, "applications"]),
        },
    )
}

pub fn remove(page: &Page, tenant: &str, client_id: &str) -> HttpResponse {
    match clients::remove(&page.app.oauth, tenant, client_id, &page.signed_in.actor) {
        Ok(()) => list_with(
            page,
            tenant,
            None,
            Some(format!("Application {client_id} removed.")),
        ),
        Err(e) => page.refusal(&e),
    }
}
