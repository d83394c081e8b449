//! `[database]`: where tokens, tenants and clients are kept, and how the store is tuned.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Check;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user:pass@host/db`. Empty: SQLite in `data_dir`.
    pub url: String,
    /// Directory for the default SQLite database, created on first start.
    pub data_dir: PathBuf,
    /// Maximum pooled connections per process.
    pub pool_size: u32,
    /// How long a request waits for a pooled connection, or SQLite for a lock, in milliseconds.
    pub busy_timeout_ms: u64,
    /// SQLite: `full` (a returned token survives a power loss) or `normal` (it survives a crash
    /// of the process; the last commits may be lost on power loss).
    pub synchronous: SqliteSynchronous,
    /// SQLite page cache per connection, in MiB (measured best at 8 on the benchmark machine:
    /// smaller re-reads index pages, larger costs time at every commit).
    pub sqlite_cache_mib: u32,
    /// PostgreSQL: connections that commit batches of token requests' writes side by side
    /// (SQLite always has one writer).
    pub postgres_writers: usize,
    /// How often the server polls the database's change counter, in milliseconds: a change to a
    /// tenant, client or identity provider (from the CLI or another node) takes effect within
    /// this interval.
    pub cache_refresh_interval_ms: u64,
    /// How often expired tokens and replay keys are deleted, in seconds.
    pub purge_interval_seconds: u64,
    /// Rows of each table one purge step deletes; steps follow each other until nothing is left.
    pub purge_batch: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            data_dir: PathBuf::from("data"),
            pool_size: 16,
            busy_timeout_ms: 5000,
            synchronous: SqliteSynchronous::Full,
            sqlite_cache_mib: 8,
            postgres_writers: 4,
            cache_refresh_interval_ms: 1000,
            purge_interval_seconds: 600,
            purge_batch: 1000,
        }
    }
}

/// SQLite's `synchronous` setting in WAL mode. `full` syncs the log at every commit, so a committed
/// token survives a power loss; `normal` survives a crash of the process (SIGKILL) but may lose the
/// last commits on power loss. Group commit makes one sync serve a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

impl DatabaseConfig {
    pub(super) fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        if self.pool_size == 0 {
            return invalid("database.pool_size", "must be at least 1");
        }
        if self.postgres_writers == 0 || self.postgres_writers >= self.pool_size as usize {
            return invalid(
                "database.postgres_writers",
                "must be at least 1 and less than database.pool_size (readers need connections too)",
            );
        }
        if self.sqlite_cache_mib == 0 {
            return invalid("database.sqlite_cache_mib", "must be at least 1");
        }
        if self.cache_refresh_interval_ms == 0 {
            return invalid("database.cache_refresh_interval_ms", "must be positive");
        }
        if self.purge_interval_seconds == 0 || self.purge_batch == 0 {
            return invalid(
                "database.purge_interval_seconds",
                "purge_interval_seconds and purge_batch must be positive",
            );
        }
        Ok(())
    }
}
