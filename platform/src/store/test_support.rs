//! Runs store tests on every backend: always SQLite in a temporary directory, and PostgreSQL when
//! `TEST_POSTGRES_URL` is set (always in CI). Each run gets a fresh PostgreSQL database, dropped
//! afterwards. A URL that is set but unreachable fails the test: it was asked for.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use super::Store;

pub const POSTGRES_URL_VAR: &str = "TEST_POSTGRES_URL";

pub fn for_each_backend(test: impl Fn(&Store)) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    test(&Store::open(&url, &Default::default(), "carbon.super").unwrap());

    if let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) {
        let db = ScratchPostgres::create(&admin_url);
        test(&Store::open(&db.url, &Default::default(), "carbon.super").unwrap());
    }
}

/// A throwaway PostgreSQL database on the server named by the admin URL.
struct ScratchPostgres {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchPostgres {
    fn create(admin_url: &str) -> ScratchPostgres {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "grantor_unit_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = PgConnection::establish(admin_url)
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is set but unreachable: {e}"));
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        ScratchPostgres {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
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
