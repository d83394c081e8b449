//! Loading a plugin library: resolve its file name, open it, find the one symbol, and check the
//! descriptor's header (magic, size, ABI major) before reading anything else. Libraries are loaded
//! once and never unloaded: code and statics stay valid for the life of the process.

use std::ffi::{c_char, CStr};
use std::path::Path;

use grantor_sdk::abi::{
    GrantorGrantPluginV1, GrantorPluginEntry, GRANTOR_ABI_MAGIC, GRANTOR_ABI_MAJOR,
    GRANTOR_PLUGIN_SYMBOL,
};

use super::PluginLoadError;

/// A loaded library's checked descriptor.
pub struct LoadedLibrary {
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

pub fn load_library(path: &Path) -> Result<LoadedLibrary, PluginLoadError> {
    let fail = |reason: String| PluginLoadError::Library {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(fail("file not found".into()));
    }
    // SAFETY: loading runs the library's initialisers. Plugins are trusted in-process code; the
    // operator chose to install this file.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| fail(format!("not a loadable library: {e}")))?;
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
        descriptor,
        name,
        version,
        grant_types,
    })
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
        let err = load_library(&missing).err().unwrap().to_string();
        assert!(
            err.contains("libnothing.so") && err.contains("file not found"),
            "{err}"
        );
        let text = dir.path().join("libtext.so");
        std::fs::write(&text, "not a library").unwrap();
        let err = load_library(&text).err().unwrap().to_string();
        assert!(err.contains("not a loadable library"), "{err}");
    }
}
