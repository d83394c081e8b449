//! Tenants' signing keys as stored: the newest unretired key is current; a retired key stays
//! published until `publish_until`. Rotation retires the current key and adds its successor in one
//! transaction.

use diesel::prelude::*;

use super::schema::signing_keys;
use super::{Store, StoreError};

/// A stored key. `private_key_pem` is secret: `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct StoredSigningKey {
    pub kid: String,
    pub tenant_domain: String,
    pub algorithm: String,
    pub private_key_pem: String,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("tenant_domain", &self.tenant_domain)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish_non_exhaustive()
    }
}

impl StoredSigningKey {
    pub fn is_current(&self) -> bool {
        self.retired_at.is_none()
    }

    /// In the tenant's JWKS at `now`: current, or retired and still within `publish_until`.
    pub fn is_published(&self, now: i64) -> bool {
        self.retired_at.is_none() || self.publish_until.is_some_and(|until| now < until)
    }
}

/// A key to add, already generated.
pub struct NewSigningKey<'a> {
    pub kid: &'a str,
    pub tenant_domain: &'a str,
    pub algorithm: &'a str,
    pub private_key_pem: &'a str,
    pub public_jwk: &'a str,
    pub created_at: i64,
}

impl Store {
    /// The tenant's keys: the current one first, then the retired ones, newest first.
    pub fn signing_keys(&self, tenant_domain: &str) -> Result<Vec<StoredSigningKey>, StoreError> {
        let mut keys: Vec<StoredSigningKey> = self.with_conn(|conn| {
            Ok(signing_keys::table
                .filter(signing_keys::tenant_domain.eq(tenant_domain))
                .select(StoredSigningKey::as_select())
                .load(conn)?)
        })?;
        // A rotation within the second of the key it retires shares its created_at.
        keys.sort_by(|a, b| {
            (
                a.retired_at.is_some(),
                std::cmp::Reverse(a.retired_at),
                std::cmp::Reverse(a.created_at),
            )
                .cmp(&(
                    b.retired_at.is_some(),
                    std::cmp::Reverse(b.retired_at),
                    std::cmp::Reverse(b.created_at),
                ))
        });
        Ok(keys)
    }

    /// Adds `key`. With `retire_current`, every current key of the tenant is retired first and
    /// stays published until `publish_until` (rotation); without it, the key is added only if the
    /// tenant has no current key yet (first use), and `false` says another process was first.
    pub fn add_signing_key(
        &self,
        key: &NewSigningKey<'_>,
        retire_current: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.write_transaction(|conn| {
            super::tenants::require_tenant(conn, key.tenant_domain)?;
            let current = signing_keys::table
                .filter(signing_keys::tenant_domain.eq(key.tenant_domain))
                .filter(signing_keys::retired_at.is_null());
            match retire_current {
                Some(publish_until) => {
                    diesel::update(current)
                        .set((
                            signing_keys::retired_at.eq(Some(key.created_at)),
                            signing_keys::publish_until.eq(Some(publish_until)),
                        ))
                        .execute(conn)?;
                }
                None => {
                    let existing: i64 = current.count().get_result(conn)?;
                    if existing > 0 {
                        return Ok(false);
                    }
                }
            }
            diesel::insert_into(signing_keys::table)
                .values((
                    signing_keys::kid.eq(key.kid),
                    signing_keys::tenant_domain.eq(key.tenant_domain),
                    signing_keys::algorithm.eq(key.algorithm),
                    signing_keys::private_key_pem.eq(key.private_key_pem),
                    signing_keys::public_jwk.eq(key.public_jwk),
                    signing_keys::created_at.eq(key.created_at),
                ))
                .execute(conn)?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    fn key<'a>(kid: &'a str, at: i64) -> NewSigningKey<'a> {
        NewSigningKey {
            kid,
            tenant_domain: "carbon.super",
            algorithm: "RS256",
            private_key_pem: "-----BEGIN PRIVATE KEY-----",
            public_jwk: "{}",
            created_at: at,
        }
    }

    #[test]
    fn first_use_adds_one_key_and_rotation_retires_it_into_publication() {
        for_each_backend(|store| {
            assert!(store.add_signing_key(&key("k1", 100), None).unwrap());
            // Another process generating at the same time loses: one current key.
            assert!(!store.add_signing_key(&key("k1b", 101), None).unwrap());
            assert!(store.add_signing_key(&key("k2", 200), Some(900)).unwrap());
            let keys = store.signing_keys("carbon.super").unwrap();
            let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
            assert_eq!(kids, ["k2", "k1"]);
            assert!(keys[0].is_current() && !keys[1].is_current());
            assert!(keys[1].is_published(899) && !keys[1].is_published(900));
            assert!(!format!("{:?}", keys[0]).contains("PRIVATE"));
            assert!(matches!(
                store.add_signing_key(
                    &NewSigningKey {
                        tenant_domain: "nowhere",
                        ..key("k3", 300)
                    },
                    None
                ),
                Err(StoreError::NotFound(_))
            ));
        });
    }
}
