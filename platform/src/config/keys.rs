//! `[keys]`: where the key-encryption key comes from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{is_configuration_variable, Check};

/// `[keys]`: the key-encryption key that private keys are sealed with at rest (tenants' signing
/// keys in the database, the gateway's key file). Give it in a file or an environment variable
/// (base64 of 32 random bytes: `openssl rand -base64 32`); with neither, one is made on first use
/// in `<database.data_dir>/key-encryption.key`. Every node must have the same key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    pub encryption_key_file: Option<PathBuf>,
    /// Or: the environment variable that holds the key.
    pub encryption_key_env: Option<String>,
}

impl KeysConfig {
    pub(super) fn validate(&self) -> Check {
        if self.encryption_key_file.is_some() && self.encryption_key_env.is_some() {
            return Err((
                "keys.encryption_key_file",
                "give encryption_key_file or encryption_key_env, not both",
            ));
        }
        if self
            .encryption_key_env
            .as_deref()
            .is_some_and(is_configuration_variable)
        {
            return Err((
                "keys.encryption_key_env",
                "must not start with GRANTOR_: those variables are read as configuration keys",
            ));
        }
        Ok(())
    }
}
