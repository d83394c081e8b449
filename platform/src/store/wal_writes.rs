//! SQLite's write-ahead log handed to the kernel in one write per commit, not two per page.
//!
//! SQLite writes each frame of its log with two calls, the frame's 24-byte header and then its
//! page, and a frame (4,120 bytes) straddles the kernel's pages, so every call dirties parts of
//! two. At a commit of 36 frames, as the group commit's batches are, that cost 4.1 µs of CPU and
//! 7.2 µs of wall time per frame against 2.0 and 4.3 written as one call (this machine, a C
//! replica of the pattern; BENCHMARKS.md, "Issue 26, ninth sitting"): the writer's largest cost
//! after its B-trees.
//!
//! This VFS sits over SQLite's default one (`unix`) and changes only that. A log file's writes
//! that follow one another are gathered in memory and written as one (in pieces below the
//! default VFS's largest write) before anything else is done with the file: before its sync above
//! all, so what a commit promised is on disk exactly as before, and before a read, a truncation,
//! a size, a file control or its close. A write elsewhere than the end of what is gathered writes
//! that first, so writes reach the file in SQLite's order. Every other file is the default VFS's
//! own, untouched.
//!
//! It is used only with `synchronous = FULL`, where every commit syncs its log before it becomes
//! visible to other connections (through the shared index, which is memory, not the file). With
//! `NORMAL` a commit's frames could still be gathered here while another connection, told by the
//! index that they exist, reads them from the file; so `NORMAL` keeps the default VFS.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// The name connections open the database with (`file:...?vfs=grantor-wal`).
pub const VFS_NAME: &CStr = c"grantor-wal";

/// Most bytes gathered before they are written anyway (a large transaction, a cache spill).
const MAX_GATHERED: usize = 4 << 20;

/// Most bytes per write: the default VFS takes fewer than 128 KiB per call (it masks the length
/// with `0x1ffff`).
const MAX_WRITE: usize = 120 << 10;

/// A log file: SQLite's file object (first, as SQLite reads it) and the default VFS's own file,
/// which lives right after this in the same allocation.
#[repr(C)]
struct LogFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// Where the gathered bytes go in the file.
    offset: i64,
    gathered: Vec<u8>,
}

/// Where the default VFS's file starts in the allocation SQLite makes for each file.
const REAL_OFFSET: usize = std::mem::size_of::<LogFile>().next_multiple_of(16);

/// Registers the VFS once; `Err` says why connections keep the default one.
pub fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: sqlite3_vfs_find initialises SQLite and returns the default VFS or null.
            let default = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
            if default.is_null() {
                return Err("SQLite has no default VFS".into());
            }
            // SAFETY: a registered VFS lives as long as the process.
            let default_vfs = unsafe { &*default };
            // SAFETY: a VFS's name is a NUL-terminated string.
            let name = unsafe { CStr::from_ptr(default_vfs.zName) };
            // Its other methods are copied as they are: `unix`'s ignore the VFS they are given.
            if name.to_bytes() != b"unix" {
                return Err(format!("the default VFS is {name:?}, not unix"));
            }
            let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
                szOsFile: c_int::try_from(REAL_OFFSET).map_err(|e| e.to_string())?
                    + default_vfs.szOsFile,
                pNext: std::ptr::null_mut(),
                zName: VFS_NAME.as_ptr(),
                pAppData: default.cast(),
                xOpen: Some(open),
                ..*default_vfs
            }));
            // SAFETY: the VFS is leaked, so it outlives every connection; not made the default.
            match unsafe { ffi::sqlite3_vfs_register(vfs, 0) } {
                ffi::SQLITE_OK => Ok(()),
                rc => Err(format!("sqlite3_vfs_register returned {rc}")),
            }
        })
        .clone()
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY (whole function): SQLite passes this VFS and an allocation of its `szOsFile` bytes.
    unsafe {
        let default = (*vfs).pAppData.cast::<ffi::sqlite3_vfs>();
        let Some(default_open) = (*default).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            // Any other file is the default VFS's own, at the start of the allocation: SQLite
            // then calls its methods directly.
            return default_open(default, name, file, flags, out_flags);
        }
        let log = file.cast::<LogFile>();
        let real = file
            .cast::<u8>()
            .add(REAL_OFFSET)
            .cast::<ffi::sqlite3_file>();
        // No methods until the file is open: SQLite closes only a file that has them.
        (*file).pMethods = std::ptr::null();
        let rc = default_open(default, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        std::ptr::addr_of_mut!((*log).real).write(real);
        std::ptr::addr_of_mut!((*log).offset).write(0);
        std::ptr::addr_of_mut!((*log).gathered).write(Vec::new());
        (*file).pMethods = &LOG_METHODS;
        ffi::SQLITE_OK
    }
}

/// The default VFS's file behind a log file, and its methods.
///
/// # Safety
/// `file` is a log file this VFS opened and has not closed.
unsafe fn real<'a>(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods) {
    // SAFETY: the caller's promise; an open file's methods outlive it.
    unsafe {
        let real = (*file.cast::<LogFile>()).real;
        (real, &*(*real).pMethods)
    }
}

/// Writes what is gathered, as one write.
///
/// # Safety
/// As `real`.
unsafe fn write_gathered(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: the caller's promise.
    unsafe {
        let log = &mut *file.cast::<LogFile>();
        if log.gathered.is_empty() {
            return ffi::SQLITE_OK;
        }
        let (real, methods) = real(file);
        let Some(write) = methods.xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut offset = log.offset;
        for chunk in log.gathered.chunks(MAX_WRITE) {
            // A chunk is below MAX_WRITE, so it fits a c_int.
            rc = write(real, chunk.as_ptr().cast(), chunk.len() as c_int, offset);
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += chunk.len() as i64;
        }
        // Written or failed, it is no longer SQLite's to find here: a failed write fails the sync
        // or the call that needed it, and SQLite treats the log past its last synced commit as
        // never written.
        log.gathered.clear();
        rc
    }
}

unsafe extern "C" fn log_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite calls a log file's methods only while it is open, with `amount` readable
    // bytes at `data`.
    unsafe {
        let log = &mut *file.cast::<LogFile>();
        let end = log.offset + log.gathered.len() as i64;
        if !log.gathered.is_empty() && offset != end {
            let rc = write_gathered(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let log = &mut *file.cast::<LogFile>();
        if log.gathered.is_empty() {
            log.offset = offset;
        }
        let Ok(amount) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        log.gathered
            .extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), amount));
        if log.gathered.len() >= MAX_GATHERED {
            return write_gathered(file);
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn log_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes an open file once.
    unsafe {
        let written = write_gathered(file);
        let (real, methods) = real(file);
        let closed = methods.xClose.map_or(ffi::SQLITE_OK, |close| close(real));
        std::ptr::drop_in_place(std::ptr::addr_of_mut!((*file.cast::<LogFile>()).gathered));
        (*file).pMethods = std::ptr::null();
        if written != ffi::SQLITE_OK {
            written
        } else {
            closed
        }
    }
}

/// `call` on the default VFS's file, after writing what is gathered (unless that failed).
///
/// # Safety
/// As `real`.
unsafe fn after_writing(
    file: *mut ffi::sqlite3_file,
    call: impl FnOnce(*mut ffi::sqlite3_file, &ffi::sqlite3_io_methods) -> c_int,
) -> c_int {
    // SAFETY: the caller's promise.
    unsafe {
        let rc = write_gathered(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let (real, methods) = real(file);
        call(real, methods)
    }
}

/// `call` on the default VFS's file, for what the gathered bytes do not matter to.
///
/// # Safety
/// As `real`.
unsafe fn on_real(
    file: *mut ffi::sqlite3_file,
    call: impl FnOnce(*mut ffi::sqlite3_file, &ffi::sqlite3_io_methods) -> c_int,
) -> c_int {
    // SAFETY: the caller's promise.
    let (real, methods) = unsafe { real(file) };
    call(real, methods)
}

// SAFETY (each method below): SQLite calls a log file's methods only while it is open, with the
// arguments its `sqlite3_io_methods` documents, which they pass on unchanged.

unsafe extern "C" fn log_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let read = |real, methods: &ffi::sqlite3_io_methods| {
        methods.xRead.map_or(ffi::SQLITE_IOERR_READ, |read| unsafe {
            read(real, data, amount, offset)
        })
    };
    unsafe { after_writing(file, read) }
}

unsafe extern "C" fn log_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let truncate = |real, methods: &ffi::sqlite3_io_methods| {
        methods
            .xTruncate
            .map_or(ffi::SQLITE_IOERR_TRUNCATE, |truncate| unsafe {
                truncate(real, size)
            })
    };
    unsafe { after_writing(file, truncate) }
}

unsafe extern "C" fn log_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let sync = |real, methods: &ffi::sqlite3_io_methods| {
        methods
            .xSync
            .map_or(ffi::SQLITE_IOERR_FSYNC, |sync| unsafe { sync(real, flags) })
    };
    unsafe { after_writing(file, sync) }
}

unsafe extern "C" fn log_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    let file_size = |real, methods: &ffi::sqlite3_io_methods| {
        methods
            .xFileSize
            .map_or(ffi::SQLITE_IOERR_FSTAT, |file_size| unsafe {
                file_size(real, size)
            })
    };
    unsafe { after_writing(file, file_size) }
}

unsafe extern "C" fn log_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // Some controls size or move the file: it gets what SQLite wrote first.
    let control = |real, methods: &ffi::sqlite3_io_methods| {
        methods
            .xFileControl
            .map_or(ffi::SQLITE_NOTFOUND, |control| unsafe {
                control(real, op, arg)
            })
    };
    unsafe { after_writing(file, control) }
}

unsafe extern "C" fn log_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let lock = |real, methods: &ffi::sqlite3_io_methods| {
        methods
            .xLock
            .map_or(ffi::SQLITE_IOERR_LOCK, |lock| unsafe { lock(real, level) })
    };
    unsafe { on_real(file, lock) }
}

unsafe extern "C" fn log_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let unlock = |real, methods: &ffi::sqlite3_io_methods| {
        methods
            .xUnlock
            .map_or(ffi::SQLITE_IOERR_UNLOCK, |unlock| unsafe {
                unlock(real, level)
            })
    };
    unsafe { on_real(file, unlock) }
}

unsafe extern "C" fn log_check_reserved_lock(
    file: *mut ffi::sqlite3_file,
    out: *mut c_int,
) -> c_int {
    let check = |real, methods: &ffi::sqlite3_io_methods| {
        methods
            .xCheckReservedLock
            .map_or(ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, |check| unsafe {
                check(real, out)
            })
    };
    unsafe { on_real(file, check) }
}

unsafe extern "C" fn log_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    let sector_size = |real, methods: &ffi::sqlite3_io_methods| {
        methods
            .xSectorSize
            .map_or(4096, |sector_size| unsafe { sector_size(real) })
    };
    unsafe { on_real(file, sector_size) }
}

unsafe extern "C" fn log_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    let characteristics = |real, methods: &ffi::sqlite3_io_methods| {
        methods
            .xDeviceCharacteristics
            .map_or(0, |characteristics| unsafe { characteristics(real) })
    };
    unsafe { on_real(file, characteristics) }
}

/// A log file's methods. Version 1: the shared-memory index and memory mapping are the database
/// file's, never its log's.
static LOG_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(log_close),
    xRead: Some(log_read),
    xWrite: Some(log_write),
    xTruncate: Some(log_truncate),
    xSync: Some(log_sync),
    xFileSize: Some(log_file_size),
    xLock: Some(log_lock),
    xUnlock: Some(log_unlock),
    xCheckReservedLock: Some(log_check_reserved_lock),
    xFileControl: Some(log_file_control),
    xSectorSize: Some(log_sector_size),
    xDeviceCharacteristics: Some(log_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    use super::super::connection::sqlite_open_name;
    use crate::config::SqliteSynchronous;

    /// Write system calls this thread has made (the kernel's count).
    fn write_calls() -> u64 {
        std::fs::read_to_string("/proc/thread-self/io")
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("syscw:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn open(path: &std::path::Path, synchronous: SqliteSynchronous) -> SqliteConnection {
        let name = sqlite_open_name(path.to_str().unwrap(), synchronous);
        let mut conn = SqliteConnection::establish(&name).unwrap();
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA wal_autocheckpoint = 0; CREATE TABLE IF NOT EXISTS t (n INTEGER, b BLOB);",
        )
        .unwrap();
        conn
    }

    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }

    fn text(conn: &mut SqliteConnection, sql: &str) -> String {
        diesel::sql_query(sql)
            .get_result::<Row>(conn)
            .unwrap()
            .value
    }

    #[test]
    fn a_commit_of_many_pages_is_written_in_a_few_calls_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gather?#%é.db");
        let mut conn = open(&path, SqliteSynchronous::Full);
        let commit = |conn: &mut SqliteConnection, first: u32, rows: u32, bytes: u32| {
            let before = write_calls();
            conn.batch_execute(&format!(
                "BEGIN; WITH RECURSIVE k(n) AS (SELECT {first} UNION ALL SELECT n + 1 FROM k \
                 WHERE n < {last}) INSERT INTO t SELECT n, randomblob({bytes}) FROM k; COMMIT;",
                last = first + rows - 1
            ))
            .unwrap();
            write_calls() - before
        };
        // About 40 pages: two write calls a page without gathering.
        let calls = commit(&mut conn, 1, 40, 3000);
        assert!((1..=6).contains(&calls), "{calls} write calls");
        // A transaction past the gathering limit (4 MiB), written as it grows.
        commit(&mut conn, 41, 2000, 3000);
        // Many small commits, the log copied and started again between them.
        for i in 0..50 {
            commit(&mut conn, 3000 + i * 10, 10, 100);
            if i == 25 {
                conn.batch_execute("PRAGMA wal_checkpoint(RESTART);")
                    .unwrap();
            }
        }
        // Another connection reads every committed page from the log, through the default VFS.
        let mut reader = open(&path, SqliteSynchronous::Normal);
        assert_eq!(
            text(
                &mut reader,
                "SELECT integrity_check AS value FROM pragma_integrity_check"
            ),
            "ok"
        );
        assert_eq!(
            text(
                &mut reader,
                "SELECT count(*) || ' ' || sum(length(b)) AS value FROM t"
            ),
            format!("{} {}", 2040 + 500, 2040 * 3000 + 500 * 100)
        );
        drop(reader);
        drop(conn);
        // And from the database file, once the last connection checkpointed it on close.
        let mut again = open(&path, SqliteSynchronous::Normal);
        assert_eq!(
            text(
                &mut again,
                "SELECT integrity_check AS value FROM pragma_integrity_check"
            ),
            "ok"
        );
        assert_eq!(
            text(&mut again, "SELECT count(*) AS value FROM t"),
            (2040 + 500).to_string()
        );
    }

    #[test]
    fn only_synchronous_full_opens_through_it_and_its_path_is_escaped() {
        assert_eq!(
            sqlite_open_name("data/grantor.db", SqliteSynchronous::Normal),
            "data/grantor.db"
        );
        assert_eq!(
            sqlite_open_name("data/a?b#c%d.db", SqliteSynchronous::Full),
            "file:data/a%3Fb%23c%25d.db?vfs=grantor-wal"
        );
        assert_eq!(
            sqlite_open_name("/var/lib/grantor.db", SqliteSynchronous::Full),
            "file:///var/lib/grantor.db?vfs=grantor-wal"
        );
    }
}
