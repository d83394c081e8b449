//! OAuth clients of a tenant, with what each may do (the table keeps WSO2's name, `service_providers`).

use diesel::prelude::*;

use super::lists::{encode_list, StoredIn};
use super::schema::service_providers;
use super::{is_unique_violation, Conflict, CorruptValue, NotFound, Store, StoreError};

/// A registered OAuth client. The secret exists here only as its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Client {
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
    /// Other servers its users' identity may be presented at: audiences its ID tokens carry
    /// besides its client_id, and targets its token exchanges may address.
    pub audiences: Vec<String>,
    /// Its verification keys (PEM) for `private_key_jwt`; listings say `token_endpoint_auth_method`.
    #[serde(skip)]
    pub certificates: Vec<String>,
    /// Its JWKS endpoint for `private_key_jwt`.
    pub jwks_uri: Option<String>,
    /// Where the authorization endpoint may send a user back, matched exactly
    /// (`redirect_uri_registered`).
    pub redirect_uris: Vec<String>,
    /// Where logout may send a user back (RP-Initiated Logout 1.0), matched exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// `required` or `skip` (`CONSENT_*`): whether its users are asked to consent.
    pub consent: String,
}

/// Its users are asked to consent to the scopes it requests.
pub const CONSENT_REQUIRED: &str = "required";
/// A first-party client: its users are not asked.
pub const CONSENT_SKIP: &str = "skip";

/// Random access tokens, looked up in the database.
pub const TOKEN_FORMAT_OPAQUE: &str = "opaque";
/// Signed JWT access tokens (RFC 9068).
pub const TOKEN_FORMAT_JWT: &str = "jwt";

impl Client {
    pub fn allows_grant_type(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// A client with keys authenticates with a signed assertion (`private_key_jwt`), never with
    /// its secret.
    pub fn uses_private_key_jwt(&self) -> bool {
        !self.certificates.is_empty() || self.jwks_uri.is_some()
    }

    /// Whether `uri` is one of its redirect URIs, compared as exact strings: no normalisation,
    /// no prefix, no wildcard (RFC 9700 2.1; OpenID Connect Core 3.1.2.1 "Simple String
    /// Comparison"), so a URI an attacker varies in any way is not registered.
    pub fn redirect_uri_registered(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }
}

/// What an operator supplies to register a client; the host generates id and secret.
#[derive(Debug, Clone)]
pub struct NewClient {
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
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub consent: String,
}

/// A client as its row stores it (lists encoded by `lists.rs`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_providers)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct ServiceProviderRow {
    client_id: String,
    tenant_domain: String,
    name: String,
    secret_hash: String,
    grant_types: String,
    scopes: String,
    access_token_lifetime: Option<i64>,
    refresh_token_lifetime: Option<i64>,
    created_at: i64,
    token_format: String,
    audiences: String,
    certificates: String,
    jwks_uri: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    consent: String,
}

impl ServiceProviderRow {
    fn encode(new: &NewClient, now: i64) -> ServiceProviderRow {
        ServiceProviderRow {
            client_id: new.client_id.clone(),
            tenant_domain: new.tenant_domain.clone(),
            name: new.name.clone(),
            secret_hash: new.secret_hash.clone(),
            grant_types: encode_list(&new.grant_types),
            scopes: encode_list(&new.scopes),
            access_token_lifetime: new.access_token_lifetime,
            refresh_token_lifetime: new.refresh_token_lifetime,
            created_at: now,
            token_format: new.token_format.clone(),
            audiences: encode_list(&new.audiences),
            certificates: encode_list(&new.certificates),
            jwks_uri: new.jwks_uri.clone(),
            redirect_uris: encode_list(&new.redirect_uris),
            post_logout_redirect_uris: encode_list(&new.post_logout_redirect_uris),
            consent: new.consent.clone(),
        }
    }

    fn decode(self) -> Result<Client, CorruptValue> {
        let stored = StoredIn {
            table: "service_providers",
            row: &self.client_id,
        };
        Ok(Client {
            grant_types: stored.list("grant_types", &self.grant_types)?,
            scopes: stored.list("scopes", &self.scopes)?,
            audiences: stored.list("audiences", &self.audiences)?,
            certificates: stored.list("certificates", &self.certificates)?,
            redirect_uris: stored.list("redirect_uris", &self.redirect_uris)?,
            post_logout_redirect_uris: stored
                .list("post_logout_redirect_uris", &self.post_logout_redirect_uris)?,
            client_id: self.client_id,
            tenant_domain: self.tenant_domain,
            name: self.name,
            secret_hash: self.secret_hash,
            access_token_lifetime: self.access_token_lifetime,
            refresh_token_lifetime: self.refresh_token_lifetime,
            created_at: self.created_at,
            token_format: self.token_format,
            jwks_uri: self.jwks_uri,
            consent: self.consent,
        })
    }
}

impl Store {
    /// Registers a client in an existing tenant; names are unique within a tenant.
    pub fn add_client(&self, new: &NewClient, now: i64) -> Result<Client, StoreError> {
        let row = ServiceProviderRow::encode(new, now);
        self.with_conn(|conn| {
            conn.transaction(|conn| {
                super::tenants::require_tenant(conn, &new.tenant_domain)?;
                diesel::insert_into(service_providers::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::from(Conflict::ClientExists {
                                tenant_domain: new.tenant_domain.clone(),
                                name: new.name.clone(),
                            })
                        } else {
                            e.into()
                        }
                    })?;
                Ok(())
            })
        })?;
        Ok(row.decode()?)
    }

    pub fn list_clients(&self, tenant_domain: &str) -> Result<Vec<Client>, StoreError> {
        self.with_conn(|conn| {
            let rows: Vec<ServiceProviderRow> = service_providers::table
                .filter(service_providers::tenant_domain.eq(tenant_domain))
                .select(ServiceProviderRow::as_select())
                .order(service_providers::name)
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(ServiceProviderRow::decode)
                .collect::<Result<_, _>>()?)
        })
    }

    /// The client with this id in this tenant; a client of another tenant is not found.
    pub fn find_client(
        &self,
        tenant_domain: &str,
        client_id: &str,
    ) -> Result<Option<Client>, StoreError> {
        self.with_conn(|conn| {
            let row: Option<ServiceProviderRow> = service_providers::table
                .filter(service_providers::tenant_domain.eq(tenant_domain))
                .filter(service_providers::client_id.eq(client_id))
                .select(ServiceProviderRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(ServiceProviderRow::decode).transpose()?)
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
            return Err(NotFound::Client {
                tenant_domain: tenant_domain.to_owned(),
                client: id_or_name.to_owned(),
            }
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    pub(crate) fn sample(tenant: &str, name: &str, id: &str) -> NewClient {
        NewClient {
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
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            consent: CONSENT_REQUIRED.into(),
        }
    }

    #[test]
    fn redirect_uris_and_consent_round_trip() {
        for_each_backend(|store| {
            let mut new = sample("carbon.super", "web", "id-1");
            new.redirect_uris = vec![
                "https://app.example/cb".into(),
                "com.example.app:/cb".into(),
            ];
            new.post_logout_redirect_uris = vec!["https://app.example/bye?a=b c".into()];
            new.consent = CONSENT_SKIP.into();
            let added = store.add_client(&new, 5).unwrap();
            let found = store.find_client("carbon.super", "id-1").unwrap().unwrap();
            assert_eq!(found, added);
            assert_eq!(found.redirect_uris, new.redirect_uris);
            assert_eq!(
                found.post_logout_redirect_uris,
                new.post_logout_redirect_uris
            );
            assert_eq!(found.consent, "skip");
            assert_eq!(store.list_clients("carbon.super").unwrap(), [found]);
            // A client registered without them has none, and asks for consent.
            store
                .add_client(&sample("carbon.super", "other", "id-2"), 5)
                .unwrap();
            let other = store.find_client("carbon.super", "id-2").unwrap().unwrap();
            assert!(other.redirect_uris.is_empty() && other.post_logout_redirect_uris.is_empty());
            assert_eq!(other.consent, CONSENT_REQUIRED);
        });
    }

    #[test]
    fn clients_stored_before_redirect_uris_have_none_and_ask_for_consent() {
        for_each_backend(|store| {
            store
                .with_conn(|conn| {
                    super::super::connection::revert_migration(conn, "20261203140000")
                })
                .unwrap();
            store
                .with_conn(|conn| {
                    diesel::sql_query(
                        "INSERT INTO service_providers (client_id, tenant_domain, name, \
                         secret_hash, grant_types, scopes, audiences, created_at) VALUES ('old', \
                         'carbon.super', 'old', 'x', '[\"password\"]', '[]', '[]', 1)",
                    )
                    .execute(conn)?;
                    Ok(())
                })
                .unwrap();
            store
                .with_conn(super::super::connection::run_migrations)
                .unwrap();
            let old = store.find_client("carbon.super", "old").unwrap().unwrap();
            assert!(old.redirect_uris.is_empty() && old.post_logout_redirect_uris.is_empty());
            assert_eq!(old.consent, CONSENT_REQUIRED);
        });
    }

    #[test]
    fn a_corrupt_stored_redirect_uri_list_is_refused() {
        for_each_backend(|store| {
            store
                .add_client(&sample("carbon.super", "app", "id-1"), 5)
                .unwrap();
            for column in ["redirect_uris", "post_logout_redirect_uris"] {
                store_raw(store, "id-1", column, "https://app.example/cb");
                let read = store.find_client("carbon.super", "id-1");
                let Err(StoreError::Corrupt(corrupt)) = read else {
                    panic!("{column}: {read:?}");
                };
                assert_eq!(
                    (corrupt.table, corrupt.column, corrupt.row.as_str()),
                    ("service_providers", column, "id-1")
                );
                assert!(matches!(
                    store.list_clients("carbon.super"),
                    Err(StoreError::Corrupt(_))
                ));
                store_raw(store, "id-1", column, "[]");
            }
            store.find_client("carbon.super", "id-1").unwrap().unwrap();
        });
    }

    fn registered(uris: &[&str]) -> Client {
        let new = sample("carbon.super", "web", "id-1");
        Client {
            client_id: new.client_id,
            tenant_domain: new.tenant_domain,
            name: new.name,
            secret_hash: new.secret_hash,
            grant_types: new.grant_types,
            scopes: new.scopes,
            access_token_lifetime: None,
            refresh_token_lifetime: None,
            created_at: 0,
            token_format: new.token_format,
            audiences: Vec::new(),
            certificates: Vec::new(),
            jwks_uri: None,
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            post_logout_redirect_uris: Vec::new(),
            consent: CONSENT_REQUIRED.into(),
        }
    }

    #[test]
    fn only_a_registered_redirect_uri_exactly_as_registered_matches() {
        let client = registered(&[
            "https://app.example/cb",
            "https://app.example:8443/cb?tenant=a",
            "com.example.app:/cb",
        ]);
        for uri in [
            "https://app.example/cb",
            "https://app.example:8443/cb?tenant=a",
            "com.example.app:/cb",
        ] {
            assert!(client.redirect_uri_registered(uri), "{uri}");
        }
        for near_miss in [
            "https://app.example/cb/",
            "https://app.example/CB",
            "https://APP.example/cb",
            "https://app.example/cb?x=1",
            "https://app.example/cb?",
            "https://app.example/cb#",
            "https://app.example/cb/../cb",
            "https://app.example/%63b",
            "https://evil@app.example/cb",
            "https://app.example:443/cb",
            "https://app.example:8444/cb?tenant=a",
            "https://app.example:8443/cb?tenant=a&tenant=b",
            "https://app.example/c",
            "https://app.example",
            "http://app.example/cb",
            "https://app.example.evil.example/cb",
            "com.example.app:/cb/x",
            " https://app.example/cb",
            "",
        ] {
            assert!(!client.redirect_uri_registered(near_miss), "{near_miss}");
        }
        assert!(!registered(&[]).redirect_uri_registered("https://app.example/cb"));
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

    /// Sets a stored column of a client's row as it is, bypassing the encoding.
    fn store_raw(store: &Store, client_id: &str, column: &str, text: &str) {
        store
            .with_conn(|conn| {
                diesel::sql_query(format!(
                    "UPDATE service_providers SET {column} = '{text}' WHERE client_id = '{client_id}'"
                ))
                .execute(conn)?;
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_corrupt_stored_list_is_refused_naming_table_column_and_row() {
        for_each_backend(|store| {
            store
                .add_client(&sample("carbon.super", "app", "id-1"), 5)
                .unwrap();
            // Space separated, as before the lists became JSON: no longer read as a list.
            store_raw(store, "id-1", "scopes", "read write");
            for read in [
                store.find_client("carbon.super", "id-1").map(|_| ()),
                store.list_clients("carbon.super").map(|_| ()),
            ] {
                let Err(StoreError::Corrupt(corrupt)) = read else {
                    panic!("{read:?}");
                };
                assert_eq!(
                    (corrupt.table, corrupt.column, corrupt.row.as_str()),
                    ("service_providers", "scopes", "id-1")
                );
            }
            // Unreadable keys are not "no keys" (which would let the client use its secret).
            store_raw(store, "id-1", "scopes", "[]");
            store_raw(store, "id-1", "certificates", "-----BEGIN CERTIFICATE-----");
            assert!(matches!(
                store.find_client("carbon.super", "id-1"),
                Err(StoreError::Corrupt(CorruptValue {
                    column: "certificates",
                    ..
                }))
            ));
        });
    }

    #[test]
    fn the_migration_turns_space_separated_lists_into_json_and_back() {
        for_each_backend(|store| {
            store
                .add_client(&sample("carbon.super", "app", "id-1"), 5)
                .unwrap();
            store
                .add_client(&sample("carbon.super", "none", "id-2"), 5)
                .unwrap();
            store
                .with_conn(|conn| {
                    super::super::connection::revert_migration(conn, "20261203130000")
                })
                .unwrap();
            let raw = |id: &str| -> (String, String) {
                store
                    .with_conn(|conn| {
                        Ok(service_providers::table
                            .find(id)
                            .select((service_providers::scopes, service_providers::audiences))
                            .first(conn)?)
                    })
                    .unwrap()
            };
            assert_eq!(raw("id-1"), ("read write".to_owned(), String::new()));
            // What older code wrote, and any run of whitespace it read as one separator.
            store_raw(store, "id-2", "scopes", "");
            store_raw(
                store,
                "id-2",
                "audiences",
                " https://a.example  https://b.example ",
            );
            store
                .with_conn(super::super::connection::run_migrations)
                .unwrap();
            let app = store.find_client("carbon.super", "id-1").unwrap().unwrap();
            assert_eq!(app.scopes, ["read", "write"]);
            assert_eq!(app.grant_types, ["client_credentials"]);
            assert!(app.audiences.is_empty());
            let none = store.find_client("carbon.super", "id-2").unwrap().unwrap();
            assert!(none.scopes.is_empty());
            assert_eq!(none.audiences, ["https://a.example", "https://b.example"]);
        });
    }
}
