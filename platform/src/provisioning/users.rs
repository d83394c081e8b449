//! A tenant's users, for the password grant. A password is hashed here and never kept or shown.

use serde_json::{Map, Value};

use super::{audited, field, ProvisioningError, Result};
use crate::audit::{Actor, Change};
use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::passwords::{PasswordError, MAX_PASSWORD_BYTES};
use crate::store::{User, MAX_USERNAME_BYTES};

#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    /// Claims the user's tokens carry.
    #[serde(default)]
    pub claims: Map<String, Value>,
}

/// Never prints the password.
impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

pub fn add(
    app: &OAuthContext,
    on: OnBlockingThread,
    tenant: &str,
    new: NewUser,
    now: i64,
    actor: &Actor,
) -> Result<User> {
    check(&new.username, &new.claims)?;
    let hash = app
        .password_hashing
        .hash(on, &new.password)
        .map_err(|e| match e {
            PasswordError::Empty => {
                ProvisioningError::invalid(field::PASSWORD, "must not be empty")
            }
            PasswordError::TooLong => ProvisioningError::invalid(
                field::PASSWORD,
                format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
            ),
            PasswordError::Busy => ProvisioningError::Busy(e.to_string()),
            PasswordError::Hash(_) => ProvisioningError::Store(crate::store::StoreError::Config(
                format!("cannot hash the password: {e}"),
            )),
        })?;
    let user = app
        .store
        .add_user(tenant, &new.username, &hash, &new.claims, now)?;
    audited(
        app,
        actor,
        Change {
            action: "user.add",
            tenant: Some(tenant.to_owned()),
            target: user.username.clone(),
            // The claims' names only: their values are personal data the log need not copy.
            detail: serde_json::json!({ "claims": new.claims.keys().collect::<Vec<_>>() }),
        },
        now,
    )?;
    Ok(user)
}

/// Removes the user and their browser sessions in the tenant.
pub fn remove(app: &OAuthContext, tenant: &str, username: &str, actor: &Actor) -> Result<()> {
    app.store.remove_user(tenant, username)?;
    audited(
        app,
        actor,
        Change {
            action: "user.remove",
            tenant: Some(tenant.to_owned()),
            target: username.to_owned(),
            detail: serde_json::json!({}),
        },
        crate::clock::now_unix(),
    )
}

/// The user `username` of `tenant`; `NotFound` for an unknown tenant or user.
pub fn find(app: &OAuthContext, tenant: &str, username: &str) -> Result<User> {
    super::tenants::find(app, tenant)?;
    app.store.find_user(tenant, username)?.ok_or_else(|| {
        crate::store::StoreError::from(crate::store::NotFound::User {
            tenant_domain: tenant.to_owned(),
            username: username.to_owned(),
        })
        .into()
    })
}

pub fn list(app: &OAuthContext, tenant: &str) -> Result<Vec<User>> {
    super::tenants::find(app, tenant)?;
    Ok(app.store.list_users(tenant)?)
}

/// How listings show a user: never a password or its hash.
pub fn described(user: &User) -> Value {
    serde_json::json!({
        "tenant_domain": user.tenant_domain,
        "username": user.username,
        "claims": user.claims_object(),
        "created_at": user.created_at,
    })
}

/// The username and claims of a user to add (the command line checks them before it asks for
/// the password).
pub fn check(username: &str, claims: &Map<String, Value>) -> Result<()> {
    check_username(username)?;
    check_claims(claims)
}

fn check_username(username: &str) -> Result<()> {
    if username.is_empty() || username.len() > MAX_USERNAME_BYTES {
        return Err(ProvisioningError::invalid(
            field::USERNAME,
            format!("must be 1 to {MAX_USERNAME_BYTES} bytes"),
        ));
    }
    if username
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(ProvisioningError::invalid(
            field::USERNAME,
            "must not contain spaces or control characters",
        ));
    }
    Ok(())
}

fn check_claims(claims: &Map<String, Value>) -> Result<()> {
    for name in claims.keys() {
        if name.trim().is_empty() {
            return Err(ProvisioningError::invalid(
                field::CLAIMS,
                "a claim has no name",
            ));
        }
        if crate::oauth::id_token::is_reserved_claim(name) {
            return Err(ProvisioningError::invalid(
                field::CLAIMS,
                format!("'{name}' is set by the server on every token"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_claims_are_checked() {
        assert!(check_username("alice").is_ok());
        assert!(check_username("al ice").is_err());
        assert!(check_username("").is_err());
        assert!(check_username(&"a".repeat(MAX_USERNAME_BYTES)).is_ok());
        assert!(check_username(&"a".repeat(MAX_USERNAME_BYTES + 1)).is_err());
        let mut claims = Map::new();
        claims.insert("email".into(), "a@b.example".into());
        assert!(check_claims(&claims).is_ok());
        claims.insert("sub".into(), "root".into());
        assert!(check_claims(&claims)
            .unwrap_err()
            .to_string()
            .contains("'sub' is set by the server"));
        let secret = NewUser {
            username: "alice".into(),
            password: "hunter2-secret".into(),
            claims: Map::new(),
        };
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
