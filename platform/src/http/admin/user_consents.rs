//! A user's remembered consents (issue 23, item 4) as operators see them: listed with their
//! clients' names, and withdrawn one client at a time, for `grantor user consents` and the admin
//! API's `tenants/{tenant}/users/{username}/consents`. Both call these functions, so both refuse
//! the same things with the same words. Granting is the consent page's; this module never grants.
//!
//! A consent is keyed by username, not tied to the user's row, so it may outlive its user; a user
//! that is not there is an error only when there is no consent either: an operator's typo is
//! told, and a consent left behind can still be listed and withdrawn.

use serde_json::{json, Value};

use crate::audit::{Actor, Change};
use crate::store::{Client, Consent, NotFound, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// An unknown tenant, client or user, or a failure of the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The user has granted this client nothing (or it was withdrawn already).
    #[error("user '{username}' has no consent for client '{client}' in tenant '{tenant_domain}'")]
    NoConsent {
        tenant_domain: String,
        username: String,
        /// The client as the caller named it.
        client: String,
    },
    /// The consent was withdrawn, but its audit entry could not be written.
    #[error(
        "consent.withdraw of '{username}' was made but could not be recorded in the audit log: \
         {source}"
    )]
    NotAudited {
        username: String,
        source: StoreError,
    },
}

/// A consent with the name of its client, which an operator knows better than its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedConsent {
    pub consent: Consent,
    pub client_name: String,
}

impl ListedConsent {
    /// How the admin API and `--json` show it.
    pub fn described(&self) -> Value {
        json!({
            "tenant_domain": self.consent.tenant_domain,
            "username": self.consent.subject,
            "client_id": self.consent.client_id,
            "client_name": self.client_name,
            "scopes": self.consent.scopes,
            "granted_at": self.consent.granted_at,
        })
    }
}

/// Every consent `username` gave in this tenant, by client_id. `NotFound` for an unknown tenant,
/// and for an unknown user who has no consent either.
pub fn list(
    store: &Store,
    tenant_domain: &str,
    username: &str,
) -> Result<Vec<ListedConsent>, ConsentError> {
    find_tenant(store, tenant_domain)?;
    let consents = store.consents_of(tenant_domain, username)?;
    if consents.is_empty() {
        find_user(store, tenant_domain, username)?;
        return Ok(Vec::new());
    }
    let clients = store.list_clients(tenant_domain)?;
    Ok(consents
        .into_iter()
        .map(|consent| ListedConsent {
            client_name: clients
                .iter()
                .find(|c| c.client_id == consent.client_id)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            consent,
        })
        .collect())
}

/// Forgets what `username` granted the client named by its client_id or name (as `client
/// remove` names one); the next sign-in to it asks again. The client, as found. `NotFound` for an
/// unknown tenant or client, and for an unknown user; `NoConsent` when there was nothing to
/// withdraw. Recorded in the audit log as `consent.withdraw` by `actor`.
pub fn withdraw(
    store: &Store,
    tenant_domain: &str,
    username: &str,
    client: &str,
    actor: &Actor,
) -> Result<Client, ConsentError> {
    find_tenant(store, tenant_domain)?;
    let found = store
        .list_clients(tenant_domain)?
        .into_iter()
        .find(|c| c.client_id == client || c.name == client)
        .ok_or_else(|| {
            StoreError::from(NotFound::Client {
                tenant_domain: tenant_domain.to_owned(),
                client: client.to_owned(),
            })
        })?;
    if store.withdraw_consent(tenant_domain, &found.client_id, username)? {
        let change = Change {
            action: "consent.withdraw",
            tenant: Some(tenant_domain.to_owned()),
            target: username.to_owned(),
            detail: json!({ "client_id": found.client_id, "client_name": found.name }),
        };
        crate::audit::record(store, actor, change, crate::clock::now_unix()).map_err(|source| {
            ConsentError::NotAudited {
                username: username.to_owned(),
                source,
            }
        })?;
        return Ok(found);
    }
    find_user(store, tenant_domain, username)?;
    Err(ConsentError::NoConsent {
        tenant_domain: tenant_domain.to_owned(),
        username: username.to_owned(),
        client: client.to_owned(),
    })
}

fn find_tenant(store: &Store, tenant_domain: &str) -> Result<(), StoreError> {
    match store.find_active_tenant(tenant_domain)? {
        Some(_) => Ok(()),
        None => Err(NotFound::Tenant {
            domain: tenant_domain.to_owned(),
        }
        .into()),
    }
}

fn find_user(store: &Store, tenant_domain: &str, username: &str) -> Result<(), StoreError> {
    match store.find_user(tenant_domain, username)? {
        Some(_) => Ok(()),
        None => Err(NotFound::User {
            tenant_domain: tenant_domain.to_owned(),
            username: username.to_owned(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{add_consent_clients, for_each_backend, scopes};

    fn actor() -> Actor {
        Actor::command_line()
    }

    /// The consents store's tenants and clients (`add_consent_clients`); users alice and bob in
    /// `carbon.super`.
    fn setup(store: &Store) {
        add_consent_clients(store);
        for user in ["alice", "bob"] {
            store
                .add_user(
                    "carbon.super",
                    user,
                    "$argon2id$not-a-real-hash",
                    &serde_json::Map::new(),
                    1,
                )
                .unwrap();
        }
    }

    fn listed(store: &Store, tenant: &str, user: &str) -> Vec<(String, String, Vec<String>)> {
        list(store, tenant, user)
            .unwrap()
            .into_iter()
            .map(|c| (c.consent.client_id, c.client_name, c.consent.scopes))
            .collect()
    }

    #[test]
    fn consents_are_listed_with_their_clients_names_and_only_the_users() {
        for_each_backend(|store| {
            setup(store);
            store
                .grant_consent("carbon.super", "cid-2", "alice", &scopes(&["openid"]), 100)
                .unwrap();
            store
                .grant_consent(
                    "carbon.super",
                    "cid-1",
                    "alice",
                    &scopes(&["profile", "openid"]),
                    200,
                )
                .unwrap();
            store
                .grant_consent("carbon.super", "cid-1", "bob", &scopes(&["email"]), 100)
                .unwrap();
            store
                .grant_consent("acme", "cid-3", "alice", &scopes(&["email"]), 100)
                .unwrap();
            assert_eq!(
                listed(store, "carbon.super", "alice"),
                [
                    ("cid-1".into(), "web".into(), scopes(&["openid", "profile"])),
                    ("cid-2".into(), "app".into(), scopes(&["openid"])),
                ]
            );
            let described = list(store, "carbon.super", "alice").unwrap()[0].described();
            assert_eq!(
                described,
                json!({
                    "tenant_domain": "carbon.super",
                    "username": "alice",
                    "client_id": "cid-1",
                    "client_name": "web",
                    "scopes": ["openid", "profile"],
                    "granted_at": 200,
                })
            );
            // alice is no user of acme, but what she granted there is still listed.
            assert_eq!(
                listed(store, "acme", "alice"),
                [("cid-3".into(), "web".into(), scopes(&["email"]))]
            );
        });
    }

    #[test]
    fn an_unknown_tenant_or_user_is_not_found_and_a_known_user_may_have_none() {
        for_each_backend(|store| {
            setup(store);
            assert!(list(store, "carbon.super", "bob").unwrap().is_empty());
            assert!(matches!(
                list(store, "ghost", "bob"),
                Err(ConsentError::Store(StoreError::NotFound(
                    NotFound::Tenant { .. }
                )))
            ));
            let typo = list(store, "carbon.super", "alcie").unwrap_err();
            assert!(matches!(
                typo,
                ConsentError::Store(StoreError::NotFound(NotFound::User { .. }))
            ));
            assert_eq!(
                typo.to_string(),
                "user 'alcie' not found in tenant 'carbon.super'"
            );
        });
    }

    #[test]
    fn a_consent_is_withdrawn_by_client_id_or_name_and_others_stay() {
        for_each_backend(|store| {
            setup(store);
            for (client, user) in [("cid-1", "alice"), ("cid-2", "alice"), ("cid-1", "bob")] {
                store
                    .grant_consent("carbon.super", client, user, &scopes(&["openid"]), 100)
                    .unwrap();
            }
            let withdrawn = withdraw(store, "carbon.super", "alice", "web", &actor()).unwrap();
            assert_eq!(withdrawn.client_id, "cid-1");
            assert_eq!(
                listed(store, "carbon.super", "alice"),
                [("cid-2".into(), "app".into(), scopes(&["openid"]))]
            );
            // bob's consent to the same client stays.
            assert!(store
                .find_consent("carbon.super", "cid-1", "bob")
                .unwrap()
                .is_some());
            assert_eq!(
                withdraw(store, "carbon.super", "alice", "cid-2", &actor())
                    .unwrap()
                    .name,
                "app"
            );
            assert!(list(store, "carbon.super", "alice").unwrap().is_empty());
            let entries = store
                .list_audit(&crate::store::AuditFilter {
                    tenant: Some("carbon.super".into()),
                    limit: 10,
                    ..Default::default()
                })
                .unwrap();
            let recorded: Vec<(&str, &str, &serde_json::Value)> = entries
                .iter()
                .map(|e| (e.action.as_str(), e.target.as_str(), &e.detail["client_id"]))
                .collect();
            assert_eq!(
                recorded,
                [
                    ("consent.withdraw", "alice", &json!("cid-2")),
                    ("consent.withdraw", "alice", &json!("cid-1")),
                ]
            );
            assert_eq!(entries[0].actor, actor().who);
        });
    }

    #[test]
    fn withdrawing_what_is_not_there_says_what_is_missing() {
        for_each_backend(|store| {
            setup(store);
            store
                .grant_consent("carbon.super", "cid-1", "alice", &scopes(&["openid"]), 100)
                .unwrap();
            let none = withdraw(store, "carbon.super", "alice", "app", &actor()).unwrap_err();
            assert!(matches!(none, ConsentError::NoConsent { .. }));
            assert_eq!(
                none.to_string(),
                "user 'alice' has no consent for client 'app' in tenant 'carbon.super'"
            );
            assert!(matches!(
                withdraw(store, "carbon.super", "alice", "nope", &actor()),
                Err(ConsentError::Store(StoreError::NotFound(
                    NotFound::Client { .. }
                )))
            ));
            // A client of another tenant is not this tenant's.
            assert!(matches!(
                withdraw(store, "carbon.super", "alice", "cid-3", &actor()),
                Err(ConsentError::Store(StoreError::NotFound(
                    NotFound::Client { .. }
                )))
            ));
            assert!(matches!(
                withdraw(store, "carbon.super", "alcie", "web", &actor()),
                Err(ConsentError::Store(StoreError::NotFound(
                    NotFound::User { .. }
                )))
            ));
            assert!(matches!(
                withdraw(store, "ghost", "alice", "web", &actor()),
                Err(ConsentError::Store(StoreError::NotFound(
                    NotFound::Tenant { .. }
                )))
            ));
            // A second withdrawal finds nothing; the first one's consent was the only one.
            withdraw(store, "carbon.super", "alice", "web", &actor()).unwrap();
            assert!(matches!(
                withdraw(store, "carbon.super", "alice", "web", &actor()),
                Err(ConsentError::NoConsent { .. })
            ));
        });
    }

    #[test]
    fn a_consent_of_someone_who_is_no_user_can_still_be_withdrawn() {
        for_each_backend(|store| {
            setup(store);
            // alice is no user of acme (say she was removed): what she granted there stays
            // withdrawable.
            store
                .grant_consent("acme", "cid-3", "alice", &scopes(&["openid"]), 100)
                .unwrap();
            withdraw(store, "acme", "alice", "web", &actor()).unwrap();
            assert!(matches!(
                list(store, "acme", "alice"),
                Err(ConsentError::Store(StoreError::NotFound(
                    NotFound::User { .. }
                )))
            ));
            assert!(matches!(
                withdraw(store, "acme", "alice", "web", &actor()),
                Err(ConsentError::Store(StoreError::NotFound(
                    NotFound::User { .. }
                )))
            ));
        });
    }
}
