//! Tenants: isolated name spaces of clients, identity providers and tokens.

use diesel::prelude::*;

use super::schema::tenants;
use super::{is_unique_violation, Conflict, DbConnection, Invalid, NotFound, Store, StoreError};

pub const STATUS_ACTIVE: &str = "active";

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub domain: String,
    pub display_name: String,
    pub status: String,
    pub created_at: i64,
    /// 1: subjects are presented as `user@tenant` (`present_subject`).
    pub qualified_subjects: i32,
}

impl Tenant {
    /// How a resource owner's subject appears in this tenant's tokens and introspection answers:
    /// as stored, or tenant-qualified (`alice@carbon.super`).
    pub fn present_subject(&self, subject: &str) -> String {
        if self.qualified_subjects != 0 {
            format!("{subject}@{}", self.domain)
        } else {
            subject.to_owned()
        }
    }

    /// The subject as grants name it, from its presented form (`present_subject`'s inverse).
    pub fn stored_subject<'a>(&self, presented: &'a str) -> &'a str {
        if self.qualified_subjects != 0 {
            presented
                .strip_suffix(self.domain.as_str())
                .and_then(|s| s.strip_suffix('@'))
                .unwrap_or(presented)
        } else {
            presented
        }
    }
}

/// Fails with `NotFound` unless the tenant exists; for inserts of what a tenant owns, inside their
/// transaction.
pub(super) fn require_tenant(conn: &mut DbConnection, domain: &str) -> Result<(), StoreError> {
    let count: i64 = tenants::table
        .filter(tenants::domain.eq(domain))
        .count()
        .get_result(conn)?;
    if count == 0 {
        return Err(NotFound::Tenant {
            domain: domain.to_owned(),
        }
        .into());
    }
    Ok(())
}

impl Store {
    /// Adds a tenant; a second tenant with the same domain is a conflict.
    pub fn add_tenant(
        &self,
        domain: &str,
        display_name: &str,
        now: i64,
    ) -> Result<Tenant, StoreError> {
        crate::tenancy::validate_tenant_domain(domain).map_err(Invalid::TenantDomain)?;
        let tenant = Tenant {
            domain: domain.to_owned(),
            display_name: display_name.to_owned(),
            status: STATUS_ACTIVE.to_owned(),
            created_at: now,
            qualified_subjects: 0,
        };
        self.with_conn(|conn| {
            diesel::insert_into(tenants::table)
                .values((
                    tenants::domain.eq(&tenant.domain),
                    tenants::display_name.eq(&tenant.display_name),
                    tenants::status.eq(&tenant.status),
                    tenants::created_at.eq(tenant.created_at),
                ))
                .execute(conn)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::from(Conflict::TenantExists {
                            domain: domain.to_owned(),
                        })
                    } else {
                        e.into()
                    }
                })
        })?;
        Ok(tenant)
    }

    /// Adds the tenant unless it exists (used for the configured default tenant at start; safe when
    /// several nodes start at once).
    pub fn ensure_tenant(&self, domain: &str, now: i64) -> Result<(), StoreError> {
        match self.add_tenant(domain, domain, now) {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.with_conn(|conn| {
            Ok(tenants::table
                .select(Tenant::as_select())
                .order(tenants::domain)
                .load(conn)?)
        })
    }

    pub fn find_active_tenant(&self, domain: &str) -> Result<Option<Tenant>, StoreError> {
        self.with_conn(|conn| {
            Ok(tenants::table
                .filter(tenants::domain.eq(domain))
                .filter(tenants::status.eq(STATUS_ACTIVE))
                .select(Tenant::as_select())
                .first(conn)
                .optional()?)
        })
    }

    /// Whether the tenant's subjects are tenant-qualified (`Tenant::present_subject`).
    pub fn set_qualified_subjects(&self, domain: &str, on: bool) -> Result<(), StoreError> {
        let changed = self.with_conn(|conn| {
            Ok(
                diesel::update(tenants::table.filter(tenants::domain.eq(domain)))
                    .set(tenants::qualified_subjects.eq(i32::from(on)))
                    .execute(conn)?,
            )
        })?;
        if changed == 0 {
            return Err(NotFound::Tenant {
                domain: domain.to_owned(),
            }
            .into());
        }
        Ok(())
    }

    /// Removes a tenant with everything it owns (clients, tokens: ON DELETE CASCADE).
    pub fn remove_tenant(&self, domain: &str) -> Result<(), StoreError> {
        let removed = self.with_conn(|conn| {
            Ok(diesel::delete(tenants::table.filter(tenants::domain.eq(domain))).execute(conn)?)
        })?;
        if removed == 0 {
            return Err(NotFound::Tenant {
                domain: domain.to_owned(),
            }
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_support::for_each_backend;
    use crate::store::StoreError;

    #[test]
    fn tenant_lifecycle() {
        for_each_backend(|store| {
            let t = store.add_tenant("acme", "Acme", 10).unwrap();
            assert_eq!(t.domain, "acme");
            assert!(matches!(
                store.add_tenant("acme", "Again", 11),
                Err(StoreError::Conflict(_))
            ));
            assert!(matches!(
                store.add_tenant("Bad Name", "x", 11),
                Err(StoreError::Invalid(_))
            ));
            let domains: Vec<_> = store
                .list_tenants()
                .unwrap()
                .into_iter()
                .map(|t| t.domain)
                .collect();
            assert_eq!(domains, ["acme", "carbon.super"]);
            assert!(store.find_active_tenant("acme").unwrap().is_some());
            store.ensure_tenant("acme", 12).unwrap();
            store.remove_tenant("acme").unwrap();
            assert!(store.find_active_tenant("acme").unwrap().is_none());
            assert!(matches!(
                store.remove_tenant("acme"),
                Err(StoreError::NotFound(_))
            ));
        });
    }
}
