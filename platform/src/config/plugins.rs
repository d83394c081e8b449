//! `[plugins]`: the drop directory of grant plugins and how much of the server they may hold.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Check;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// The drop directory where `library` names are resolved.
    pub directory: PathBuf,
    /// Longest a plugin may take for one request, in milliseconds; past it the client gets
    /// `temporarily_unavailable` (the plugin's thread runs on, but no longer holds the client).
    pub handler_timeout_ms: u64,
    /// Requests one plugin handles at once; more wait (up to the timeout) for a slot.
    pub max_concurrency: usize,
    /// Of those, most one tenant's requests may take at once (its slow identity provider or
    /// script then delays only its own requests).
    pub max_concurrency_per_tenant: usize,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            directory: PathBuf::from("plugins"),
            handler_timeout_ms: 5000,
            max_concurrency: 32,
            max_concurrency_per_tenant: 16,
        }
    }
}

impl PluginsConfig {
    pub(super) fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        if self.max_concurrency == 0 {
            return invalid("plugins.max_concurrency", "must be at least 1");
        }
        if self.max_concurrency_per_tenant == 0
            || self.max_concurrency_per_tenant > self.max_concurrency
        {
            return invalid(
                "plugins.max_concurrency_per_tenant",
                "must be at least 1 and at most plugins.max_concurrency",
            );
        }
        if self.handler_timeout_ms == 0 {
            return invalid("plugins.handler_timeout_ms", "must be positive");
        }
        Ok(())
    }
}
