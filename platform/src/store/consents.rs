//! Remembered consents of the sign-in flow (issue 23, item 4): the scopes a user granted a client
//! in a tenant, so that the consent page is shown again only for a scope not granted yet, and so
//! that a grant can be withdrawn. One row per tenant, client and subject (the username); its
//! scopes are one JSON list (`lists.rs`), sorted and without duplicates. This module never decides
//! whether a client needs consent (its `consent` setting does) nor renders a page.

use std::collections::BTreeSet;

use diesel::prelude::*;

use super::lists::{encode_list, StoredIn};
use super::schema::{consents, service_providers};
use super::{CorruptValue, DbConnection, NotFound, Store, StoreError};

/// What a user granted a client, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub tenant_domain: String,
    pub client_id: String,
    pub subject: String,
    /// Sorted, without duplicates.
    pub scopes: Vec<String>,
    /// When scopes were last granted (Unix seconds).
    pub granted_at: i64,
}

impl Consent {
    /// Whether every requested scope was granted already, so no consent page is needed.
    pub fn covers(&self, requested: &[String]) -> bool {
        requested
            .iter()
            .all(|scope| self.scopes.binary_search(scope).is_ok())
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = consents)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct ConsentRow {
    tenant_domain: String,
    client_id: String,
    subject: String,
    scopes: String,
    granted_at: i64,
}

impl ConsentRow {
    fn decode(self) -> Result<Consent, CorruptValue> {
        let row = format!("{}/{}/{}", self.tenant_domain, self.client_id, self.subject);
        let stored = StoredIn {
            table: "consents",
            row: &row,
        };
        let scopes = stored.list("scopes", &self.scopes)?;
        Ok(Consent {
            scopes: sorted_scopes(scopes),
            tenant_domain: self.tenant_domain,
            client_id: self.client_id,
            subject: self.subject,
            granted_at: self.granted_at,
        })
    }
}

fn sorted_scopes(scopes: impl IntoIterator<Item = String>) -> Vec<String> {
    scopes
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The consent under this key, its row held until the transaction ends (PostgreSQL: `FOR
/// UPDATE`; SQLite: the write lock `BEGIN IMMEDIATE` took).
fn hold_consent(
    conn: &mut DbConnection,
    tenant_domain: &str,
    client_id: &str,
    subject: &str,
) -> Result<Option<Consent>, StoreError> {
    let key = consents::tenant_domain
        .eq(tenant_domain)
        .and(consents::client_id.eq(client_id))
        .and(consents::subject.eq(subject));
    let row: Option<ConsentRow> = if let DbConnection::Postgres(pg) = &mut *conn {
        consents::table
            .filter(key)
            .select(ConsentRow::as_select())
            .for_update()
            .first(pg)
            .optional()?
    } else {
        consents::table
            .filter(key)
            .select(ConsentRow::as_select())
            .first(conn)
            .optional()?
    };
    Ok(row.map(ConsentRow::decode).transpose()?)
}

impl Store {
    /// Remembers that `subject` granted `scopes` to a client of this tenant (`NotFound` for a
    /// client of another tenant or none). A second grant keeps what was granted before: the row
    /// holds the union, and `granted_at` becomes `now`. The consent as stored.
    pub fn grant_consent(
        &self,
        tenant_domain: &str,
        client_id: &str,
        subject: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<Consent, StoreError> {
        self.write_transaction(|conn| {
            let clients: i64 = service_providers::table
                .filter(service_providers::tenant_domain.eq(tenant_domain))
                .filter(service_providers::client_id.eq(client_id))
                .count()
                .get_result(conn)?;
            if clients == 0 {
                return Err(NotFound::Client {
                    tenant_domain: tenant_domain.to_owned(),
                    client: client_id.to_owned(),
                }
                .into());
            }
            // Insert an empty grant if there is none, so that the row exists and can be held:
            // two first grants racing on PostgreSQL then both add to one row, neither is lost.
            // Diesel's multi-connection has no upsert: each backend's own connection runs it.
            macro_rules! insert_if_none {
                ($conn:expr) => {
                    diesel::insert_into(consents::table)
                        .values((
                            consents::tenant_domain.eq(tenant_domain),
                            consents::client_id.eq(client_id),
                            consents::subject.eq(subject),
                            consents::scopes.eq(encode_list(&[])),
                            consents::granted_at.eq(now),
                        ))
                        .on_conflict((
                            consents::tenant_domain,
                            consents::client_id,
                            consents::subject,
                        ))
                        .do_nothing()
                        .execute($conn)
                };
            }
            match conn {
                DbConnection::Sqlite(c) => insert_if_none!(c),
                DbConnection::Postgres(c) => insert_if_none!(c),
            }?;
            let held = hold_consent(conn, tenant_domain, client_id, subject)?.ok_or_else(|| {
                StoreError::from(NotFound::Client {
                    tenant_domain: tenant_domain.to_owned(),
                    client: client_id.to_owned(),
                })
            })?;
            let scopes = sorted_scopes(held.scopes.into_iter().chain(scopes.iter().cloned()));
            diesel::update(
                consents::table
                    .filter(consents::tenant_domain.eq(tenant_domain))
                    .filter(consents::client_id.eq(client_id))
                    .filter(consents::subject.eq(subject)),
            )
            .set((
                consents::scopes.eq(encode_list(&scopes)),
                consents::granted_at.eq(now),
            ))
            .execute(conn)?;
            Ok(Consent {
                tenant_domain: tenant_domain.to_owned(),
                client_id: client_id.to_owned(),
                subject: subject.to_owned(),
                scopes,
                granted_at: now,
            })
        })
    }

    /// What `subject` granted this client of this tenant, if anything.
    pub fn find_consent(
        &self,
        tenant_domain: &str,
        client_id: &str,
        subject: &str,
    ) -> Result<Option<Consent>, StoreError> {
        self.with_conn(|conn| {
            let row: Option<ConsentRow> = consents::table
                .filter(consents::tenant_domain.eq(tenant_domain))
                .filter(consents::client_id.eq(client_id))
                .filter(consents::subject.eq(subject))
                .select(ConsentRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(ConsentRow::decode).transpose()?)
        })
    }

    /// Forgets what `subject` granted this client; the next sign-in asks again. Whether there
    /// was a consent to withdraw.
    pub fn withdraw_consent(
        &self,
        tenant_domain: &str,
        client_id: &str,
        subject: &str,
    ) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let deleted = diesel::delete(
                consents::table
                    .filter(consents::tenant_domain.eq(tenant_domain))
                    .filter(consents::client_id.eq(client_id))
                    .filter(consents::subject.eq(subject)),
            )
            .execute(conn)?;
            Ok(deleted > 0)
        })
    }

    /// Every consent `subject` gave in this tenant, by client_id.
    pub fn consents_of(
        &self,
        tenant_domain: &str,
        subject: &str,
    ) -> Result<Vec<Consent>, StoreError> {
        self.with_conn(|conn| {
            let rows: Vec<ConsentRow> = consents::table
                .filter(consents::tenant_domain.eq(tenant_domain))
                .filter(consents::subject.eq(subject))
                .select(ConsentRow::as_select())
                .order(consents::client_id)
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(ConsentRow::decode)
                .collect::<Result<_, _>>()?)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::clients::tests::sample;
    use crate::store::test_support::for_each_backend;

    pub(crate) fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Tenants `carbon.super` and `acme`; clients `web` (cid-1) and `app` (cid-2) in the first,
    /// `web` (cid-3) in the second.
    pub(crate) fn setup(store: &Store) {
        store.add_tenant("acme", "Acme", 1).unwrap();
        for (tenant, name, id) in [
            ("carbon.super", "web", "cid-1"),
            ("carbon.super", "app", "cid-2"),
            ("acme", "web", "cid-3"),
        ] {
            store.add_client(&sample(tenant, name, id), 1).unwrap();
        }
    }

    #[test]
    fn a_grant_is_found_and_covers_its_scopes_and_no_other() {
        for_each_backend(|store| {
            setup(store);
            let granted = store
                .grant_consent(
                    "carbon.super",
                    "cid-1",
                    "alice",
                    &scopes(&["profile", "openid", "email", "openid"]),
                    100,
                )
                .unwrap();
            let found = store
                .find_consent("carbon.super", "cid-1", "alice")
                .unwrap()
                .unwrap();
            assert_eq!(found, granted);
            assert_eq!(
                found,
                Consent {
                    tenant_domain: "carbon.super".into(),
                    client_id: "cid-1".into(),
                    subject: "alice".into(),
                    scopes: scopes(&["email", "openid", "profile"]),
                    granted_at: 100,
                }
            );
            assert!(found.covers(&scopes(&["openid", "profile"])));
            assert!(found.covers(&scopes(&["openid", "email", "profile"])));
            assert!(found.covers(&[]));
            assert!(!found.covers(&scopes(&["openid", "address"])));
        });
    }

    #[test]
    fn a_second_grant_stores_the_union() {
        for_each_backend(|store| {
            setup(store);
            store
                .grant_consent(
                    "carbon.super",
                    "cid-1",
                    "alice",
                    &scopes(&["openid", "email"]),
                    100,
                )
                .unwrap();
            let second = store
                .grant_consent(
                    "carbon.super",
                    "cid-1",
                    "alice",
                    &scopes(&["profile", "openid"]),
                    200,
                )
                .unwrap();
            let found = store
                .find_consent("carbon.super", "cid-1", "alice")
                .unwrap()
                .unwrap();
            assert_eq!(found, second);
            assert_eq!(found.scopes, scopes(&["email", "openid", "profile"]));
            assert_eq!(found.granted_at, 200);
        });
    }

    #[test]
    fn a_consent_is_not_found_for_another_tenant_client_or_subject() {
        for_each_backend(|store| {
            setup(store);
            store
                .grant_consent("carbon.super", "cid-1", "alice", &scopes(&["openid"]), 100)
                .unwrap();
            store
                .grant_consent("acme", "cid-3", "alice", &scopes(&["email"]), 100)
                .unwrap();
            for (tenant, client, subject) in [
                ("acme", "cid-1", "alice"),
                ("carbon.super", "cid-2", "alice"),
                ("carbon.super", "cid-1", "bob"),
                ("carbon.super", "cid-3", "alice"),
            ] {
                assert!(store
                    .find_consent(tenant, client, subject)
                    .unwrap()
                    .is_none());
            }
            // A client of another tenant cannot be granted to through this one.
            assert!(matches!(
                store.grant_consent("carbon.super", "cid-3", "alice", &scopes(&["openid"]), 100),
                Err(StoreError::NotFound(NotFound::Client { .. }))
            ));
            assert!(matches!(
                store.grant_consent("carbon.super", "nope", "alice", &scopes(&["openid"]), 100),
                Err(StoreError::NotFound(NotFound::Client { .. }))
            ));
            let mine = store.consents_of("carbon.super", "alice").unwrap();
            assert_eq!(mine.len(), 1);
            assert_eq!(mine[0].client_id, "cid-1");
        });
    }

    #[test]
    fn a_withdrawn_consent_is_gone_and_others_stay() {
        for_each_backend(|store| {
            setup(store);
            for client in ["cid-2", "cid-1"] {
                store
                    .grant_consent("carbon.super", client, "alice", &scopes(&["openid"]), 100)
                    .unwrap();
            }
            let clients = |store: &Store| -> Vec<String> {
                store
                    .consents_of("carbon.super", "alice")
                    .unwrap()
                    .into_iter()
                    .map(|c| c.client_id)
                    .collect()
            };
            assert_eq!(clients(store), ["cid-1", "cid-2"]);
            assert!(!store.withdraw_consent("acme", "cid-1", "alice").unwrap());
            assert!(store
                .withdraw_consent("carbon.super", "cid-1", "alice")
                .unwrap());
            assert!(store
                .find_consent("carbon.super", "cid-1", "alice")
                .unwrap()
                .is_none());
            assert!(!store
                .withdraw_consent("carbon.super", "cid-1", "alice")
                .unwrap());
            assert_eq!(clients(store), ["cid-2"]);
        });
    }

    #[test]
    fn a_removed_client_takes_its_consents_with_it() {
        for_each_backend(|store| {
            setup(store);
            for client in ["cid-1", "cid-2"] {
                store
                    .grant_consent("carbon.super", client, "alice", &scopes(&["openid"]), 100)
                    .unwrap();
            }
            store.remove_client("carbon.super", "cid-1").unwrap();
            assert!(store
                .find_consent("carbon.super", "cid-1", "alice")
                .unwrap()
                .is_none());
            let left = store.consents_of("carbon.super", "alice").unwrap();
            assert_eq!(left.len(), 1);
            assert_eq!(left[0].client_id, "cid-2");
            // A client registered again under the same id starts with no consent.
            store
                .add_client(&sample("carbon.super", "web", "cid-1"), 2)
                .unwrap();
            assert!(store
                .find_consent("carbon.super", "cid-1", "alice")
                .unwrap()
                .is_none());
        });
    }

    #[test]
    fn corrupt_stored_scopes_are_refused_never_read_as_none() {
        for_each_backend(|store| {
            setup(store);
            store
                .grant_consent("carbon.super", "cid-1", "alice", &scopes(&["openid"]), 100)
                .unwrap();
            store
                .with_conn(|conn| {
                    Ok(diesel::update(consents::table)
                        .set(consents::scopes.eq("openid profile"))
                        .execute(conn)?)
                })
                .unwrap();
            let refused = |e: StoreError| {
                matches!(
                    e,
                    StoreError::Corrupt(CorruptValue { table: "consents", column: "scopes", ref row, .. })
                        if row == "carbon.super/cid-1/alice"
                )
            };
            assert!(refused(
                store
                    .find_consent("carbon.super", "cid-1", "alice")
                    .unwrap_err()
            ));
            assert!(refused(
                store.consents_of("carbon.super", "alice").unwrap_err()
            ));
            // Nor is a grant added to a list that cannot be read.
            assert!(refused(
                store
                    .grant_consent("carbon.super", "cid-1", "alice", &scopes(&["email"]), 200)
                    .unwrap_err()
            ));
        });
    }
}
