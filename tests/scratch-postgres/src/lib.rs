//! Throwaway PostgreSQL databases for tests: the one helper the store's unit tests and the
//! end-to-end tests share. `TEST_POSTGRES_URL` names a role that may create databases (always set
//! in CI); each scratch database is created fresh and dropped (forcibly) when it goes out of scope.
//! A URL that is set but unreachable fails the test: PostgreSQL was asked for.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// The variable naming the PostgreSQL server tests may use.
pub const POSTGRES_URL_VAR: &str = "TEST_POSTGRES_URL";

/// The admin URL when PostgreSQL tests are asked for.
pub fn admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR).ok()
}

/// A database of its own on the server named by `TEST_POSTGRES_URL`.
pub struct ScratchPostgres {
    admin_url: String,
    name: String,
    /// Connects to the scratch database with the admin URL's credentials.
    pub url: String,
}

impl ScratchPostgres {
    /// A fresh database named `<prefix>_<pid>_<n>`. Panics when `TEST_POSTGRES_URL` is unset or
    /// unreachable.
    pub fn create(prefix: &str) -> ScratchPostgres {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = admin_url().unwrap_or_else(|| panic!("{POSTGRES_URL_VAR} is not set"));
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is set but unreachable: {e}"));
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap_or_else(|e| panic!("cannot drop {name}: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create {name}: {e}"));
        let (base, _) = admin_url
            .rsplit_once('/')
            .unwrap_or_else(|| panic!("{POSTGRES_URL_VAR} has no database part"));
        ScratchPostgres {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
