//! The host callback table handed to a plugin with each call. Every callback catches panics (a
//! panic must never unwind into plugin code), decodes the plugin's JSON request, asks the
//! `HostServices` of the call, and returns an ABI status with a host-owned JSON answer.

use crate::blocking::OnBlockingThread;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use grantor_sdk::abi::{
    GrantorBorrowedBytes, GrantorHostApi, GrantorHostBytes, GRANTOR_CONFLICT, GRANTOR_ERROR,
    GRANTOR_LOG_DEBUG, GRANTOR_LOG_ERROR, GRANTOR_LOG_INFO, GRANTOR_LOG_WARN,
    GRANTOR_NOT_CONFIGURED, GRANTOR_NOT_FOUND, GRANTOR_OK,
};
use grantor_sdk::{ClaimsTransformRequest, ClientInfo};
use serde::Deserialize;

use super::host_services::{HostServices, ServiceReply};

/// What the callbacks of one call know about it. Lives on the calling thread's stack for exactly
/// the duration of `on_handle`.
pub struct CallContext<'a> {
    pub plugin: &'a str,
    pub tenant: &'a str,
    /// The client the host authenticated for this request.
    pub client: &'a ClientInfo,
    pub request_id: &'a str,
    pub services: &'a dyn HostServices,
    /// The call runs on a thread that may block (its services may).
    pub on: OnBlockingThread,
}

impl CallContext<'_> {
    /// The callback table for one call; `self` must outlive the call.
    pub fn host_api(&self) -> GrantorHostApi {
        GrantorHostApi {
            struct_size: std::mem::size_of::<GrantorHostApi>() as u32,
            host_ctx: (self as *const CallContext<'_>).cast_mut().cast::<c_void>(),
            host_find_identity_provider,
            host_get_verification_keys,
            host_record_jti,
            host_transform_claims,
            host_log,
            host_free_buffer,
            host_validate_token,
        }
    }
}

#[derive(Deserialize)]
struct IssuerRequest {
    issuer: String,
}

#[derive(Deserialize)]
struct KeysRequest {
    issuer: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
}

#[derive(Deserialize)]
struct JtiRequest {
    issuer: String,
    jti: String,
    expires_at: i64,
}

unsafe extern "C" fn host_find_identity_provider(
    host_ctx: *mut c_void,
    request: GrantorBorrowedBytes,
    result_out: *mut GrantorHostBytes,
) -> i32 {
    // SAFETY: forwarded from the plugin under the callback contract.
    unsafe {
        serve(host_ctx, request, result_out, |ctx, r: IssuerRequest| {
            ctx.services.find_identity_provider(ctx.tenant, &r.issuer)
        })
    }
}

unsafe extern "C" fn host_get_verification_keys(
    host_ctx: *mut c_void,
    request: GrantorBorrowedBytes,
    result_out: *mut GrantorHostBytes,
) -> i32 {
    // SAFETY: forwarded from the plugin under the callback contract.
    unsafe {
        serve(host_ctx, request, result_out, |ctx, r: KeysRequest| {
            ctx.services
                .verification_keys(ctx.on, ctx.tenant, &r.issuer, r.kid.as_deref())
        })
    }
}

unsafe extern "C" fn host_record_jti(
    host_ctx: *mut c_void,
    request: GrantorBorrowedBytes,
    result_out: *mut GrantorHostBytes,
) -> i32 {
    // SAFETY: forwarded from the plugin under the callback contract.
    unsafe {
        serve(host_ctx, request, result_out, |ctx, r: JtiRequest| {
            ctx.services
                .record_jti(ctx.tenant, &r.issuer, &r.jti, r.expires_at)
        })
    }
}

unsafe extern "C" fn host_transform_claims(
    host_ctx: *mut c_void,
    request: GrantorBorrowedBytes,
    result_out: *mut GrantorHostBytes,
) -> i32 {
    // SAFETY: forwarded from the plugin under the callback contract.
    unsafe {
        serve(
            host_ctx,
            request,
            result_out,
            |ctx, r: ClaimsTransformRequest| {
                ctx.services.transform_claims(ctx.tenant, ctx.client, r)
            },
        )
    }
}

unsafe extern "C" fn host_validate_token(
    host_ctx: *mut c_void,
    request: GrantorBorrowedBytes,
    result_out: *mut GrantorHostBytes,
) -> i32 {
    // SAFETY: forwarded from the plugin under the callback contract.
    unsafe {
        serve(host_ctx, request, result_out, |ctx, r: TokenRequest| {
            ctx.services.validate_token(ctx.tenant, &r.token)
        })
    }
}

/// The common shape of a data callback: decode, serve, encode; never unwind.
///
/// # Safety
/// `host_ctx` is the `CallContext` of the call in progress; `request` is lent for the call;
/// `result_out` is a writable slot or null.
unsafe fn serve<R: for<'de> Deserialize<'de>>(
    host_ctx: *mut c_void,
    request: GrantorBorrowedBytes,
    result_out: *mut GrantorHostBytes,
    service: impl FnOnce(&CallContext<'_>, R) -> ServiceReply,
) -> i32 {
    if result_out.is_null() || host_ctx.is_null() {
        return GRANTOR_ERROR;
    }
    let (status, body) = match catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per this function's contract.
        let ctx = unsafe { &*host_ctx.cast::<CallContext<'_>>() };
        // SAFETY: per this function's contract.
        let bytes = unsafe { borrowed(request) };
        let reply = match serde_json::from_slice::<R>(bytes) {
            Ok(decoded) => service(ctx, decoded),
            Err(e) => ServiceReply::Failed(format!("malformed callback request: {e}")),
        };
        encode(reply)
    })) {
        Ok(answer) => answer,
        Err(_) => (
            GRANTOR_ERROR,
            b"the host failed while serving a callback".to_vec(),
        ),
    };
    // SAFETY: checked non-null above; the plugin passes a writable slot.
    unsafe {
        *result_out = if body.is_empty() {
            GrantorHostBytes {
                ptr: std::ptr::null_mut(),
                len: 0,
            }
        } else {
            give_host_bytes(body)
        };
    }
    status
}

fn encode(reply: ServiceReply) -> (i32, Vec<u8>) {
    match reply {
        ServiceReply::Ok(value) => match serde_json::to_vec(&value) {
            Ok(bytes) => (GRANTOR_OK, bytes),
            Err(e) => (GRANTOR_ERROR, e.to_string().into_bytes()),
        },
        ServiceReply::Encoded(bytes) => (GRANTOR_OK, bytes.to_vec()),
        ServiceReply::NotFound => (GRANTOR_NOT_FOUND, Vec::new()),
        ServiceReply::NotConfigured => (GRANTOR_NOT_CONFIGURED, Vec::new()),
        ServiceReply::Conflict => (GRANTOR_CONFLICT, Vec::new()),
        ServiceReply::Failed(message) => (GRANTOR_ERROR, message.into_bytes()),
    }
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
fn give_host_bytes(bytes: Vec<u8>) -> GrantorHostBytes {
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl HostServices for Fixed {
        fn find_identity_provider(&self, tenant: &str, issuer: &str) -> ServiceReply {
            match issuer {
                "known" => ServiceReply::Ok(serde_json::json!({ "tenant": tenant })),
                "boom" => panic!("service bug"),
                _ => ServiceReply::NotFound,
            }
        }
        fn record_jti(&self, _: &str, _: &str, jti: &str, _: i64) -> ServiceReply {
            if jti == "seen" {
                ServiceReply::Conflict
            } else {
                ServiceReply::Ok(serde_json::Value::Null)
            }
        }
        fn transform_claims(
            &self,
            tenant: &str,
            client: &ClientInfo,
            request: ClaimsTransformRequest,
        ) -> ServiceReply {
            ServiceReply::Ok(serde_json::json!({
                "tenant": tenant,
                "client": client.client_id,
                "claims": request.claims,
            }))
        }
    }

    fn call(
        api: &GrantorHostApi,
        f: grantor_sdk::abi::GrantorHostCall,
        body: &[u8],
    ) -> (i32, Vec<u8>) {
        let mut out = GrantorHostBytes {
            ptr: std::ptr::null_mut(),
            len: 0,
        };
        let request = GrantorBorrowedBytes {
            ptr: body.as_ptr(),
            len: body.len(),
        };
        // SAFETY: a test call with a live context, as the plugin would make it.
        let status = unsafe { f(api.host_ctx, request, &mut out) };
        let bytes = if out.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: host-owned bytes, freed once below.
            let copy = unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec();
            // SAFETY: as above.
            unsafe { (api.host_free_buffer)(out) };
            copy
        };
        (status, bytes)
    }

    #[test]
    fn callbacks_map_services_onto_statuses_and_never_unwind() {
        let client = ClientInfo {
            client_id: "c1".into(),
            name: "app".into(),
            allowed_scopes: vec![],
            allowed_grant_types: vec![],
            authentication: Default::default(),
            audiences: Vec::new(),
        };
        let ctx = CallContext {
            plugin: "p",
            tenant: "acme",
            client: &client,
            request_id: "r",
            services: &Fixed,
            on: crate::blocking::test_thread(),
        };
        let api = ctx.host_api();
        let find = api.host_find_identity_provider;
        let (status, body) = call(&api, find, br#"{"issuer":"known"}"#);
        assert_eq!(status, GRANTOR_OK);
        assert_eq!(body, br#"{"tenant":"acme"}"#);
        assert_eq!(call(&api, find, br#"{"issuer":"x"}"#).0, GRANTOR_NOT_FOUND);
        assert_eq!(call(&api, find, br#"{"issuer":"boom"}"#).0, GRANTOR_ERROR);
        let (status, body) = call(&api, find, b"{not json");
        assert_eq!(status, GRANTOR_ERROR);
        assert!(String::from_utf8_lossy(&body).contains("malformed"));
        let jti = api.host_record_jti;
        let seen = br#"{"issuer":"i","jti":"seen","expires_at":1}"#;
        assert_eq!(call(&api, jti, seen).0, GRANTOR_CONFLICT);
        let fresh = br#"{"issuer":"i","jti":"new","expires_at":1}"#;
        assert_eq!(call(&api, jti, fresh).0, GRANTOR_OK);
        let keys = api.host_get_verification_keys;
        assert_eq!(
            call(&api, keys, br#"{"issuer":"i"}"#).0,
            GRANTOR_NOT_CONFIGURED
        );
        // The transformer hears of the tenant and client the host knows, whatever the plugin says.
        let transform = api.host_transform_claims;
        let (status, body) = call(
            &api,
            transform,
            br#"{"issuer":"i","claims":{"a":1},"client":"forged"}"#,
        );
        assert_eq!(status, GRANTOR_OK);
        assert_eq!(body, br#"{"claims":{"a":1},"client":"c1","tenant":"acme"}"#);
    }
}
