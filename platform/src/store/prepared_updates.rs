//! `UPDATE` statements of the write path that Diesel keeps prepared.
//!
//! Diesel never caches an `UPDATE` it builds (`UpdateStatement` marks each one unsafe to cache,
//! since a changeset may skip `None` fields and so change the SQL text), nor a `sql_query`. The
//! group commit's writer thus prepared the refresh token's consuming `UPDATE` anew for every
//! rotation (`perf`: 4.7 % of a refresh_token request's CPU, and 4 % more building its text).
//! A statement of fixed text declared here, with a static query id, is prepared once per
//! connection and found again by its type.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryResult, RunQueryDsl};

use super::KIND_REFRESH;

/// Marks an unexpired, unrevoked refresh token of this client revoked at `now`, whichever half
/// of its row it is (`tokens.rs`); the row count (0 or 1) tells whether this request was the one
/// that consumed it. The row's other token is left as it is.
pub(super) struct ConsumeRefreshToken<'a> {
    pub token_id: &'a str,
    pub token_hash: &'a str,
    pub tenant_domain: &'a str,
    pub client_id: &'a str,
    pub now: i64,
}

/// The type that names the statement in Diesel's cache.
pub(super) struct ConsumeRefreshTokenId;

impl QueryId for ConsumeRefreshToken<'_> {
    type QueryId = ConsumeRefreshTokenId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for ConsumeRefreshToken<'_>
where
    DB: Backend,
    i64: ToSql<BigInt, DB>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // The row matched one of its halves (their hashes differ): that one is revoked.
        out.push_sql("UPDATE tokens SET revoked_at = CASE WHEN token_hash = ");
        out.push_bind_param::<Text, _>(self.token_hash)?;
        out.push_sql(" THEN ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" ELSE revoked_at END, paired_revoked_at = CASE WHEN token_hash = ");
        out.push_bind_param::<Text, _>(self.token_hash)?;
        out.push_sql(" THEN paired_revoked_at ELSE ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" END WHERE token_id = ");
        out.push_bind_param::<Text, _>(self.token_id)?;
        out.push_sql(" AND tenant_domain = ");
        out.push_bind_param::<Text, _>(self.tenant_domain)?;
        out.push_sql(" AND client_id = ");
        out.push_bind_param::<Text, _>(self.client_id)?;
        out.push_sql(" AND ((token_hash = ");
        out.push_bind_param::<Text, _>(self.token_hash)?;
        out.push_sql(" AND token_kind = ");
        out.push_bind_param::<Text, _>(KIND_REFRESH)?;
        out.push_sql(" AND expires_at > ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" AND revoked_at IS NULL) OR (paired_hash = ");
        out.push_bind_param::<Text, _>(self.token_hash)?;
        out.push_sql(" AND paired_kind = ");
        out.push_bind_param::<Text, _>(KIND_REFRESH)?;
        out.push_sql(" AND paired_expires_at > ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" AND paired_revoked_at IS NULL))");
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for ConsumeRefreshToken<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sqlite::Sqlite;

    #[test]
    fn the_refresh_tokens_update_is_one_that_diesel_keeps_prepared() {
        let update = ConsumeRefreshToken {
            token_id: "id",
            token_hash: "hash",
            tenant_domain: "t",
            client_id: "c",
            now: 1,
        };
        assert!(QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&update, &Sqlite).unwrap());
        assert!(<ConsumeRefreshToken as QueryId>::query_id().is_some());
        // What Diesel's own builder makes of the same update, for contrast.
        use super::super::schema::tokens;
        use diesel::prelude::*;
        let built = diesel::update(tokens::table.filter(tokens::token_id.eq("id")))
            .set(tokens::revoked_at.eq(Some(1i64)));
        assert!(!QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&built, &Sqlite).unwrap());
    }
}
