//! Identity providers: the token issuers a tenant trusts, with their keys (certificates, or a JWKS
//! URI the host fetches) and the limits on what their assertions may obtain.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;

use super::lists::{encode_list, encode_map, StoredIn};
use super::schema::identity_providers;
use super::token_families::{revoke_families, Families};
use super::{
    is_unique_violation, Conflict, CorruptValue, DbConnection, Invalid, NotFound, Store, StoreError,
};

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

/// A provider as its row stores it (lists and mappings encoded by `lists.rs`): what identifies
/// it, and its settings, which a change rewrites.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity_providers)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct IdentityProviderRow {
    tenant_domain: String,
    name: String,
    issuer: String,
    enabled: i32,
    created_at: i64,
    #[diesel(embed)]
    settings: SettingsRow,
}

/// The columns `change_identity_provider_settings` writes (not name, issuer or enabled).
#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = identity_providers)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
// A setting taken away (a JWKS URI, a limit) is written as NULL, not left as it was.
#[diesel(treat_none_as_null = true)]
struct SettingsRow {
    aliases: String,
    certificates: String,
    jwks_uri: Option<String>,
    clock_skew_seconds: i64,
    allowed_subjects: Option<String>,
    allowed_scopes: Option<String>,
    claim_mappings: String,
    claim_transformer: Option<String>,
    service_account_client: Option<String>,
    scope_claim: Option<String>,
}

impl IdentityProviderRow {
    fn encode(idp: &IdentityProvider) -> Result<IdentityProviderRow, StoreError> {
        Ok(IdentityProviderRow {
            tenant_domain: idp.tenant_domain.clone(),
            name: idp.name.clone(),
            issuer: idp.issuer.clone(),
            enabled: i32::from(idp.enabled),
            created_at: idp.created_at,
            settings: SettingsRow::encode(idp)?,
        })
    }

    fn decode(self) -> Result<IdentityProvider, CorruptValue> {
        let row = format!("{}/{}", self.tenant_domain, self.name);
        let stored = StoredIn {
            table: "identity_providers",
            row: &row,
        };
        let settings = self.settings;
        Ok(IdentityProvider {
            aliases: stored.list("aliases", &settings.aliases)?,
            certificates: stored.list("certificates", &settings.certificates)?,
            allowed_subjects: stored
                .optional_list("allowed_subjects", settings.allowed_subjects.as_deref())?,
            allowed_scopes: stored
                .optional_list("allowed_scopes", settings.allowed_scopes.as_deref())?,
            claim_mappings: stored.map("claim_mappings", &settings.claim_mappings)?,
            tenant_domain: self.tenant_domain,
            name: self.name,
            issuer: self.issuer,
            jwks_uri: settings.jwks_uri,
            enabled: self.enabled != 0,
            clock_skew_seconds: settings.clock_skew_seconds,
            created_at: self.created_at,
            claim_transformer: settings.claim_transformer,
            service_account_client: settings.service_account_client,
            scope_claim: settings.scope_claim,
        })
    }
}

impl SettingsRow {
    /// Also refuses a provider without keys.
    fn encode(idp: &IdentityProvider) -> Result<SettingsRow, StoreError> {
        if idp.certificates.is_empty() && idp.jwks_uri.is_none() {
            return Err(Invalid::IdentityProviderWithoutKeys.into());
        }
        Ok(SettingsRow {
            aliases: encode_list(&idp.aliases),
            certificates: encode_list(&idp.certificates),
            jwks_uri: idp.jwks_uri.clone(),
            clock_skew_seconds: idp.clock_skew_seconds,
            allowed_subjects: idp.allowed_subjects.as_deref().map(encode_list),
            allowed_scopes: idp.allowed_scopes.as_deref().map(encode_list),
            claim_mappings: encode_map(&idp.claim_mappings),
            claim_transformer: idp.claim_transformer.clone(),
            service_account_client: idp.service_account_client.clone(),
            scope_claim: idp.scope_claim.clone(),
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
    let settings = SettingsRow::encode(idp)?;
    if let Some(client_id) = &idp.service_account_client {
        require_client(conn, tenant_domain, client_id)?;
    }
    diesel::update(
        identity_providers::table
            .filter(identity_providers::tenant_domain.eq(tenant_domain))
            .filter(identity_providers::name.eq(name)),
    )
    .set(&settings)
    .execute(conn)?;
    Ok(())
}

/// The named provider, its row held until the transaction ends (PostgreSQL: `FOR UPDATE`;
/// SQLite: the write lock `BEGIN IMMEDIATE` took).
fn hold_identity_provider(
    conn: &mut DbConnection,
    tenant_domain: &str,
    name: &str,
) -> Result<IdentityProvider, StoreError> {
    let key = identity_providers::tenant_domain
        .eq(tenant_domain)
        .and(identity_providers::name.eq(name));
    let row: Option<IdentityProviderRow> = if let DbConnection::Postgres(pg) = &mut *conn {
        identity_providers::table
            .filter(key)
            .select(IdentityProviderRow::as_select())
            .for_update()
            .first(pg)
            .optional()?
    } else {
        identity_providers::table
            .filter(key)
            .select(IdentityProviderRow::as_select())
            .first(conn)
            .optional()?
    };
    match row {
        Some(row) => Ok(row.decode()?),
        None => Err(not_found(tenant_domain, name)),
    }
}

fn not_found(tenant_domain: &str, name: &str) -> StoreError {
    NotFound::IdentityProvider {
        tenant_domain: tenant_domain.to_owned(),
        name: name.to_owned(),
    }
    .into()
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
        return Err(NotFound::Client {
            tenant_domain: tenant_domain.to_owned(),
            client: client_id.to_owned(),
        }
        .into());
    }
    Ok(())
}

impl Store {
    /// Registers an identity provider; name and issuer are each unique in the tenant.
    pub fn add_identity_provider(&self, idp: &IdentityProvider) -> Result<(), StoreError> {
        let row = IdentityProviderRow::encode(idp)?;
        self.with_conn(|conn| {
            conn.transaction(|conn| {
                super::tenants::require_tenant(conn, &idp.tenant_domain)?;
                if let Some(client_id) = &idp.service_account_client {
                    require_client(conn, &idp.tenant_domain, client_id)?;
                }
                diesel::insert_into(identity_providers::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::from(Conflict::IdentityProviderExists {
                                tenant_domain: idp.tenant_domain.clone(),
                                name: idp.name.clone(),
                                issuer: idp.issuer.clone(),
                            })
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
        self.write_transaction_or::<_, E>(|conn| {
            let changed = apply(hold_identity_provider(conn, tenant_domain, name)?)?;
            write_settings(conn, tenant_domain, name, &changed)?;
            Ok(changed)
        })
    }

    pub fn list_identity_providers(
        &self,
        tenant_domain: &str,
    ) -> Result<Vec<IdentityProvider>, StoreError> {
        self.with_conn(|conn| {
            let rows: Vec<IdentityProviderRow> = identity_providers::table
                .filter(identity_providers::tenant_domain.eq(tenant_domain))
                .select(IdentityProviderRow::as_select())
                .order(identity_providers::name)
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(IdentityProviderRow::decode)
                .collect::<Result<_, _>>()?)
        })
    }

    pub fn find_identity_provider_by_name(
        &self,
        tenant_domain: &str,
        name: &str,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        self.with_conn(|conn| {
            let row: Option<IdentityProviderRow> = identity_providers::table
                .filter(identity_providers::tenant_domain.eq(tenant_domain))
                .filter(identity_providers::name.eq(name))
                .select(IdentityProviderRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(IdentityProviderRow::decode).transpose()?)
        })
    }

    /// The provider whose `iss` this is, in this tenant only.
    pub fn find_identity_provider_by_issuer(
        &self,
        tenant_domain: &str,
        issuer: &str,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        self.with_conn(|conn| {
            let row: Option<IdentityProviderRow> = identity_providers::table
                .filter(identity_providers::tenant_domain.eq(tenant_domain))
                .filter(identity_providers::issuer.eq(issuer))
                .select(IdentityProviderRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(IdentityProviderRow::decode).transpose()?)
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
                return Err(not_found(tenant_domain, name));
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

    #[test]
    fn a_corrupt_stored_list_or_mapping_is_refused_naming_table_column_and_row() {
        for_each_backend(|store| {
            store.add_tenant("acme", "Acme", 1).unwrap();
            store
                .add_identity_provider(&sample("acme", "google", "https://accounts.google.com"))
                .unwrap();
            for (column, text) in [
                ("aliases", "https://gw.example/token"),
                ("certificates", "{}"),
                ("allowed_scopes", "read"),
                ("claim_mappings", "[\"upn\"]"),
            ] {
                let corrupt = |conn: &mut DbConnection| {
                    diesel::sql_query(format!(
                        "UPDATE identity_providers SET {column} = '{text}' WHERE name = 'google'"
                    ))
                    .execute(conn)?;
                    Ok(())
                };
                let restore = |conn: &mut DbConnection| {
                    let row = IdentityProviderRow::encode(&sample(
                        "acme",
                        "google",
                        "https://accounts.google.com",
                    ))?;
                    diesel::update(identity_providers::table)
                        .set(&row.settings)
                        .execute(conn)?;
                    Ok(())
                };
                store.with_conn(corrupt).unwrap();
                let read = store.find_identity_provider_by_name("acme", "google");
                let Err(StoreError::Corrupt(e)) = read else {
                    panic!("{column}: {read:?}");
                };
                assert_eq!(
                    (e.table, e.column, e.row.as_str()),
                    ("identity_providers", column, "acme/google")
                );
                assert!(matches!(
                    store.list_identity_providers("acme"),
                    Err(StoreError::Corrupt(_))
                ));
                // A change never rewrites what it could not read.
                assert!(matches!(
                    store.change_identity_provider_settings("acme", "google", Ok::<_, StoreError>),
                    Err(StoreError::Corrupt(_))
                ));
                store.with_conn(restore).unwrap();
                assert!(store
                    .find_identity_provider_by_name("acme", "google")
                    .unwrap()
                    .is_some());
            }
        });
    }

    #[test]
    fn disabling_a_provider_revokes_its_families_tokens_even_one_added_after_a_revocation() {
        use crate::store::writes::{apply_writes, ExpiredKeys, WriteOp};
        use crate::store::{FamilyOrigin, NewFamily, NewToken, KIND_ACCESS};
        for_each_backend(|store| {
            let idp = sample("carbon.super", "google", "https://accounts.google.com");
            store.add_identity_provider(&idp).unwrap();
            store
                .add_client(
                    &crate::store::clients::tests::sample("carbon.super", "app", "cid"),
                    1,
                )
                .unwrap();
            let family = |id: &str| {
                WriteOp::InsertFamily(NewFamily {
                    family_id: id.into(),
                    tenant_domain: "carbon.super".into(),
                    client_id: "cid".into(),
                    origin: FamilyOrigin {
                        identity_provider: Some((idp.issuer.clone(), idp.created_at)),
                        via_service_account: false,
                    },
                    started_at: 1,
                    expires_at: 1000,
                })
            };
            let token = |token: &str, family: &str| {
                WriteOp::InsertToken(NewToken {
                    key: crate::token_ids::TokenKey::of(token),
                    kind: KIND_ACCESS,
                    tenant_domain: "carbon.super".into(),
                    client_id: "cid".into(),
                    subject: None,
                    scope: "read".into(),
                    issued_at: 1,
                    expires_at: 1000,
                    family_id: Some(family.into()),
                    claims: None,
                    paired: None,
                })
            };
            let ops = [
                family("live"),
                token("t-live", "live"),
                family("revoked"),
                WriteOp::RevokeFamily {
                    family_id: "revoked".into(),
                    now: 2,
                },
                // Landed after its family's revocation (a rotation racing it).
                token("t-late", "revoked"),
            ];
            store
                .with_conn(|conn| {
                    apply_writes(conn, &ops, ExpiredKeys::Replace).map_err(|e| match e {
                        crate::store::ApplyError::Store(e) => e,
                        refused => panic!("{refused:?}"),
                    })
                })
                .unwrap();
            let revoked = store
                .set_identity_provider_enabled("carbon.super", "google", false, 3)
                .unwrap();
            assert_eq!(revoked, 1, "only the family that was still live");
            for hash in ["t-live", "t-late"] {
                assert!(
                    store
                        .find_active_token("carbon.super", &crate::token_ids::TokenKey::of(hash), 3)
                        .unwrap()
                        .is_none(),
                    "{hash}"
                );
            }
        });
    }
}
