//! The application state shared by every request: configuration, the store and the loaded grant
//! plugins.

use std::sync::Arc;

use crate::claims::ClaimTransformers;
use crate::config::Config;
use crate::host_services::StoreServices;
use crate::keys::remote_jwks::JwksCache;
use crate::plugin_host::{HostServices, PluginHost};
use crate::store::{GroupCommitter, Store, StoreOptions};

pub struct App {
    pub config: Config,
    pub store: Store,
    /// Where token requests' writes go: one transaction per batch of requests.
    pub writer: GroupCommitter,
    /// Token requests in flight (`server.max_in_flight`).
    pub admission: tokio::sync::Semaphore,
    /// Shared with what reloads them (SIGHUP, the admin API).
    pub plugins: Arc<PluginHost>,
    /// What plugins may ask the host during a call.
    pub plugin_services: Arc<dyn HostServices>,
    /// The same services, for the host's own use: verification keys of certificates and JWKS
    /// endpoints (a `private_key_jwt` client's).
    pub trusted_keys: Arc<StoreServices>,
    /// Identity providers' Rhai claim transformers, compiled once per script version.
    pub claim_transformers: Arc<ClaimTransformers>,
    /// Tenants' signing keys, parsed once.
    pub signers: crate::keys::signing::SignerCache,
    /// Turns to hash or verify a password (`[oauth.password_grant] max_concurrent_hashes`).
    pub password_hashing: crate::passwords::PasswordHashing,
    /// Seals the tenants' private keys at rest; never in the database.
    pub kek: crate::keys::encryption_key::KeyEncryptionKey,
}

pub type SharedApp = Arc<App>;

impl App {
    /// Opens the store named by the configuration (applying migrations), without plugins: what
    /// the management commands need. `kek` seals the private keys the store keeps.
    pub fn open(
        config: Config,
        kek: crate::keys::encryption_key::KeyEncryptionKey,
    ) -> Result<App, crate::store::StoreError> {
        let store = Store::open(
            &config.database_url(),
            &StoreOptions {
                pool_size: config.database.pool_size,
                busy_timeout_ms: config.database.busy_timeout_ms,
                sqlite_synchronous: config.database.synchronous,
                sqlite_cache_mib: config.database.sqlite_cache_mib,
            },
            &config.server.default_tenant,
        )?;
        let writer = GroupCommitter::start(&store, config.database.postgres_writers)?;
        let jwks = JwksCache::new(config.oauth.jwks_endpoint.clone())
            .map_err(crate::store::StoreError::Config)?;
        let claim_transformers = Arc::new(ClaimTransformers::new(&config.claim_transformer));
        let password_hashing = crate::passwords::PasswordHashing::new(
            config.oauth.password_grant.concurrent_hashes(),
            std::time::Duration::from_millis(config.oauth.password_grant.hash_wait_ms),
        );
        let trusted_keys = Arc::new(StoreServices::new(
            store.clone(),
            jwks,
            claim_transformers.clone(),
        ));
        Ok(App {
            admission: tokio::sync::Semaphore::new(config.server.max_in_flight),
            config,
            writer,
            plugin_services: trusted_keys.clone(),
            trusted_keys,
            claim_transformers,
            store,
            plugins: Arc::default(),
            signers: Default::default(),
            password_hashing,
            kek,
        })
    }

    /// The tenant's issuer identifier: its tenant-qualified token endpoint URL, as WSO2 names a
    /// tenant's issuer (an audience value for this server).
    pub fn issuer_url(&self, tenant: &str) -> String {
        self.tenant_qualified_url(tenant, "oauth2/token")
    }

    /// `{public_base_url}/t/{tenant}/{path}`, for the default tenant too (which also answers
    /// without the prefix: `tenant_url`).
    pub fn tenant_qualified_url(&self, tenant: &str, path: &str) -> String {
        format!("{}/t/{tenant}/{path}", self.config.server.public_base_url)
    }

    /// The tenant's JWKS URL, where its signing keys are published.
    pub fn jwks_url(&self, tenant: &str) -> String {
        self.tenant_url(tenant, "oauth2/jwks")
    }

    /// `{public_base_url}/{path}` for the default tenant, `{public_base_url}/t/{tenant}/{path}`
    /// for others.
    pub fn tenant_url(&self, tenant: &str, path: &str) -> String {
        let base = &self.config.server.public_base_url;
        if tenant == self.config.server.default_tenant {
            format!("{base}/{path}")
        } else {
            format!("{base}/t/{tenant}/{path}")
        }
    }

    /// The tenant's token endpoint URL, as clients address it (an audience value for this server).
    pub fn token_endpoint_url(&self, tenant: &str) -> String {
        self.tenant_url(tenant, "oauth2/token")
    }
}
