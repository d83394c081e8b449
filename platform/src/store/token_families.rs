//! Refresh token families (RFC 9700 4.14.2): the tokens issued from one original grant through
//! all its rotations. A family is revoked whole when a spent refresh token of it is presented,
//! ends at its absolute `expires_at` however often it rotates, and remembers the identity provider
//! the original grant came from, so the refresh grant can stop it when that provider is removed,
//! disabled, re-registered, or loses the service-account binding it was used through.

use diesel::prelude::*;

use super::schema::{token_families, tokens};
use super::DbConnection;

/// A family as issuance creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFamily {
    pub family_id: String,
    pub tenant_domain: String,
    pub client_id: String,
    pub origin: FamilyOrigin,
    pub started_at: i64,
    pub expires_at: i64,
}

/// Where a family's original grant came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FamilyOrigin {
    /// The identity provider whose assertion the grant verified, by issuer, and its registration
    /// time (a provider removed and added again is another registration).
    pub identity_provider: Option<(String, i64)>,
    /// The grant came through the provider's service-account binding to the client.
    pub via_service_account: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = token_families)]
pub struct TokenFamily {
    pub family_id: String,
    pub tenant_domain: String,
    pub client_id: String,
    pub idp_issuer: Option<String>,
    pub idp_created_at: Option<i64>,
    pub via_service_account: i32,
    pub started_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A new family's row (its `revoked_at` starts empty).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = token_families)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
// Written as NULL, not left to the column default: one statement shape whatever is None, which
// Diesel can keep prepared (a batch on PostgreSQL goes through `column_arrays.rs` instead).
#[diesel(treat_none_as_default_value = false)]
pub(super) struct NewFamilyRow<'a> {
    pub(super) family_id: &'a str,
    pub(super) tenant_domain: &'a str,
    pub(super) client_id: &'a str,
    pub(super) idp_issuer: Option<&'a str>,
    pub(super) idp_created_at: Option<i64>,
    pub(super) via_service_account: i32,
    pub(super) started_at: i64,
    pub(super) expires_at: i64,
}

impl NewFamily {
    pub(super) fn row(&self) -> NewFamilyRow<'_> {
        let provider = self.origin.identity_provider.as_ref();
        NewFamilyRow {
            family_id: &self.family_id,
            tenant_domain: &self.tenant_domain,
            client_id: &self.client_id,
            idp_issuer: provider.map(|(issuer, _)| issuer.as_str()),
            idp_created_at: provider.map(|(_, created)| *created),
            via_service_account: i32::from(self.origin.via_service_account),
            started_at: self.started_at,
            expires_at: self.expires_at,
        }
    }
}

/// Which families a revocation stops.
#[derive(Debug, Clone, Copy)]
pub(super) enum Families<'a> {
    /// One family (a spent refresh token of it was presented).
    One { family_id: &'a str },
    /// Every family an identity provider's assertions started in a tenant (the provider was
    /// removed or disabled).
    OfIssuer {
        tenant_domain: &'a str,
        issuer: &'a str,
    },
}

/// The one revocation of refresh token families: every unrevoked token of the families chosen,
/// access tokens included, and the families themselves, inside the caller's transaction
/// (idempotent). Returns how many families it revoked now.
pub(super) fn revoke_families(
    conn: &mut DbConnection,
    families: Families<'_>,
    now: i64,
) -> QueryResult<usize> {
    // The statements once, for each filter's own type (a boxed filter cannot be a subquery's).
    // The tokens of the chosen families go whether or not a family is revoked already: a token
    // that landed in one after its revocation (a rotation racing it) goes too.
    macro_rules! revoke {
        ($chosen:expr, $tokens:expr) => {{
            diesel::update(
                tokens::table
                    .filter($tokens)
                    .filter(tokens::revoked_at.is_null()),
            )
            .set(tokens::revoked_at.eq(Some(now)))
            .execute(conn)?;
            // The second token of rows that hold two (`tokens.rs`).
            diesel::update(
                tokens::table
                    .filter($tokens)
                    .filter(tokens::paired_hash.is_not_null())
                    .filter(tokens::paired_revoked_at.is_null()),
            )
            .set(tokens::paired_revoked_at.eq(Some(now)))
            .execute(conn)?;
            diesel::update(
                token_families::table
                    .filter($chosen)
                    .filter(token_families::revoked_at.is_null()),
            )
            .set(token_families::revoked_at.eq(Some(now)))
            .execute(conn)
        }};
    }
    match families {
        // Its tokens by their own column, not through the family's row: a token's family may be
        // purged before the token is (a node whose clock runs ahead), and it must still go.
        Families::One { family_id } => revoke!(
            token_families::family_id.eq(family_id),
            tokens::family_id.eq(family_id)
        ),
        Families::OfIssuer {
            tenant_domain,
            issuer,
        } => {
            let chosen = token_families::tenant_domain
                .eq(tenant_domain)
                .and(token_families::idp_issuer.eq(issuer));
            revoke!(
                chosen,
                tokens::family_id.eq_any(
                    token_families::table
                        .filter(chosen)
                        .select(token_families::family_id.nullable())
                )
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::super::schema::token_families;
    use super::TokenFamily;
    use crate::blocking::test_thread as here;
    use crate::store::test_support::for_each_backend;
    use crate::store::{ApplyError, GroupCommitter, NewFamily, Store, WriteOp, WriteRefusal};

    const SUPER: &str = "carbon.super";

    fn family(id: &str, tenant: &str, client: &str) -> WriteOp {
        WriteOp::InsertFamily(NewFamily {
            family_id: id.into(),
            tenant_domain: tenant.into(),
            client_id: client.into(),
            origin: Default::default(),
            started_at: 100,
            expires_at: 1_000,
        })
    }

    fn families(store: &Store) -> Vec<String> {
        store
            .with_conn(|conn| {
                Ok(token_families::table
                    .select(token_families::family_id)
                    .order(token_families::family_id)
                    .load(conn)?)
            })
            .unwrap()
    }

    /// A family is kept only by its client's key (the tenant's was dropped as adding nothing):
    /// a removed tenant still takes its families with it, through its clients, and a family
    /// written for a client of a tenant removed meanwhile is still refused.
    #[test]
    fn a_removed_tenant_takes_its_families_and_refuses_new_ones_through_its_clients() {
        for_each_backend(|store| {
            store.add_tenant("acme", "Acme", 0).unwrap();
            for (tenant, client) in [("acme", "acme-app"), (SUPER, "super-app")] {
                let sample = crate::store::clients::tests::sample(tenant, client, client);
                store.add_client(&sample, 0).unwrap();
            }
            let writer = GroupCommitter::start(store, 1).unwrap();
            let ops = vec![
                family("f-acme", "acme", "acme-app"),
                family("f-super", SUPER, "super-app"),
            ];
            writer.commit_blocking(here(), ops).unwrap();

            store.remove_tenant("acme").unwrap();
            assert_eq!(families(store), ["f-super"]);
            let late = writer.commit_blocking(here(), vec![family("f-late", "acme", "acme-app")]);
            assert!(
                matches!(late, Err(ApplyError::Refused(WriteRefusal::OwnerRemoved))),
                "{late:?}"
            );
            assert_eq!(families(store), ["f-super"]);
        });
    }

    /// The migration that dropped the tenant's key copies every family across (SQLite rebuilds
    /// the table), both ways.
    #[test]
    fn families_survive_the_migration_that_dropped_their_tenant_key() {
        for_each_backend(|store| {
            let sample = crate::store::clients::tests::sample(SUPER, "app", "app");
            store.add_client(&sample, 0).unwrap();
            let writer = GroupCommitter::start(store, 1).unwrap();
            let ops = vec![family("f-1", SUPER, "app"), family("f-2", SUPER, "app")];
            writer.commit_blocking(here(), ops).unwrap();
            drop(writer);
            let revert =
                |conn: &mut _| super::super::connection::revert_migration(conn, "20261205010000");
            store.with_conn(revert).unwrap();
            assert_eq!(families(store), ["f-1", "f-2"]);
            let applied = store
                .with_conn(super::super::connection::run_migrations)
                .unwrap();
            assert_eq!(applied, ["20261205010000"]);
            assert_eq!(families(store), ["f-1", "f-2"]);
            let found: TokenFamily = store
                .with_conn(|conn| {
                    Ok(token_families::table
                        .find("f-2")
                        .select(TokenFamily::as_select())
                        .first(conn)?)
                })
                .unwrap();
            assert_eq!(
                (found.tenant_domain.as_str(), found.client_id.as_str()),
                (SUPER, "app")
            );
            assert_eq!((found.started_at, found.expires_at), (100, 1_000));
        });
    }
}
