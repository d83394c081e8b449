//! Tenants: added, changed, removed.

use serde_json::json;

use super::{audited, field, ProvisioningError, Result};
use crate::audit::{Actor, Change};
use crate::oauth::context::OAuthContext;
use crate::store::Tenant;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    pub domain: String,
    /// Display name (default: the domain).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub qualified_subjects: bool,
}

/// What may change on a tenant; `None` leaves it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantChange {
    #[serde(default)]
    pub qualified_subjects: Option<bool>,
}

pub fn add(app: &OAuthContext, new: NewTenant, now: i64, actor: &Actor) -> Result<Tenant> {
    let display_name = new.name.unwrap_or_else(|| new.domain.clone());
    super::check_text(field::NAME, &display_name)?;
    let mut tenant = app.store.add_tenant(&new.domain, &display_name, now)?;
    if new.qualified_subjects {
        app.store.set_qualified_subjects(&new.domain, true)?;
        tenant.qualified_subjects = 1;
    }
    audited(
        app,
        actor,
        Change {
            action: "tenant.add",
            tenant: Some(tenant.domain.clone()),
            target: tenant.domain.clone(),
            detail: json!({
                "name": tenant.display_name,
                "qualified_subjects": tenant.qualified_subjects != 0,
            }),
        },
        now,
    )?;
    Ok(tenant)
}

pub fn find(app: &OAuthContext, domain: &str) -> Result<Tenant> {
    app.store
        .find_active_tenant(domain)?
        .ok_or_else(|| not_found(domain))
}

pub fn not_found(domain: &str) -> ProvisioningError {
    crate::store::StoreError::from(crate::store::NotFound::Tenant {
        domain: domain.to_owned(),
    })
    .into()
}

pub fn update(
    app: &OAuthContext,
    domain: &str,
    change: TenantChange,
    actor: &Actor,
) -> Result<Tenant> {
    let Some(on) = change.qualified_subjects else {
        return Err(ProvisioningError::invalid(
            field::CHANGES,
            "nothing to change: give qualified_subjects",
        ));
    };
    app.store.set_qualified_subjects(domain, on)?;
    audited(
        app,
        actor,
        Change {
            action: "tenant.update",
            tenant: Some(domain.to_owned()),
            target: domain.to_owned(),
            detail: json!({ "qualified_subjects": on }),
        },
        crate::clock::now_unix(),
    )?;
    find(app, domain)
}

/// Removes the tenant with everything it owns; its audit entries stay.
pub fn remove(app: &OAuthContext, domain: &str, actor: &Actor) -> Result<()> {
    if domain == app.urls.default_tenant {
        return Err(ProvisioningError::invalid(
            field::DOMAIN,
            format!(
                "'{domain}' is the default tenant (server.default_tenant); it cannot be removed"
            ),
        ));
    }
    app.store.remove_tenant(domain)?;
    audited(
        app,
        actor,
        Change {
            action: "tenant.remove",
            tenant: Some(domain.to_owned()),
            target: domain.to_owned(),
            detail: json!({}),
        },
        crate::clock::now_unix(),
    )
}
