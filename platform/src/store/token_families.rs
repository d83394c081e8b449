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

#[allow(clippy::type_complexity)]
pub(super) fn family_row(
    family: &NewFamily,
) -> (
    diesel::dsl::Eq<token_families::family_id, &String>,
    diesel::dsl::Eq<token_families::tenant_domain, &String>,
    diesel::dsl::Eq<token_families::client_id, &String>,
    diesel::dsl::Eq<token_families::idp_issuer, Option<&String>>,
    diesel::dsl::Eq<token_families::idp_created_at, Option<i64>>,
    diesel::dsl::Eq<token_families::via_service_account, i32>,
    diesel::dsl::Eq<token_families::started_at, i64>,
    diesel::dsl::Eq<token_families::expires_at, i64>,
) {
    let provider = family.origin.identity_provider.as_ref();
    (
        token_families::family_id.eq(&family.family_id),
        token_families::tenant_domain.eq(&family.tenant_domain),
        token_families::client_id.eq(&family.client_id),
        token_families::idp_issuer.eq(provider.map(|(issuer, _)| issuer)),
        token_families::idp_created_at.eq(provider.map(|(_, created)| *created)),
        token_families::via_service_account.eq(i32::from(family.origin.via_service_account)),
        token_families::started_at.eq(family.started_at),
        token_families::expires_at.eq(family.expires_at),
    )
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

/// The one revocation of refresh token families: every token of the unrevoked families chosen,
/// access tokens included, then the families themselves, inside the caller's transaction
/// (idempotent). Returns how many families it revoked.
pub(super) fn revoke_families(
    conn: &mut DbConnection,
    families: Families<'_>,
    now: i64,
) -> QueryResult<usize> {
    // The statements once, for each filter's own type (a boxed filter cannot be a subquery's).
    macro_rules! revoke {
        ($chosen:expr) => {{
            // Tokens first: they are found through their families while those are unrevoked.
            let unrevoked = token_families::table
                .filter($chosen)
                .filter(token_families::revoked_at.is_null())
                .select(token_families::family_id.nullable());
            diesel::update(
                tokens::table
                    .filter(tokens::family_id.eq_any(unrevoked))
                    .filter(tokens::revoked_at.is_null()),
            )
            .set(tokens::revoked_at.eq(Some(now)))
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
        Families::One { family_id } => revoke!(token_families::family_id.eq(family_id)),
        Families::OfIssuer {
            tenant_domain,
            issuer,
        } => revoke!(token_families::tenant_domain
            .eq(tenant_domain)
            .and(token_families::idp_issuer.eq(issuer))),
    }
}
