//! In-memory copies of what every token request reads (tenants, clients, identity providers), so
//! the hot path makes no query. Every write to those tables bumps a change counter in the database
//! (triggers, migration 000007); `Store::refresh_read_cache` polls it and drops everything when it
//! moved. A change made anywhere (the CLI, another node) is therefore seen within one poll
//! interval plus one query.
//!
//! A value read from the database is only kept if the counter did not move while it was read, so
//! a slow read can never put back what an invalidation just dropped. Database errors are never
//! cached. Each tenant's maps are bounded: past the bound they are emptied and refilled on use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use diesel::prelude::*;

use super::schema::cache_generation;
use super::{Client, DbConnection, IdentityProvider, Store, StoreError, StoredSigningKey, Tenant};

/// Entries kept per map before it is emptied (unknown ids asked for at random must not grow
/// memory without bound).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
struct TenantEntry {
    /// `Some(None)`: no active tenant of that domain.
    active: Option<Option<Arc<Tenant>>>,
    clients: HashMap<String, Option<Arc<Client>>>,
    providers: HashMap<String, Option<Arc<IdentityProvider>>>,
    signing_keys: Option<Arc<Vec<StoredSigningKey>>>,
}

#[derive(Default)]
struct State {
    /// The change counter the entries were read under; `None` before the first poll.
    generation: Option<i64>,
    tenants: HashMap<String, TenantEntry>,
}

#[derive(Default)]
pub struct ReadCache {
    state: RwLock<State>,
}

impl ReadCache {
    fn read<T>(&self, f: impl FnOnce(&State) -> Option<T>) -> Option<T> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        f(&state)
    }

    fn generation(&self) -> Option<i64> {
        self.read(|s| Some(s.generation)).flatten()
    }

    /// Keeps a value read under `generation`, unless an invalidation happened meanwhile.
    fn keep(&self, generation: Option<i64>, tenant: &str, f: impl FnOnce(&mut TenantEntry)) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.generation != generation || generation.is_none() {
            return;
        }
        if !state.tenants.contains_key(tenant) && state.tenants.len() >= MAX_ENTRIES {
            state.tenants.clear();
        }
        let entry = state.tenants.entry(tenant.to_owned()).or_default();
        if entry.clients.len() >= MAX_ENTRIES {
            entry.clients.clear();
        }
        if entry.providers.len() >= MAX_ENTRIES {
            entry.providers.clear();
        }
        f(entry);
    }

    /// Records the counter just read; drops everything if it moved. Returns whether it did.
    fn observe(&self, generation: i64) -> bool {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.generation == Some(generation) {
            return false;
        }
        state.generation = Some(generation);
        state.tenants.clear();
        true
    }
}

pub(super) fn read_generation(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(cache_generation::table
        .filter(cache_generation::id.eq(1))
        .select(cache_generation::value)
        .first(conn)?)
}

impl Store {
    /// The change counter as the database has it now (also a liveness check).
    pub fn database_generation(&self) -> Result<i64, StoreError> {
        self.with_conn(read_generation)
    }

    /// The change counter the read cache is at: every change up to it is visible to requests.
    pub fn cached_generation(&self) -> Option<i64> {
        self.read_cache.generation()
    }

    /// Polls the change counter; drops the read cache if it moved. Returns whether it did.
    pub fn refresh_read_cache(&self) -> Result<bool, StoreError> {
        let generation = self.with_conn(read_generation)?;
        Ok(self.read_cache.observe(generation))
    }

    /// The tenant's signing keys, newest first, from the cache.
    pub fn cached_signing_keys(
        &self,
        tenant_domain: &str,
    ) -> Result<Arc<Vec<StoredSigningKey>>, StoreError> {
        if let Some(keys) = self.read_cache.read(|s| {
            s.tenants
                .get(tenant_domain)
                .and_then(|t| t.signing_keys.clone())
        }) {
            return Ok(keys);
        }
        let generation = self.read_cache.generation();
        let keys = Arc::new(self.signing_keys(tenant_domain)?);
        self.read_cache.keep(generation, tenant_domain, |t| {
            t.signing_keys = Some(keys.clone())
        });
        Ok(keys)
    }

    /// Whether the tenant exists and is active, from the cache.
    pub fn cached_tenant_is_active(&self, domain: &str) -> Result<bool, StoreError> {
        Ok(self.cached_active_tenant(domain)?.is_some())
    }

    /// The active tenant of this domain, from the cache.
    pub fn cached_active_tenant(&self, domain: &str) -> Result<Option<Arc<Tenant>>, StoreError> {
        if let Some(active) = self
            .read_cache
            .read(|s| s.tenants.get(domain).and_then(|t| t.active.clone()))
        {
            return Ok(active);
        }
        let generation = self.read_cache.generation();
        let active = self.find_active_tenant(domain)?.map(Arc::new);
        let kept = active.clone();
        self.read_cache
            .keep(generation, domain, |t| t.active = Some(kept));
        Ok(active)
    }

    /// The tenant's client with this id, from the cache.
    pub fn cached_client(
        &self,
        tenant: &str,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(found) = self.read_cache.read(|s| {
            s.tenants
                .get(tenant)
                .and_then(|t| t.clients.get(client_id).cloned())
        }) {
            return Ok(found);
        }
        let generation = self.read_cache.generation();
        let found = self.find_client(tenant, client_id)?.map(Arc::new);
        self.read_cache.keep(generation, tenant, |t| {
            t.clients.insert(client_id.to_owned(), found.clone());
        });
        Ok(found)
    }

    /// The tenant's identity provider with this issuer, from the cache.
    pub fn cached_identity_provider(
        &self,
        tenant: &str,
        issuer: &str,
    ) -> Result<Option<Arc<IdentityProvider>>, StoreError> {
        if let Some(found) = self.read_cache.read(|s| {
            s.tenants
                .get(tenant)
                .and_then(|t| t.providers.get(issuer).cloned())
        }) {
            return Ok(found);
        }
        let generation = self.read_cache.generation();
        let found = self
            .find_identity_provider_by_issuer(tenant, issuer)?
            .map(Arc::new);
        self.read_cache.keep(generation, tenant, |t| {
            t.providers.insert(issuer.to_owned(), found.clone());
        });
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_support::for_each_backend;

    #[test]
    fn cached_reads_follow_changes_after_a_refresh() {
        for_each_backend(|store| {
            store.refresh_read_cache().unwrap();
            assert!(!store.cached_tenant_is_active("acme").unwrap());
            let client = crate::store::clients::tests::sample("carbon.super", "app", "cid-1");
            store.add_client(&client, 1).unwrap();
            // Cached before the change and not yet refreshed: the old answer (the cache works).
            assert!(!store.cached_tenant_is_active("acme").unwrap());
            store.add_tenant("acme", "Acme", 1).unwrap();
            assert!(!store.cached_tenant_is_active("acme").unwrap());
            assert!(store.refresh_read_cache().unwrap());
            assert!(store.cached_tenant_is_active("acme").unwrap());
            let cached = store.cached_client("carbon.super", "cid-1").unwrap();
            assert_eq!(cached.unwrap().name, "app");
            store.remove_client("carbon.super", "cid-1").unwrap();
            assert!(store
                .cached_client("carbon.super", "cid-1")
                .unwrap()
                .is_some());
            assert!(store.refresh_read_cache().unwrap());
            assert!(store
                .cached_client("carbon.super", "cid-1")
                .unwrap()
                .is_none());
            // No change: nothing dropped.
            assert!(!store.refresh_read_cache().unwrap());
        });
    }
}
