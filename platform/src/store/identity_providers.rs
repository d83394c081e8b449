//! Identity providers: the token issuers a tenant trusts, with their keys (certificates, or a JWKS
//! URI the host fetches) and the limits on what their assertions may obtain.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;

use super::schema::identity_providers;
use super::token_families::{revoke_families, Families};
use super::{is_unique_violation, DbConnection, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityProvider {
    pub tenant_domain: String,
    pub name: String,
    /// The `iss` value of this provider's assertions; unique in the tenant.
    pub issuer: String,
    /// Audience values that name this server for this issuer (WSO2's "token endpoint alias").
    pub aliases: Vec<String>,
    /// Verification certificates or public keys, PEM, normalised at registration.
    pub certificates: Vec<String>,
    pub jwks_uri: Option<String>,
    pub enabled: bool,
    pub clock_skew_seconds: i64,
    /// `None`: any subject.
    pub allowed_subjects: Option<Vec<String>>,
    /// `None`: no limit beyond the client's.
    pub allowed_scopes: Option<Vec<String>>,
    pub created_at: i64,
    /// Declarative claim renames, remote claim name -> local claim name, applied before anything
    /// else reads the claims.
    pub claim_mappings: BTreeMap<String, String>,
    /// Path of the Rhai claim transformer run after the mappings, if any (resolved against the
    /// server's working directory).
    pub claim_transformer: Option<String>,
    /// Service-account style: the `client_id` of the tenant's client this issuer stands for. Its
    /// assertions are then accepted for that client only, and may come with no other client
    /// authentication (RFC 7523 2.1 as Google's libraries use it).
    pub service_account_client: Option<String>,
    /// A claim of the assertions carrying the requested scopes (space-separated, or a list).
    pub scope_claim: Option<String>,
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i32,
    i64,
    Option<String>,
    Option<String>,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

macro_rules! columns {
    () => {
        (
            identity_providers::tenant_domain,
            identity_providers::name,
            identity_providers::issuer,
            identity_providers::aliases,
            identity_providers::certificates,
            identity_providers::jwks_uri,
            identity_providers::enabled,
            identity_providers::clock_skew_seconds,
            identity_providers::allowed_subjects,
            identity_providers::allowed_scopes,
            identity_providers::created_at,
            identity_providers::claim_mappings,
            identity_providers::claim_transformer,
            identity_providers::service_account_client,
            identity_providers::scope_claim,
        )
    };
}

fn to_json(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Invalid(format!("stored list is not a JSON array: {e}")))
}

fn from_row(row: Row) -> Result<IdentityProvider, StoreError> {
    let (
        tenant_domain,
        name,
        issuer,
        aliases,
        certificates,
        jwks_uri,
        enabled,
        skew,
        subjects,
        scopes,
        at,
        mappings,
        transformer,
        service_account_client,
        scope_claim,
    ) = row;
    Ok(IdentityProvider {
        tenant_domain,
        name,
        issuer,
        aliases: from_json(&aliases)?,
        certificates: from_json(&certificates)?,
        jwks_uri,
        enabled: enabled != 0,
        clock_skew_seconds: skew,
        allowed_subjects: subjects.as_deref().map(from_json).transpose()?,
        allowed_scopes: scopes.as_deref().map(from_json).transpose()?,
        created_at: at,
        claim_mappings: serde_json::from_str(&mappings)
            .map_err(|e| StoreError::Invalid(format!("stored claim mappings: {e}")))?,
        claim_transformer: transformer,
        service_account_client,
        scope_claim,
    })
}

/// A provider's lists as stored (JSON text).
struct Encoded {
    aliases: String,
    certificates: String,
    subjects: Option<String>,
    scopes: Option<String>,
    mappings: String,
}

impl Encoded {
    /// Also refuses a provider without keys.
    fn of(idp: &IdentityProvider) -> Result<Encoded, StoreError> {
        if idp.certificates.is_empty() && idp.jwks_uri.is_none() {
            return Err(StoreError::Invalid(
                "an identity provider needs at least one certificate or a JWKS URI".into(),
            ));
        }
        Ok(Encoded {
            aliases: to_json(&idp.aliases)?,
            certificates: to_json(&idp.certificates)?,
            subjects: idp.allowed_subjects.as_deref().map(to_json).transpose()?,
            scopes: idp.allowed_scopes.as_deref().map(to_json).transpose()?,
            mappings: serde_json::to_string(&idp.claim_mappings)
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
        })
    }
}

/// Writes `idp`'s settings into the row of `tenant_domain`/`name`.
fn write_settings(
    conn: &mut DbConnection,
    tenant_domain: &str,
    name: &str,
    idp: &IdentityProvider,
) -> Result<(), StoreError> {
    let Encoded {
        aliases,
        certificates,
        subjects,
        scopes,
        mappings,
    } = Encoded::of(idp)?;
    if let Some(client_id) = &idp.service_account_client {
        require_client(conn, tenant_domain, client_id)?;
    }
    diesel::update(
        identity_providers::table
            .filter(identity_providers::tenant_domain.eq(tenant_domain))
            .filter(identity_providers::name.eq(name)),
    )
    .set((
        identity_providers::aliases.eq(&aliases),
        identity_providers::certificates.eq(&certificates),
        identity_providers::jwks_uri.eq(&idp.jwks_uri),
        identity_providers::clock_skew_seconds.eq(idp.clock_skew_seconds),
        identity_providers::allowed_subjects.eq(&subjects),
        identity_providers::allowed_scopes.eq(&scopes),
        identity_providers::claim_mappings.eq(&mappings),
        identity_providers::claim_transformer.eq(&idp.claim_transformer),
        identity_providers::service_account_client.eq(&idp.service_account_client),
        identity_providers::scope_claim.eq(&idp.scope_claim),
    ))
    .execute(conn)?;
    Ok(())
}

/// A service-account binding names a client of the provider's own tenant.
fn require_client(
    conn: &mut super::DbConnection,
    tenant_domain: &str,
    client_id: &str,
) -> Result<(), StoreError> {
    use super::schema::service_providers;
    let count: i64 = service_providers::table
        .filter(service_providers::tenant_domain.eq(tenant_domain))
        .filter(service_providers::client_id.eq(client_id))
        .count()
        .get_result(conn)?;
    if count == 0 {
        return Err(StoreError::NotFound(format!(
            "client '{client_id}' not found in tenant '{tenant_domain}'"
        )));
    }
    Ok(())
}

impl Store {
    /// Registers an identity provider; name and issuer are each unique in the tenant.
    pub fn add_identity_provider(&self, idp: &IdentityProvider) -> Result<(), StoreError> {
        let Encoded {
            aliases,
            certificates,
            subjects,
            scopes,
            mappings,
        } = Encoded::of(idp)?;
        self.with_conn(|conn| {
            conn.transaction(|conn| {
                super::tenants::require_tenant(conn, &idp.tenant_domain)?;
                if let Some(client_id) = &idp.service_account_client {
                    require_client(conn, &idp.tenant_domain, client_id)?;
                }
                diesel::insert_into(identity_providers::table)
                    .values((
                        identity_providers::tenant_domain.eq(&idp.tenant_domain),
                        identity_providers::name.eq(&idp.name),
                        identity_providers::issuer.eq(&idp.issuer),
                        identity_providers::aliases.eq(&aliases),
                        identity_providers::certificates.eq(&certificates),
                        identity_providers::jwks_uri.eq(&idp.jwks_uri),
                        identity_providers::enabled.eq(i32::from(idp.enabled)),
                        identity_providers::clock_skew_seconds.eq(idp.clock_skew_seconds),
                        identity_providers::allowed_subjects.eq(&subjects),
                        identity_providers::allowed_scopes.eq(&scopes),
                        identity_providers::created_at.eq(idp.created_at),
                        identity_providers::claim_mappings.eq(&mappings),
                        identity_providers::claim_transformer.eq(&idp.claim_transformer),
                        identity_providers::service_account_client
                            .eq(&idp.service_account_client),
                        identity_providers::scope_claim.eq(&idp.scope_claim),
                    ))
                    .execute(conn)
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Conflict(format!(
                                "an identity provider named '{}' or with issuer '{}' already exists in tenant '{}'",
                                idp.name, idp.issuer, idp.tenant_domain
                            ))
                        } else {
                            e.into()
                        }
                    })?;
                Ok(())
            })
        })
    }

    /// Reads the named provider, lets `apply` change it, and writes its settings back (keys,
    /// aliases, limits, mappings, transformer, binding, scope claim; not name, issuer or
    /// enabled), in one transaction that holds the row (PostgreSQL: `FOR UPDATE`; SQLite: the
    /// write lock `BEGIN IMMEDIATE` takes), so two changes at once cannot undo each other.
    /// `apply` must not use the store: the transaction holds a connection.
    pub fn change_identity_provider_settings<E: From<StoreError>>(
        &self,
        tenant_domain: &str,
        name: &str,
        apply: impl FnOnce(IdentityProvider) -> Result<IdentityProvider, E>,
    ) -> Result<IdentityProvider, E> {
        let mut refused = None;
        let written = self.write_transaction(|conn| {
            let key = identity_providers::tenant_domain
                .eq(tenant_domain)
                .and(identity_providers::name.eq(name));
            let row: Option<Row> = if let DbConnection::Postgres(pg) = &mut *conn {
                identity_providers::table
                    .filter(key)
                    .select(columns!())
                    .for_update()
                    .first(pg)
                    .optional()?
            } else {
                identity_providers::table
                    .filter(key)
                    .select(columns!())
                    .first(conn)
                    .optional()?
            };
            let Some(row) = row else {
                return Err(StoreError::NotFound(format!(
                    "identity provider '{name}' not found in tenant '{tenant_domain}'"
                )));
            };
            let changed = match apply(from_row(row)?) {
                Ok(changed) => changed,
                Err(e) => {
                    refused = Some(e);
                    return Err(StoreError::Invalid("refused".into()));
                }
            };
            write_settings(conn, tenant_domain, name, &changed)?;
            Ok(changed)
        });
        match (written, refused) {
            (_, Some(refusal)) => Err(refusal),
            (Ok(idp), None) => Ok(idp),
            (Err(e), None) => Err(e.into()),
        }
    }

    pub fn list_identity_providers(
        &self,
        tenant_domain: &str,
    ) -> Result<Vec<IdentityProvider>, StoreError> {
        self.with_conn(|conn| {
            let rows: Vec<Row> = identity_providers::table
                .filter(identity_providers::tenant_domain.eq(tenant_domain))
                .select(columns!())
                .order(identity_providers::name)
                .load(conn)?;
            rows.into_iter().map(from_row).collect()
        })
    }

    pub fn find_identity_provider_by_name(
        &self,
        tenant_domain: &str,
        name: &str,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        self.with_conn(|conn| {
            let row: Option<Row> = identity_providers::table
                .filter(identity_providers::tenant_domain.eq(tenant_domain))
                .filter(identity_providers::name.eq(name))
                .select(columns!())
                .first(conn)
                .optional()?;
            row.map(from_row).transpose()
        })
    }

    /// The provider whose `iss` this is, in this tenant only.
    pub fn find_identity_provider_by_issuer(
        &self,
        tenant_domain: &str,
        issuer: &str,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        self.with_conn(|conn| {
            let row: Option<Row> = identity_providers::table
                .filter(identity_providers::tenant_domain.eq(tenant_domain))
                .filter(identity_providers::issuer.eq(issuer))
                .select(columns!())
                .first(conn)
                .optional()?;
            row.map(from_row).transpose()
        })
    }

    /// Removes a provider; every refresh token family its assertions started is revoked with it
    /// (in the same transaction), access tokens included. Returns the families revoked.
    pub fn remove_identity_provider(
        &self,
        tenant_domain: &str,
        name: &str,
        now: i64,
    ) -> Result<usize, StoreError> {
        self.change_identity_provider(tenant_domain, name, now, ProviderChange::Remove)
    }

    /// Enables or disables a provider. Disabling revokes every refresh token family its
    /// assertions started (enabling again does not bring them back). Returns the families
    /// revoked.
    pub fn set_identity_provider_enabled(
        &self,
        tenant_domain: &str,
        name: &str,
        enabled: bool,
        now: i64,
    ) -> Result<usize, StoreError> {
        if enabled {
            self.change_identity_provider(tenant_domain, name, now, ProviderChange::Enable)
        } else {
            self.change_identity_provider(tenant_domain, name, now, ProviderChange::Disable)
        }
    }

    /// Applies `change` to the named provider's row and, unless it enables it, revokes the
    /// families of its issuer, all in one transaction.
    fn change_identity_provider(
        &self,
        tenant_domain: &str,
        name: &str,
        now: i64,
        change: ProviderChange,
    ) -> Result<usize, StoreError> {
        let key = identity_providers::tenant_domain
            .eq(tenant_domain)
            .and(identity_providers::name.eq(name));
        self.write_transaction(|conn| {
            let issuer: Option<String> = identity_providers::table
                .filter(key)
                .select(identity_providers::issuer)
                .first(conn)
                .optional()?;
            let Some(issuer) = issuer else {
                return Err(StoreError::NotFound(format!(
                    "identity provider '{name}' not found in tenant '{tenant_domain}'"
                )));
            };
            match change {
                ProviderChange::Remove => {
                    diesel::delete(identity_providers::table.filter(key)).execute(conn)?;
                }
                ProviderChange::Enable | ProviderChange::Disable => {
                    let enabled = i32::from(change == ProviderChange::Enable);
                    diesel::update(identity_providers::table.filter(key))
                        .set(identity_providers::enabled.eq(enabled))
                        .execute(conn)?;
                    if change == ProviderChange::Enable {
                        return Ok(0);
                    }
                }
            }
            Ok(revoke_families(
                conn,
                Families::OfIssuer {
                    tenant_domain,
                    issuer: &issuer,
                },
                now,
            )?)
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProviderChange {
    Remove,
    Enable,
    Disable,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    fn sample(tenant: &str, name: &str, issuer: &str) -> IdentityProvider {
        IdentityProvider {
            tenant_domain: tenant.into(),
            name: name.into(),
            issuer: issuer.into(),
            aliases: vec!["https://gw.example/token".into()],
            certificates: vec![
                "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n".into(),
            ],
            jwks_uri: None,
            enabled: true,
            clock_skew_seconds: 60,
            claim_mappings: BTreeMap::from([("upn".to_owned(), "username".to_owned())]),
            allowed_subjects: None,
            allowed_scopes: Some(vec!["read".into()]),
            created_at: 7,
            claim_transformer: Some("scripts/t.rhai".into()),
            service_account_client: None,
            scope_claim: Some("scope".into()),
        }
    }

    #[test]
    fn identity_provider_lifecycle_and_isolation() {
        for_each_backend(|store| {
            store.add_tenant("acme", "Acme", 1).unwrap();
            let idp = sample("acme", "google", "https://accounts.google.com");
            store.add_identity_provider(&idp).unwrap();
            assert_eq!(
                store
                    .find_identity_provider_by_issuer("acme", "https://accounts.google.com")
                    .unwrap(),
                Some(idp.clone())
            );
            assert_eq!(
                store
                    .find_identity_provider_by_name("acme", "google")
                    .unwrap(),
                Some(idp.clone())
            );
            // Another tenant does not see it, and may register the same issuer for itself.
            assert!(store
                .find_identity_provider_by_issuer("carbon.super", "https://accounts.google.com")
                .unwrap()
                .is_none());
            store
                .add_identity_provider(&sample(
                    "carbon.super",
                    "google",
                    "https://accounts.google.com",
                ))
                .unwrap();
            // Name and issuer are each unique in a tenant.
            assert!(matches!(
                store.add_identity_provider(&sample("acme", "google", "https://other")),
                Err(StoreError::Conflict(_))
            ));
            assert!(matches!(
                store.add_identity_provider(&sample("acme", "g2", "https://accounts.google.com")),
                Err(StoreError::Conflict(_))
            ));
            assert!(matches!(
                store.add_identity_provider(&sample("nowhere", "x", "https://x")),
                Err(StoreError::NotFound(_))
            ));
            // A service-account binding names a client of the same tenant.
            let mut bound = sample("acme", "sa", "https://sa");
            bound.service_account_client = Some("sa-client".into());
            assert!(matches!(
                store.add_identity_provider(&bound),
                Err(StoreError::NotFound(_))
            ));
            let client = store
                .add_client(
                    &crate::store::clients::tests::sample("acme", "svc", "sa-client-1"),
                    1,
                )
                .unwrap();
            bound.service_account_client = Some(client.client_id.clone());
            store.add_identity_provider(&bound).unwrap();
            assert_eq!(
                store
                    .find_identity_provider_by_issuer("acme", "https://sa")
                    .unwrap()
                    .unwrap()
                    .service_account_client,
                Some(client.client_id)
            );
            store.remove_identity_provider("acme", "sa", 0).unwrap();
            let mut keyless = sample("acme", "k", "https://k");
            keyless.certificates.clear();
            assert!(matches!(
                store.add_identity_provider(&keyless),
                Err(StoreError::Invalid(_))
            ));
            keyless.jwks_uri = Some("https://k/jwks".into());
            store.add_identity_provider(&keyless).unwrap();
            assert_eq!(store.list_identity_providers("acme").unwrap().len(), 2);
            store.remove_identity_provider("acme", "google", 0).unwrap();
            assert!(matches!(
                store.remove_identity_provider("acme", "google", 0),
                Err(StoreError::NotFound(_))
            ));
            store.remove_tenant("acme").unwrap();
            assert!(store.list_identity_providers("acme").unwrap().is_empty());
        });
    }
}
