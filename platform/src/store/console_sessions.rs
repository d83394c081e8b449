//! The operators' console's sign-ins (issue 25), stored so that every node sharing the database
//! knows them: a console session started on one node works on all, and signing out on one ends it
//! everywhere at once (sessions are read fresh, never from a cache).
//!
//! A session is named by the digest of its id (`sessions::hash_session_id`), never by the id,
//! which is the cookie value and is never stored, logged or shown. Lifetimes are the caller's.

use diesel::prelude::*;

use super::schema::console_sessions;
use super::sessions::touch_interval;
use super::{Store, StoreError};

/// A console session, as created and as read.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ConsoleSession {
    /// `hash_session_id` of the session id, never the id.
    pub id_hash: String,
    /// What the session was opened with: the admin token (`AdminCredentials::fingerprint`) or
    /// the console's OpenID client; a session opened with what the server no longer takes is over.
    pub credential: String,
    /// The tenant of the operator who signed in through OpenID; none for the admin token.
    pub operator_tenant: Option<String>,
    /// That operator's username in it.
    pub operator_subject: Option<String>,
    /// The address the operator signed in from.
    pub signed_in_from: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The absolute end, whatever the activity.
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

impl ConsoleSession {
    /// The operator who signed in through OpenID (tenant, username); none for the admin token.
    pub fn operator(&self) -> Option<(&str, &str)> {
        Some((
            self.operator_tenant.as_deref()?,
            self.operator_subject.as_deref()?,
        ))
    }
}

impl Store {
    /// Stores a new console session, and deletes those that ended or expired before `created_at`
    /// (the table holds the live sessions and the few ended since the last sign-in).
    pub fn create_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        self.write_transaction(|conn| {
            diesel::delete(
                console_sessions::table.filter(
                    console_sessions::expires_at
                        .le(session.created_at)
                        .or(console_sessions::ended_at.is_not_null()),
                ),
            )
            .execute(conn)?;
            diesel::insert_into(console_sessions::table)
                .values(session)
                .execute(conn)?;
            Ok(())
        })
    }

    /// The live console session under `id_hash`, its activity recorded (at most once per
    /// `touch_interval`): none if unknown, opened with none of the `credentials` the server takes
    /// now, ended, at or past `expires_at`, or idle for more than `idle_timeout_seconds`.
    pub fn find_console_session(
        &self,
        id_hash: &str,
        credentials: &[String],
        now: i64,
        idle_timeout_seconds: i64,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let idle_since = now.saturating_sub(idle_timeout_seconds.max(0));
        let every = touch_interval(idle_timeout_seconds);
        self.with_conn(|conn| {
            let live = console_sessions::table
                .filter(console_sessions::id_hash.eq(id_hash))
                .filter(console_sessions::credential.eq_any(credentials))
                .filter(console_sessions::ended_at.is_null())
                .filter(console_sessions::expires_at.gt(now))
                .filter(console_sessions::last_seen_at.ge(idle_since));
            let Some(session) = live
                .select(ConsoleSession::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(None);
            };
            if session.last_seen_at <= now.saturating_sub(every) {
                diesel::update(
                    console_sessions::table.filter(console_sessions::id_hash.eq(id_hash)),
                )
                .set(console_sessions::last_seen_at.eq(now))
                .execute(conn)?;
            }
            Ok(Some(session))
        })
    }

    /// Ends a console session (signing out). Whether a live one was ended.
    pub fn end_console_session(&self, id_hash: &str, now: i64) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let ended = diesel::update(
                console_sessions::table
                    .filter(console_sessions::id_hash.eq(id_hash))
                    .filter(console_sessions::ended_at.is_null()),
            )
            .set(console_sessions::ended_at.eq(now))
            .execute(conn)?;
            Ok(ended > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    const IDLE: i64 = 600;

    fn session(id: &str, now: i64) -> ConsoleSession {
        ConsoleSession {
            id_hash: crate::store::hash_session_id(id),
            credential: "token-1".into(),
            operator_tenant: None,
            operator_subject: None,
            signed_in_from: Some("127.0.0.1".into()),
            created_at: now,
            last_seen_at: now,
            expires_at: now + 3600,
            ended_at: None,
        }
    }

    fn live(store: &Store, id: &str, now: i64) -> bool {
        store
            .find_console_session(
                &crate::store::hash_session_id(id),
                &["token-1".to_owned()],
                now,
                IDLE,
            )
            .unwrap()
            .is_some()
    }

    #[test]
    fn a_session_lives_until_it_expires_idles_or_ends() {
        for_each_backend(|store| {
            store.create_console_session(&session("a", 1000)).unwrap();
            assert!(live(store, "a", 1000));
            assert!(!live(store, "b", 1000), "another id is no session");
            let other_token = store
                .find_console_session(
                    &crate::store::hash_session_id("a"),
                    &["token-2".to_owned()],
                    1000,
                    IDLE,
                )
                .unwrap();
            assert!(
                other_token.is_none(),
                "a new admin token ends the old one's sessions"
            );
            // Activity keeps it: seen at 1500, it is still live at 2000 (idle 500 < 600).
            assert!(live(store, "a", 1500));
            assert!(live(store, "a", 2000));
            // Idle past the timeout.
            assert!(!live(store, "a", 2000 + IDLE + 1));
            store.create_console_session(&session("c", 5000)).unwrap();
            assert!(!live(store, "c", 5000 + 3600), "absolute expiry");
            store.create_console_session(&session("d", 6000)).unwrap();
            assert!(store
                .end_console_session(&crate::store::hash_session_id("d"), 6001)
                .unwrap());
            assert!(!live(store, "d", 6002), "signed out");
            assert!(!store
                .end_console_session(&crate::store::hash_session_id("d"), 6003)
                .unwrap());
        });
    }

    #[test]
    fn a_sign_in_deletes_the_sessions_that_are_over() {
        for_each_backend(|store| {
            store.create_console_session(&session("old", 1000)).unwrap();
            store
                .create_console_session(&session("ended", 1000))
                .unwrap();
            store
                .end_console_session(&crate::store::hash_session_id("ended"), 1001)
                .unwrap();
            store.create_console_session(&session("new", 4600)).unwrap();
            let rows: i64 = store
                .with_conn(|conn| Ok(console_sessions::table.count().get_result(conn)?))
                .unwrap();
            assert_eq!(rows, 1);
        });
    }
}
