//! The store: everything that persists, through Diesel, on SQLite (embedded default) or PostgreSQL
//! (several stateless nodes sharing one database). One code path serves both backends.
//!
//! Store calls are blocking; async code reaches them through `tokio::task::spawn_blocking`, except
//! the group commit (`GroupCommitter`), which has its own writer threads and an async front.
//! The token path reads through `read_cache` and writes through the group commit; the management
//! commands use the plain queries.
//! A database failure is always a `StoreError`, never "not found".

mod backup;
mod clients;
mod connection;
mod group_commit;
mod identity_providers;
pub mod outage_log;
mod read_cache;
mod schema;
mod sign_in_attempts;
mod signing_keys;
mod tenants;
mod token_families;
mod tokens;
mod transaction;
mod users;
mod writes;

pub use crate::config::SqliteSynchronous;
pub use clients::{NewServiceProvider, ServiceProvider, TOKEN_FORMAT_JWT, TOKEN_FORMAT_OPAQUE};
pub use connection::{Backend, DatabaseTarget, DbConnection};
pub use group_commit::{CommitStats, GroupCommitter};
pub use identity_providers::IdentityProvider;
pub use sign_in_attempts::{
    AttemptCounter, AttemptSettlement, AttemptVerdict, CountedIn, SignInAttempt,
};
pub use signing_keys::{
    signing_key_at, KeyState, NewSigningKey, Recording, Rotation, RotationOutcome, StoredSigningKey,
};
pub use tenants::Tenant;
pub use token_families::{FamilyOrigin, NewFamily, TokenFamily};
pub use tokens::{NewToken, StoredToken, KIND_ACCESS, KIND_REFRESH};
pub use users::{User, MAX_USERNAME_BYTES};
pub use writes::{ApplyError, WriteOp, WriteRefusal};

use diesel::r2d2::PooledConnection;

use connection::{DbConnectionManager, DbPool};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database configuration: {0}")]
    Config(String),
    #[error("database connection: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database query: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database commit: {0}")]
    Commit(String),
    #[error("database migration: {0}")]
    Migration(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// The database cannot be reached now (down, restarting, no connection free in time);
    /// retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether this is the database being out of reach rather than a wrong query or value: the
    /// client is told to retry (503), not that the server failed (500).
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Unavailable(_) | StoreError::Pool(_) | StoreError::Connect(_) => true,
            StoreError::Query(Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ))
            | StoreError::Query(Error::BrokenTransactionManager) => true,
            // libpq reports a server shutting down or a dropped link as unclassified errors.
            StoreError::Query(Error::DatabaseError(_, info)) => {
                let message = info.message();
                message.contains("terminating connection")
                    || message.contains("server closed the connection")
                    || message.contains("no connection to the server")
                    || message.contains("the database system is")
                    || message.contains("could not receive data")
                    || message.contains("could not send data")
                    || is_storage_full(message)
            }
            _ => false,
        }
    }
}

/// A database whose storage is full or failing: SQLite's SQLITE_FULL and SQLITE_IOERR,
/// PostgreSQL's `disk_full` (53100) and failed file writes. Retrying later may succeed once space
/// is freed, so the client is told to retry, like any outage.
fn is_storage_full(message: &str) -> bool {
    message.contains("database or disk is full")
        || message.contains("disk I/O error")
        || message.contains("No space left on device")
        || message.contains("could not extend file")
        || message.contains("could not write to file")
}

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
        store.ensure_tenant(default_tenant, crate::clock::now_unix())?;
        store.refresh_read_cache()?;
        Ok(store)
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

/// Lists are stored as one space-separated text column (OAuth's own scope syntax); values never
/// contain spaces.
fn join_list(values: &[String]) -> String {
    values.join(" ")
}

fn split_list(text: &str) -> Vec<String> {
    text.split_ascii_whitespace().map(str::to_owned).collect()
}

fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    /// A database error as a driver reports it: unclassified, with its server's message.
    struct Reported(&'static str);

    impl diesel::result::DatabaseErrorInformation for Reported {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn reported(message: &'static str) -> StoreError {
        StoreError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new(Reported(message)),
        ))
    }

    #[test]
    fn a_full_or_failing_disk_is_an_outage_and_a_bad_query_is_not() {
        for message in [
            "database or disk is full",
            "disk I/O error",
            "could not extend file \"base/16384/16385\": No space left on device",
            "could not write to file \"pg_wal/xlogtemp.123\": No space left on device",
            "terminating connection due to administrator command",
        ] {
            assert!(reported(message).is_unavailable(), "{message}");
        }
        assert!(!reported("syntax error at or near \"SELEC\"").is_unavailable());
        assert!(!reported("no such table: tokens").is_unavailable());
    }
}
