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

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;

    #[test]
    fn one_source_of_the_key_and_not_a_configuration_variable() {
        let err = load_toml("[keys]\nencryption_key_env = \"grantor_kek\"\n").unwrap_err();
        assert!(err.to_string().contains("keys.encryption_key_env"), "{err}");
        let err = load_toml("[keys]\nencryption_key_env = \"KEK\"\nencryption_key_file = \"k\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let keys = load_toml("[keys]\nencryption_key_env = \"KEK\"\n")
            .unwrap()
            .keys;
        assert_eq!(keys.encryption_key_env.as_deref(), Some("KEK"));
    }
}
