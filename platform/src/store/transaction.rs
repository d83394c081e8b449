//! The one begin/commit of the store's write transactions, shared by the management writes
//! (`Store::write_transaction`) and the group commit's batches. A transaction that writes takes
//! SQLite's write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that read before
//! another connection committed could not write at all (`database is locked`), however long it
//! waited; waiting once at the start, within the busy timeout, always works.

use diesel::connection::SimpleConnection;

use super::{Backend, DbConnection, StoreError};

/// Opens a write transaction on `conn`.
pub(super) fn begin(conn: &mut DbConnection, backend: Backend) -> Result<(), StoreError> {
    Ok(conn.batch_execute(match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    })?)
}

/// Commits what ran, or rolls back if it failed or the commit did.
pub(super) fn finish<T, E: From<StoreError>>(
    conn: &mut DbConnection,
    ran: Result<T, E>,
) -> Result<T, E> {
    let committed = ran.and_then(|value| {
        conn.batch_execute("COMMIT").map_err(StoreError::from)?;
        Ok(value)
    });
    if committed.is_err() {
        // Best effort: a broken connection is dropped by the pool anyway.
        let _ = conn.batch_execute("ROLLBACK");
    }
    committed
}

/// Abandons the open transaction.
pub(super) fn roll_back(conn: &mut DbConnection) -> Result<(), StoreError> {
    Ok(conn.batch_execute("ROLLBACK")?)
}

/// Runs `f` in one write transaction on `conn`: committed when it returns `Ok`, rolled back
/// otherwise. `E` lets a caller's own refusal end the transaction without a store error standing
/// in for it.
pub(super) fn in_write_transaction<T, E: From<StoreError>>(
    conn: &mut DbConnection,
    backend: Backend,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    begin(conn, backend)?;
    let ran = f(conn);
    finish(conn, ran)
}
