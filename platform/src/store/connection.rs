//! Database connections: one Diesel multi-connection type over SQLite and PostgreSQL, a pool that
//! opens the backend named by the URL scheme (never guessing), SQLite pragmas set on every new
//! connection, and migrations embedded per backend and applied on start.

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::StoreError;
use crate::config::SqliteSynchronous;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Serialises migrations when several nodes start at once against one PostgreSQL database.
const MIGRATION_ADVISORY_LOCK: i64 = 0x0067_7261_6e74_6f72; // "grantor" in ASCII

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Where to connect, decided once from the URL scheme.
#[derive(Debug, Clone)]
pub struct DatabaseTarget {
    pub backend: Backend,
    /// What the driver is given: a file path for SQLite, the URL itself for PostgreSQL.
    connect_string: String,
}

impl DatabaseTarget {
    pub fn parse(url: &str) -> Result<DatabaseTarget, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::Config("sqlite:// URL without a path".into()));
            }
            Ok(DatabaseTarget {
                backend: Backend::Sqlite,
                connect_string: path.to_owned(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseTarget {
                backend: Backend::Postgres,
                connect_string: url.to_owned(),
            })
        } else {
            Err(StoreError::Config(
                "database.url must start with sqlite:// or postgres://".into(),
            ))
        }
    }

    /// Creates the SQLite file's directory so a fresh clone starts with nothing to prepare.
    pub fn prepare(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            if let Some(dir) = Path::new(&self.connect_string).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Config(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// r2d2 manager that opens exactly the configured backend. Diesel's generic manager would try each
/// backend in turn, and SQLite happily creates a file named after a PostgreSQL URL.
pub struct DbConnectionManager {
    target: DatabaseTarget,
    busy_timeout_ms: u64,
    synchronous: SqliteSynchronous,
    cache_mib: u32,
}

/// The pragma value of the setting.
fn synchronous_pragma(setting: SqliteSynchronous) -> &'static str {
    match setting {
        SqliteSynchronous::Full => "FULL",
        SqliteSynchronous::Normal => "NORMAL",
    }
}

/// Bytes of write-ahead log kept once it starts again: several checkpoint intervals of writes at
/// full load, so steady load never regrows it. On a 2-core machine the writer appends 50-60 MiB
/// per interval (about 15,000 exchanges a second, 3-4 pages each), and a round that cannot start
/// it again (a reader on old frames, no checkpoint that copied few) leaves it growing until the
/// next. Cut back to 64 MiB, a saturated writer extended the file after every restart (the
/// kernel zeroing and allocating its pages, about a fifth of the writer's time; BENCHMARKS.md,
/// "Issue 26, sixth sitting").
pub(super) const WAL_SIZE_LIMIT: u64 = 256 * 1024 * 1024;

/// What SQLite opens for `path`: with `synchronous = FULL`, the file through the VFS that writes
/// the log in one call per commit (`wal_writes.rs`, which is safe only there); otherwise the path
/// as it is.
pub(super) fn sqlite_open_name(path: &str, synchronous: SqliteSynchronous) -> String {
    if synchronous != SqliteSynchronous::Full {
        return path.to_owned();
    }
    if let Err(reason) = super::wal_writes::register() {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            tracing::warn!("SQLite's log is written page by page: {reason}");
        });
        return path.to_owned();
    }
    // A URI (diesel opens with SQLITE_OPEN_URI): its path with the characters a URI gives a
    // meaning to escaped (SQLite decodes them back), and an absolute path under an empty
    // authority.
    use percent_encoding::{utf8_percent_encode, AsciiSet};
    const URI_PATH: &AsciiSet = &AsciiSet::EMPTY.add(b'%').add(b'?').add(b'#');
    let authority = if path.starts_with('/') { "//" } else { "" };
    format!(
        "file:{authority}{}?vfs={}",
        utf8_percent_encode(path, URI_PATH),
        super::wal_writes::VFS_NAME.to_string_lossy()
    )
}

impl ManageConnection for DbConnectionManager {
    type Connection = DbConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConnection, StoreError> {
        let s = &self.target.connect_string;
        match self.target.backend {
            Backend::Sqlite => {
                super::stable_plans::enable();
                let mut conn = SqliteConnection::establish(&sqlite_open_name(s, self.synchronous))?;
                // WAL lets readers run beside the writer; busy_timeout makes a write wait for
                // another process's (the CLI's) instead of failing with `database is locked`; on
                // the token path only the group commit's one writer writes, so it never waits
                // there; foreign keys give us ON DELETE CASCADE.
                // The page cache (`database.sqlite_cache_mib`): the token tables' indexes are keyed
                // by random hashes, so with SQLite's default 2 MiB the writer keeps re-reading
                // pages; much larger costs time at every commit (SQLite sweeps its cache). No
                // automatic checkpoints: they would run inside a commit, on the one writer's
                // time; the group commit's checkpointer thread runs them beside it instead (and
                // SQLite checkpoints when the last connection of a process closes). A log that grew
                // past `WAL_SIZE_LIMIT` (a burst the checkpointer fell behind) is cut back to it
                // when it starts again; below it, the file is rewritten in place, never regrown.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -{}; PRAGMA wal_autocheckpoint = 0; \
                     PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};",
                    self.busy_timeout_ms,
                    synchronous_pragma(self.synchronous),
                    u64::from(self.cache_mib) * 1024
                ))?;
                Ok(DbConnection::Sqlite(conn))
            }
            Backend::Postgres => Ok(DbConnection::Postgres(PgConnection::establish(s)?)),
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        Ok(conn.ping()?)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type DbPool = Pool<DbConnectionManager>;

pub fn build_pool(
    target: DatabaseTarget,
    options: &super::StoreOptions,
) -> Result<DbPool, StoreError> {
    target.prepare()?;
    Pool::builder()
        .max_size(options.pool_size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_millis(options.busy_timeout_ms.max(1000)))
        // r2d2 would otherwise run a test query on every checkout; a broken connection is found
        // by `has_broken` on return and by the failing statement itself.
        .test_on_check_out(false)
        .build(DbConnectionManager {
            target,
            busy_timeout_ms: options.busy_timeout_ms,
            synchronous: options.sqlite_synchronous,
            cache_mib: options.sqlite_cache_mib,
        })
        .map_err(StoreError::from)
}

/// Reverts the migration of this version (its `down.sql`), for tests of what a migration
/// converts; `run_migrations` applies it again.
#[cfg(test)]
pub fn revert_migration(conn: &mut DbConnection, version: &str) -> Result<(), StoreError> {
    use diesel::migration::MigrationSource;
    fn revert<DB: diesel::backend::Backend>(
        conn: &mut impl MigrationHarness<DB>,
        source: EmbeddedMigrations,
        version: &str,
    ) -> diesel::migration::Result<()> {
        let migrations = MigrationSource::<DB>::migrations(&source)?;
        let migration = migrations
            .iter()
            .find(|m| m.name().version().to_string() == version)
            .ok_or_else(|| format!("no migration {version}"))?;
        conn.revert_migration(migration.as_ref())?;
        Ok(())
    }
    match conn {
        DbConnection::Sqlite(c) => revert(c, SQLITE_MIGRATIONS, version),
        DbConnection::Postgres(c) => revert(c, POSTGRES_MIGRATIONS, version),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))
}

/// Applies pending migrations for the connection's backend, one by one, and returns their
/// versions. On an existing database each is logged with its time: one that copies a table
/// (SQLite drops a key only by rebuilding its table) takes seconds on a large database (650,000
/// families in 1.3-5.3 s here), and a server starting meanwhile says what it is doing.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => run_pending(c, SQLITE_MIGRATIONS),
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!(
                "SELECT pg_advisory_lock({MIGRATION_ADVISORY_LOCK})"
            ))?;
            let result = run_pending(c, POSTGRES_MIGRATIONS);
            c.batch_execute(&format!(
                "SELECT pg_advisory_unlock({MIGRATION_ADVISORY_LOCK})"
            ))?;
            result
        }
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

/// What `run_pending_migrations` does (each migration in a transaction of its own), saying what
/// it does when it upgrades a database (a new one's schema is made quickly and unremarked, so the
/// first command on a fresh clone prints nothing of it).
fn run_pending<DB: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<DB>,
    source: EmbeddedMigrations,
) -> diesel::migration::Result<Vec<String>> {
    let pending = conn.pending_migrations(source)?;
    let upgrade = !pending.is_empty() && !conn.applied_migrations()?.is_empty();
    let mut applied = Vec::with_capacity(pending.len());
    for migration in pending {
        let name = migration.name().to_string();
        if upgrade {
            tracing::info!(migration = %name, "applying a database migration");
        }
        let started = std::time::Instant::now();
        let version = conn.run_migration(migration.as_ref())?;
        if upgrade {
            tracing::info!(
                migration = %name,
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "database migration applied"
            );
        }
        applied.push(version.to_string());
    }
    Ok(applied)
}
