//! Loading a plugin library: resolve its file name, open it, find the one symbol, and check the
//! descriptor's header (magic, size, ABI major) before reading anything else. Libraries are loaded
//! once and never unloaded: code and statics stay valid for the life of the process.
//!
//! The host opens a private copy of the file, not the file itself, and deletes the copy once it
//! is mapped. An operator who overwrites a plugin in place (`cp` truncates and rewrites the same
//! file) would otherwise change code under a running server's feet, and the dynamic loader
//! hands back the already-loaded library for a path (or file) it has seen, so a changed version
//! could never be loaded beside the old one. The SHA-256 of the bytes names what was loaded.

use std::collections::HashMap;
use std::ffi::{c_char, CStr};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use grantor_sdk::abi::{
    GrantorGrantPluginV1, GrantorPluginEntry, GRANTOR_ABI_MAGIC, GRANTOR_ABI_MAJOR,
    GRANTOR_PLUGIN_SYMBOL,
};

use super::PluginLoadError;

/// A loaded library's checked descriptor.
pub struct LoadedLibrary {
    /// SHA-256 of the file's bytes when it was loaded.
    pub digest: [u8; 32],
    /// The file's size: about what its mapping costs, for as long as the process lives.
    pub bytes: u64,
    pub descriptor: &'static GrantorGrantPluginV1,
    pub name: String,
    pub version: String,
    pub grant_types: Vec<String>,
}

/// `grant_jwt_bearer` -> `libgrant_jwt_bearer.so` (`.dylib`, `grant_jwt_bearer.dll`); a name that
/// already has an extension is taken as a file name.
pub fn library_file_name(library: &str) -> String {
    if Path::new(library).extension().is_some() {
        library.to_owned()
    } else {
        format!(
            "{}{library}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )
    }
}

/// Every library a host has tried to load, by the SHA-256 of its bytes, with the outcome: the same
/// content is opened once however often it is registered or reloaded. A refused library stays
/// refused: it was mapped and its initialisers ran, and doing that again at every reload would
/// map another copy each time.
#[derive(Default)]
pub struct LibraryCache {
    by_digest: Mutex<HashMap<[u8; 32], Outcome>>,
}

type Outcome = Result<Arc<LoadedLibrary>, PluginLoadError>;

/// The libraries a process has mapped (and keeps: they are never unloaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mapped {
    pub libraries: usize,
    pub bytes: u64,
}

impl LibraryCache {
    /// The libraries loaded so far, but those whose digest is in `serving`: what replaced or
    /// removed plugins leave mapped.
    pub fn mapped_besides(&self, serving: &[[u8; 32]]) -> Mapped {
        let by_digest = self.by_digest.lock().unwrap_or_else(|e| e.into_inner());
        by_digest
            .values()
            .filter_map(|outcome| outcome.as_ref().ok())
            .filter(|library| !serving.contains(&library.digest))
            .fold(Mapped::default(), |total, library| Mapped {
                libraries: total.libraries + 1,
                bytes: total.bytes + library.bytes,
            })
    }

    /// The library in `path` as its bytes are now: one loaded before with the same bytes, or
    /// those bytes loaded now.
    pub fn load(&self, path: &Path) -> Outcome {
        let bytes = read_library(path)?;
        let digest = openssl::sha::sha256(&bytes);
        let mut by_digest = self.by_digest.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(outcome) = by_digest.get(&digest) {
            return outcome.clone();
        }
        let outcome = load_bytes(path, &bytes, digest).map(Arc::new);
        by_digest.insert(digest, outcome.clone());
        outcome
    }
}

fn read_library(path: &Path) -> Result<Vec<u8>, PluginLoadError> {
    let fail = |reason: String| PluginLoadError::Library {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(fail("file not found".into()));
    }
    std::fs::read(path).map_err(|e| fail(format!("cannot read the file: {e}")))
}

fn load_bytes(
    path: &Path,
    bytes: &[u8],
    digest: [u8; 32],
) -> Result<LoadedLibrary, PluginLoadError> {
    let fail = |reason: String| PluginLoadError::Library {
        path: path.to_path_buf(),
        reason,
    };
    let copy = private_copy(path, bytes)
        .map_err(|e| fail(format!("cannot make the private copy to load: {e}")))?;
    // SAFETY: loading runs the library's initialisers. Plugins are trusted in-process code; the
    // operator chose to install this file.
    let opened = unsafe { libloading::Library::new(&copy) };
    // Mapped (or refused): the copy's name is no longer needed, and nothing is left behind.
    let _ = std::fs::remove_file(&copy);
    let library = opened.map_err(|e| {
        let place = match copy.parent() {
            Some(dir) if Some(dir) != path.parent() => format!(
                " (loaded from a copy in {}, as the plugin directory is not writable; a noexec \
                 mount there refuses libraries)",
                dir.display()
            ),
            _ => String::new(),
        };
        fail(format!("not a loadable library: {e}{place}"))
    })?;
    // SAFETY: the symbol's type is fixed by the ABI; a library exporting the name with another
    // type is outside what we can check.
    let entry: GrantorPluginEntry = unsafe {
        *library
            .get::<GrantorPluginEntry>(GRANTOR_PLUGIN_SYMBOL)
            .map_err(|_| {
                fail("no grantor_grant_plugin_v1 symbol: not a Grantor grant plugin".into())
            })?
    };
    // Never unloaded: the descriptor, its strings and functions must outlive every call.
    std::mem::forget(library);
    // SAFETY: calling the plugin's entry point per the ABI.
    let raw = unsafe { entry() };
    if raw.is_null() {
        return Err(fail(
            "grantor_grant_plugin_v1 returned no descriptor".into(),
        ));
    }
    // SAFETY: the header fields are plain integers at the start of the descriptor, read through
    // the raw pointer; the size check below bounds everything read after them.
    let (magic, abi_major, struct_size) = unsafe {
        (
            std::ptr::addr_of!((*raw).magic).read_unaligned(),
            std::ptr::addr_of!((*raw).abi_major).read_unaligned(),
            std::ptr::addr_of!((*raw).struct_size).read_unaligned(),
        )
    };
    check_header(magic, abi_major, struct_size).map_err(fail)?;
    // A NULL entry point would be called on the first request and jump to address zero. Read the
    // slots as plain pointers: a NULL in a Rust fn-pointer type is not a value that may exist.
    // SAFETY: within the descriptor, whose size was checked above.
    let entry_points: [(&str, *const ()); 4] = unsafe {
        [
            (
                "on_create",
                entry_point(std::ptr::addr_of!((*raw).on_create).cast()),
            ),
            (
                "on_handle",
                entry_point(std::ptr::addr_of!((*raw).on_handle).cast()),
            ),
            (
                "on_free_buffer",
                entry_point(std::ptr::addr_of!((*raw).on_free_buffer).cast()),
            ),
            (
                "on_destroy",
                entry_point(std::ptr::addr_of!((*raw).on_destroy).cast()),
            ),
        ]
    };
    if let Some((field, _)) = entry_points.iter().find(|(_, ptr)| ptr.is_null()) {
        return Err(fail(format!(
            "descriptor field {field} is NULL: the plugin cannot be called"
        )));
    }
    // SAFETY: header and entry points checked; the pointer is static data of a library that is
    // never unloaded.
    let descriptor: &'static GrantorGrantPluginV1 = unsafe { &*raw };
    let name =
        static_str(descriptor.name).ok_or_else(|| fail("plugin name is not UTF-8".into()))?;
    let version =
        static_str(descriptor.version).ok_or_else(|| fail("plugin version is not UTF-8".into()))?;
    let mut grant_types = Vec::with_capacity(descriptor.grant_types_len);
    for i in 0..descriptor.grant_types_len {
        // SAFETY: the plugin declares `grant_types_len` entries.
        let ptr = unsafe { *descriptor.grant_types.add(i) };
        grant_types
            .push(static_str(ptr).ok_or_else(|| fail(format!("grant type {i} is not UTF-8")))?);
    }
    if grant_types.is_empty() {
        return Err(fail("the plugin declares no grant type".into()));
    }
    Ok(LoadedLibrary {
        digest,
        bytes: bytes.len() as u64,
        descriptor,
        name,
        version,
        grant_types,
    })
}

/// Writes `bytes` to a new file of this process beside `path` (the plugin directory is where
/// libraries may be mapped executable), or in the temporary directory when the plugin directory
/// is read-only for the server.
fn private_copy(path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    static COPIES: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        ".{}.loading-{}-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id(),
        COPIES.fetch_add(1, Ordering::Relaxed)
    );
    let beside = path.parent().unwrap_or(Path::new(".")).join(&name);
    match write_new(&beside, bytes) {
        Ok(()) => Ok(beside),
        Err(_) => {
            let elsewhere = std::env::temp_dir().join(&name);
            write_new(&elsewhere, bytes)?;
            Ok(elsewhere)
        }
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = crate::secrets::open_owner_only(path, false)?;
    let written = file.write_all(bytes);
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Magic, ABI major, then size: each refusal says what the library is not.
fn check_header(magic: u32, abi_major: u16, struct_size: u32) -> Result<(), String> {
    if magic != GRANTOR_ABI_MAGIC {
        return Err(format!(
            "bad descriptor magic {magic:#010x}: not a Grantor grant plugin"
        ));
    }
    if abi_major != GRANTOR_ABI_MAJOR {
        return Err(format!(
            "ABI major {abi_major}, host supports {GRANTOR_ABI_MAJOR}"
        ));
    }
    let expected = std::mem::size_of::<GrantorGrantPluginV1>();
    if (struct_size as usize) < expected {
        return Err(format!(
            "descriptor is {struct_size} bytes, ABI {GRANTOR_ABI_MAJOR}.0 needs {expected}"
        ));
    }
    Ok(())
}

/// A function-pointer slot of the descriptor, read as a plain pointer.
///
/// # Safety
/// `slot` points at a pointer-sized field inside a live descriptor.
unsafe fn entry_point(slot: *const *const ()) -> *const () {
    // SAFETY: per this function's contract.
    unsafe { slot.read_unaligned() }
}

fn static_str(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the ABI promises NUL-terminated static strings.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .ok()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let name = library_file_name("grant_x");
        assert!(name.contains("grant_x") && name != "grant_x");
        assert_eq!(library_file_name("custom.so"), "custom.so");
    }

    #[test]
    fn refusals_name_the_file_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("libnothing.so");
        let err = LibraryCache::default()
            .load(&missing)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("libnothing.so") && err.contains("file not found"),
            "{err}"
        );
        let text = dir.path().join("libtext.so");
        std::fs::write(&text, "not a library").unwrap();
        let err = LibraryCache::default()
            .load(&text)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a loadable library"), "{err}");
        // The private copy the loader tried to open is gone.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("libtext.so")]);
    }
}
