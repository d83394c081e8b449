//! What the OAuth layer (the token path, introspection, discovery, the tenants' keys) and the
//! provisioning of tenants, clients and identity providers use of the application, and no more:
//! not the listeners, limits or deadlines of the HTTP layer above.

use std::sync::Arc;

use crate::claims::ClaimTransformers;
use crate::config::OAuthConfig;
use crate::keys::encryption_key::KeyEncryptionKey;
use crate::keys::signing::SignerCache;
use crate::passwords::PasswordHashing;
use crate::plugin_host::PluginHost;
use crate::store::{GroupCommitter, Store};
use crate::tenancy::TenantUrls;
use crate::trusted_issuers::TrustedIssuers;

pub struct OAuthContext {
    /// Reads, through its cache.
    pub store: Store,
    /// Where token requests' writes go: one transaction per batch of requests.
    pub writer: GroupCommitter,
    /// `[oauth]`.
    pub settings: OAuthConfig,
    pub urls: TenantUrls,
    /// The grant plugins, shared with what reloads them (SIGHUP, the admin API).
    pub plugins: Arc<PluginHost>,
    /// Identity providers and key sources, for the plugins' callbacks and the host's own checks
    /// (a `private_key_jwt` client's keys).
    pub trusted_issuers: Arc<TrustedIssuers>,
    /// Identity providers' Rhai claim transformers, compiled once per script version.
    pub claim_transformers: Arc<ClaimTransformers>,
    /// Tenants' signing keys, parsed once.
    pub signers: SignerCache,
    /// Seals the tenants' private keys at rest; never in the database.
    pub kek: KeyEncryptionKey,
    /// Turns to hash or verify a password (`[oauth.password_grant] max_concurrent_hashes`).
    pub password_hashing: PasswordHashing,
    /// The threads token requests are worked out on (a plugin's call among it).
    pub token_work: crate::blocking::WorkPool,
}

impl OAuthContext {
    /// The tenants' signing keys, as this context holds them.
    pub fn tenant_keys(&self) -> super::tenant_keys::TenantKeys<'_> {
        super::tenant_keys::TenantKeys {
            store: &self.store,
            settings: &self.settings,
            signers: &self.signers,
            kek: &self.kek,
        }
    }
}
