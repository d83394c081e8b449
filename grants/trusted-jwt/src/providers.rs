//! Identity providers as the host describes them, each description decoded once. The host answers
//! `host_find_identity_provider` with the same bytes until the provider changes (it keeps its
//! answer encoded), and decoding it at every assertion (the provider's certificates as JWKs among
//! it), then comparing its keys whole with the keys parsed before, cost the plugin 1.7 % of a
//! jwt-bearer exchange's samples (perf; BENCHMARKS.md, seventh sitting). A decoded description is
//! reused only for the very same bytes, so a provider changed, disabled or re-registered is
//! decoded anew at the next assertion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use grantor_sdk::host::decode_reply;
use grantor_sdk::{Host, HostReply, IdentityProviderInfo};
use serde_json::Value;

/// One description of a provider, decoded.
pub struct Provider {
    /// The host's bytes it was decoded from.
    bytes: Vec<u8>,
    pub info: Arc<IdentityProviderInfo>,
    /// `info.certificate_keys`, each shared: the same `Arc` for the same key at every assertion,
    /// which the parsed-key cache knows without comparing the JWK whole.
    pub certificate_keys: Option<Vec<Arc<Value>>>,
}

/// The last description of each issuer's provider.
#[derive(Default)]
pub struct Providers {
    by_issuer: Mutex<HashMap<String, Arc<Provider>>>,
}

/// Issuers kept before the map is emptied: the host answers only for registered providers, but a
/// server may have many.
const MAX_CACHED_PROVIDERS: usize = 1024;

impl Providers {
    /// The provider registered for `issuer`, as the host describes it now.
    pub fn find(&self, host: &Host<'_>, issuer: &str) -> HostReply<Arc<Provider>> {
        host.find_identity_provider_bytes(issuer)
            .and_then(|bytes| self.decoded(issuer, bytes))
    }

    /// The provider these bytes describe: the one decoded before when they are the same bytes.
    fn decoded(&self, issuer: &str, bytes: Vec<u8>) -> HostReply<Arc<Provider>> {
        {
            let by_issuer = self.by_issuer.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(known) = by_issuer.get(issuer).filter(|p| p.bytes == bytes) {
                return HostReply::Ok(known.clone());
            }
        }
        decode_reply(&bytes).map_ok(|info: IdentityProviderInfo| {
            let certificate_keys = info
                .certificate_keys
                .as_ref()
                .map(|keys| keys.iter().cloned().map(Arc::new).collect());
            let provider = Arc::new(Provider {
                bytes,
                info: Arc::new(info),
                certificate_keys,
            });
            let mut by_issuer = self.by_issuer.lock().unwrap_or_else(|e| e.into_inner());
            if by_issuer.len() >= MAX_CACHED_PROVIDERS {
                by_issuer.clear();
            }
            by_issuer.insert(issuer.to_owned(), provider.clone());
            provider
        })
    }
}
