//! The plugin's safe view of the host callbacks passed with each call.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::abi::{
    GrantorBorrowedBytes, GrantorHostApi, GrantorHostBytes, GrantorHostCall, GRANTOR_CONFLICT,
    GRANTOR_LOG_DEBUG, GRANTOR_LOG_ERROR, GRANTOR_LOG_INFO, GRANTOR_LOG_WARN,
    GRANTOR_NOT_CONFIGURED, GRANTOR_NOT_FOUND, GRANTOR_OK,
};

/// What a callback answered.
#[derive(Debug, Clone, PartialEq)]
pub enum HostReply<T> {
    Ok(T),
    NotFound,
    NotConfigured,
    Conflict,
    Failed(String),
}

/// Valid for one `handle` call only.
pub struct Host<'a> {
    api: &'a GrantorHostApi,
}

impl<'a> Host<'a> {
    /// # Safety
    /// `api` must be the table the host passed to this `on_handle` call.
    pub unsafe fn from_raw(api: &'a GrantorHostApi) -> Host<'a> {
        Host { api }
    }

    pub fn find_identity_provider<T: DeserializeOwned>(&self, issuer: &str) -> HostReply<T> {
        self.call(
            self.api.host_find_identity_provider,
            &serde_json::json!({ "issuer": issuer }),
        )
    }

    /// `find_identity_provider`'s answer as the host's bytes, not decoded: for a plugin that keeps
    /// the provider it decoded last and decodes again only when the bytes differ. The host
    /// answers with the same bytes until the provider changes.
    pub fn find_identity_provider_bytes(&self, issuer: &str) -> HostReply<Vec<u8>> {
        self.call_bytes(
            self.api.host_find_identity_provider,
            &serde_json::json!({ "issuer": issuer }),
        )
    }

    pub fn get_verification_keys<T: DeserializeOwned>(
        &self,
        issuer: &str,
        kid: Option<&str>,
    ) -> HostReply<T> {
        self.call(
            self.api.host_get_verification_keys,
            &serde_json::json!({ "issuer": issuer, "kid": kid }),
        )
    }

    /// `Ok` the first time, `Conflict` on a replay.
    pub fn record_jti(&self, issuer: &str, jti: &str, expires_at: i64) -> HostReply<()> {
        self.call::<serde_json::Value>(
            self.api.host_record_jti,
            &serde_json::json!({ "issuer": issuer, "jti": jti, "expires_at": expires_at }),
        )
        .map_ok(|_| ())
    }

    /// Runs the issuer's claim transformer; `NotConfigured` when it has none.
    pub fn transform_claims(
        &self,
        request: &crate::wire::ClaimsTransformRequest,
    ) -> HostReply<crate::wire::TransformedClaims> {
        self.call(self.api.host_transform_claims, request)
    }

    /// ABI 1.1: a token of the request's tenant, as introspection sees it (see
    /// [`crate::wire::ValidatedToken`]). `NotConfigured` from a 1.0 host, whose table has no
    /// such callback.
    pub fn validate_token(&self, token: &str) -> HostReply<crate::wire::ValidatedToken> {
        // A field past the host's struct_size does not exist: never read it.
        let needed = std::mem::offset_of!(GrantorHostApi, host_validate_token)
            + std::mem::size_of::<GrantorHostCall>();
        if (self.api.struct_size as usize) < needed {
            return HostReply::NotConfigured;
        }
        self.call(
            self.api.host_validate_token,
            &serde_json::json!({ "token": token }),
        )
    }

    pub fn log_error(&self, message: &str) {
        self.log(GRANTOR_LOG_ERROR, message)
    }
    pub fn log_warn(&self, message: &str) {
        self.log(GRANTOR_LOG_WARN, message)
    }
    pub fn log_info(&self, message: &str) {
        self.log(GRANTOR_LOG_INFO, message)
    }
    pub fn log_debug(&self, message: &str) {
        self.log(GRANTOR_LOG_DEBUG, message)
    }

    fn log(&self, level: i32, message: &str) {
        // SAFETY: the table is valid for this call; the message is borrowed only for its duration.
        unsafe { (self.api.host_log)(self.api.host_ctx, level, borrow(message.as_bytes())) }
    }

    fn call<T: DeserializeOwned>(
        &self,
        callback: GrantorHostCall,
        request: &impl Serialize,
    ) -> HostReply<T> {
        self.call_bytes(callback, request)
            .and_then(|bytes| decode_reply(&bytes))
    }

    /// A callback's answer: its bytes when it succeeded, not decoded.
    fn call_bytes(
        &self,
        callback: GrantorHostCall,
        request: &impl Serialize,
    ) -> HostReply<Vec<u8>> {
        let Ok(request) = serde_json::to_vec(request) else {
            return HostReply::Failed("cannot encode the callback request".into());
        };
        let mut out = GrantorHostBytes {
            ptr: std::ptr::null_mut(),
            len: 0,
        };
        // SAFETY: the host guarantees the callback and ctx for this call; `request` outlives it.
        let status = unsafe { callback(self.api.host_ctx, borrow(&request), &mut out) };
        let bytes = self.take_host_bytes(out);
        match status {
            GRANTOR_OK => HostReply::Ok(bytes),
            GRANTOR_NOT_FOUND => HostReply::NotFound,
            GRANTOR_NOT_CONFIGURED => HostReply::NotConfigured,
            GRANTOR_CONFLICT => HostReply::Conflict,
            _ => HostReply::Failed(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    /// Copies a host-owned buffer and gives it back to the host at once.
    fn take_host_bytes(&self, out: GrantorHostBytes) -> Vec<u8> {
        if out.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: the host returned `len` readable bytes at `ptr`, ours until we free them.
        let copy = unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec();
        // SAFETY: freed exactly once, with the host's own function.
        unsafe { (self.api.host_free_buffer)(out) };
        copy
    }
}

impl<T> HostReply<T> {
    pub fn map_ok<U>(self, f: impl FnOnce(T) -> U) -> HostReply<U> {
        self.and_then(|v| HostReply::Ok(f(v)))
    }

    /// `f` of the value when the host answered, for a step that may fail in turn (decoding).
    pub fn and_then<U>(self, f: impl FnOnce(T) -> HostReply<U>) -> HostReply<U> {
        match self {
            HostReply::Ok(v) => f(v),
            HostReply::NotFound => HostReply::NotFound,
            HostReply::NotConfigured => HostReply::NotConfigured,
            HostReply::Conflict => HostReply::Conflict,
            HostReply::Failed(e) => HostReply::Failed(e),
        }
    }
}

pub(crate) fn borrow(bytes: &[u8]) -> GrantorBorrowedBytes {
    GrantorBorrowedBytes {
        ptr: bytes.as_ptr(),
        len: bytes.len(),
    }
}

/// A successful callback's answer decoded (an empty answer reads as JSON `null`).
pub fn decode_reply<T: DeserializeOwned>(bytes: &[u8]) -> HostReply<T> {
    match serde_json::from_slice(if bytes.is_empty() { b"null" } else { bytes }) {
        Ok(value) => HostReply::Ok(value),
        Err(e) => HostReply::Failed(format!("cannot decode the host's answer: {e}")),
    }
}
