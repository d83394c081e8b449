//! A tenant's signing keys: listed (never a private key) and rotated.

use super::Result;
use crate::app::App;

#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyRow {
    pub kid: String,
    pub algorithm: String,
    pub created_at: i64,
    /// `current`, `published until T` or `retired`.
    pub status: String,
}

pub fn list(app: &App, tenant: &str, now: i64) -> Result<Vec<KeyRow>> {
    super::tenants::find(app, tenant)?;
    Ok(app
        .store
        .signing_keys(tenant)?
        .iter()
        .map(|k| KeyRow {
            kid: k.kid.clone(),
            algorithm: k.algorithm.clone(),
            created_at: k.created_at,
            status: if k.is_current() {
                "current".to_owned()
            } else if k.is_published(now) {
                format!("published until {}", k.publish_until.unwrap_or_default())
            } else {
                "retired".to_owned()
            },
        })
        .collect())
}

/// Makes a new key current; the previous one stays published. Returns the new key's id.
pub fn rotate(app: &App, tenant: &str, now: i64) -> Result<String> {
    super::tenants::find(app, tenant)?;
    Ok(crate::oauth::tenant_keys::rotate(
        &app.store,
        &app.config,
        tenant,
        now,
    )?)
}
