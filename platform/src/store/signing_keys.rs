//! Tenants' signing keys as stored. A key's state (next, current, retiring, retired) follows from
//! its timestamps and the time: it signs from `activates_at` until `retired_at` and is published
//! until `publish_until`. So every node, reading the same rows, agrees on which key signs at any
//! moment, and a rotation takes effect without a write when it does. Private keys are stored sealed
//! (`keys::sealed`); nothing here opens them.

use diesel::prelude::*;

use super::schema::{key_encryption_key, signing_keys, tenants};
use super::{Conflict, DbConnection, Invalid, NotFound, Store, StoreError};

/// A stored key. `sealed_private_key` is secret even sealed: `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct StoredSigningKey {
    pub kid: String,
    pub tenant_domain: String,
    pub algorithm: String,
    /// The private key sealed under the key-encryption key; PEM in a database from before keys
    /// were sealed, until the server's first start seals it.
    pub sealed_private_key: String,
    pub public_jwk: String,
    pub created_at: i64,
    /// Signs from then on.
    pub activates_at: i64,
    /// Signs until then (set by the rotation that replaces it).
    pub retired_at: Option<i64>,
    /// Published in the tenant's JWKS until then.
    pub publish_until: Option<i64>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("tenant_domain", &self.tenant_domain)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish_non_exhaustive()
    }
}

/// Where a key is in its life at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet: readers that cache the key set fetch it before it signs.
    Next,
    /// Signing (and published).
    Current,
    /// No longer signing; published until the tokens it signed have expired.
    Retiring,
    /// Neither signing nor published.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Retiring => "retiring",
            KeyState::Retired => "retired",
        }
    }
}

impl StoredSigningKey {
    pub fn state(&self, now: i64) -> KeyState {
        if self.publish_until.is_some_and(|until| now >= until) {
            KeyState::Retired
        } else if now < self.activates_at {
            KeyState::Next
        } else if self.retired_at.is_none_or(|retired| now < retired) {
            KeyState::Current
        } else {
            KeyState::Retiring
        }
    }

    /// In the tenant's JWKS at `now`: next, current or retiring.
    pub fn is_published(&self, now: i64) -> bool {
        self.state(now) != KeyState::Retired
    }
}

/// The key that signs at `now`: the current one that activated last (rotations never leave two,
/// but a choice that is the same on every node costs nothing).
pub fn signing_key_at(keys: &[StoredSigningKey], now: i64) -> Option<&StoredSigningKey> {
    keys.iter()
        .filter(|k| k.state(now) == KeyState::Current)
        .max_by_key(|k| (k.activates_at, k.created_at))
}

/// A key to add, already generated and sealed.
pub struct NewSigningKey<'a> {
    pub kid: &'a str,
    pub tenant_domain: &'a str,
    pub algorithm: &'a str,
    pub sealed_private_key: &'a str,
    pub public_jwk: &'a str,
    /// Also the time of the addition (`now`).
    pub created_at: i64,
}

/// How a rotation replaces the tenant's current key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The new key is published now and signs from `activates_at`; the current key signs until
    /// then and stays published until `publish_until`. A tenant without a key gets one that signs
    /// at once (no reader can have cached anything).
    Scheduled {
        activates_at: i64,
        publish_until: i64,
    },
    /// The new key signs now, and every other key of the tenant is withdrawn now (signs no more,
    /// published no more): for a key that may be compromised.
    Immediate,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationOutcome {
    Rotated {
        /// When the new key signs.
        activates_at: i64,
        /// The keys that stop signing then, with the time they leave the JWKS.
        replaced: Vec<(String, i64)>,
        /// Keys taken out of the JWKS now (immediate rotation).
        withdrawn: Vec<String>,
    },
    /// Refused: an earlier rotation's key has not started signing yet.
    Pending { kid: String, activates_at: i64 },
}

impl Store {
    /// The tenant's keys, the latest to activate first.
    pub fn signing_keys(&self, tenant_domain: &str) -> Result<Vec<StoredSigningKey>, StoreError> {
        let mut keys: Vec<StoredSigningKey> = self.with_conn(|conn| {
            Ok(signing_keys::table
                .filter(signing_keys::tenant_domain.eq(tenant_domain))
                .select(StoredSigningKey::as_select())
                .load(conn)?)
        })?;
        keys.sort_by_key(|k| std::cmp::Reverse((k.activates_at, k.created_at)));
        Ok(keys)
    }

    /// Every tenant's keys.
    pub fn all_signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.with_conn(|conn| {
            Ok(signing_keys::table
                .select(StoredSigningKey::as_select())
                .order_by(signing_keys::kid)
                .load(conn)?)
        })
    }

    /// Adds the tenant's first key, which signs at once; `false` if the tenant has a key already
    /// (another process made one first), and then nothing is added.
    pub fn add_first_signing_key(&self, key: &NewSigningKey<'_>) -> Result<bool, StoreError> {
        self.write_transaction(|conn| {
            hold_tenant(conn, key.tenant_domain)?;
            let existing: i64 = signing_keys::table
                .filter(signing_keys::tenant_domain.eq(key.tenant_domain))
                .filter(signing_keys::retired_at.is_null())
                .count()
                .get_result(conn)?;
            if existing > 0 {
                return Ok(false);
            }
            insert(conn, key, key.created_at)?;
            Ok(true)
        })
    }

    /// Adds `key` as the successor of the tenant's current key, in one transaction that holds the
    /// tenant, so two rotations at once take turns.
    pub fn rotate_signing_key(
        &self,
        key: &NewSigningKey<'_>,
        rotation: Rotation,
    ) -> Result<RotationOutcome, StoreError> {
        let now = key.created_at;
        let tenant = key.tenant_domain;
        self.write_transaction(|conn| {
            hold_tenant(conn, tenant)?;
            let keys: Vec<StoredSigningKey> = signing_keys::table
                .filter(signing_keys::tenant_domain.eq(tenant))
                .select(StoredSigningKey::as_select())
                .load(conn)?;
            let of_tenant = signing_keys::table.filter(signing_keys::tenant_domain.eq(tenant));
            match rotation {
                Rotation::Scheduled {
                    activates_at,
                    publish_until,
                } => {
                    if let Some(pending) = keys.iter().find(|k| k.state(now) == KeyState::Next) {
                        return Ok(RotationOutcome::Pending {
                            kid: pending.kid.clone(),
                            activates_at: pending.activates_at,
                        });
                    }
                    // The key that signs now, and signs on until a successor is set.
                    let replaced: Vec<String> = keys
                        .iter()
                        .filter(|k| k.retired_at.is_none() && k.state(now) == KeyState::Current)
                        .map(|k| k.kid.clone())
                        .collect();
                    let activates_at = if replaced.is_empty() {
                        now
                    } else {
                        activates_at
                    };
                    diesel::update(of_tenant.filter(signing_keys::kid.eq_any(&replaced)))
                        .set((
                            signing_keys::retired_at.eq(Some(activates_at)),
                            signing_keys::publish_until.eq(Some(publish_until)),
                        ))
                        .execute(conn)?;
                    insert(conn, key, activates_at)?;
                    Ok(RotationOutcome::Rotated {
                        activates_at,
                        replaced: replaced.into_iter().map(|k| (k, publish_until)).collect(),
                        withdrawn: Vec::new(),
                    })
                }
                Rotation::Immediate => {
                    let withdrawn: Vec<String> = keys
                        .iter()
                        .filter(|k| k.is_published(now))
                        .map(|k| k.kid.clone())
                        .collect();
                    diesel::update(of_tenant.filter(signing_keys::kid.eq_any(&withdrawn)))
                        .set(signing_keys::publish_until.eq(Some(now)))
                        .execute(conn)?;
                    diesel::update(
                        of_tenant.filter(
                            signing_keys::retired_at
                                .is_null()
                                .or(signing_keys::retired_at.gt(now)),
                        ),
                    )
                    .set(signing_keys::retired_at.eq(Some(now)))
                    .execute(conn)?;
                    insert(conn, key, now)?;
                    Ok(RotationOutcome::Rotated {
                        activates_at: now,
                        replaced: Vec::new(),
                        withdrawn,
                    })
                }
            }
        })
    }

    /// Replaces stored private keys in one transaction: `reseal` sees every tenant's keys and
    /// returns the new sealed form of those to change (`kid`, new value), or an error, which
    /// changes nothing; then every key is sealed under `kek_id`, which is recorded (claimed, or
    /// moved to). A key changed meanwhile by another process is not overwritten: the whole
    /// transaction fails with `Conflict`, to be run again. `reseal` must not use the store (the
    /// transaction holds a connection).
    pub fn reseal_signing_keys<E: From<StoreError>>(
        &self,
        kek_id: &str,
        recording: Recording,
        reseal: impl FnOnce(&[StoredSigningKey]) -> Result<Vec<(String, String)>, E>,
    ) -> Result<usize, E> {
        let changed = self.write_transaction_or::<_, E>(|conn| {
            let keys: Vec<StoredSigningKey> = signing_keys::table
                .select(StoredSigningKey::as_select())
                .order_by(signing_keys::kid)
                .load(conn)
                .map_err(StoreError::from)?;
            let updates = reseal(&keys)?;
            write_resealed(conn, &keys, &updates)?;
            record_key_encryption_key(conn, kek_id, recording)?;
            Ok(updates.len())
        })?;
        if changed > 0 {
            self.scrub_replaced_keys();
        }
        Ok(changed)
    }

    /// After private keys were replaced: SQLite keeps a replaced row's old bytes in the freed
    /// space of its page, and older page images in its write-ahead log, until they happen to be
    /// reused. `VACUUM` rewrites the file from the live rows only, and the checkpoint truncates
    /// the log. (PostgreSQL keeps dead rows until it vacuums them: README says what to do.) A
    /// database busy with other writers is left as it is, with a warning.
    fn scrub_replaced_keys(&self) {
        let scrubbed = self.with_conn(|conn| match conn {
            DbConnection::Sqlite(c) => {
                diesel::sql_query("VACUUM").execute(c)?;
                diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(c)?;
                Ok(())
            }
            DbConnection::Postgres(_) => Ok(()),
        });
        if let Err(e) = scrubbed {
            tracing::warn!(
                "the replaced private keys may linger in the database file's free space until \
                 it is vacuumed (VACUUM): {e}"
            );
        }
    }
}

fn insert(
    conn: &mut DbConnection,
    key: &NewSigningKey<'_>,
    activates_at: i64,
) -> Result<(), StoreError> {
    if let Some(kek_id) = crate::keys::sealed::sealed_with(key.sealed_private_key) {
        record_key_encryption_key(conn, kek_id, Recording::Claim)?;
    }
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::kid.eq(key.kid),
            signing_keys::tenant_domain.eq(key.tenant_domain),
            signing_keys::algorithm.eq(key.algorithm),
            signing_keys::sealed_private_key.eq(key.sealed_private_key),
            signing_keys::public_jwk.eq(key.public_jwk),
            signing_keys::created_at.eq(key.created_at),
            signing_keys::activates_at.eq(activates_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// How a write records the key-encryption key of the stored keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// The keys are (or are to be) sealed under this one: recorded if none is yet, refused
    /// (`Invalid`, naming both) if another one is.
    Claim,
    /// Every key was just moved to this one (`grantor keys rewrap`).
    Move,
}

/// Records `kek_id` as the key-encryption key of the stored keys, within the caller's
/// transaction; concurrent claims of different keys on an empty table: one wins, the other is
/// refused.
fn record_key_encryption_key(
    conn: &mut DbConnection,
    kek_id: &str,
    recording: Recording,
) -> Result<(), StoreError> {
    if recording == Recording::Move {
        diesel::delete(key_encryption_key::table).execute(conn)?;
    }
    // Diesel's multi-connection has no upsert: each backend's own connection runs it.
    macro_rules! insert_if_none {
        ($conn:expr) => {
            diesel::insert_into(key_encryption_key::table)
                .values((
                    key_encryption_key::id.eq(1i16),
                    key_encryption_key::kek_id.eq(kek_id),
                ))
                .on_conflict(key_encryption_key::id)
                .do_nothing()
                .execute($conn)
        };
    }
    match conn {
        DbConnection::Sqlite(c) => insert_if_none!(c),
        DbConnection::Postgres(c) => insert_if_none!(c),
    }?;
    let recorded: String = key_encryption_key::table
        .select(key_encryption_key::kek_id)
        .first(conn)?;
    if recorded == kek_id {
        Ok(())
    } else {
        Err(Invalid::KeyEncryptionKeyMismatch {
            recorded,
            ours: kek_id.to_owned(),
        }
        .into())
    }
}

/// Writes the resealed keys, each only if it is still as `keys` read it.
fn write_resealed(
    conn: &mut DbConnection,
    keys: &[StoredSigningKey],
    updates: &[(String, String)],
) -> Result<(), StoreError> {
    for (kid, sealed) in updates {
        let Some(before) = keys.iter().find(|k| &k.kid == kid) else {
            return Err(NotFound::SigningKey { kid: kid.clone() }.into());
        };
        let written = diesel::update(
            signing_keys::table
                .filter(signing_keys::kid.eq(kid))
                .filter(signing_keys::sealed_private_key.eq(&before.sealed_private_key)),
        )
        .set(signing_keys::sealed_private_key.eq(sealed))
        .execute(conn)?;
        if written != 1 {
            return Err(Conflict::SigningKeyChanged { kid: kid.clone() }.into());
        }
    }
    Ok(())
}

/// Fails with `NotFound` unless the tenant exists, and holds its row until the transaction ends
/// (PostgreSQL: `FOR UPDATE`; SQLite: `BEGIN IMMEDIATE` already holds the whole database), so that
/// two processes changing the tenant's keys take turns instead of both adding a key.
fn hold_tenant(conn: &mut DbConnection, domain: &str) -> Result<(), StoreError> {
    let found: Option<String> = if let DbConnection::Postgres(pg) = &mut *conn {
        tenants::table
            .filter(tenants::domain.eq(domain))
            .select(tenants::domain)
            .for_update()
            .first(pg)
            .optional()?
    } else {
        tenants::table
            .filter(tenants::domain.eq(domain))
            .select(tenants::domain)
            .first(conn)
            .optional()?
    };
    match found {
        Some(_) => Ok(()),
        None => Err(NotFound::Tenant {
            domain: domain.to_owned(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    /// The key-encryption key the test keys are sealed under.
    const KEK_ID: &str = "0123456789abcdef";

    fn key<'a>(kid: &'a str, at: i64) -> NewSigningKey<'a> {
        NewSigningKey {
            kid,
            tenant_domain: "carbon.super",
            algorithm: "RS256",
            sealed_private_key: "sealed.v1.0123456789abcdef.nonce.ciphertext",
            public_jwk: "{}",
            created_at: at,
        }
    }

    fn states(store: &Store, now: i64) -> Vec<(String, KeyState)> {
        store
            .signing_keys("carbon.super")
            .unwrap()
            .into_iter()
            .map(|k| {
                let state = k.state(now);
                (k.kid, state)
            })
            .collect()
    }

    fn named(pairs: &[(&str, KeyState)]) -> Vec<(String, KeyState)> {
        pairs.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect()
    }

    fn signing(store: &Store, now: i64) -> String {
        let keys = store.signing_keys("carbon.super").unwrap();
        signing_key_at(&keys, now).unwrap().kid.clone()
    }

    #[test]
    fn the_first_key_signs_at_once_and_a_second_first_key_loses() {
        for_each_backend(|store| {
            assert!(store.add_first_signing_key(&key("k1", 100)).unwrap());
            // Another process generating at the same time loses: one current key.
            assert!(!store.add_first_signing_key(&key("k1b", 101)).unwrap());
            assert_eq!(states(store, 100), named(&[("k1", KeyState::Current)]));
            assert!(
                !format!("{:?}", store.signing_keys("carbon.super").unwrap()[0])
                    .contains("sealed.v1")
            );
            assert!(matches!(
                store.add_first_signing_key(&NewSigningKey {
                    tenant_domain: "nowhere",
                    ..key("k3", 300)
                }),
                Err(StoreError::NotFound(_))
            ));
        });
    }

    #[test]
    fn a_scheduled_rotation_publishes_first_switches_later_and_retires_after_that() {
        for_each_backend(|store| {
            use KeyState::*;
            assert!(store.add_first_signing_key(&key("k1", 100)).unwrap());
            let outcome = store
                .rotate_signing_key(
                    &key("k2", 200),
                    Rotation::Scheduled {
                        activates_at: 560,
                        publish_until: 4160,
                    },
                )
                .unwrap();
            assert_eq!(
                outcome,
                RotationOutcome::Rotated {
                    activates_at: 560,
                    replaced: vec![("k1".into(), 4160)],
                    withdrawn: vec![],
                }
            );
            // No write happens between these moments: the time alone moves the states.
            assert_eq!(states(store, 200), named(&[("k2", Next), ("k1", Current)]));
            assert_eq!(signing(store, 559), "k1");
            assert_eq!(
                states(store, 560),
                named(&[("k2", Current), ("k1", Retiring)])
            );
            assert_eq!(signing(store, 560), "k2");
            assert_eq!(states(store, 4159)[1], ("k1".into(), Retiring));
            assert_eq!(states(store, 4160)[1], ("k1".into(), Retired));
            assert!(!store.signing_keys("carbon.super").unwrap()[1].is_published(4160));

            // A second rotation while k2 is pending is refused, naming it; nothing changes.
            assert!(store
                .add_first_signing_key(&key("k0", 300))
                .is_ok_and(|added| !added));
            let pending = store
                .rotate_signing_key(
                    &key("k3", 300),
                    Rotation::Scheduled {
                        activates_at: 660,
                        publish_until: 4260,
                    },
                )
                .unwrap();
            assert_eq!(
                pending,
                RotationOutcome::Pending {
                    kid: "k2".into(),
                    activates_at: 560
                }
            );
            assert_eq!(store.signing_keys("carbon.super").unwrap().len(), 2);

            // After the switch, the next rotation replaces k2; k1 keeps its own end.
            store
                .rotate_signing_key(
                    &key("k3", 600),
                    Rotation::Scheduled {
                        activates_at: 960,
                        publish_until: 4560,
                    },
                )
                .unwrap();
            assert_eq!(
                states(store, 600),
                named(&[("k3", Next), ("k2", Current), ("k1", Retiring)])
            );
            assert_eq!(
                states(store, 960),
                named(&[("k3", Current), ("k2", Retiring), ("k1", Retiring)])
            );
        });
    }

    #[test]
    fn an_immediate_rotation_signs_at_once_and_withdraws_every_other_key() {
        for_each_backend(|store| {
            use KeyState::*;
            assert!(store.add_first_signing_key(&key("k1", 100)).unwrap());
            store
                .rotate_signing_key(
                    &key("k2", 200),
                    Rotation::Scheduled {
                        activates_at: 560,
                        publish_until: 4160,
                    },
                )
                .unwrap();
            // k2 is pending, k1 signs: an immediate rotation replaces both at once.
            let outcome = store
                .rotate_signing_key(&key("k3", 300), Rotation::Immediate)
                .unwrap();
            assert_eq!(
                outcome,
                RotationOutcome::Rotated {
                    activates_at: 300,
                    replaced: vec![],
                    withdrawn: vec!["k1".into(), "k2".into()],
                }
            );
            assert_eq!(
                states(store, 300),
                named(&[("k2", Retired), ("k3", Current), ("k1", Retired)])
            );
            // Later, k2's old activation time changes nothing: k3 keeps signing.
            assert_eq!(signing(store, 600), "k3");
            assert_eq!(states(store, 600)[0], ("k2".into(), Retired));
        });
    }

    #[test]
    fn a_rotation_of_a_tenant_without_keys_signs_at_once() {
        for_each_backend(|store| {
            let outcome = store
                .rotate_signing_key(
                    &key("k1", 100),
                    Rotation::Scheduled {
                        activates_at: 460,
                        publish_until: 4000,
                    },
                )
                .unwrap();
            assert!(matches!(
                outcome,
                RotationOutcome::Rotated {
                    activates_at: 100,
                    ..
                }
            ));
            assert_eq!(signing(store, 100), "k1");
        });
    }

    #[test]
    fn one_key_encryption_key_is_recorded_and_another_is_refused() {
        for_each_backend(|store| {
            let sealed_under = |kek: &str| format!("sealed.v1.{kek}.nonce.ciphertext");
            let first = sealed_under(KEK_ID);
            let mut key1 = key("k1", 100);
            key1.sealed_private_key = &first;
            assert!(store.add_first_signing_key(&key1).unwrap());
            // Another tenant's first key, sealed under another key-encryption key: refused.
            let other = sealed_under("fedcba9876543210");
            let mut key2 = key("k2", 100);
            key2.tenant_domain = "other.example";
            key2.sealed_private_key = &other;
            store.ensure_tenant("other.example", 100).unwrap();
            let refused = store.add_first_signing_key(&key2).unwrap_err().to_string();
            assert!(
                refused.contains(KEK_ID) && refused.contains("fedcba9876543210"),
                "{refused}"
            );
            let claimed = store.reseal_signing_keys("fedcba9876543210", Recording::Claim, |_| {
                Ok::<_, StoreError>(Vec::new())
            });
            assert!(claimed.is_err());
            // A rewrap moves the record; then the other key is the one.
            store
                .reseal_signing_keys("fedcba9876543210", Recording::Move, |_| {
                    Ok::<_, StoreError>(Vec::new())
                })
                .unwrap();
            assert!(store.add_first_signing_key(&key2).unwrap());
        });
    }

    #[test]
    fn resealing_changes_every_key_or_none() {
        for_each_backend(|store| {
            assert!(store.add_first_signing_key(&key("k1", 100)).unwrap());
            store
                .rotate_signing_key(&key("k2", 200), Rotation::Immediate)
                .unwrap();
            let changed = store
                .reseal_signing_keys(KEK_ID, Recording::Claim, |keys| {
                    Ok::<_, StoreError>(
                        keys.iter()
                            .map(|k| (k.kid.clone(), format!("resealed {}", k.kid)))
                            .collect(),
                    )
                })
                .unwrap();
            assert_eq!(changed, 2);
            let refused = store.reseal_signing_keys(KEK_ID, Recording::Claim, |keys| {
                assert_eq!(keys.len(), 2);
                assert!(keys
                    .iter()
                    .all(|k| k.sealed_private_key.starts_with("resealed")));
                Err::<Vec<(String, String)>, _>(StoreError::Invalid(Invalid::SigningKey(
                    "no".into(),
                )))
            });
            assert!(
                matches!(refused, Err(StoreError::Invalid(Invalid::SigningKey(m))) if m == "no")
            );
            for k in store.all_signing_keys().unwrap() {
                assert_eq!(k.sealed_private_key, format!("resealed {}", k.kid));
            }
        });
    }
}
