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
    // SAFETY: read field by field, header first, so a foreign layout is refused before more is
    // read. The pointer is static data of a library that is never unloaded.
    let descriptor: &'static GrantorGrantPluginV1 = unsafe { &*raw };
    if descriptor.magic != GRANTOR_ABI_MAGIC {
        return Err(fail(format!(
            "bad descriptor magic {:#010x}: not a Grantor grant plugin",
            descriptor.magic
        )));
    }
    if descriptor.abi_major != GRANTOR_ABI_MAJOR {
        return Err(fail(format!(
            "ABI major {}, host supports {GRANTOR_ABI_MAJOR}",
            descriptor.abi_major
        )));
    }
    let expected = std::mem::size_of::<GrantorGrantPluginV1>();
    if (descriptor.struct_size as usize) < expected {
        return Err(fail(format!(
            "descriptor is {} bytes, ABI {GRANTOR_ABI_MAJOR}.0 needs {expected}",
            descriptor.struct_size
        )));
    }
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
