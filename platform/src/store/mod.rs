//! The store: everything that persists, through Diesel, on SQLite (embedded default) or PostgreSQL
//! (several stateless nodes sharing one database). One code path serves both backends.
//!
//! Store calls are blocking; async code reaches them through `tokio::task::spawn_blocking`, except
//! the group commit (`GroupCommitter`), which has its own writer threads and an async front.
//! The token path reads through `read_cache` and writes through the group commit; the management
//! commands use the plain queries.
//! A database failure is always a `StoreError`, never "not found".
//! Rows are derived structs (`Queryable`/`Selectable`/`Insertable`), their lists in one encoding
//! (`lists.rs`) that refuses what it cannot read; writes that read first go through one
//! begin/commit (`transaction.rs`); refresh token families are revoked in one place
//! (`token_families::revoke_families`). Browser sessions are read fresh (`sessions.rs`), never
//! cached, so a logout on one node holds on all. The audit log (`audit_log.rs`) is only ever
//! appended to and listed.

pub mod audit_log;
mod authorization_codes;
mod backup;
mod clients;
mod column_arrays;
mod connection;
mod consents;
mod console_sessions;
mod error;
mod group_commit;
mod identity_providers;
mod lists;
pub mod outage_log;
mod prepared_updates;
mod read_cache;
mod replay_keys;
mod schema;
mod sessions;
mod sign_in_attempts;
mod signing_keys;
mod stable_plans;
mod tenants;
mod token_families;
mod tokens;
mod transaction;
mod users;
mod wal_writes;
mod writes;

pub use crate::config::SqliteSynchronous;
pub use audit_log::{AuditEntry, AuditFilter, MAX_AUDIT_PAGE};
pub use authorization_codes::{AuthorizationCode, NewAuthorizationCode};
pub use clients::{
    Client, NewClient, CONSENT_REQUIRED, CONSENT_SKIP, TOKEN_FORMAT_JWT, TOKEN_FORMAT_OPAQUE,
};
pub use connection::{Backend, DatabaseTarget, DbConnection};
pub use consents::Consent;
pub use console_sessions::ConsoleSession;
pub use error::{Conflict, CorruptValue, Invalid, NotFound, StoreError};
pub use group_commit::{CommitStats, GroupCommitter};
pub use identity_providers::IdentityProvider;
pub use replay_keys::{ReplayKey, ReplayKind};
pub use sessions::{
    hash_session_id, new_session_id, public_session_id, NewSession, Session, TOUCH_INTERVAL_SECONDS,
};
pub use sign_in_attempts::{
    AttemptCounter, AttemptSettlement, AttemptVerdict, CountedIn, SignInAttempt,
};
pub use signing_keys::{
    signing_key_at, KeyState, NewSigningKey, Recording, Rotation, RotationOutcome, StoredSigningKey,
};
pub use tenants::Tenant;
pub use token_families::{FamilyOrigin, NewFamily, TokenFamily};
pub use tokens::{NewToken, PairedToken, StoredToken, KIND_ACCESS, KIND_REFRESH};
pub use users::{User, MAX_USERNAME_BYTES};
pub use writes::{ApplyError, WriteOp, WriteRefusal};

use diesel::r2d2::PooledConnection;

use connection::{DbConnectionManager, DbPool};

/// A cheap-to-clone handle on the connection pool.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    backend: Backend,
    read_cache: std::sync::Arc<read_cache::ReadCache>,
}

/// How the store connects; `StoreOptions::default()` suits tests and one-shot commands.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub pool_size: u32,
    pub busy_timeout_ms: u64,
    pub sqlite_synchronous: SqliteSynchronous,
    /// SQLite page cache per connection, in MiB.
    pub sqlite_cache_mib: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: 4,
            busy_timeout_ms: 5000,
            sqlite_synchronous: SqliteSynchronous::Full,
            sqlite_cache_mib: 8,
        }
    }
}

impl Store {
    /// Connects, applies migrations and makes sure the default tenant exists.
    pub fn open(
        url: &str,
        options: &StoreOptions,
        default_tenant: &str,
    ) -> Result<Store, StoreError> {
        let target = DatabaseTarget::parse(url)?;
        let backend = target.backend;
        let pool = connection::build_pool(target, options)?;
        let store = Store {
            pool,
            backend,
            read_cache: Default::default(),
        };
        store.with_conn(connection::run_migrations)?;
        store.adopt_text_replay_keys()?;
        store.ensure_tenant(default_tenant, crate::clock::now_unix())?;
        store.refresh_read_cache()?;
        Ok(store)
    }

    /// Replay keys recorded before they were digests, carried over (once: the old table is left
    /// empty).
    fn adopt_text_replay_keys(&self) -> Result<(), StoreError> {
        let adopted = self.with_conn(|conn| {
            use diesel::Connection;
            let now = crate::clock::now_unix();
            Ok(conn.transaction(|conn| replay_keys::adopt_text_keys(conn, now))?)
        })?;
        if adopted > 0 {
            tracing::info!(adopted, "replay keys carried over into digests");
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn conn(&self) -> Result<PooledConnection<DbConnectionManager>, StoreError> {
        Ok(self.pool.get()?)
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        f(&mut conn)
    }

    /// A transaction that reads, then writes, taking SQLite's write lock up front
    /// (`transaction.rs`).
    fn write_transaction<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_transaction_or(f)
    }

    /// `write_transaction` for a closure that may end it with an error of its caller's own (a
    /// refusal), which is returned as it is.
    fn write_transaction_or<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.conn()?;
        transaction::in_write_transaction(&mut conn, self.backend, f)
    }
}

fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

#[cfg(test)]
pub(crate) mod test_support;
