//! The grant plugin ABI, version 1: only C types cross. `include/grantor_plugin.h` declares the same
//! thing for C plugins; a test keeps the two in sync.
//!
//! Principles: one exported symbol (`grantor_grant_plugin_v1`) returns a static descriptor whose
//! header (magic, struct size, major, minor) the host checks before reading anything else; structs
//! grow only by appending fields, gated by `struct_size`; payloads are JSON bytes; statuses are
//! integers; whoever allocates frees. Plugins are trusted in-process code: this ABI catches
//! mistakes, not malice.

use std::ffi::{c_char, c_void};

/// `"GRNT"`: the first field of every descriptor, so a random symbol is not mistaken for one.
pub const GRANTOR_ABI_MAGIC: u32 = 0x4752_4e54;
/// Incompatible changes bump the major version; the host refuses any other major.
pub const GRANTOR_ABI_MAJOR: u16 = 1;
/// Compatible additions (appended fields) bump the minor version.
pub const GRANTOR_ABI_MINOR: u16 = 1;
/// The symbol every plugin exports.
pub const GRANTOR_PLUGIN_SYMBOL: &[u8] = b"grantor_grant_plugin_v1\0";

/// Status codes returned by entry points and callbacks.
pub const GRANTOR_OK: i32 = 0;
/// A callback found nothing (e.g. no identity provider with that issuer).
pub const GRANTOR_NOT_FOUND: i32 = 1;
/// A callback the host does not offer (yet) in this deployment.
pub const GRANTOR_NOT_CONFIGURED: i32 = 2;
/// `host_record_jti`: the jti was already recorded (a replay).
pub const GRANTOR_CONFLICT: i32 = 3;
/// Any failure; details, if any, are in the output buffer as UTF-8 text.
pub const GRANTOR_ERROR: i32 = -1;

/// Log levels for `host_log`.
pub const GRANTOR_LOG_ERROR: i32 = 1;
pub const GRANTOR_LOG_WARN: i32 = 2;
pub const GRANTOR_LOG_INFO: i32 = 3;
pub const GRANTOR_LOG_DEBUG: i32 = 4;

/// Bytes the host lends to the plugin (or the plugin to the host) for the duration of one call.
/// The receiver must not keep the pointer after the call returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GrantorBorrowedBytes {
    pub ptr: *const u8,
    pub len: usize,
}

/// Bytes the plugin allocated and hands to the host; the host releases them with the plugin's
/// `on_free_buffer`, exactly once.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GrantorPluginBytes {
    pub ptr: *mut u8,
    pub len: usize,
}

/// Bytes the host allocated and hands to the plugin (callback results); the plugin releases them
/// with `host_free_buffer`, exactly once.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GrantorHostBytes {
    pub ptr: *mut u8,
    pub len: usize,
}

/// A host callback taking one JSON request and producing one host-owned JSON result.
pub type GrantorHostCall = unsafe extern "C" fn(
    host_ctx: *mut c_void,
    request: GrantorBorrowedBytes,
    result_out: *mut GrantorHostBytes,
) -> i32;

/// Callbacks into the host, passed with every `on_handle` call and valid only during it.
#[repr(C)]
pub struct GrantorHostApi {
    /// `size_of::<GrantorHostApi>()` as the host built it; fields past it do not exist.
    pub struct_size: u32,
    /// Opaque; passed back to every callback.
    pub host_ctx: *mut c_void,
    /// `{"issuer": "..."}` -> the tenant's identity provider with that issuer.
    pub host_find_identity_provider: GrantorHostCall,
    /// `{"issuer": "...", "kid": "..."?}` -> `{"keys": [JWK, ...]}`.
    pub host_get_verification_keys: GrantorHostCall,
    /// `{"issuer": "...", "jti": "...", "expires_at": unix}` -> OK, or CONFLICT when already seen.
    pub host_record_jti: GrantorHostCall,
    /// `{"issuer": "...", "claims": {...}, "requested_scopes": [...]}` ->
    /// `{"claims": {...}, "subject"?, "scopes"?}` or `{"rejected": "why"}`; NOT_CONFIGURED when
    /// the issuer has no transformer, ERROR (with a description) when the transformer failed.
    pub host_transform_claims: GrantorHostCall,
    /// Logs UTF-8 text through the host's tracing at `level`.
    pub host_log:
        unsafe extern "C" fn(host_ctx: *mut c_void, level: i32, message: GrantorBorrowedBytes),
    /// Releases a buffer a callback returned.
    pub host_free_buffer: unsafe extern "C" fn(buffer: GrantorHostBytes),
    /// ABI 1.1: `{"token": "..."}` -> the tenant's own token as introspection sees it
    /// ([`crate::wire::ValidatedToken`]): a JWT checked with the tenant's keys, an opaque token
    /// found by its digest; `{"active": false}` for anything else. Absent from a 1.0 host's
    /// table: check `struct_size` first (the SDK's `Host::validate_token` does).
    pub host_validate_token: GrantorHostCall,
}

/// Creates an instance from its JSON configuration (the registration's `properties`).
/// On failure returns non-zero and may set `error_out` to UTF-8 text (plugin-owned).
pub type GrantorOnCreate = unsafe extern "C" fn(
    config: GrantorBorrowedBytes,
    instance_out: *mut *mut c_void,
    error_out: *mut GrantorPluginBytes,
) -> i32;

/// Handles one token request (JSON in, JSON result out, plugin-owned). Non-zero means the plugin
/// failed; the host answers `server_error`.
pub type GrantorOnHandle = unsafe extern "C" fn(
    instance: *mut c_void,
    host: *const GrantorHostApi,
    request: GrantorBorrowedBytes,
    result_out: *mut GrantorPluginBytes,
) -> i32;

/// Releases a buffer the plugin returned.
pub type GrantorOnFreeBuffer = unsafe extern "C" fn(buffer: GrantorPluginBytes);

/// Destroys an instance. The host loads plugins once and never unloads them.
pub type GrantorOnDestroy = unsafe extern "C" fn(instance: *mut c_void);

/// The static descriptor returned by `grantor_grant_plugin_v1()`. Lives as long as the library.
#[repr(C)]
pub struct GrantorGrantPluginV1 {
    /// Must be `GRANTOR_ABI_MAGIC`.
    pub magic: u32,
    /// `size_of` the descriptor as the plugin built it.
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    /// NUL-terminated UTF-8, static.
    pub name: *const c_char,
    /// NUL-terminated UTF-8, static.
    pub version: *const c_char,
    /// Array of `grant_types_len` NUL-terminated grant type URIs or names, static.
    pub grant_types: *const *const c_char,
    pub grant_types_len: usize,
    pub on_create: GrantorOnCreate,
    pub on_handle: GrantorOnHandle,
    pub on_free_buffer: GrantorOnFreeBuffer,
    pub on_destroy: GrantorOnDestroy,
}

// SAFETY: the descriptor is immutable static data (pointers to static strings and functions).
unsafe impl Sync for GrantorGrantPluginV1 {}

/// The signature of the exported symbol.
pub type GrantorPluginEntry = unsafe extern "C" fn() -> *const GrantorGrantPluginV1;
