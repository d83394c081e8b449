//! The host callback table handed to a plugin with each call. Every callback catches panics (a
//! panic must never unwind into plugin code) and returns an ABI status.
//!
//! Identity providers, keys, the replay cache and claim transformers arrive with the jwt-bearer
//! and trusted-issuer work; until then those callbacks answer `GRANTOR_NOT_CONFIGURED`.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use grantor_sdk::abi::{
    GrantorBorrowedBytes, GrantorHostApi, GrantorHostBytes, GRANTOR_LOG_DEBUG, GRANTOR_LOG_ERROR,
    GRANTOR_LOG_INFO, GRANTOR_LOG_WARN, GRANTOR_NOT_CONFIGURED,
};

/// What the callbacks of one call know about it. Lives on the calling thread's stack for exactly
/// the duration of `on_handle`.
pub struct CallContext<'a> {
    pub plugin: &'a str,
    pub tenant: &'a str,
    pub request_id: &'a str,
}

impl CallContext<'_> {
    /// The callback table for one call; `self` must outlive the call.
    pub fn host_api(&self) -> GrantorHostApi {
        GrantorHostApi {
            struct_size: std::mem::size_of::<GrantorHostApi>() as u32,
            host_ctx: (self as *const CallContext<'_>).cast_mut().cast::<c_void>(),
            host_find_identity_provider: not_configured,
            host_get_verification_keys: not_configured,
            host_record_jti: not_configured,
            host_transform_claims: not_configured,
            host_log,
            host_free_buffer,
        }
    }
}

unsafe extern "C" fn not_configured(
    _host_ctx: *mut c_void,
    _request: GrantorBorrowedBytes,
    result_out: *mut GrantorHostBytes,
) -> i32 {
    if !result_out.is_null() {
        // SAFETY: the plugin passes a writable slot or null.
        unsafe {
            *result_out = GrantorHostBytes {
                ptr: std::ptr::null_mut(),
                len: 0,
            }
        };
    }
    GRANTOR_NOT_CONFIGURED
}

unsafe extern "C" fn host_log(host_ctx: *mut c_void, level: i32, message: GrantorBorrowedBytes) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if host_ctx.is_null() {
            return;
        }
        // SAFETY: host_ctx is the CallContext of the call in progress.
        let ctx = unsafe { &*host_ctx.cast::<CallContext<'_>>() };
        // SAFETY: lent for this call.
        let text = unsafe { borrowed(message) };
        let text = String::from_utf8_lossy(text);
        let (plugin, tenant, request_id) = (ctx.plugin, ctx.tenant, ctx.request_id);
        match level {
            GRANTOR_LOG_ERROR => tracing::error!(plugin, tenant, request_id, "{text}"),
            GRANTOR_LOG_WARN => tracing::warn!(plugin, tenant, request_id, "{text}"),
            GRANTOR_LOG_INFO => tracing::info!(plugin, tenant, request_id, "{text}"),
            GRANTOR_LOG_DEBUG => tracing::debug!(plugin, tenant, request_id, "{text}"),
            _ => tracing::trace!(plugin, tenant, request_id, "{text}"),
        }
    }));
}

/// Hands bytes to the plugin as host-owned (freed by `host_free_buffer`).
#[allow(dead_code)] // used by the identity-provider callbacks
pub fn give_host_bytes(bytes: Vec<u8>) -> GrantorHostBytes {
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len();
    GrantorHostBytes {
        ptr: Box::into_raw(boxed).cast::<u8>(),
        len,
    }
}

unsafe extern "C" fn host_free_buffer(buffer: GrantorHostBytes) {
    if buffer.ptr.is_null() {
        return;
    }
    // SAFETY: rebuilds exactly the boxed slice give_host_bytes leaked.
    let _ = catch_unwind(|| unsafe {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            buffer.ptr, buffer.len,
        )))
    });
}

/// # Safety
/// `bytes` describes `len` readable bytes lent for the current call (or null with len 0).
pub(super) unsafe fn borrowed<'a>(bytes: GrantorBorrowedBytes) -> &'a [u8] {
    if bytes.ptr.is_null() || bytes.len == 0 {
        &[]
    } else {
        // SAFETY: per the caller's contract.
        unsafe { std::slice::from_raw_parts(bytes.ptr, bytes.len) }
    }
}
