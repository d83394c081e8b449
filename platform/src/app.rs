//! The application state shared by every request: configuration and the store.

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
}

pub type SharedApp = Arc<App>;

impl App {
    /// Opens the store named by the configuration (applying migrations).
    pub fn open(config: Config) -> Result<App, crate::store::StoreError> {
        let store = Store::open(
            &config.database_url(),
            config.database.pool_size,
            config.database.busy_timeout_ms,
            &config.server.default_tenant,
        )?;
        Ok(App { config, store })
    }
}
