//! The application, built once: the HTTP layer's settings and admission above the OAuth layer's
//! context (`oauth/context.rs`), over one store and one group commit.

use std::sync::Arc;

use anyhow::Context;

use crate::claims::ClaimTransformers;
use crate::config::Config;
use crate::keys::encryption_key::KeyEncryptionKey;
use crate::keys::remote_jwks::JwksCache;
use crate::oauth::context::OAuthContext;
use crate::plugin_host::PluginHost;
use crate::store::{GroupCommitter, Store, StoreOptions};
use crate::tenancy::TenantUrls;
use crate::trusted_issuers::TrustedIssuers;

pub struct App {
    /// The whole configuration: the HTTP layer reads its listeners' limits and deadlines here.
    pub config: Config,
    /// What the OAuth layer and provisioning use.
    pub oauth: Arc<OAuthContext>,
    /// Token requests in flight (`server.max_in_flight`).
    pub admission: tokio::sync::Semaphore,
    /// The templates of the sign-in pages (`[oauth.sign_in] theme_dir` over the built-in theme).
    pub theme: Arc<crate::pages::Theme>,
}

pub type SharedApp = Arc<App>;

impl App {
    /// Opens the store named by the configuration (applying migrations) with its key-encryption
    /// key (`[keys]`, or the one made on first start), around the given grant plugins (none for
    /// the management commands).
    pub fn open(config: Config, plugins: Arc<PluginHost>) -> anyhow::Result<App> {
        let kek = KeyEncryptionKey::load_or_create(&config)?;
        let what = if config.database.url.is_empty() {
            "default SQLite database"
        } else {
            "configured database"
        };
        App::open_with(config, kek, plugins).with_context(|| format!("cannot open the {what}"))
    }

    /// `open`, with the key-encryption key given.
    pub fn open_with(
        config: Config,
        kek: KeyEncryptionKey,
        plugins: Arc<PluginHost>,
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
        let trusted_issuers = Arc::new(TrustedIssuers::new(
            store.clone(),
            jwks,
            claim_transformers.clone(),
        ));
        let theme =
            crate::pages::Theme::load(config.oauth.sign_in.theme_dir.as_deref()).map_err(|e| {
                crate::store::StoreError::Config(format!("oauth.sign_in.theme_dir: {e}"))
            })?;
        if !theme.replaced().is_empty() {
            tracing::info!(replaced = ?theme.replaced(), "sign-in pages from the theme directory");
        }
        let oauth = OAuthContext {
            store,
            writer,
            settings: config.oauth.clone(),
            urls: TenantUrls::new(&config.server),
            plugins,
            trusted_issuers,
            claim_transformers,
            signers: Default::default(),
            kek,
            password_hashing,
            token_work: crate::blocking::WorkPool::per_core(),
        };
        Ok(App {
            admission: tokio::sync::Semaphore::new(config.server.max_in_flight),
            config,
            oauth: Arc::new(oauth),
            theme: Arc::new(theme),
        })
    }
}
