//! Each tenant's signing keys as the rest of the server sees them: the key that signs now, the key
//! set its JWKS publishes, a key generated on first use (`oauth.signing.algorithm`), rotation, and
//! the keys' protection at rest.
//!
//! Rotation (DESIGN.md section 10): the new key is published at once and signs only after the
//! JWKS `max-age` plus `oauth.signing.rotation_margin_seconds`, so readers that cache the key set have
//! fetched it again before they meet a token it signed; the old key signs until then, and stays
//! published until every token it can have signed has expired. Which key signs follows from the
//! stored timestamps and the time, so every node switches at the same moment without a write. An
//! immediate rotation (a compromised key) signs with the new key at once and withdraws the others.
//!
//! Private keys are stored sealed under the key-encryption key (`keys::sealed`) and opened only to
//! be parsed, once per key and process (`SignerCache`).

use std::sync::Arc;

use serde_json::Value;

use crate::config::{OAuthConfig, SigningConfig};
use crate::keys::encryption_key::KeyEncryptionKey;
use crate::keys::sealed::{self, SealError, SealedKeyOwner};
use crate::keys::signing::{generate, GeneratedKey, ReadySigner, SignerCache};
use crate::store::{
    signing_key_at, Conflict, Invalid, KeyState, NewSigningKey, Recording, Rotation,
    RotationOutcome, Store, StoreError, StoredSigningKey,
};

/// What the tenants' keys need: the store, the settings, the signers parsed so far and the
/// key-encryption key.
pub struct TenantKeys<'a> {
    pub store: &'a Store,
    pub settings: &'a OAuthConfig,
    pub signers: &'a SignerCache,
    pub kek: &'a KeyEncryptionKey,
}

/// A rotation done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub kid: String,
    /// When the new key signs (now, for an immediate rotation or a tenant without a key).
    pub activates_at: i64,
    /// The keys that sign until then, each with the time it leaves the JWKS.
    pub replaced: Vec<(String, i64)>,
    /// The keys taken out of the JWKS now (immediate rotation).
    pub withdrawn: Vec<String>,
}

/// How long after a scheduled rotation its key starts signing: the JWKS `max-age` plus the margin.
pub fn rotation_delay(signing: &SigningConfig) -> i64 {
    i64::try_from(
        signing
            .jwks_max_age_seconds
            .saturating_add(signing.rotation_margin_seconds),
    )
    .unwrap_or(i64::MAX)
}

impl<'a> TenantKeys<'a> {
    /// The signer of the tenant's current key at `now` (opened and parsed once, kept in
    /// `signers`), generating the tenant's first key if it has none.
    pub fn current_signer(&self, tenant: &str, now: i64) -> Result<Arc<ReadySigner>, StoreError> {
        let keys = self.keys_with_current(tenant, now)?;
        let key = signing_key_at(&keys, now)
            .ok_or_else(|| signing_key_error(format!("tenant '{tenant}' has no signing key")))?;
        self.signers
            .get_or_parse(&key.kid, || open_signer(self.kek, key))
    }

    /// The tenant's published keys (next, current, retiring) as a JWK Set (RFC 7517 5), generating
    /// the tenant's first key if it has none. `Ok(None)`: no such tenant.
    pub fn published_key_set(&self, tenant: &str, now: i64) -> Result<Option<Value>, StoreError> {
        if !self.store.cached_tenant_is_active(tenant)? {
            return Ok(None);
        }
        let keys = self.keys_with_current(tenant, now)?;
        let mut published: Vec<&StoredSigningKey> =
            keys.iter().filter(|k| k.is_published(now)).collect();
        // The current key first, then the next one, then those retiring.
        published.sort_by_key(|k| match k.state(now) {
            KeyState::Current => 0,
            KeyState::Next => 1,
            _ => 2,
        });
        let published: Vec<Value> = published
            .iter()
            .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
            .collect();
        Ok(Some(serde_json::json!({ "keys": published })))
    }

    /// The algorithms of the tenant's published keys, the current key's first (its first key is
    /// generated now if it has none).
    pub fn published_algorithms(&self, tenant: &str, now: i64) -> Result<Vec<String>, StoreError> {
        let keys = self.keys_with_current(tenant, now)?;
        let mut algorithms: Vec<String> = Vec::new();
        let current = signing_key_at(&keys, now);
        for key in current
            .into_iter()
            .chain(keys.iter().filter(|k| k.is_published(now)))
        {
            if !algorithms.contains(&key.algorithm) {
                algorithms.push(key.algorithm.clone());
            }
        }
        Ok(algorithms)
    }

    /// Adds the tenant's next key. Scheduled (`immediate` false): published now, signing after
    /// `rotation_delay`, while the current key signs until then and stays published until every
    /// token it can have signed has expired; refused while an earlier rotation's key has not
    /// started signing. Immediate: signs now; every other key of the tenant is withdrawn now.
    pub fn rotate(&self, tenant: &str, now: i64, immediate: bool) -> Result<Rotated, StoreError> {
        require_keys_sealed_with(self.store, self.kek)?;
        let rotation = if immediate {
            Rotation::Immediate
        } else {
            let activates_at = now.saturating_add(rotation_delay(&self.settings.signing));
            Rotation::Scheduled {
                activates_at,
                publish_until: activates_at.saturating_add(self.longest_token_lifetime(tenant)?),
            }
        };
        let (key, sealed_private_key) = self.generate_sealed(tenant)?;
        let public_jwk = key.public_jwk.to_string();
        let outcome = self.store.rotate_signing_key(
            &NewSigningKey {
                kid: &key.kid,
                tenant_domain: tenant,
                algorithm: key.algorithm.name(),
                sealed_private_key: &sealed_private_key,
                public_jwk: &public_jwk,
                created_at: now,
            },
            rotation,
        )?;
        match outcome {
            RotationOutcome::Rotated {
                activates_at,
                replaced,
                withdrawn,
            } => {
                tracing::info!(
                    tenant,
                    kid = %key.kid,
                    algorithm = key.algorithm.name(),
                    activates_at,
                    "signing key added"
                );
                if !withdrawn.is_empty() {
                    tracing::warn!(
                        tenant,
                        kid = %key.kid,
                        withdrawn = %withdrawn.join(" "),
                        "immediate rotation: the tenant's other keys are withdrawn from its JWKS"
                    );
                }
                Ok(Rotated {
                    kid: key.kid,
                    activates_at,
                    replaced,
                    withdrawn,
                })
            }
            RotationOutcome::Pending { kid, activates_at } => Err(Conflict::RotationPending {
                tenant_domain: tenant.to_owned(),
                kid,
                activates_at,
                wait_seconds: activates_at.saturating_sub(now),
            }
            .into()),
        }
    }

    /// The longest a token signed by the tenant's key can live: the access token lifetime (the
    /// configured one and any client's own) or the ID token lifetime.
    fn longest_token_lifetime(&self, tenant: &str) -> Result<i64, StoreError> {
        let longest_client_lifetime = self
            .store
            .list_clients(tenant)?
            .iter()
            .filter_map(|c| c.access_token_lifetime)
            .max()
            .unwrap_or(0);
        let token = &self.settings.token;
        let configured = token
            .access_token_lifetime_seconds
            .max(token.id_token_lifetime_seconds);
        Ok(i64::try_from(configured)
            .unwrap_or(i64::MAX)
            .max(longest_client_lifetime))
    }

    /// The tenant's keys, with a current one: generated now if the tenant has none yet.
    fn keys_with_current(
        &self,
        tenant: &str,
        now: i64,
    ) -> Result<Arc<Vec<StoredSigningKey>>, StoreError> {
        let keys = self.store.cached_signing_keys(tenant)?;
        if signing_key_at(&keys, now).is_some() {
            return Ok(keys);
        }
        // The cache may predate a first key another process added: generating one costs more
        // than a look at the database.
        let stored = self.store.signing_keys(tenant)?;
        if signing_key_at(&stored, now).is_some() {
            return Ok(Arc::new(stored));
        }
        self.add_first_key(tenant, now)?;
        // Whoever won the race to the first key, the database now has it.
        Ok(Arc::new(self.store.signing_keys(tenant)?))
    }

    /// Adds the tenant's first key; `None` when another process added one first (and this one,
    /// never stored, is dropped).
    fn add_first_key(&self, tenant: &str, now: i64) -> Result<Option<String>, StoreError> {
        let (key, sealed_private_key) = self.generate_sealed(tenant)?;
        let public_jwk = key.public_jwk.to_string();
        let added = self.store.add_first_signing_key(&NewSigningKey {
            kid: &key.kid,
            tenant_domain: tenant,
            algorithm: key.algorithm.name(),
            sealed_private_key: &sealed_private_key,
            public_jwk: &public_jwk,
            created_at: now,
        })?;
        if !added {
            tracing::debug!(
                tenant,
                "another process added the tenant's first signing key first"
            );
            return Ok(None);
        }
        tracing::info!(tenant, kid = %key.kid, algorithm = key.algorithm.name(), "signing key added");
        Ok(Some(key.kid))
    }

    /// A new key of the configured algorithm, and its private key sealed for `tenant`.
    fn generate_sealed(&self, tenant: &str) -> Result<(GeneratedKey, String), StoreError> {
        let key = generate(self.settings.signing.algorithm)
            .map_err(|e| signing_key_error(format!("cannot generate a signing key: {e}")))?;
        let sealed = sealed::seal(
            self.kek,
            SealedKeyOwner::Tenant {
                tenant,
                kid: &key.kid,
            },
            key.private_pem.as_bytes(),
        )
        .map_err(|e| signing_key_error(format!("cannot seal a signing key: {e}")))?;
        Ok((key, sealed))
    }
}

/// A tenant's signing key that cannot be made, sealed or opened, as the store's `Invalid`.
fn signing_key_error(message: String) -> StoreError {
    Invalid::SigningKey(message).into()
}

/// The stored key opened and parsed.
fn open_signer(kek: &KeyEncryptionKey, key: &StoredSigningKey) -> Result<ReadySigner, StoreError> {
    let pem = open_private_key(kek, key).map_err(|e| {
        signing_key_error(format!(
            "signing key {} of tenant '{}': {e}",
            key.kid, key.tenant_domain
        ))
    })?;
    let pem = std::str::from_utf8(&pem)
        .map_err(|_| signing_key_error(format!("signing key {}: not PEM", key.kid)))?;
    ReadySigner::from_pem(&key.kid, &key.algorithm, pem)
        .map_err(|e| signing_key_error(format!("signing key {}: {e}", key.kid)))
}

fn open_private_key(
    kek: &KeyEncryptionKey,
    key: &StoredSigningKey,
) -> Result<zeroize::Zeroizing<Vec<u8>>, SealError> {
    sealed::open(kek, owner_of(key), &key.sealed_private_key)
}

fn owner_of(key: &StoredSigningKey) -> SealedKeyOwner<'_> {
    SealedKeyOwner::Tenant {
        tenant: &key.tenant_domain,
        kid: &key.kid,
    }
}

/// A new key must be sealed under the key-encryption key the stored keys are sealed under: a
/// command run with another one (another machine's generated key, say) would add a key no server
/// can open.
fn require_keys_sealed_with(store: &Store, kek: &KeyEncryptionKey) -> Result<(), StoreError> {
    let keys = store.all_signing_keys()?;
    let other = keys
        .iter()
        .filter_map(|k| sealed::sealed_with(&k.sealed_private_key))
        .find(|id| *id != kek.id());
    match other {
        Some(id) => Err(signing_key_error(format!(
            "the stored signing keys are sealed under key-encryption key {id}, but this \
             command's key-encryption key (from {}) is {}: configure the same key as the \
             servers ([keys] encryption_key_file or encryption_key_env)",
            kek.source(),
            kek.id()
        ))),
        None => Ok(()),
    }
}

/// At start: every stored key that is still in the clear (a database from before keys were
/// sealed) is sealed now, and every stored key must open with `kek`; otherwise the error says
/// which key-encryption key the keys need and which one the server has. Returns how many keys
/// were sealed now.
pub fn seal_and_check_stored_keys(
    store: &Store,
    kek: &KeyEncryptionKey,
) -> Result<usize, StoreError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let sealed = store.reseal_signing_keys(kek.id(), Recording::Claim, |keys| {
            seal_in_the_clear(kek, keys)
        });
        match sealed {
            // Another node sealed the same keys meanwhile: look again.
            Err(StoreError::Conflict(_)) if attempts < 3 => continue,
            outcome => return outcome,
        }
    }
}

/// The keys in the clear, sealed; an error if any sealed key does not open with `kek`.
fn seal_in_the_clear(
    kek: &KeyEncryptionKey,
    keys: &[StoredSigningKey],
) -> Result<Vec<(String, String)>, StoreError> {
    let mut unusable = UnusableKeys::default();
    let mut updates = Vec::new();
    for key in keys {
        if sealed::is_sealed(&key.sealed_private_key) {
            if let Err(e) = open_private_key(kek, key) {
                unusable.add(key, e);
            }
            continue;
        }
        // A key from before sealing: it must be a key, then it is sealed.
        if ReadySigner::from_pem(&key.kid, &key.algorithm, &key.sealed_private_key).is_err() {
            unusable.add(key, SealError::Malformed);
            continue;
        }
        updates.push(sealed_update(kek, key, key.sealed_private_key.as_bytes())?);
    }
    unusable.into_result(kek)?;
    Ok(updates)
}

/// `pem` sealed under `kek` for `key`'s owner: the update that replaces `key`'s stored form.
fn sealed_update(
    kek: &KeyEncryptionKey,
    key: &StoredSigningKey,
    pem: &[u8],
) -> Result<(String, String), StoreError> {
    let sealed = sealed::seal(kek, owner_of(key), pem)
        .map_err(|e| signing_key_error(format!("cannot seal signing key {}: {e}", key.kid)))?;
    Ok((key.kid.clone(), sealed))
}

/// Stored keys that do not open, grouped by why, for one message.
#[derive(Default)]
struct UnusableKeys {
    /// By the key-encryption key they need: how many, and one of them.
    wrong_key: Vec<(String, usize, String)>,
    other: Vec<String>,
}

impl UnusableKeys {
    fn add(&mut self, key: &StoredSigningKey, error: SealError) {
        let which = format!("tenant '{}', kid {}", key.tenant_domain, key.kid);
        match error {
            SealError::WrongKey { sealed_with, .. } => {
                match self
                    .wrong_key
                    .iter_mut()
                    .find(|(id, _, _)| *id == sealed_with)
                {
                    Some((_, count, _)) => *count += 1,
                    None => self.wrong_key.push((sealed_with, 1, which)),
                }
            }
            SealError::Malformed => self
                .other
                .push(format!("{which}: neither sealed nor a private key")),
            other => self.other.push(format!("{which}: {other}")),
        }
    }

    fn into_result(self, kek: &KeyEncryptionKey) -> Result<(), StoreError> {
        if self.wrong_key.is_empty() && self.other.is_empty() {
            return Ok(());
        }
        let mut problems: Vec<String> = self
            .wrong_key
            .iter()
            .map(|(id, count, example)| {
                format!("{count} sealed under key-encryption key {id} (e.g. {example})")
            })
            .collect();
        problems.extend(self.other);
        let advice = if self.wrong_key.is_empty() {
            String::new()
        } else {
            "; configure the key-encryption key they were sealed with ([keys] \
             encryption_key_file or encryption_key_env), or move them to another one with \
             `grantor keys rewrap` run with that key configured"
                .to_owned()
        };
        Err(signing_key_error(format!(
            "the database holds signing keys this server cannot open with its key-encryption key \
             {} (from {}): {}{advice}",
            kek.id(),
            kek.source(),
            problems.join("; ")
        )))
    }
}

/// Moves every stored key (all tenants) to `new`, in one transaction: keys sealed under `old` are
/// opened and sealed again, keys in the clear are sealed, keys already under `new` are left as
/// they are (a rewrap run twice). Any other key stops it, changing nothing. Returns how many keys
/// were changed.
pub fn rewrap_stored_keys(
    store: &Store,
    old: &KeyEncryptionKey,
    new: &KeyEncryptionKey,
) -> Result<usize, StoreError> {
    store.reseal_signing_keys(new.id(), Recording::Move, |keys| {
        let mut unusable = UnusableKeys::default();
        let mut updates = Vec::new();
        for key in keys {
            let stored = &key.sealed_private_key;
            if sealed::sealed_with(stored) == Some(new.id()) {
                continue;
            }
            let pem = if sealed::is_sealed(stored) {
                match open_private_key(old, key) {
                    Ok(pem) => pem,
                    Err(e) => {
                        unusable.add(key, e);
                        continue;
                    }
                }
            } else {
                zeroize::Zeroizing::new(stored.as_bytes().to_vec())
            };
            updates.push(sealed_update(new, key, &pem)?);
        }
        unusable.into_result(old)?;
        Ok(updates)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::keys::encryption_key::KEY_BYTES;
    use crate::store::test_support::for_each_backend;

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes([byte; KEY_BYTES], format!("test key {byte}"))
    }

    fn config() -> Config {
        let mut config = Config::default();
        config.oauth.signing.algorithm = crate::config::SigningAlgorithm::ES256;
        config.oauth.signing.jwks_max_age_seconds = 300;
        config.oauth.signing.rotation_margin_seconds = 60;
        config
    }

    fn published_kids(keys: &TenantKeys<'_>, now: i64) -> Vec<String> {
        keys.published_key_set("carbon.super", now)
            .unwrap()
            .unwrap()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Forgets what the read cache holds, as the poll does after a change.
    fn refresh(store: &Store) {
        store.refresh_read_cache().unwrap();
    }

    #[test]
    fn a_scheduled_rotation_is_published_at_once_and_signs_after_max_age_plus_margin() {
        for_each_backend(|store| {
            let (config, kek, signers) = (config(), kek(1), SignerCache::default());
            let keys = TenantKeys {
                store,
                settings: &config.oauth,
                signers: &signers,
                kek: &kek,
            };
            let t0 = 1_000_000;
            let first = keys.current_signer("carbon.super", t0).unwrap().kid.clone();
            let rotated = keys.rotate("carbon.super", t0 + 10, false).unwrap();
            assert_eq!(rotated.activates_at, t0 + 10 + 360);
            // Published at once, after the current key; the old key still signs.
            refresh(store);
            assert_eq!(
                published_kids(&keys, t0 + 10),
                [first.clone(), rotated.kid.clone()]
            );
            assert_eq!(
                keys.current_signer("carbon.super", t0 + 10).unwrap().kid,
                first
            );
            assert_eq!(
                keys.current_signer("carbon.super", t0 + 369).unwrap().kid,
                first
            );
            // At the switch, with nothing written since and the same signer cache: the new key.
            let switched = keys.current_signer("carbon.super", t0 + 370).unwrap();
            assert_eq!(switched.kid, rotated.kid);
            assert_eq!(signers.len(), 2);
            // The old key stays published for the longest token lifetime (an hour) after it.
            assert_eq!(rotated.replaced, [(first.clone(), t0 + 370 + 3600)]);
            assert_eq!(
                published_kids(&keys, t0 + 370 + 3599),
                [rotated.kid.clone(), first]
            );
            assert_eq!(
                published_kids(&keys, t0 + 370 + 3600),
                [rotated.kid.as_str()]
            );
            // A rotation while one is pending is refused, naming the pending key.
            let again = keys.rotate("carbon.super", t0 + 400, false).unwrap();
            assert_eq!(again.activates_at, t0 + 760);
            refresh(store);
            let pending = keys
                .rotate("carbon.super", t0 + 410, false)
                .unwrap_err()
                .to_string();
            assert!(
                pending.contains("rotation pending") && pending.contains(&again.kid),
                "{pending}"
            );
        });
    }

    #[test]
    fn an_immediate_rotation_signs_at_once_and_withdraws_the_old_key() {
        for_each_backend(|store| {
            let (config, kek, signers) = (config(), kek(1), SignerCache::default());
            let keys = TenantKeys {
                store,
                settings: &config.oauth,
                signers: &signers,
                kek: &kek,
            };
            let old = keys
                .current_signer("carbon.super", 100)
                .unwrap()
                .kid
                .clone();
            let rotated = keys.rotate("carbon.super", 200, true).unwrap();
            assert_eq!(rotated.activates_at, 200);
            assert_eq!(rotated.withdrawn, [old]);
            refresh(store);
            assert_eq!(
                keys.current_signer("carbon.super", 200).unwrap().kid,
                rotated.kid
            );
            assert_eq!(published_kids(&keys, 200), [rotated.kid]);
        });
    }

    #[test]
    fn the_old_key_stays_published_as_long_as_the_longest_token_it_signed() {
        for_each_backend(|store| {
            let (mut config, kek, signers) = (config(), kek(1), SignerCache::default());
            config.oauth.token.access_token_lifetime_seconds = 600;
            config.oauth.token.id_token_lifetime_seconds = 900;
            let keys = TenantKeys {
                store,
                settings: &config.oauth,
                signers: &signers,
                kek: &kek,
            };
            keys.current_signer("carbon.super", 100).unwrap();
            // ID tokens live longest here: the old key is published for their lifetime.
            let rotated = keys.rotate("carbon.super", 100, false).unwrap();
            assert_eq!(rotated.replaced[0].1, 100 + 360 + 900);
        });
    }

    #[test]
    fn a_first_key_that_lost_the_race_is_not_logged_as_added() {
        use std::io::Write;
        #[derive(Clone, Default)]
        struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for_each_backend(|store| {
            let (config, kek, signers) = (config(), kek(1), SignerCache::default());
            let keys = TenantKeys {
                store,
                settings: &config.oauth,
                signers: &signers,
                kek: &kek,
            };
            // Another node adds the tenant's first key ...
            let other_signers = SignerCache::default();
            let other_node = TenantKeys {
                signers: &other_signers,
                ..keys
            };
            let winner = other_node
                .add_first_key("carbon.super", 100)
                .unwrap()
                .unwrap();
            let log = Captured::default();
            let writer = log.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_max_level(tracing::Level::INFO)
                .finish();
            // Its own first key, made at the same moment, loses.
            let lost = tracing::subscriber::with_default(subscriber, || {
                keys.add_first_key("carbon.super", 101).unwrap()
            });
            assert_eq!(lost, None);
            let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
            assert!(!log.contains("signing key added"), "{log}");
            // It signs with the winner's key, the only one stored.
            assert_eq!(
                keys.current_signer("carbon.super", 101).unwrap().kid,
                winner
            );
            assert_eq!(store.signing_keys("carbon.super").unwrap().len(), 1);
        });
    }

    #[test]
    fn keys_are_sealed_at_rest_and_a_server_with_another_kek_is_refused_with_both_ids() {
        for_each_backend(|store| {
            let (config, kek1, signers) = (config(), kek(1), SignerCache::default());
            let keys = TenantKeys {
                store,
                settings: &config.oauth,
                signers: &signers,
                kek: &kek1,
            };
            let kid = keys
                .current_signer("carbon.super", 100)
                .unwrap()
                .kid
                .clone();
            let stored = store.all_signing_keys().unwrap();
            assert!(sealed::is_sealed(&stored[0].sealed_private_key));
            assert!(!stored[0].sealed_private_key.contains("PRIVATE KEY"));
            assert_eq!(seal_and_check_stored_keys(store, &kek1).unwrap(), 0);

            let kek2 = kek(2);
            let refused = seal_and_check_stored_keys(store, &kek2)
                .unwrap_err()
                .to_string();
            for needed in [
                kek1.id(),
                kek2.id(),
                "test key 2",
                &kid,
                "grantor keys rewrap",
            ] {
                assert!(refused.contains(needed), "{needed}: {refused}");
            }
            // The key-encryption key itself is in no message.
            assert!(!refused.contains(kek2.to_base64().as_str()));
            // A rotation with another key-encryption key would add a key no server opens.
            let other = TenantKeys { kek: &kek2, ..keys };
            let refused = other
                .rotate("carbon.super", 200, false)
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains(kek1.id()) && refused.contains(kek2.id()),
                "{refused}"
            );
        });
    }

    #[test]
    fn keys_stored_in_the_clear_are_sealed_at_start_and_rewrap_moves_every_key() {
        for_each_backend(|store| {
            let (config, kek1, signers) = (config(), kek(1), SignerCache::default());
            store.add_tenant("acme", "Acme", 1).unwrap();
            // A key stored the old way, in the clear.
            let plain = generate(crate::config::SigningAlgorithm::EdDSA).unwrap();
            let jwk = plain.public_jwk.to_string();
            assert!(store
                .add_first_signing_key(&NewSigningKey {
                    kid: &plain.kid,
                    tenant_domain: "acme",
                    algorithm: plain.algorithm.name(),
                    sealed_private_key: &plain.private_pem,
                    public_jwk: &jwk,
                    created_at: 1,
                })
                .unwrap());
            let keys = TenantKeys {
                store,
                settings: &config.oauth,
                signers: &signers,
                kek: &kek1,
            };
            keys.current_signer("carbon.super", 100).unwrap();
            assert_eq!(seal_and_check_stored_keys(store, &kek1).unwrap(), 1);
            let stored = store.all_signing_keys().unwrap();
            assert!(stored
                .iter()
                .all(|k| sealed::sealed_with(&k.sealed_private_key) == Some(kek1.id())));
            assert_eq!(seal_and_check_stored_keys(store, &kek1).unwrap(), 0);
            refresh(store);
            assert_eq!(keys.current_signer("acme", 100).unwrap().kid, plain.kid);

            let kek2 = kek(2);
            assert_eq!(rewrap_stored_keys(store, &kek1, &kek2).unwrap(), 2);
            // Run twice (or after a partial move): nothing left to move.
            assert_eq!(rewrap_stored_keys(store, &kek1, &kek2).unwrap(), 0);
            assert!(seal_and_check_stored_keys(store, &kek1).is_err());
            assert_eq!(seal_and_check_stored_keys(store, &kek2).unwrap(), 0);
            refresh(store);
            let moved = TenantKeys {
                store,
                settings: &config.oauth,
                signers: &SignerCache::default(),
                kek: &kek2,
            };
            assert_eq!(moved.current_signer("acme", 100).unwrap().kid, plain.kid);
            // A rewrap with a key that opens nothing changes nothing and names the keys' key.
            let refused = rewrap_stored_keys(store, &kek(3), &kek(4))
                .unwrap_err()
                .to_string();
            assert!(refused.contains(kek2.id()), "{refused}");
            assert!(store
                .all_signing_keys()
                .unwrap()
                .iter()
                .all(|k| sealed::sealed_with(&k.sealed_private_key) == Some(kek2.id())));
        });
    }

    #[test]
    fn a_damaged_sealed_key_stops_the_start() {
        for_each_backend(|store| {
            let (config, kek1, signers) = (config(), kek(1), SignerCache::default());
            let keys = TenantKeys {
                store,
                settings: &config.oauth,
                signers: &signers,
                kek: &kek1,
            };
            keys.current_signer("carbon.super", 100).unwrap();
            store
                .reseal_signing_keys(kek1.id(), Recording::Claim, |stored| {
                    // One character of the ciphertext changed, not the last (whose low bits a
                    // canonical base64 decoder checks, which would make it unreadable instead).
                    let mut damaged: Vec<char> = stored[0].sealed_private_key.chars().collect();
                    let at = damaged.len() - 10;
                    damaged[at] = if damaged[at] == 'A' { 'B' } else { 'A' };
                    let damaged: String = damaged.into_iter().collect();
                    Ok::<_, StoreError>(vec![(stored[0].kid.clone(), damaged)])
                })
                .unwrap();
            let refused = seal_and_check_stored_keys(store, &kek1)
                .unwrap_err()
                .to_string();
            assert!(refused.contains("altered or damaged"), "{refused}");
        });
    }
}
