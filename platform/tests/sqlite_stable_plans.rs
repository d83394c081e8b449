//! A process of its own (an integration test binary), so that nothing but opening the store can
//! have registered SQLite's plan stability extension (`store/stable_plans.rs`): the store's own
//! connections must turn it on before the first of them opens.

use std::ffi::{c_int, CString};

use grantor::store::{Store, StoreOptions};
use libsqlite3_sys as ffi;

/// Whether a connection opened now has the query planner stability guarantee.
fn new_connections_keep_their_plans() -> bool {
    let mut db = std::ptr::null_mut();
    let name = CString::new(":memory:").unwrap();
    assert_eq!(
        unsafe { ffi::sqlite3_open(name.as_ptr(), &mut db) },
        ffi::SQLITE_OK
    );
    let mut on: c_int = -1;
    let rc = unsafe {
        ffi::sqlite3_db_config(
            db,
            ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
            -1,
            &mut on as *mut c_int,
        )
    };
    unsafe { ffi::sqlite3_close(db) };
    assert_eq!(rc, ffi::SQLITE_OK);
    on == 1
}

#[test]
fn opening_the_store_turns_plan_stability_on_for_sqlite_connections() {
    assert!(
        !new_connections_keep_their_plans(),
        "SQLite's default, before the store has opened"
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/stable.db", dir.path().display());
    let _store = Store::open(&url, &StoreOptions::default(), "carbon.super").unwrap();
    assert!(new_connections_keep_their_plans());
}
