//! The store: everything that persists, through Diesel, on SQLite (embedded default) or PostgreSQL
//! (several stateless nodes sharing one database). One code path serves both backends.
//!
//! Store calls are blocking; async code reaches them through `tokio::task::spawn_blocking`.
//! A database failure is always a `StoreError`, never "not found".

mod clients;
mod connection;
mod identity_providers;
mod replay_cache;
mod schema;
mod tenants;
mod tokens;

pub use clients::{NewServiceProvider, ServiceProvider};
pub use connection::{Backend, DatabaseTarget, DbConnection};
pub use identity_providers::IdentityProvider;
pub use replay_cache::JtiUse;
pub use tenants::Tenant;
pub use tokens::{NewToken, StoredToken, KIND_ACCESS, KIND_REFRESH};

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
    #[error("database migration: {0}")]
    Migration(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
}

/// A cheap-to-clone handle on the connection pool.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    backend: Backend,
}

impl Store {
    /// Connects, applies migrations and makes sure the default tenant exists.
    pub fn open(
        url: &str,
        pool_size: u32,
        busy_timeout_ms: u64,
        default_tenant: &str,
    ) -> Result<Store, StoreError> {
        let target = DatabaseTarget::parse(url)?;
        let backend = target.backend;
        let pool = connection::build_pool(target, pool_size, busy_timeout_ms)?;
        let store = Store { pool, backend };
        store.with_conn(connection::run_migrations)?;
        store.ensure_tenant(default_tenant, crate::clock::now_unix())?;
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

    /// Cheap liveness check for `/health`.
    pub fn ping(&self) -> Result<(), StoreError> {
        use diesel::r2d2::R2D2Connection;
        self.with_conn(|c| Ok(c.ping()?))
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
