//! Each tenant's share of a plugin's call slots. Without it one tenant whose requests are slow
//! (a slow JWKS endpoint, a heavy script) could hold every slot and starve the others; with it
//! that tenant waits for its own slots while the rest of the plugin's stay free for others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

/// Tenants tracked before idle ones are forgotten (a request names its tenant before the tenant
/// is checked, so the names are not trusted).
const MAX_TRACKED_TENANTS: usize = 1024;

pub struct TenantSlots {
    per_tenant: usize,
    by_tenant: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl TenantSlots {
    pub fn new(per_tenant: usize) -> TenantSlots {
        TenantSlots {
            per_tenant,
            by_tenant: Mutex::default(),
        }
    }

    pub fn for_tenant(&self, tenant: &str) -> Arc<Semaphore> {
        let mut by_tenant = self.by_tenant.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slots) = by_tenant.get(tenant) {
            return slots.clone();
        }
        if by_tenant.len() >= MAX_TRACKED_TENANTS {
            // Forget tenants with no call running or waiting: nobody else holds their semaphore.
            by_tenant.retain(|_, slots| Arc::strong_count(slots) > 1);
        }
        let slots = Arc::new(Semaphore::new(self.per_tenant));
        by_tenant.insert(tenant.to_owned(), slots.clone());
        slots
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.by_tenant.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tenant_has_its_own_bounded_share() {
        let slots = TenantSlots::new(2);
        let a = slots.for_tenant("a");
        let _held = (
            a.clone().try_acquire_owned().unwrap(),
            a.clone().try_acquire_owned().unwrap(),
        );
        assert!(
            a.clone().try_acquire_owned().is_err(),
            "a's share is used up"
        );
        assert!(
            slots.for_tenant("b").try_acquire_owned().is_ok(),
            "b is unaffected"
        );
        assert!(Arc::ptr_eq(&a, &slots.for_tenant("a")));
    }

    #[test]
    fn idle_tenants_are_forgotten_busy_ones_kept() {
        let slots = TenantSlots::new(1);
        let busy = slots.for_tenant("busy");
        for i in 0..MAX_TRACKED_TENANTS + 5 {
            slots.for_tenant(&format!("t{i}"));
        }
        assert!(slots.tracked() <= MAX_TRACKED_TENANTS);
        assert!(Arc::ptr_eq(&busy, &slots.for_tenant("busy")));
    }
}
