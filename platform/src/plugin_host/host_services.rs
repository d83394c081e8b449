//! What the host offers a plugin during a call, independent of the ABI: the callback layer
//! (`callbacks.rs`) decodes the plugin's JSON, calls these, and encodes the answer.

use crate::blocking::OnBlockingThread;
use grantor_sdk::{ClaimsTransformRequest, ClientInfo};

/// The answer of one host service, mapped onto the ABI's statuses.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceReply {
    Ok(serde_json::Value),
    /// An answer already encoded as JSON, shared by the requests it answers (an identity
    /// provider's, made once per version of the provider).
    Encoded(std::sync::Arc<[u8]>),
    NotFound,
    NotConfigured,
    Conflict,
    Failed(String),
}

/// Services for the calls of one tenant's requests. Every method is called on the plugin's
/// blocking thread, so implementations may block (database, network with a timeout).
pub trait HostServices: Send + Sync {
    /// The tenant's identity provider with this issuer.
    fn find_identity_provider(&self, _tenant: &str, _issuer: &str) -> ServiceReply {
        ServiceReply::NotConfigured
    }

    /// `{"keys": [JWK, ...]}` to verify the issuer's assertions: those with `kid` when it names
    /// one of them, else all of them.
    ///
    /// The only service that may wait on the runtime (a JWKS fetch): it takes the proof that
    /// its thread may block.
    fn verification_keys(
        &self,
        _on: OnBlockingThread,
        _tenant: &str,
        _issuer: &str,
        _kid: Option<&str>,
    ) -> ServiceReply {
        ServiceReply::NotConfigured
    }

    /// `Ok` the first time (tenant, issuer, jti) is seen before `expires_at`, `Conflict` after.
    fn record_jti(
        &self,
        _tenant: &str,
        _issuer: &str,
        _jti: &str,
        _expires_at: i64,
    ) -> ServiceReply {
        ServiceReply::NotConfigured
    }

    /// Runs the issuer's claim transformer for a request of `client`: `Ok(TransformedClaims)`,
    /// `NotConfigured` when the issuer has none, `Failed` with a description a client may read.
    fn transform_claims(
        &self,
        _tenant: &str,
        _client: &ClientInfo,
        _request: ClaimsTransformRequest,
    ) -> ServiceReply {
        ServiceReply::NotConfigured
    }

    /// ABI 1.1: `token` as a token of `tenant` (`grantor_sdk::ValidatedToken`), `{"active":
    /// false}` when it is none.
    fn validate_token(&self, _tenant: &str, _token: &str) -> ServiceReply {
        ServiceReply::NotConfigured
    }
}

/// Offers nothing but logging (benchmarks, plugins that need no data).
pub struct NoServices;

impl HostServices for NoServices {}
