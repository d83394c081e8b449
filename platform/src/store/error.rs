//! The store's errors: a database failure, or a typed outcome (invalid, conflict, not found,
//! corrupt) that says what it is about. Their wording is what the CLI prints and the admin API
//! returns as `message`; a caller decides by the variant, never by the text.

use std::path::PathBuf;

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
    /// A value the store refuses to write (the operator's mistake: 400 in the admin API).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// What would be written clashes with what is stored (409).
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// What a change names does not exist (404).
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A stored value this code cannot read: the database was changed behind the server's back.
    /// The server's failure, never the caller's.
    #[error(transparent)]
    Corrupt(#[from] CorruptValue),
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

/// A value the store refuses to write.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// A tenant domain that is not one (`tenancy::validate_tenant_domain` says why).
    #[error("{0}")]
    TenantDomain(String),
    #[error("an identity provider needs at least one certificate or a JWKS URI")]
    IdentityProviderWithoutKeys,
    #[error("backup copies SQLite databases; for PostgreSQL use pg_dump")]
    BackupOfPostgres,
    #[error("{} exists; a backup never overwrites a file", .0.display())]
    BackupTargetExists(PathBuf),
    #[error("the backup path is not UTF-8")]
    BackupPathNotUtf8,
    #[error(
        "the database's signing keys are sealed under key-encryption key {recorded}, and this \
         process has key-encryption key {ours}: give every node and command the same one ([keys] \
         encryption_key_file or encryption_key_env)"
    )]
    KeyEncryptionKeyMismatch { recorded: String, ours: String },
    /// A tenant's signing keys cannot be made, sealed or opened (`oauth::tenant_keys` says why).
    #[error("{0}")]
    SigningKey(String),
}

/// What would be written clashes with what is stored.
#[derive(Debug, thiserror::Error)]
pub enum Conflict {
    #[error("tenant '{domain}' already exists")]
    TenantExists { domain: String },
    #[error("client '{name}' already exists in tenant '{tenant_domain}'")]
    ClientExists { tenant_domain: String, name: String },
    #[error(
        "an identity provider named '{name}' or with issuer '{issuer}' already exists in tenant \
         '{tenant_domain}'"
    )]
    IdentityProviderExists {
        tenant_domain: String,
        name: String,
        issuer: String,
    },
    #[error("user '{username}' already exists in tenant '{tenant_domain}'")]
    UserExists {
        tenant_domain: String,
        username: String,
    },
    /// Another process resealed the key between this one's read and write: run again.
    #[error("signing key {kid} was changed by another process meanwhile")]
    SigningKeyChanged { kid: String },
    #[error(
        "tenant '{tenant_domain}' has a rotation pending: key {kid} signs from {activates_at} \
         (Unix time, in {wait_seconds} s); rotate again after that, or rotate now if a key is \
         compromised"
    )]
    RotationPending {
        tenant_domain: String,
        kid: String,
        activates_at: i64,
        wait_seconds: i64,
    },
}

/// What a change names does not exist.
#[derive(Debug, thiserror::Error)]
pub enum NotFound {
    #[error("tenant '{domain}' not found")]
    Tenant { domain: String },
    /// `client` is a client_id or a client's name, as the caller named it.
    #[error("client '{client}' not found in tenant '{tenant_domain}'")]
    Client {
        tenant_domain: String,
        client: String,
    },
    #[error("identity provider '{name}' not found in tenant '{tenant_domain}'")]
    IdentityProvider { tenant_domain: String, name: String },
    #[error("user '{username}' not found in tenant '{tenant_domain}'")]
    User {
        tenant_domain: String,
        username: String,
    },
    #[error("signing key {kid}")]
    SigningKey { kid: String },
}

/// A stored value that does not decode: which table, column and row, and why. Reading refuses it
/// rather than guess (an unreadable list of keys read as "no keys" would change how a client
/// authenticates).
#[derive(Debug, thiserror::Error)]
#[error("stored {table}.{column} of row '{row}' is corrupt: {reason}")]
pub struct CorruptValue {
    pub table: &'static str,
    pub column: &'static str,
    /// The row's key, as `tenant/name`.
    pub row: String,
    pub reason: String,
}

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
