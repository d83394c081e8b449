//! Browser sessions (SSO) of the sign-in flow, stored so that every node sharing the database sees
//! the same ones (issue 23, item 3): who signed in to which tenant, when they last proved their
//! password, and when the session ends (absolute expiry, idle timeout, logout).
//!
//! A session is named by the digest of its id (`hash_session_id`), never by the id itself: the id
//! is the cookie value and is never stored, logged or shown. This module never decides lifetimes
//! (the caller passes `expires_at` and the idle timeout) nor sets cookies.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::schema::sessions;
use super::{DbConnection, Store, StoreError};

/// `last_seen_at` is written at most once in this many seconds per session (or half the idle
/// timeout, when that is shorter: `touch_interval`), so a busy browser does not turn every request
/// into a write. An idle timeout is therefore exact to within this much.
pub const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// How long a session's `last_seen_at` may go unwritten under `idle_timeout_seconds`: short
/// enough that a browser active more often than the timeout never loses its session.
pub fn touch_interval(idle_timeout_seconds: i64) -> i64 {
    TOUCH_INTERVAL_SECONDS.min(idle_timeout_seconds / 2).max(0)
}

/// A new session id: 32 random bytes, base64url. The caller sets it as the cookie value and stores
/// only `hash_session_id` of it.
pub fn new_session_id() -> Result<String, openssl::error::ErrorStack> {
    crate::secrets::random_token(32)
}

/// The digest a session is stored and looked up under (`sha256:` and 64 hex digits).
pub fn hash_session_id(session_id: &str) -> String {
    crate::secrets::hash_secret(session_id)
}

/// The session's public id, for the `sid` claim of the ID tokens issued in it (OpenID Connect
/// Front-Channel Logout 1.0 3): derived from the digest, so it names the session without being
/// usable as its cookie, and no database column is needed to find it.
pub fn public_session_id(id_hash: &str) -> String {
    use base64::Engine as _;
    let digest = openssl::sha::sha256(format!("sid\n{id_hash}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18])
}

/// A session to create. `last_seen_at` starts at `created_at`.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct NewSession {
    /// `hash_session_id` of the session id, never the id.
    pub id_hash: String,
    pub tenant_domain: String,
    /// The username.
    pub subject: String,
    /// When the user last proved their password (Unix seconds).
    pub auth_time: i64,
    pub created_at: i64,
    /// The absolute end, whatever the activity.
    pub expires_at: i64,
}

/// A live session, as `find_session` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Session {
    pub id_hash: String,
    pub tenant_domain: String,
    pub subject: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

/// Deletes up to `limit` sessions that have ended or are past their absolute expiry, soonest
/// expiry first. On PostgreSQL rows another transaction holds are skipped (`SKIP LOCKED`), so a
/// purge never waits for a sign-in. Sessions only idle are kept until their absolute expiry: the
/// idle timeout is the server's setting, not the row's.
pub(super) fn purge_ended_sessions(
    conn: &mut DbConnection,
    now: i64,
    limit: i64,
) -> Result<usize, StoreError> {
    let limit = limit.max(1);
    Ok(match conn {
        DbConnection::Postgres(c) => diesel::sql_query(
            "DELETE FROM sessions WHERE id_hash IN (SELECT id_hash FROM sessions \
             WHERE expires_at <= $1 OR ended_at IS NOT NULL ORDER BY expires_at LIMIT $2 \
             FOR UPDATE SKIP LOCKED)",
        )
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .execute(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(
            "DELETE FROM sessions WHERE id_hash IN (SELECT id_hash FROM sessions \
             WHERE expires_at <= ? OR ended_at IS NOT NULL ORDER BY expires_at LIMIT ?)",
        )
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .execute(c)?,
    })
}

impl Store {
    /// Stores a new session of an existing tenant (`NotFound` otherwise).
    pub fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        self.write_transaction(|conn| {
            super::tenants::require_tenant(conn, &new.tenant_domain)?;
            diesel::insert_into(sessions::table)
                .values((new, sessions::last_seen_at.eq(new.created_at)))
                .execute(conn)?;
            Ok(())
        })
    }

    /// The live session of this tenant under `id_hash`: none if unknown, of another tenant, ended,
    /// at or past `expires_at`, or idle for more than `idle_timeout_seconds` since `last_seen_at`.
    /// Read fresh, never from a cache, so a logout on one node holds on every other at once.
    pub fn find_session(
        &self,
        tenant_domain: &str,
        id_hash: &str,
        now: i64,
        idle_timeout_seconds: i64,
    ) -> Result<Option<Session>, StoreError> {
        let idle_since = now.saturating_sub(idle_timeout_seconds.max(0));
        self.with_conn(|conn| {
            Ok(sessions::table
                .filter(sessions::id_hash.eq(id_hash))
                .filter(sessions::tenant_domain.eq(tenant_domain))
                .filter(sessions::ended_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .filter(sessions::last_seen_at.ge(idle_since))
                .select(Session::as_select())
                .first(conn)
                .optional()?)
        })
    }

    /// Records activity on a live session: `last_seen_at` becomes `now` unless it was written less
    /// than `touch_interval(idle_timeout_seconds)` ago. Whether it was written.
    pub fn touch_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_timeout_seconds: i64,
    ) -> Result<bool, StoreError> {
        let every = touch_interval(idle_timeout_seconds);
        self.with_conn(|conn| {
            let touched = diesel::update(
                sessions::table
                    .filter(sessions::id_hash.eq(id_hash))
                    .filter(sessions::ended_at.is_null())
                    .filter(sessions::expires_at.gt(now))
                    .filter(sessions::last_seen_at.le(now.saturating_sub(every))),
            )
            .set(sessions::last_seen_at.eq(now))
            .execute(conn)?;
            Ok(touched > 0)
        })
    }

    /// Ends one session of this tenant (logout). Whether a session that had not ended was ended.
    pub fn end_session(
        &self,
        tenant_domain: &str,
        id_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let ended = diesel::update(
                sessions::table
                    .filter(sessions::id_hash.eq(id_hash))
                    .filter(sessions::tenant_domain.eq(tenant_domain))
                    .filter(sessions::ended_at.is_null()),
            )
            .set(sessions::ended_at.eq(now))
            .execute(conn)?;
            Ok(ended > 0)
        })
    }

    /// Ends every session of one user in one tenant ("log out everywhere", the user's removal).
    /// How many were ended.
    pub fn end_sessions_of(
        &self,
        tenant_domain: &str,
        subject: &str,
        now: i64,
    ) -> Result<usize, StoreError> {
        self.with_conn(|conn| {
            Ok(diesel::update(
                sessions::table
                    .filter(sessions::tenant_domain.eq(tenant_domain))
                    .filter(sessions::subject.eq(subject))
                    .filter(sessions::ended_at.is_null()),
            )
            .set(sessions::ended_at.eq(now))
            .execute(conn)?)
        })
    }

    /// Deletes up to `batch` sessions that have ended or expired; how many were deleted.
    pub fn purge_expired_sessions(&self, now: i64, batch: i64) -> Result<usize, StoreError> {
        self.with_conn(|conn| purge_ended_sessions(conn, now, batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    const IDLE: i64 = 300;

    fn new_session(tenant: &str, subject: &str, id: &str, now: i64) -> NewSession {
        NewSession {
            id_hash: hash_session_id(id),
            tenant_domain: tenant.to_owned(),
            subject: subject.to_owned(),
            auth_time: now - 5,
            created_at: now,
            expires_at: now + 1000,
        }
    }

    fn live(store: &Store, tenant: &str, id: &str, now: i64) -> bool {
        store
            .find_session(tenant, &hash_session_id(id), now, IDLE)
            .unwrap()
            .is_some()
    }

    #[test]
    fn a_created_session_is_found_by_the_hash_of_its_id() {
        for_each_backend(|store| {
            store.add_tenant("acme", "Acme", 1).unwrap();
            let id = new_session_id().unwrap();
            assert_ne!(id, new_session_id().unwrap());
            let new = new_session("acme", "alice", &id, 100);
            store.create_session(&new).unwrap();
            let found = store
                .find_session("acme", &hash_session_id(&id), 100, IDLE)
                .unwrap()
                .unwrap();
            assert_eq!(
                found,
                Session {
                    id_hash: hash_session_id(&id),
                    tenant_domain: "acme".into(),
                    subject: "alice".into(),
                    auth_time: 95,
                    created_at: 100,
                    last_seen_at: 100,
                    expires_at: 1100,
                    ended_at: None,
                }
            );
            assert!(store
                .find_session("acme", &id, 100, IDLE)
                .unwrap()
                .is_none());
            assert!(!live(store, "acme", "unknown", 100));
            assert!(matches!(
                store.create_session(&new_session("nowhere", "alice", "x", 100)),
                Err(StoreError::NotFound(_))
            ));
        });
    }

    #[test]
    fn the_table_holds_the_hash_of_the_id_never_the_id() {
        for_each_backend(|store| {
            let id = new_session_id().unwrap();
            store
                .create_session(&new_session("carbon.super", "alice", &id, 100))
                .unwrap();
            let rows: Vec<Session> = store
                .with_conn(|conn| Ok(sessions::table.select(Session::as_select()).load(conn)?))
                .unwrap();
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].id_hash, crate::secrets::hash_secret(&id));
            assert!(rows[0].id_hash.starts_with("sha256:"));
            assert!(!format!("{rows:?}").contains(&id));
        });
    }

    #[test]
    fn a_session_ends_when_idle_too_long_and_at_its_absolute_expiry() {
        for_each_backend(|store| {
            store
                .create_session(&new_session("carbon.super", "alice", "s", 100))
                .unwrap();
            assert!(live(store, "carbon.super", "s", 400));
            assert!(!live(store, "carbon.super", "s", 401));
            // Touches are bounded to one a minute, and keep the session alive while used.
            let hash = hash_session_id("s");
            assert!(!store.touch_session(&hash, 159, IDLE).unwrap());
            assert!(store.touch_session(&hash, 160, IDLE).unwrap());
            assert!(!store.touch_session(&hash, 200, IDLE).unwrap());
            assert!(live(store, "carbon.super", "s", 460));
            assert!(!live(store, "carbon.super", "s", 461));
            for now in [400, 700, 1000] {
                assert!(store.touch_session(&hash, now, IDLE).unwrap());
            }
            assert!(live(store, "carbon.super", "s", 1099));
            assert!(!live(store, "carbon.super", "s", 1100));
            // A short idle timeout is touched often enough to hold while used.
            assert_eq!(touch_interval(10), 5);
            assert_eq!(touch_interval(3600), TOUCH_INTERVAL_SECONDS);
            // Activity never carries a session past its absolute end.
            assert!(!store.touch_session(&hash, 1100, IDLE).unwrap());
        });
    }

    #[test]
    fn an_ended_session_is_not_found_nor_touched() {
        for_each_backend(|store| {
            store.add_tenant("acme", "Acme", 1).unwrap();
            store
                .create_session(&new_session("acme", "alice", "s", 100))
                .unwrap();
            let hash = hash_session_id("s");
            assert!(!store.end_session("carbon.super", &hash, 110).unwrap());
            assert!(live(store, "acme", "s", 110));
            assert!(store.end_session("acme", &hash, 110).unwrap());
            assert!(!live(store, "acme", "s", 111));
            assert!(!store.end_session("acme", &hash, 112).unwrap());
            assert!(!store.touch_session(&hash, 500, IDLE).unwrap());
        });
    }

    #[test]
    fn ending_a_users_sessions_ends_all_of_theirs_in_one_tenant_only() {
        for_each_backend(|store| {
            store.add_tenant("acme", "Acme", 1).unwrap();
            for (tenant, subject, id) in [
                ("acme", "alice", "a1"),
                ("acme", "alice", "a2"),
                ("acme", "bob", "b1"),
                ("carbon.super", "alice", "a3"),
            ] {
                store
                    .create_session(&new_session(tenant, subject, id, 100))
                    .unwrap();
            }
            assert_eq!(store.end_sessions_of("acme", "alice", 120).unwrap(), 2);
            assert!(!live(store, "acme", "a1", 121));
            assert!(!live(store, "acme", "a2", 121));
            assert!(live(store, "acme", "b1", 121));
            assert!(live(store, "carbon.super", "a3", 121));
            assert_eq!(store.end_sessions_of("acme", "alice", 130).unwrap(), 0);
        });
    }

    #[test]
    fn a_session_of_one_tenant_is_not_found_under_another() {
        for_each_backend(|store| {
            store.add_tenant("acme", "Acme", 1).unwrap();
            store
                .create_session(&new_session("acme", "alice", "s", 100))
                .unwrap();
            assert!(live(store, "acme", "s", 100));
            assert!(!live(store, "carbon.super", "s", 100));
            store.remove_tenant("acme").unwrap();
            assert!(!live(store, "acme", "s", 100));
        });
    }

    #[test]
    fn ended_and_expired_sessions_are_purged_in_batches() {
        for_each_backend(|store| {
            for (id, now) in [("expired", 0), ("ended", 500), ("live", 900)] {
                store
                    .create_session(&new_session("carbon.super", "alice", id, now))
                    .unwrap();
            }
            store
                .end_session("carbon.super", &hash_session_id("ended"), 600)
                .unwrap();
            assert_eq!(store.purge_expired_sessions(1000, 1).unwrap(), 1);
            assert_eq!(store.purge_expired_sessions(1000, 1).unwrap(), 1);
            assert_eq!(store.purge_expired_sessions(1000, 1).unwrap(), 0);
            assert!(live(store, "carbon.super", "live", 1000));
            let left: i64 = store
                .with_conn(|conn| Ok(sessions::table.count().get_result(conn)?))
                .unwrap();
            assert_eq!(left, 1);
        });
    }
}
