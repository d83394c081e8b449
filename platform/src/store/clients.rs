//! Service providers: the OAuth clients of a tenant, with what each may do.

use diesel::prelude::*;

use super::schema::service_providers;
use super::{is_unique_violation, join_list, split_list, Store, StoreError};

/// A registered OAuth client. The secret exists here only as its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceProvider {
    pub client_id: String,
    pub tenant_domain: String,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// Seconds; `None` means the server default.
    pub access_token_lifetime: Option<i64>,
    pub refresh_token_lifetime: Option<i64>,
    pub created_at: i64,
    /// `opaque` or `jwt` (`TOKEN_FORMAT_*`).
    pub token_format: String,
    /// Audiences its ID tokens carry besides its client_id.
    pub audiences: Vec<String>,
    /// Its verification keys (PEM) for `private_key_jwt`; listings say `token_endpoint_auth_method`.
    #[serde(skip)]
    pub certificates: Vec<String>,
    /// Its JWKS endpoint for `private_key_jwt`.
    pub jwks_uri: Option<String>,
}

/// Random access tokens, looked up in the database.
pub const TOKEN_FORMAT_OPAQUE: &str = "opaque";
/// Signed JWT access tokens (RFC 9068).
pub const TOKEN_FORMAT_JWT: &str = "jwt";

impl ServiceProvider {
    pub fn allows_grant_type(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// A client with keys authenticates with a signed assertion (`private_key_jwt`), never with
    /// its secret.
    pub fn uses_private_key_jwt(&self) -> bool {
        !self.certificates.is_empty() || self.jwks_uri.is_some()
    }
}

/// What an operator supplies to register a client; the host generates id and secret.
#[derive(Debug, Clone)]
pub struct NewServiceProvider {
    pub tenant_domain: String,
    pub name: String,
    pub client_id: String,
    pub secret_hash: String,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub access_token_lifetime: Option<i64>,
    pub refresh_token_lifetime: Option<i64>,
    pub token_format: String,
    pub audiences: Vec<String>,
    pub certificates: Vec<String>,
    pub jwks_uri: Option<String>,
}

type ServiceProviderRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    String,
    String,
    String,
    Option<String>,
);

fn from_row(row: ServiceProviderRow) -> ServiceProvider {
    let (
        client_id,
        tenant_domain,
        name,
        secret_hash,
        grant_types,
        scopes,
        access,
        refresh,
        at,
        token_format,
        audiences,
        certificates,
        jwks_uri,
    ) = row;
    ServiceProvider {
        client_id,
        tenant_domain,
        name,
        secret_hash,
        grant_types: split_list(&grant_types),
        scopes: split_list(&scopes),
        access_token_lifetime: access,
        refresh_token_lifetime: refresh,
        created_at: at,
        token_format,
        audiences: split_list(&audiences),
        // Written by this code as a JSON array; anything else reads as no keys.
        certificates: serde_json::from_str(&certificates).unwrap_or_default(),
        jwks_uri,
    }
}

macro_rules! service_provider_columns {
    () => {
        (
            service_providers::client_id,
            service_providers::tenant_domain,
            service_providers::name,
            service_providers::secret_hash,
            service_providers::grant_types,
            service_providers::scopes,
            service_providers::access_token_lifetime,
            service_providers::refresh_token_lifetime,
            service_providers::created_at,
            service_providers::token_format,
            service_providers::audiences,
            service_providers::certificates,
            service_providers::jwks_uri,
        )
    };
}

impl Store {
    /// Registers a client in an existing tenant; names are unique within a tenant.
    pub fn add_client(
        &self,
        new: &NewServiceProvider,
        now: i64,
    ) -> Result<ServiceProvider, StoreError> {
        let certificates = serde_json::to_string(&new.certificates)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.with_conn(|conn| {
            conn.transaction(|conn| {
                super::tenants::require_tenant(conn, &new.tenant_domain)?;
                diesel::insert_into(service_providers::table)
                    .values((
                        service_providers::client_id.eq(&new.client_id),
                        service_providers::tenant_domain.eq(&new.tenant_domain),
                        service_providers::name.eq(&new.name),
                        service_providers::secret_hash.eq(&new.secret_hash),
                        service_providers::grant_types.eq(join_list(&new.grant_types)),
                        service_providers::scopes.eq(join_list(&new.scopes)),
                        service_providers::access_token_lifetime.eq(new.access_token_lifetime),
                        service_providers::refresh_token_lifetime.eq(new.refresh_token_lifetime),
                        service_providers::created_at.eq(now),
                        service_providers::token_format.eq(&new.token_format),
                        service_providers::audiences.eq(join_list(&new.audiences)),
                        service_providers::certificates.eq(&certificates),
                        service_providers::jwks_uri.eq(&new.jwks_uri),
                    ))
                    .execute(conn)
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Conflict(format!(
                                "client '{}' already exists in tenant '{}'",
                                new.name, new.tenant_domain
                            ))
                        } else {
                            e.into()
                        }
                    })?;
                Ok(())
            })
        })?;
        Ok(ServiceProvider {
            client_id: new.client_id.clone(),
            tenant_domain: new.tenant_domain.clone(),
            name: new.name.clone(),
            secret_hash: new.secret_hash.clone(),
            grant_types: new.grant_types.clone(),
            scopes: new.scopes.clone(),
            access_token_lifetime: new.access_token_lifetime,
            token_format: new.token_format.clone(),
            audiences: new.audiences.clone(),
            certificates: new.certificates.clone(),
            jwks_uri: new.jwks_uri.clone(),
            refresh_token_lifetime: new.refresh_token_lifetime,
            created_at: now,
        })
    }

    pub fn list_clients(&self, tenant_domain: &str) -> Result<Vec<ServiceProvider>, StoreError> {
        self.with_conn(|conn| {
            let rows: Vec<ServiceProviderRow> = service_providers::table
                .filter(service_providers::tenant_domain.eq(tenant_domain))
                .select(service_provider_columns!())
                .order(service_providers::name)
                .load(conn)?;
            Ok(rows.into_iter().map(from_row).collect())
        })
    }

    /// The client with this id in this tenant; a client of another tenant is not found.
    pub fn find_client(
        &self,
        tenant_domain: &str,
        client_id: &str,
    ) -> Result<Option<ServiceProvider>, StoreError> {
        self.with_conn(|conn| {
            let row: Option<ServiceProviderRow> = service_providers::table
                .filter(service_providers::tenant_domain.eq(tenant_domain))
                .filter(service_providers::client_id.eq(client_id))
                .select(service_provider_columns!())
                .first(conn)
                .optional()?;
            Ok(row.map(from_row))
        })
    }

    /// Removes a client, named by its client_id or its name, with its tokens.
    pub fn remove_client(&self, tenant_domain: &str, id_or_name: &str) -> Result<(), StoreError> {
        let removed = self.with_conn(|conn| {
            Ok(diesel::delete(
                service_providers::table
                    .filter(service_providers::tenant_domain.eq(tenant_domain))
                    .filter(
                        service_providers::client_id
                            .eq(id_or_name)
                            .or(service_providers::name.eq(id_or_name)),
                    ),
            )
            .execute(conn)?)
        })?;
        if removed == 0 {
            return Err(StoreError::NotFound(format!(
                "client '{id_or_name}' not found in tenant '{tenant_domain}'"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    pub(crate) fn sample(tenant: &str, name: &str, id: &str) -> NewServiceProvider {
        NewServiceProvider {
            tenant_domain: tenant.into(),
            name: name.into(),
            client_id: id.into(),
            secret_hash: crate::secrets::hash_secret("s3cret"),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["read".into(), "write".into()],
            access_token_lifetime: Some(60),
            refresh_token_lifetime: None,
            token_format: "opaque".into(),
            audiences: Vec::new(),
            certificates: Vec::new(),
            jwks_uri: None,
        }
    }

    #[test]
    fn client_lifecycle_and_isolation() {
        for_each_backend(|store| {
            store.add_tenant("acme", "Acme", 1).unwrap();
            let added = store.add_client(&sample("acme", "app", "id-1"), 5).unwrap();
            assert_eq!(added.scopes, ["read", "write"]);
            let found = store.find_client("acme", "id-1").unwrap().unwrap();
            assert_eq!(found, added);
            assert!(found.allows_grant_type("client_credentials"));
            assert!(!found.allows_grant_type("password"));
            // Another tenant does not see it.
            assert!(store.find_client("carbon.super", "id-1").unwrap().is_none());
            // Names are unique per tenant, not globally.
            assert!(matches!(
                store.add_client(&sample("acme", "app", "id-2"), 5),
                Err(StoreError::Conflict(_))
            ));
            store
                .add_client(&sample("carbon.super", "app", "id-3"), 5)
                .unwrap();
            assert!(matches!(
                store.add_client(&sample("nowhere", "app", "id-4"), 5),
                Err(StoreError::NotFound(_))
            ));
            assert_eq!(store.list_clients("acme").unwrap().len(), 1);
            store.remove_client("acme", "app").unwrap();
            assert!(store.find_client("acme", "id-1").unwrap().is_none());
            assert!(matches!(
                store.remove_client("acme", "id-1"),
                Err(StoreError::NotFound(_))
            ));
            // Removing a tenant removes its clients.
            store.remove_tenant("carbon.super").unwrap();
            assert!(store.find_client("carbon.super", "id-3").unwrap().is_none());
        });
    }
}
