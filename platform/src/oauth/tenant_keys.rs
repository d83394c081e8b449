//! Each tenant's signing keys as the rest of the server sees them: the key set its JWKS publishes,
//! a key generated on first use (`oauth.signing.algorithm`), and rotation, which keeps the old key
//! published until every token it can have signed has expired.

use std::sync::Arc;

use serde_json::Value;

use crate::config::Config;
use crate::keys::signing::{generate, ReadySigner, SignerCache};
use crate::store::{NewSigningKey, Store, StoreError, StoredSigningKey};

/// The tenant's current signer (parsed once, kept in `signers`), generating the tenant's first
/// key if it has none.
pub fn current_signer(
    store: &Store,
    config: &Config,
    signers: &SignerCache,
    tenant: &str,
    now: i64,
) -> Result<Arc<ReadySigner>, StoreError> {
    let keys = keys_with_current(store, config, tenant, now)?;
    let key = keys
        .iter()
        .find(|k| k.is_current())
        .ok_or_else(|| StoreError::Invalid(format!("tenant '{tenant}' has no signing key")))?;
    signers
        .get_or_parse(&key.kid, &key.algorithm, &key.private_key_pem)
        .map_err(|e| StoreError::Invalid(format!("signing key {}: {e}", key.kid)))
}

/// The tenant's published keys as a JWK Set (RFC 7517 5), generating the tenant's first key if it
/// has none. `Ok(None)`: no such tenant.
pub fn published_key_set(
    store: &Store,
    config: &Config,
    tenant: &str,
    now: i64,
) -> Result<Option<Value>, StoreError> {
    if !store.cached_tenant_is_active(tenant)? {
        return Ok(None);
    }
    let keys = keys_with_current(store, config, tenant, now)?;
    let published: Vec<Value> = keys
        .iter()
        .filter(|k| k.is_published(now))
        .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
        .collect();
    Ok(Some(serde_json::json!({ "keys": published })))
}

/// The algorithms of the tenant's published keys, the current key's first (its first key is
/// generated now if it has none).
pub fn published_algorithms(
    store: &Store,
    config: &Config,
    tenant: &str,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let keys = keys_with_current(store, config, tenant, now)?;
    let mut algorithms: Vec<String> = Vec::new();
    for key in keys.iter().filter(|k| k.is_published(now)) {
        if !algorithms.contains(&key.algorithm) {
            algorithms.push(key.algorithm.clone());
        }
    }
    Ok(algorithms)
}

/// The tenant's keys, with a current one: generated now if the tenant has none yet.
fn keys_with_current(
    store: &Store,
    config: &Config,
    tenant: &str,
    now: i64,
) -> Result<Arc<Vec<StoredSigningKey>>, StoreError> {
    let keys = store.cached_signing_keys(tenant)?;
    if keys.iter().any(StoredSigningKey::is_current) {
        return Ok(keys);
    }
    add_key(store, config, tenant, now, None)?;
    // Whoever won the race to the first key, the database now has it.
    Ok(Arc::new(store.signing_keys(tenant)?))
}

/// Makes a new key current; the previous one stays published until `now` plus the longest
/// lifetime a token of this tenant can have. Returns the new key's id.
pub fn rotate(
    store: &Store,
    config: &Config,
    tenant: &str,
    now: i64,
) -> Result<String, StoreError> {
    let longest_client_lifetime = store
        .list_clients(tenant)?
        .iter()
        .filter_map(|c| c.access_token_lifetime)
        .max()
        .unwrap_or(0);
    let default_lifetime =
        i64::try_from(config.oauth.token.access_token_lifetime).unwrap_or(i64::MAX);
    let publish_until = now.saturating_add(default_lifetime.max(longest_client_lifetime));
    add_key(store, config, tenant, now, Some(publish_until))
}

fn add_key(
    store: &Store,
    config: &Config,
    tenant: &str,
    now: i64,
    retire_current: Option<i64>,
) -> Result<String, StoreError> {
    let key = generate(config.oauth.signing.algorithm)
        .map_err(|e| StoreError::Invalid(format!("cannot generate a signing key: {e}")))?;
    let public_jwk = key.public_jwk.to_string();
    store.add_signing_key(
        &NewSigningKey {
            kid: &key.kid,
            tenant_domain: tenant,
            algorithm: key.algorithm.name(),
            private_key_pem: &key.private_pem,
            public_jwk: &public_jwk,
            created_at: now,
        },
        retire_current,
    )?;
    tracing::info!(tenant, kid = %key.kid, algorithm = key.algorithm.name(), "signing key added");
    Ok(key.kid)
}
