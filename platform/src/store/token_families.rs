//! Refresh token families (RFC 9700 4.14.2): the tokens issued from one original grant through
//! all its rotations. A family is revoked whole when a spent refresh token of it is presented,
//! ends at its absolute `expires_at` however often it rotates, and remembers the identity provider
//! the original grant came from, so the refresh grant can stop it when that provider is removed,
//! disabled, re-registered, or loses the service-account binding it was used through.

use diesel::prelude::*;

use super::schema::token_families;

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
