//! A tenant's users, for the password grant: a username, an argon2id hash of the password (the
//! password itself is never stored) and the claims their tokens carry.

use diesel::prelude::*;

use super::schema::{consents, sessions, users};
use serde_json::{Map, Value};

use super::{is_unique_violation, Conflict, CorruptValue, NotFound, Store, StoreError};

/// Longest username, in bytes: provisioning refuses longer ones, so the password grant refuses
/// them before counting or checking anything.
pub const MAX_USERNAME_BYTES: usize = 256;

/// A stored user. `password_hash` is left out of `Debug` and of JSON.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub tenant_domain: String,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    #[serde(skip)]
    pub claims: Map<String, Value>,
    pub created_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("tenant_domain", &self.tenant_domain)
            .field("username", &self.username)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl User {
    /// The user's claims as a JSON object.
    pub fn claims_object(&self) -> Map<String, Value> {
        self.claims.clone()
    }
}

/// A user as its row stores it (the claims as a JSON object's text).
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct UserRow {
    tenant_domain: String,
    username: String,
    password_hash: String,
    claims: String,
    created_at: i64,
}

impl UserRow {
    /// Refuses claims that are not a JSON object, naming the row, rather than reading them as
    /// none (a user's groups or roles silently gone from its tokens).
    fn decode(self) -> Result<User, CorruptValue> {
        let claims = match serde_json::from_str(&self.claims) {
            Ok(Value::Object(claims)) => claims,
            Ok(_) => return Err(self.corrupt("not a JSON object".to_owned())),
            Err(e) => return Err(self.corrupt(format!("not a JSON object: {e}"))),
        };
        Ok(User {
            tenant_domain: self.tenant_domain,
            username: self.username,
            password_hash: self.password_hash,
            claims,
            created_at: self.created_at,
        })
    }

    fn corrupt(&self, reason: String) -> CorruptValue {
        CorruptValue {
            table: "users",
            column: "claims",
            row: format!("{}/{}", self.tenant_domain, self.username),
            reason,
        }
    }
}

impl Store {
    /// Adds a user to an existing tenant; usernames are unique within a tenant.
    pub fn add_user(
        &self,
        tenant_domain: &str,
        username: &str,
        password_hash: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
        now: i64,
    ) -> Result<User, StoreError> {
        let row = UserRow {
            tenant_domain: tenant_domain.to_owned(),
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            // `Value`'s `Display` cannot fail, unlike `serde_json::to_string`.
            claims: Value::Object(claims.clone()).to_string(),
            created_at: now,
        };
        // The tenant is read, then the user written: with SQLite's write lock taken up front, so
        // that users added at once (the admin API) wait for each other instead of failing with
        // `database is locked` (a deferred transaction that read cannot take the lock later).
        self.write_transaction(|conn| {
            super::tenants::require_tenant(conn, tenant_domain)?;
            diesel::insert_into(users::table)
                .values(&row)
                .execute(conn)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::from(Conflict::UserExists {
                            tenant_domain: tenant_domain.to_owned(),
                            username: username.to_owned(),
                        })
                    } else {
                        e.into()
                    }
                })?;
            Ok(())
        })?;
        Ok(row.decode()?)
    }

    pub fn list_users(&self, tenant_domain: &str) -> Result<Vec<User>, StoreError> {
        self.with_conn(|conn| {
            let rows: Vec<UserRow> = users::table
                .filter(users::tenant_domain.eq(tenant_domain))
                .order(users::username)
                .select(UserRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(UserRow::decode)
                .collect::<Result<_, _>>()?)
        })
    }

    /// The user of this tenant with this username; read fresh, never from a cache, so a removed
    /// user cannot sign in a moment longer.
    pub fn find_user(
        &self,
        tenant_domain: &str,
        username: &str,
    ) -> Result<Option<User>, StoreError> {
        self.with_conn(|conn| {
            let row: Option<UserRow> = users::table
                .filter(users::tenant_domain.eq(tenant_domain))
                .filter(users::username.eq(username))
                .select(UserRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(UserRow::decode).transpose()?)
        })
    }

    /// Removes a user and, in the same transaction, their browser sessions in that tenant: a
    /// removed user stays signed in nowhere, on any node. The sessions are deleted rather than
    /// marked ended, since nothing is left for them to name (and the purge would delete them next).
    pub fn remove_user(&self, tenant_domain: &str, username: &str) -> Result<(), StoreError> {
        let removed = self.write_transaction(|conn| {
            let removed = diesel::delete(
                users::table
                    .filter(users::tenant_domain.eq(tenant_domain))
                    .filter(users::username.eq(username)),
            )
            .execute(conn)?;
            if removed > 0 {
                diesel::delete(
                    sessions::table
                        .filter(sessions::tenant_domain.eq(tenant_domain))
                        .filter(sessions::subject.eq(username)),
                )
                .execute(conn)?;
                // A user added again later under the name starts with no consents.
                diesel::delete(
                    consents::table
                        .filter(consents::tenant_domain.eq(tenant_domain))
                        .filter(consents::subject.eq(username)),
                )
                .execute(conn)?;
            }
            Ok(removed)
        })?;
        if removed == 0 {
            return Err(NotFound::User {
                tenant_domain: tenant_domain.to_owned(),
                username: username.to_owned(),
            }
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_support::for_each_backend;
    use crate::store::StoreError;

    #[test]
    fn users_added_at_once_are_all_added() {
        for_each_backend(|store| {
            let claims = serde_json::Map::new();
            let added: Vec<_> = std::thread::scope(|s| {
                let adding: Vec<_> = (0..8)
                    .map(|n| {
                        let claims = &claims;
                        s.spawn(move || {
                            store.add_user("carbon.super", &format!("u{n}"), "h", claims, n)
                        })
                    })
                    .collect();
                adding.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for outcome in &added {
                assert!(outcome.is_ok(), "{outcome:?}");
            }
            assert_eq!(store.list_users("carbon.super").unwrap().len(), 8);
        });
    }

    #[test]
    fn removing_a_user_ends_their_sessions_in_that_tenant_only() {
        for_each_backend(|store| {
            use crate::store::{hash_session_id, NewSession};
            store.add_tenant("acme", "Acme", 1).unwrap();
            let claims = serde_json::Map::new();
            for tenant in ["acme", "carbon.super"] {
                for user in ["alice", "bob"] {
                    store.add_user(tenant, user, "h", &claims, 5).unwrap();
                    let id = format!("{tenant}-{user}");
                    store
                        .create_session(&NewSession {
                            id_hash: hash_session_id(&id),
                            tenant_domain: tenant.into(),
                            subject: user.into(),
                            auth_time: 95,
                            created_at: 100,
                            expires_at: 1100,
                        })
                        .unwrap();
                }
            }
            let live = |tenant: &str, user: &str| {
                let id = format!("{tenant}-{user}");
                store
                    .find_session(tenant, &hash_session_id(&id), 110, 300)
                    .unwrap()
                    .is_some()
            };
            store.remove_user("acme", "alice").unwrap();
            assert!(!live("acme", "alice"));
            assert!(live("acme", "bob"));
            assert!(live("carbon.super", "alice"));
            // A user that does not exist ends nobody's session.
            assert!(matches!(
                store.remove_user("acme", "nobody"),
                Err(StoreError::NotFound(_))
            ));
            assert!(live("acme", "bob"));
        });
    }

    #[test]
    fn user_lifecycle_and_isolation() {
        for_each_backend(|store| {
            store.add_tenant("acme", "Acme", 1).unwrap();
            let claims = serde_json::json!({"email": "alice@acme.example", "groups": ["dev"]});
            let claims = claims.as_object().unwrap();
            store
                .add_user("acme", "alice", "$argon2id$x", claims, 5)
                .unwrap();
            let found = store.find_user("acme", "alice").unwrap().unwrap();
            assert_eq!(found.password_hash, "$argon2id$x");
            assert_eq!(&found.claims_object(), claims);
            assert!(!format!("{found:?}").contains("argon2"));
            assert!(!serde_json::to_string(&found).unwrap().contains("argon2"));
            assert!(store.find_user("carbon.super", "alice").unwrap().is_none());
            assert!(matches!(
                store.add_user("acme", "alice", "h", claims, 6),
                Err(StoreError::Conflict(_))
            ));
            assert!(matches!(
                store.add_user("nowhere", "bob", "h", claims, 6),
                Err(StoreError::NotFound(_))
            ));
            assert_eq!(store.list_users("acme").unwrap().len(), 1);
            let client = crate::store::clients::tests::sample("acme", "app", "cid-1");
            store.add_client(&client, 5).unwrap();
            store
                .grant_consent("acme", "cid-1", "alice", &["openid".into()], 5)
                .unwrap();
            store.remove_user("acme", "alice").unwrap();
            assert!(store.find_user("acme", "alice").unwrap().is_none());
            assert!(store
                .find_consent("acme", "cid-1", "alice")
                .unwrap()
                .is_none());
            assert!(matches!(
                store.remove_user("acme", "alice"),
                Err(StoreError::NotFound(_))
            ));
            store.add_user("acme", "bob", "h", claims, 7).unwrap();
            store.remove_tenant("acme").unwrap();
            assert!(store.find_user("acme", "bob").unwrap().is_none());
        });
    }

    #[test]
    fn corrupt_stored_claims_are_refused_naming_the_row() {
        use diesel::prelude::*;
        for_each_backend(|store| {
            store
                .add_user("carbon.super", "alice", "h", &serde_json::Map::new(), 5)
                .unwrap();
            for text in ["[\"dev\"]", "{\"email\":"] {
                store
                    .with_conn(|conn| {
                        diesel::update(crate::store::schema::users::table)
                            .set(crate::store::schema::users::claims.eq(text))
                            .execute(conn)?;
                        Ok(())
                    })
                    .unwrap();
                let read = store.find_user("carbon.super", "alice");
                let Err(StoreError::Corrupt(e)) = read else {
                    panic!("{text}: {read:?}");
                };
                assert_eq!(
                    (e.table, e.column, e.row.as_str()),
                    ("users", "claims", "carbon.super/alice")
                );
                assert!(matches!(
                    store.list_users("carbon.super"),
                    Err(StoreError::Corrupt(_))
                ));
            }
        });
    }
}
