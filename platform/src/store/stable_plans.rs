//! SQLite's query planner stability guarantee (QPSG), on for every connection this process opens.
//!
//! Since SQLite 3.47 a bound `LIMIT` is an input to the query plan: the prepared statement is
//! marked for recompiling whenever that parameter is bound again, even to the same value. Diesel
//! binds the `LIMIT 1` of every `.first()` and keeps the statement prepared, so each lookup by
//! key (an introspected token, a refresh token, a session) was parsed and planned anew:
//! `perf` put a third of an introspection's CPU under `sqlite3Reprepare`. With the guarantee a
//! statement keeps the plan it was prepared with whatever is bound, which is also what a server
//! that prepares its statements once wants; the plans that look at bound values (a bound
//! `LIKE` pattern's prefix, `ANALYZE` samples, which Grantor never gathers) are given up.
//!
//! Diesel gives no handle to set it on its connections, so it is set by an automatic extension:
//! SQLite runs it in every connection opened after it is registered.

use std::ffi::{c_char, c_int};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// Registers the extension, once per process, before the first connection opens (a failure is
/// logged once: connections then work without it, only slower).
pub fn enable() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: `stable_plans_on_open` has the signature SQLite calls an automatic extension
        // with; registering is thread-safe in SQLite's serialized mode (the bundled build's).
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(stable_plans_on_open)) };
        if rc != ffi::SQLITE_OK {
            tracing::warn!(
                code = rc,
                "SQLite's query plan stability could not be enabled: lookups will be recompiled \
                 each time"
            );
        }
    });
}

unsafe extern "C" fn stable_plans_on_open(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite passes the connection it is opening; the option takes an int and an
    // optional int pointer (null: the resulting setting is not wanted).
    unsafe {
        ffi::sqlite3_db_config(
            db,
            ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
            1,
            std::ptr::null_mut::<c_int>(),
        );
    }
    // A connection without the guarantee works, only slower: never refuse to open.
    ffi::SQLITE_OK
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// A raw connection to a fresh in-memory database (Diesel keeps its handle to itself).
    struct Raw(*mut ffi::sqlite3);

    impl Raw {
        fn open() -> Raw {
            let mut db = std::ptr::null_mut();
            let name = CString::new(":memory:").unwrap();
            let rc = unsafe { ffi::sqlite3_open(name.as_ptr(), &mut db) };
            assert_eq!(rc, ffi::SQLITE_OK);
            Raw(db)
        }

        fn exec(&self, sql: &str) {
            let sql = CString::new(sql).unwrap();
            let rc = unsafe {
                ffi::sqlite3_exec(
                    self.0,
                    sql.as_ptr(),
                    None,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            assert_eq!(rc, ffi::SQLITE_OK);
        }

        /// How often SQLite recompiled one prepared `SELECT .. LIMIT ?` run ten times with the
        /// same binding, as Diesel runs a `.first()`.
        fn recompiles_of_a_bound_limit(&self) -> c_int {
            let sql = CString::new("SELECT v FROM t WHERE k = ?1 LIMIT ?2").unwrap();
            let mut stmt = std::ptr::null_mut();
            let rc = unsafe {
                ffi::sqlite3_prepare_v3(
                    self.0,
                    sql.as_ptr(),
                    -1,
                    ffi::SQLITE_PREPARE_PERSISTENT,
                    &mut stmt,
                    std::ptr::null_mut(),
                )
            };
            assert_eq!(rc, ffi::SQLITE_OK);
            for _ in 0..10 {
                unsafe {
                    assert_eq!(ffi::sqlite3_bind_int64(stmt, 1, 1), ffi::SQLITE_OK);
                    assert_eq!(ffi::sqlite3_bind_int64(stmt, 2, 1), ffi::SQLITE_OK);
                    assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW);
                    ffi::sqlite3_reset(stmt);
                }
            }
            let recompiled =
                unsafe { ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0) };
            unsafe { ffi::sqlite3_finalize(stmt) };
            recompiled
        }

        fn set_stable_plans(&self, on: bool) {
            unsafe {
                ffi::sqlite3_db_config(
                    self.0,
                    ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
                    c_int::from(on),
                    std::ptr::null_mut::<c_int>(),
                );
            }
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            unsafe { ffi::sqlite3_close(self.0) };
        }
    }

    #[test]
    fn connections_opened_after_enabling_keep_their_plans_for_a_bound_limit() {
        enable();
        let db = Raw::open();
        db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');");
        assert_eq!(db.recompiles_of_a_bound_limit(), 0);
        // What the guarantee prevents: the same statement without it is recompiled at every run
        // (if a later SQLite stops doing so, this says the module can go).
        db.set_stable_plans(false);
        assert!(db.recompiles_of_a_bound_limit() >= 9);
    }
}
