//! The assertion replay cache: a `jti` is accepted once per (tenant, issuer) until its assertion
//! expires. The database's primary key decides races, so two nodes (or two threads) racing with
//! the same assertion get exactly one success.

use diesel::prelude::*;

use super::schema::jwt_replay_cache as cache;
use super::{is_unique_violation, Store, StoreError};

/// What recording a `jti` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiUse {
    First,
    Replay,
}

impl Store {
    /// Records a `jti` until `expires_at`. An entry that has already expired no longer blocks the
    /// id (its assertion could not be accepted anyway), so it is replaced.
    pub fn record_jti(
        &self,
        tenant_domain: &str,
        issuer: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<JtiUse, StoreError> {
        self.with_conn(|conn| {
            let key = cache::tenant_domain
                .eq(tenant_domain)
                .and(cache::issuer.eq(issuer))
                .and(cache::jti.eq(jti));
            // Two statements, no transaction: on PostgreSQL a unique violation would abort the
            // transaction, and the insert alone is what must be atomic.
            diesel::delete(cache::table.filter(key).filter(cache::expires_at.lt(now)))
                .execute(conn)?;
            let inserted = diesel::insert_into(cache::table)
                .values((
                    cache::tenant_domain.eq(tenant_domain),
                    cache::issuer.eq(issuer),
                    cache::jti.eq(jti),
                    cache::expires_at.eq(expires_at),
                ))
                .execute(conn);
            match inserted {
                Ok(_) => Ok(JtiUse::First),
                Err(e) if is_unique_violation(&e) => Ok(JtiUse::Replay),
                Err(e) => match super::tenants::require_tenant(conn, tenant_domain) {
                    Err(missing) => Err(missing),
                    Ok(()) => Err(e.into()),
                },
            }
        })
    }

    /// Deletes entries whose assertions have expired; returns how many.
    pub fn purge_expired_jtis(&self, now: i64) -> Result<usize, StoreError> {
        self.with_conn(|conn| {
            Ok(diesel::delete(cache::table.filter(cache::expires_at.lt(now))).execute(conn)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    #[test]
    fn a_jti_is_accepted_once_per_tenant_and_issuer_until_it_expires() {
        for_each_backend(|store| {
            store.ensure_tenant("acme", 0).unwrap();
            let t = "carbon.super";
            assert_eq!(
                store.record_jti(t, "iss", "a", 200, 100).unwrap(),
                JtiUse::First
            );
            assert_eq!(
                store.record_jti(t, "iss", "a", 300, 150).unwrap(),
                JtiUse::Replay
            );
            // Another issuer or tenant has its own namespace.
            assert_eq!(
                store.record_jti(t, "iss2", "a", 200, 100).unwrap(),
                JtiUse::First
            );
            assert_eq!(
                store.record_jti("acme", "iss", "a", 200, 100).unwrap(),
                JtiUse::First
            );
            // Once the first assertion has expired, its id no longer blocks.
            assert_eq!(
                store.record_jti(t, "iss", "a", 400, 201).unwrap(),
                JtiUse::First
            );
            assert_eq!(
                store.record_jti(t, "iss", "a", 400, 202).unwrap(),
                JtiUse::Replay
            );
            assert!(store.record_jti("nope", "iss", "a", 400, 202).is_err());

            assert_eq!(store.purge_expired_jtis(250).unwrap(), 2);
            assert_eq!(
                store.record_jti(t, "iss", "a", 500, 260).unwrap(),
                JtiUse::Replay
            );
        });
    }

    #[test]
    fn racing_uses_of_one_jti_have_one_winner() {
        for_each_backend(|store| {
            let firsts = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            store
                                .record_jti("carbon.super", "iss", "race", 999, 1)
                                .unwrap()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .filter(|u| *u == JtiUse::First)
                    .count()
            });
            assert_eq!(firsts, 1);
        });
    }
}
