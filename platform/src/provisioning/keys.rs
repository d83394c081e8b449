//! A tenant's signing keys: listed with their states (never a private key) and rotated.

use serde_json::json;

use super::{audited, Result};
use crate::audit::{Actor, Change};
use crate::oauth::context::OAuthContext;
use crate::oauth::tenant_keys::Rotated;
use crate::store::KeyState;

#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyRow {
    pub kid: String,
    pub algorithm: String,
    pub created_at: i64,
    /// `next` (published, signs from `activates_at`), `current` (signs), `retiring` (published
    /// until `published_until`, signs no more) or `retired`.
    pub state: KeyState,
    /// Signs from then (Unix time).
    pub activates_at: i64,
    /// Signs until then, once a rotation has named its successor.
    pub signs_until: Option<i64>,
    /// Leaves the JWKS then, once a rotation has named its successor.
    pub published_until: Option<i64>,
    /// When its state changes next by itself; none for a current key without a successor and
    /// for a retired key.
    pub changes_at: Option<i64>,
}

/// The tenant's keys at `now`: next first, then current, retiring and retired, newest first.
pub fn list(app: &OAuthContext, tenant: &str, now: i64) -> Result<Vec<KeyRow>> {
    super::tenants::find(app, tenant)?;
    let mut rows: Vec<KeyRow> = app
        .store
        .signing_keys(tenant)?
        .iter()
        .map(|k| {
            let state = k.state(now);
            KeyRow {
                kid: k.kid.clone(),
                algorithm: k.algorithm.clone(),
                created_at: k.created_at,
                state,
                activates_at: k.activates_at,
                signs_until: k.retired_at,
                published_until: k.publish_until,
                changes_at: match state {
                    KeyState::Next => Some(k.activates_at),
                    KeyState::Current => k.retired_at,
                    KeyState::Retiring => k.publish_until,
                    KeyState::Retired => None,
                },
            }
        })
        .collect();
    rows.sort_by_key(|r| (r.state, std::cmp::Reverse((r.activates_at, r.created_at))));
    Ok(rows)
}

/// Adds the tenant's next key (`immediate`: it signs now and the others are withdrawn; see
/// `TenantKeys::rotate`).
pub fn rotate(
    app: &OAuthContext,
    tenant: &str,
    now: i64,
    immediate: bool,
    actor: &Actor,
) -> Result<Rotated> {
    super::tenants::find(app, tenant)?;
    let rotated = app.tenant_keys().rotate(tenant, now, immediate)?;
    audited(
        app,
        actor,
        Change {
            action: "keys.rotate",
            tenant: Some(tenant.to_owned()),
            target: rotated.kid.clone(),
            detail: json!({
                "immediate": immediate,
                "activates_at": rotated.activates_at,
                "replaced": rotated.replaced.iter().map(|(kid, _)| kid).collect::<Vec<_>>(),
                "withdrawn": rotated.withdrawn,
            }),
        },
        now,
    )?;
    Ok(rotated)
}
