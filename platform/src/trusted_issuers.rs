//! The issuers a tenant trusts, as the host reads them (through the store's read cache) for the
//! plugins' callbacks and for its own checks: identity providers' settings, verification keys
//! (certificates turned into JWKs once, cached by content; JWKS endpoints fetched through a cache,
//! for `private_key_jwt` clients too) and claim transformers. Replay keys are staged per request (`oauth/token/plugin_call.rs`).

use crate::blocking::OnBlockingThread;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use grantor_sdk::{
    ClaimsTransformRequest, ClientInfo, IdentityProviderInfo, TransformedClaims, VerificationKeys,
};

use crate::claims::{
    ClaimTransformers, ClientContext, ProviderContext, TransformContext, Transformed,
};
use crate::keys::certificates::{validity_of_pem, Validity};
use crate::keys::remote_jwks::{JwksCache, JwksError, KeyLookup};
use crate::plugin_host::{HostServices, ServiceReply};
use crate::store::{IdentityProvider, Store};
use grantor_jose::key::jwk_from_pem;

/// What a client hears when a JWKS endpoint gave no usable key set; the log has the detail.
const JWKS_UNAVAILABLE: &str = "its published key set could not be fetched; try again later";

/// Certificates kept as parsed JWKs before the cache is emptied and refilled on use.
const MAX_CACHED_CERTIFICATES: usize = 4096;
/// Identity providers whose answer to the plugins is kept encoded, likewise.
const MAX_CACHED_PROVIDER_REPLIES: usize = 4096;

pub struct TrustedIssuers {
    store: Store,
    jwks: JwksCache,
    transformers: Arc<ClaimTransformers>,
    /// PEM text -> its JWK: openssl parses a certificate once, not on every request. Keyed by
    /// content, so a provider re-registered with another certificate simply misses.
    parsed_certificates: RwLock<HashMap<String, ParsedCertificate>>,
    /// Tenant -> issuer -> the provider's answer to `find_identity_provider`, encoded once per
    /// version of the provider instead of per request (building and encoding it, certificates
    /// included, was 2.4 % of a jwt-bearer exchange's CPU).
    provider_replies: RwLock<HashMap<String, HashMap<String, ProviderReply>>>,
}

/// One provider's encoded answer, and what it holds for.
struct ProviderReply {
    /// The version of the provider it was made from, as the store's read cache handed it out: a
    /// change to the provider comes back as another `Arc`. Held, so that no later version can be
    /// allocated at the same address while this entry stands.
    provider: Arc<IdentityProvider>,
    /// The answer lists its certificates as usable or expired as of a moment: it holds through
    /// this second (the earliest `notAfter` among those it lists as usable).
    holds_through: Option<i64>,
    reply: Arc<[u8]>,
}

impl ProviderReply {
    fn answers(&self, provider: &Arc<IdentityProvider>, now: i64) -> bool {
        Arc::ptr_eq(&self.provider, provider) && self.holds_through.is_none_or(|last| now <= last)
    }
}

#[derive(Clone)]
struct ParsedCertificate {
    jwk: serde_json::Value,
    validity: Option<Validity>,
}

/// Certificates at one moment: those that verify, and those past `notAfter`.
#[derive(Default)]
pub struct CertificateKeys {
    pub usable: Vec<serde_json::Value>,
    pub expired: Vec<String>,
    /// The earliest `notAfter` among the usable ones (`None`: none of them expires): through that
    /// second the split stands.
    pub usable_through: Option<i64>,
}

impl TrustedIssuers {
    pub fn new(
        store: Store,
        jwks: JwksCache,
        transformers: Arc<ClaimTransformers>,
    ) -> TrustedIssuers {
        TrustedIssuers {
            store,
            jwks,
            transformers,
            parsed_certificates: RwLock::default(),
            provider_replies: RwLock::default(),
        }
    }

    /// The provider's certificates as JWKs, parsed once per certificate; those past their
    /// `notAfter` at `now` are left out and described instead.
    fn certificate_keys(
        &self,
        provider: &IdentityProvider,
        now: i64,
    ) -> Result<CertificateKeys, ServiceReply> {
        self.usable_certificate_keys(&provider.certificates, now)
            .map_err(|e| failed(&format!("key of identity provider '{}'", provider.name), e))
    }

    /// Certificates (PEM) as JWKs, parsed once each: those that verify at `now`, and a
    /// description of each past its `notAfter`. A client's `private_key_jwt` keys go through here
    /// too.
    pub fn usable_certificate_keys(
        &self,
        pems: &[String],
        now: i64,
    ) -> Result<CertificateKeys, String> {
        let mut keys = CertificateKeys::default();
        for pem in pems {
            let parsed = self.certificate_key(pem)?;
            match &parsed.validity {
                Some(validity) if validity.expired_at(now) => keys.expired.push(format!(
                    "certificate {} expired on {}",
                    parsed.jwk["kid"].as_str().unwrap_or("?"),
                    validity.not_after_text
                )),
                _ => {
                    if let Some(validity) = &parsed.validity {
                        keys.usable_through = Some(
                            keys.usable_through
                                .map_or(validity.not_after, |t| t.min(validity.not_after)),
                        );
                    }
                    keys.usable.push(parsed.jwk)
                }
            }
        }
        Ok(keys)
    }

    fn certificate_key(&self, pem: &str) -> Result<ParsedCertificate, String> {
        let cached = self
            .parsed_certificates
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(pem)
            .cloned();
        if let Some(parsed) = cached {
            return Ok(parsed);
        }
        let parsed = ParsedCertificate {
            jwk: jwk_from_pem(pem).map_err(|e| e.to_string())?,
            validity: validity_of_pem(pem),
        };
        let mut keys = self
            .parsed_certificates
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if keys.len() >= MAX_CACHED_CERTIFICATES {
            keys.clear();
        }
        keys.insert(pem.to_owned(), parsed.clone());
        Ok(parsed)
    }

    /// The tenant's provider with this issuer, or the reply that ends the callback (`NotFound`,
    /// or `Failed` when the store fails).
    fn provider(&self, tenant: &str, issuer: &str) -> Result<Arc<IdentityProvider>, ServiceReply> {
        match self.store.cached_identity_provider(tenant, issuer) {
            Ok(Some(provider)) => Ok(provider),
            Ok(None) => Err(ServiceReply::NotFound),
            Err(e) => Err(failed("identity provider lookup", e)),
        }
    }

    /// The keys at a JWKS endpoint for `kid` (or all), through the shared cache: refetched at most
    /// once per `min_refresh_interval_seconds` for an unknown `kid`.
    pub fn jwks_keys(
        &self,
        on: OnBlockingThread,
        uri: &str,
        kid: Option<&str>,
    ) -> Result<KeyLookup, JwksError> {
        self.jwks.keys_blocking(on, uri, kid)
    }

    /// Keys from the provider's JWKS endpoint: the one `kid` names (`NotFound` if the key set,
    /// refreshed when allowed, has no such key), or all of them.
    fn published_keys(
        &self,
        on: OnBlockingThread,
        tenant: &str,
        uri: &str,
        kid: Option<&str>,
    ) -> ServiceReply {
        let keys = match self.jwks.keys_blocking(on, uri, kid) {
            Ok(lookup) if lookup.unknown_kid => return ServiceReply::NotFound,
            Ok(lookup) => VerificationKeys {
                keys: lookup
                    .keys
                    .iter()
                    .map(|k| serde_json::Value::clone(k))
                    .collect(),
                unavailable: None,
            },
            Err(JwksError::Unavailable(reason)) => {
                // The endpoint and what went wrong are for the operator; a client learns only
                // that the keys are out of reach for now (issue 12: what a client is told).
                tracing::warn!(tenant, jwks_uri = uri, "{reason}");
                VerificationKeys {
                    keys: Vec::new(),
                    unavailable: Some(JWKS_UNAVAILABLE.to_owned()),
                }
            }
        };
        encoded("key", keys)
    }
}

/// A callback's answer as JSON.
fn encoded(what: &str, answer: impl serde::Serialize) -> ServiceReply {
    match serde_json::to_value(answer) {
        Ok(value) => ServiceReply::Ok(value),
        Err(e) => failed(&format!("{what} encoding"), e),
    }
}

fn failed(what: &str, error: impl std::fmt::Display) -> ServiceReply {
    // The plugin turns this into server_error; the details stay in the host's log.
    tracing::error!("{what} failed: {error}");
    ServiceReply::Failed(format!("{what} failed"))
}

impl TrustedIssuers {
    /// `find_identity_provider` at `now`: the encoded answer kept for this version of the
    /// provider while its certificates' split holds, else made and kept.
    fn identity_provider_reply(&self, tenant: &str, issuer: &str, now: i64) -> ServiceReply {
        let provider = match self.provider(tenant, issuer) {
            Ok(provider) => provider,
            Err(reply) => return reply,
        };
        let kept = self
            .provider_replies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .and_then(|by_issuer| by_issuer.get(issuer))
            .filter(|kept| kept.answers(&provider, now))
            .map(|kept| kept.reply.clone());
        if let Some(reply) = kept {
            return ServiceReply::Encoded(reply);
        }
        let (reply, holds_through) = match self.encode_provider(&provider, now) {
            Ok(made) => made,
            Err(reply) => return reply,
        };
        let mut replies = self
            .provider_replies
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if replies.values().map(HashMap::len).sum::<usize>() >= MAX_CACHED_PROVIDER_REPLIES {
            replies.clear();
        }
        replies.entry(tenant.to_owned()).or_default().insert(
            issuer.to_owned(),
            ProviderReply {
                provider,
                holds_through,
                reply: reply.clone(),
            },
        );
        ServiceReply::Encoded(reply)
    }

    /// The provider as the plugins read it (`IdentityProviderInfo`) at `now`, encoded, and the
    /// last second its certificates' split holds.
    fn encode_provider(
        &self,
        provider: &IdentityProvider,
        now: i64,
    ) -> Result<(Arc<[u8]>, Option<i64>), ServiceReply> {
        // Certificates travel with the provider, sparing the plugin a second callback.
        let certificates = if provider.certificates.is_empty() {
            CertificateKeys::default()
        } else {
            self.certificate_keys(provider, now)?
        };
        let holds_through = certificates.usable_through;
        let info = IdentityProviderInfo {
            certificate_keys: (!provider.certificates.is_empty()).then_some(certificates.usable),
            expired_certificates: certificates.expired,
            key_source: if provider.certificates.is_empty() {
                "jwks_uri".into()
            } else {
                "certificates".into()
            },
            name: provider.name.clone(),
            issuer: provider.issuer.clone(),
            aliases: provider.aliases.clone(),
            enabled: provider.enabled,
            clock_skew_seconds: provider.clock_skew_seconds,
            allowed_subjects: provider.allowed_subjects.clone(),
            allowed_scopes: provider.allowed_scopes.clone(),
            claim_mappings: provider.claim_mappings.clone(),
            claim_transformer: provider.claim_transformer.is_some(),
            service_account_client: provider.service_account_client.clone(),
            scope_claim: provider.scope_claim.clone(),
        };
        match serde_json::to_vec(&info) {
            Ok(bytes) => Ok((bytes.into(), holds_through)),
            Err(e) => Err(failed("identity provider encoding", e)),
        }
    }
}

impl HostServices for TrustedIssuers {
    fn find_identity_provider(&self, tenant: &str, issuer: &str) -> ServiceReply {
        self.identity_provider_reply(tenant, issuer, crate::clock::now_unix())
    }

    fn verification_keys(
        &self,
        on: OnBlockingThread,
        tenant: &str,
        issuer: &str,
        kid: Option<&str>,
    ) -> ServiceReply {
        let provider = match self.provider(tenant, issuer) {
            Ok(provider) => provider,
            Err(reply) => return reply,
        };
        if provider.certificates.is_empty() {
            let Some(uri) = provider.jwks_uri.as_deref() else {
                return ServiceReply::NotConfigured;
            };
            return self.published_keys(on, tenant, uri, kid);
        }
        let keys = match self.certificate_keys(&provider, crate::clock::now_unix()) {
            Ok(keys) => grantor_sdk::wire::keys_for_kid(keys.usable, kid),
            Err(reply) => return reply,
        };
        encoded(
            "key",
            VerificationKeys {
                keys,
                unavailable: None,
            },
        )
    }

    fn transform_claims(
        &self,
        tenant: &str,
        client: &ClientInfo,
        request: ClaimsTransformRequest,
    ) -> ServiceReply {
        let provider = match self.provider(tenant, &request.issuer) {
            Ok(provider) => provider,
            Err(reply) => return reply,
        };
        let Some(script) = provider.claim_transformer.as_deref() else {
            return ServiceReply::NotConfigured;
        };
        let context = TransformContext {
            tenant: tenant.to_owned(),
            provider: ProviderContext {
                name: provider.name.clone(),
                issuer: provider.issuer.clone(),
            },
            client: ClientContext {
                client_id: client.client_id.clone(),
                name: client.name.clone(),
            },
            requested_scopes: request.requested_scopes,
        };
        let started = std::time::Instant::now();
        let outcome = self.transformers.run(
            Path::new(script),
            request.claims,
            &context,
            grantor_jose::VALIDATED_CLAIMS,
        );
        let elapsed_us = started.elapsed().as_micros() as u64;
        let answer = match outcome {
            Ok(Transformed::Accepted {
                claims,
                subject,
                scopes,
            }) => TransformedClaims {
                claims,
                subject,
                scopes,
                rejected: None,
            },
            Ok(Transformed::Rejected(message)) => {
                tracing::info!(tenant, provider = %provider.name, script, elapsed_us, "claim transformer refused the assertion: {message}");
                TransformedClaims {
                    claims: Default::default(),
                    subject: None,
                    scopes: None,
                    rejected: Some(message),
                }
            }
            Err(error) => {
                tracing::error!(tenant, provider = %provider.name, script, elapsed_us, "claim transformer failed: {error}");
                return ServiceReply::Failed(error.public_description());
            }
        };
        encoded("transformed claims", answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClaimTransformerConfig, JwksEndpointConfig};
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;

    fn public_pem() -> String {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        String::from_utf8(key.public_key_to_pem().unwrap()).unwrap()
    }

    fn services(store: &Store) -> TrustedIssuers {
        TrustedIssuers::new(
            store.clone(),
            JwksCache::new(JwksEndpointConfig::default()).unwrap(),
            Arc::new(ClaimTransformers::new(&ClaimTransformerConfig::default())),
        )
    }

    fn provider(certificates: Vec<String>) -> IdentityProvider {
        IdentityProvider {
            tenant_domain: "carbon.super".into(),
            name: "corp".into(),
            issuer: "https://corp".into(),
            aliases: vec![],
            certificates,
            jwks_uri: None,
            enabled: true,
            clock_skew_seconds: 0,
            allowed_subjects: None,
            allowed_scopes: None,
            created_at: 0,
            claim_mappings: Default::default(),
            claim_transformer: None,
            service_account_client: None,
            scope_claim: None,
        }
    }

    /// The JSON of an identity provider's answer.
    fn answer_json(reply: ServiceReply) -> serde_json::Value {
        serde_json::from_slice(&encoded_answer(reply)).unwrap()
    }

    fn encoded_answer(reply: ServiceReply) -> Arc<[u8]> {
        match reply {
            ServiceReply::Encoded(bytes) => bytes,
            other => panic!("not an encoded answer: {other:?}"),
        }
    }

    #[test]
    fn a_providers_answer_is_made_once_per_version_of_it() {
        crate::store::test_support::for_each_backend(|store| {
            let services = services(store);
            store
                .add_identity_provider(&provider(vec![public_pem()]))
                .unwrap();
            let now = 1_800_000_000;
            let first = encoded_answer(services.identity_provider_reply(
                "carbon.super",
                "https://corp",
                now,
            ));
            let again = encoded_answer(services.identity_provider_reply(
                "carbon.super",
                "https://corp",
                now,
            ));
            assert!(Arc::ptr_eq(&first, &again), "the kept answer is served");

            store
                .set_identity_provider_enabled("carbon.super", "corp", false, now)
                .unwrap();
            store.refresh_read_cache().unwrap();
            let changed =
                answer_json(services.identity_provider_reply("carbon.super", "https://corp", now));
            assert_eq!(
                changed["enabled"], false,
                "a changed provider is answered anew"
            );
            let first: serde_json::Value = serde_json::from_slice(&first).unwrap();
            assert_eq!(first["enabled"], true);
        });
    }

    #[test]
    fn a_kept_answer_ends_when_a_certificate_in_it_expires() {
        crate::store::test_support::for_each_backend(|store| {
            let services = services(store);
            let certificate_pem = |days| {
                let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
                let certificate = crate::keys::certificates::test_certificate(&key, days);
                String::from_utf8(certificate.to_pem().unwrap()).unwrap()
            };
            let (lasting, short) = (certificate_pem(30), certificate_pem(1));
            let not_after = validity_of_pem(&short).unwrap().not_after;
            store
                .add_identity_provider(&provider(vec![lasting, short]))
                .unwrap();
            let at = |now| {
                answer_json(services.identity_provider_reply("carbon.super", "https://corp", now))
            };
            let before = at(not_after - 60);
            assert_eq!(before["certificate_keys"].as_array().unwrap().len(), 2);
            // Valid through its notAfter second, from the kept answer.
            assert_eq!(
                at(not_after)["certificate_keys"],
                before["certificate_keys"]
            );
            let after = at(not_after + 1);
            assert_eq!(after["certificate_keys"].as_array().unwrap().len(), 1);
            assert_eq!(after["expired_certificates"].as_array().unwrap().len(), 1);
        });
    }

    #[test]
    fn a_certificate_provider_comes_with_its_keys_and_a_jwks_one_without() {
        crate::store::test_support::for_each_backend(|store| {
            let services = services(store);
            let provider = provider(vec![public_pem(), public_pem()]);
            store.add_identity_provider(&provider).unwrap();
            let with_jwks = IdentityProvider {
                name: "published".into(),
                issuer: "https://published".into(),
                certificates: vec![],
                jwks_uri: Some("https://published/jwks".into()),
                ..provider
            };
            store.add_identity_provider(&with_jwks).unwrap();

            let info = answer_json(services.find_identity_provider("carbon.super", "https://corp"));
            let keys = info["certificate_keys"].as_array().unwrap().clone();
            assert_eq!(keys.len(), 2);
            // The same keys the key callback gives, so a plugin may use either.
            let ServiceReply::Ok(answer) = services.verification_keys(
                crate::blocking::test_thread(),
                "carbon.super",
                "https://corp",
                None,
            ) else {
                panic!("no keys");
            };
            assert_eq!(answer["keys"].as_array().unwrap(), &keys);
            let kid = keys[1]["kid"].as_str().unwrap();
            let ServiceReply::Ok(named) = services.verification_keys(
                crate::blocking::test_thread(),
                "carbon.super",
                "https://corp",
                Some(kid),
            ) else {
                panic!("no keys");
            };
            assert_eq!(named["keys"].as_array().unwrap(), &vec![keys[1].clone()]);

            let info =
                answer_json(services.find_identity_provider("carbon.super", "https://published"));
            assert!(info.get("certificate_keys").is_none());
        });
    }
}
