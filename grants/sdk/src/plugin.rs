//! The safe Rust side for plugin authors: implement [`GrantHandler`] and call
//! [`export_grant_plugin!`](crate::export_grant_plugin). The generated entry points catch every
//! panic at the boundary (since Rust 1.81 a panic escaping `extern "C"` aborts the process) and
//! turn it into a failure status, which the host answers with `server_error`.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::abi::{
    GrantorBorrowedBytes, GrantorHostApi, GrantorPluginBytes, GRANTOR_ERROR, GRANTOR_OK,
};
use crate::host::Host;
use crate::wire::{GrantRequest, GrantResult};

/// A grant handler: one instance per registration, shared by concurrent requests.
pub trait GrantHandler: Send + Sync + Sized + 'static {
    /// Builds an instance from the registration's `properties` (a JSON object).
    fn create(config: serde_json::Value) -> Result<Self, String>;

    /// Decides one token request.
    fn handle(&self, host: &Host<'_>, request: GrantRequest) -> GrantResult;
}

/// The size of ABI 1.0's host callback table: every field a plugin may call without asking.
/// Fields added in later minors are checked against `struct_size` before use (see
/// `Host::validate_token`).
pub const MIN_HOST_API_SIZE: usize = std::mem::offset_of!(GrantorHostApi, host_validate_token);

/// A static C string pointer that may live in a `static` (the data is immutable).
#[repr(transparent)]
pub struct StaticCStr(pub *const c_char);

// SAFETY: points at an immutable, 'static, NUL-terminated literal.
unsafe impl Sync for StaticCStr {}

/// Hands an owned byte vector to the host as plugin-owned bytes (freed by [`on_free_buffer`]).
fn give(bytes: Vec<u8>) -> GrantorPluginBytes {
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len();
    GrantorPluginBytes {
        ptr: Box::into_raw(boxed).cast::<u8>(),
        len,
    }
}

/// # Safety
/// `out` is null or valid for a write.
unsafe fn write_out(out: *mut GrantorPluginBytes, bytes: Vec<u8>) {
    if !out.is_null() {
        // SAFETY: checked non-null; the host passes a valid slot.
        unsafe { *out = give(bytes) };
    }
}

/// # Safety
/// `bytes` describes `len` readable bytes lent for this call (or is null with len 0).
unsafe fn borrowed<'a>(bytes: GrantorBorrowedBytes) -> &'a [u8] {
    if bytes.ptr.is_null() || bytes.len == 0 {
        &[]
    } else {
        // SAFETY: as documented by the caller's contract.
        unsafe { std::slice::from_raw_parts(bytes.ptr, bytes.len) }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// # Safety
/// Called by the host per the ABI: `config` lent, `instance_out` and `error_out` writable.
pub unsafe extern "C" fn on_create<H: GrantHandler>(
    config: GrantorBorrowedBytes,
    instance_out: *mut *mut c_void,
    error_out: *mut GrantorPluginBytes,
) -> i32 {
    // SAFETY: the host lends the config for this call.
    let config = unsafe { borrowed(config) };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let value: serde_json::Value = if config.is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_slice(config).map_err(|e| format!("configuration is not JSON: {e}"))?
        };
        H::create(value)
    }))
    .unwrap_or_else(|p| Err(format!("panic in create: {}", panic_message(p.as_ref()))));
    match outcome {
        Ok(handler) if !instance_out.is_null() => {
            // SAFETY: checked non-null.
            unsafe { *instance_out = Box::into_raw(Box::new(handler)).cast::<c_void>() };
            GRANTOR_OK
        }
        Ok(_) => GRANTOR_ERROR,
        Err(message) => {
            // SAFETY: error_out per the ABI.
            unsafe { write_out(error_out, message.into_bytes()) };
            GRANTOR_ERROR
        }
    }
}

/// # Safety
/// `instance` came from `on_create::<H>`; `host` and `request` are valid for this call.
pub unsafe extern "C" fn on_handle<H: GrantHandler>(
    instance: *mut c_void,
    host: *const GrantorHostApi,
    request: GrantorBorrowedBytes,
    result_out: *mut GrantorPluginBytes,
) -> i32 {
    if instance.is_null() || host.is_null() {
        return GRANTOR_ERROR;
    }
    // The table's size before any of its fields: a host built against an older ABI minor may
    // pass a shorter table, and a field past its size does not exist.
    // SAFETY: `struct_size` is the table's first field in every ABI version.
    let host_size = unsafe { std::ptr::addr_of!((*host).struct_size).read_unaligned() };
    if (host_size as usize) < MIN_HOST_API_SIZE {
        let message = format!(
            "the host's callback table is {host_size} bytes; this plugin needs the {MIN_HOST_API_SIZE} \
             bytes of ABI {}.0",
            crate::abi::GRANTOR_ABI_MAJOR
        );
        // SAFETY: result_out per the ABI.
        unsafe { write_out(result_out, message.into_bytes()) };
        return GRANTOR_ERROR;
    }
    // SAFETY: as documented: the instance is ours, host and request are lent for this call.
    let (handler, host, request) = unsafe {
        (
            &*instance.cast::<H>(),
            Host::from_raw(&*host),
            borrowed(request),
        )
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let request: GrantRequest = serde_json::from_slice(request)
            .map_err(|e| format!("cannot decode the grant request: {e}"))?;
        let result = handler.handle(&host, request);
        serde_json::to_vec(&result).map_err(|e| format!("cannot encode the grant result: {e}"))
    }))
    .unwrap_or_else(|p| Err(format!("panic in handle: {}", panic_message(p.as_ref()))));
    let (status, bytes) = match outcome {
        Ok(bytes) => (GRANTOR_OK, bytes),
        Err(message) => (GRANTOR_ERROR, message.into_bytes()),
    };
    // SAFETY: result_out per the ABI.
    unsafe { write_out(result_out, bytes) };
    status
}

/// # Safety
/// `buffer` was returned by this plugin and is freed once.
pub unsafe extern "C" fn on_free_buffer(buffer: GrantorPluginBytes) {
    if buffer.ptr.is_null() {
        return;
    }
    // SAFETY: rebuilds the boxed slice `give` leaked, with its exact length.
    let _ = catch_unwind(|| unsafe {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            buffer.ptr, buffer.len,
        )))
    });
}

/// # Safety
/// `instance` came from `on_create::<H>` and is destroyed once.
pub unsafe extern "C" fn on_destroy<H: GrantHandler>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: the instance was created by Box::into_raw in on_create::<H>.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        drop(Box::from_raw(instance.cast::<H>()))
    }));
}

/// Exports a [`GrantHandler`] as a Grantor grant plugin.
///
/// ```ignore
/// grantor_sdk::export_grant_plugin! {
///     handler: MyGrant,
///     name: "my-grant",
///     version: env!("CARGO_PKG_VERSION"),
///     grant_types: ["urn:example:params:oauth:grant-type:mine"],
/// }
/// ```
#[macro_export]
macro_rules! export_grant_plugin {
    (
        handler: $handler:ty,
        name: $name:expr,
        version: $version:expr,
        grant_types: [$($grant_type:expr),+ $(,)?] $(,)?
    ) => {
        /// The plugin's one exported symbol (Grantor plugin ABI v1).
        #[no_mangle]
        pub extern "C" fn grantor_grant_plugin_v1() -> *const $crate::abi::GrantorGrantPluginV1 {
            static GRANT_TYPES: &[$crate::plugin::StaticCStr] = &[
                $($crate::plugin::StaticCStr(concat!($grant_type, "\0").as_ptr().cast())),+
            ];
            static DESCRIPTOR: $crate::abi::GrantorGrantPluginV1 = $crate::abi::GrantorGrantPluginV1 {
                magic: $crate::abi::GRANTOR_ABI_MAGIC,
                struct_size: ::std::mem::size_of::<$crate::abi::GrantorGrantPluginV1>() as u32,
                abi_major: $crate::abi::GRANTOR_ABI_MAJOR,
                abi_minor: $crate::abi::GRANTOR_ABI_MINOR,
                name: concat!($name, "\0").as_ptr().cast(),
                version: concat!($version, "\0").as_ptr().cast(),
                grant_types: GRANT_TYPES.as_ptr().cast(),
                grant_types_len: GRANT_TYPES.len(),
                on_create: $crate::plugin::on_create::<$handler>,
                on_handle: $crate::plugin::on_handle::<$handler>,
                on_free_buffer: $crate::plugin::on_free_buffer,
                on_destroy: $crate::plugin::on_destroy::<$handler>,
            };
            &DESCRIPTOR
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::GrantorHostBytes;

    struct Refuser;

    impl GrantHandler for Refuser {
        fn create(_: serde_json::Value) -> Result<Self, String> {
            Ok(Refuser)
        }
        fn handle(&self, _: &Host<'_>, _: GrantRequest) -> GrantResult {
            GrantResult::invalid_grant("handled")
        }
    }

    unsafe extern "C" fn no_call(
        _: *mut c_void,
        _: GrantorBorrowedBytes,
        _: *mut GrantorHostBytes,
    ) -> i32 {
        GRANTOR_ERROR
    }
    unsafe extern "C" fn no_log(_: *mut c_void, _: i32, _: GrantorBorrowedBytes) {}
    unsafe extern "C" fn no_free(_: GrantorHostBytes) {}

    fn table(struct_size: u32) -> GrantorHostApi {
        GrantorHostApi {
            struct_size,
            host_ctx: std::ptr::null_mut(),
            host_find_identity_provider: no_call,
            host_get_verification_keys: no_call,
            host_record_jti: no_call,
            host_transform_claims: no_call,
            host_log: no_log,
            host_free_buffer: no_free,
            host_validate_token: no_call,
        }
    }

    /// Calls `on_handle` with `api` and returns its status and output text.
    fn call(api: &GrantorHostApi) -> (i32, String) {
        let instance = Box::into_raw(Box::new(Refuser)).cast::<c_void>();
        let request = serde_json::to_vec(&serde_json::json!({
            "grant_type": "urn:x", "tenant": "t", "params": {},
            "client": {"client_id": "c", "name": "c", "allowed_scopes": [], "allowed_grant_types": []},
            "metadata": {"request_id": "r", "now": 0, "token_endpoint": "https://x/token"}
        }))
        .unwrap();
        let mut out = GrantorPluginBytes {
            ptr: std::ptr::null_mut(),
            len: 0,
        };
        // SAFETY: a valid instance, table, request and out-slot for this call.
        let status = unsafe {
            on_handle::<Refuser>(
                instance,
                api,
                GrantorBorrowedBytes {
                    ptr: request.as_ptr(),
                    len: request.len(),
                },
                &mut out,
            )
        };
        // SAFETY: `out` was written by on_handle, read and freed once; the instance destroyed once.
        let text = unsafe {
            let text =
                String::from_utf8_lossy(std::slice::from_raw_parts(out.ptr, out.len)).into_owned();
            on_free_buffer(out);
            on_destroy::<Refuser>(instance);
            text
        };
        (status, text)
    }

    #[test]
    fn a_host_table_shorter_than_abi_1_0_is_refused_before_any_field_is_read() {
        let (status, text) = call(&table(8));
        assert_eq!(status, GRANTOR_ERROR);
        assert!(text.contains("callback table is 8 bytes"), "{text}");
        let (status, text) = call(&table(MIN_HOST_API_SIZE as u32));
        assert_eq!(status, GRANTOR_OK, "{text}");
        assert!(text.contains("handled"), "{text}");
    }
}
