//! Runs store tests on every backend: always SQLite in a temporary directory, and PostgreSQL when
//! `TEST_POSTGRES_URL` is set (always in CI), each run in a scratch database of its own
//! (`grantor-scratch-postgres`, shared with the end-to-end tests).

use grantor_scratch_postgres::{admin_url, ScratchPostgres};

use super::Store;

pub fn for_each_backend(test: impl Fn(&Store)) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    test(&Store::open(&url, &Default::default(), "carbon.super").unwrap());

    if admin_url().is_some() {
        let db = ScratchPostgres::create("grantor_unit");
        test(&Store::open(&db.url, &Default::default(), "carbon.super").unwrap());
    }
}

/// The consent tests' tenants and clients, for tests of what is built on consents.
pub(crate) use super::consents::tests::{scopes, setup as add_consent_clients};
