//! A batch's new rows on PostgreSQL, one statement per table whose text never changes: the rows
//! go as one array per column, `INSERT INTO t (a, b) SELECT * FROM unnest($1, $2)`. Diesel's
//! multi-row `VALUES` is a new statement for every row count, which Diesel never caches and the
//! server parses and plans for every batch (`perf`: about 13 % of PostgreSQL's CPU per
//! jwt-bearer exchange); this one is prepared once per connection. A batch's tables go together
//! in one statement (`NewRows`), since every statement is a round trip to the server.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Binary, Integer, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};

use super::token_families::NewFamilyRow;
use super::tokens::NewTokenRow;

/// Declares the columns of one table's insert: a struct of one `Vec` per column, `push` taking a
/// row whose fields are named as the columns, and the statement.
macro_rules! column_arrays {
    (
        $(#[$doc:meta])*
        $name:ident, $id:ident, $table:literal, $row:ident $(<$lifetime:lifetime>)?,
        { $($column:ident: $sql:ty => $rust:ty),+ $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Default)]
        pub(super) struct $name<'a> {
            $($column: Vec<$rust>,)+
            /// The rows' text borrows from the batch (a replay key's digest is its own).
            borrowed: std::marker::PhantomData<&'a str>,
        }

        /// Names the statement in Diesel's cache.
        pub(super) struct $id;

        impl<'a> $name<'a> {
            /// Every field of the row, by name: a field added to the row struct and not here
            /// fails to compile instead of going in as NULL on PostgreSQL alone.
            pub(super) fn push(&mut self, row: $row $(<$lifetime>)?) {
                let $row { $($column),+ } = row;
                $(self.$column.push($column);)+
            }

            pub(super) fn is_empty(&self) -> bool {
                [$(self.$column.is_empty()),+].into_iter().all(|empty| empty)
            }
        }

        impl NamedInsert for $name<'_> {
            const NAME: &'static str = concat!("new_", $table);
        }

        impl QueryId for $name<'_> {
            type QueryId = $id;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl QueryFragment<Pg> for $name<'_> {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
                out.push_sql(concat!(
                    "INSERT INTO ",
                    $table,
                    " (",
                    column_arrays!(@list $($column),+),
                    ") SELECT * FROM unnest("
                ));
                let mut first = true;
                $(
                    if !std::mem::take(&mut first) {
                        out.push_sql(", ");
                    }
                    out.push_bind_param::<Array<$sql>, _>(&self.$column)?;
                )+
                out.push_sql(")");
                Ok(())
            }
        }

        impl<Conn> RunQueryDsl<Conn> for $name<'_> {}
    };
    (@list $first:ident $(, $rest:ident)*) => {
        concat!(stringify!($first) $(, ", ", stringify!($rest))*)
    };
}

/// A table's insert named for a `WITH` clause.
trait NamedInsert: QueryFragment<Pg> {
    const NAME: &'static str;
}

/// A batch's new rows, every table's in one statement: `WITH new_a AS (INSERT INTO a ..) INSERT
/// INTO b ..`, the tables without rows left out. One statement is one round trip, and on its own
/// (no transaction open) it commits or fails whole. Its text depends only on which tables have
/// rows, so Diesel caches it by its text: a handful of prepared statements per connection.
#[derive(Default)]
pub(super) struct NewRows<'a> {
    pub replay_keys: ReplayKeyColumns<'a>,
    pub families: FamilyColumns<'a>,
    pub tokens: TokenColumns<'a>,
}

impl NewRows<'_> {
    pub(super) fn is_empty(&self) -> bool {
        self.replay_keys.is_empty() && self.families.is_empty() && self.tokens.is_empty()
    }

    /// The inserts with rows. PostgreSQL runs every `WITH` insert to its end although nothing
    /// reads it, in an order of its own: no table here refers to another, and their keys to
    /// their clients are checked at the statement's end.
    fn parts(&self) -> Vec<(&'static str, &dyn QueryFragment<Pg>)> {
        fn part<T: NamedInsert>(insert: &T) -> (&'static str, &dyn QueryFragment<Pg>) {
            (T::NAME, insert)
        }
        let mut parts = Vec::with_capacity(3);
        if !self.replay_keys.is_empty() {
            parts.push(part(&self.replay_keys));
        }
        if !self.families.is_empty() {
            parts.push(part(&self.families));
        }
        if !self.tokens.is_empty() {
            parts.push(part(&self.tokens));
        }
        parts
    }
}

impl QueryId for NewRows<'_> {
    type QueryId = ();
    // Cached by its text, which differs with the tables that have rows.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for NewRows<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let parts = self.parts();
        let Some((&(_, last), before)) = parts.split_last() else {
            return Err(diesel::result::Error::QueryBuilderError(
                "a batch without new rows has no insert".into(),
            ));
        };
        for (i, &(name, insert)) in before.iter().enumerate() {
            out.push_sql(if i == 0 { "WITH " } else { ", " });
            out.push_sql(name);
            out.push_sql(" AS (");
            insert.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        if !before.is_empty() {
            out.push_sql(" ");
        }
        last.walk_ast(out.reborrow())
    }
}

impl<Conn> RunQueryDsl<Conn> for NewRows<'_> {}

/// A replay key as the table keeps it.
pub(super) struct ReplayKeyRow {
    pub digest: Vec<u8>,
    pub expires_at: i64,
}

column_arrays! {
    /// New replay keys.
    ReplayKeyColumns, ReplayKeyColumnsStatement, "replay_keys", ReplayKeyRow,
    {
        digest: Binary => Vec<u8>,
        expires_at: BigInt => i64,
    }
}

column_arrays! {
    /// New refresh token families.
    FamilyColumns, FamilyColumnsStatement, "token_families", NewFamilyRow<'a>,
    {
        family_id: Text => &'a str,
        tenant_domain: Text => &'a str,
        client_id: Text => &'a str,
        idp_issuer: Nullable<Text> => Option<&'a str>,
        idp_created_at: Nullable<BigInt> => Option<i64>,
        via_service_account: Integer => i32,
        started_at: BigInt => i64,
        expires_at: BigInt => i64,
    }
}

column_arrays! {
    /// New tokens.
    TokenColumns, TokenColumnsStatement, "tokens", NewTokenRow<'a>,
    {
        token_id: Text => &'a str,
        token_hash: Text => &'a str,
        token_kind: Text => &'a str,
        tenant_domain: Text => &'a str,
        client_id: Text => &'a str,
        subject: Nullable<Text> => Option<&'a str>,
        scope: Text => &'a str,
        issued_at: BigInt => i64,
        expires_at: BigInt => i64,
        family_id: Nullable<Text> => Option<&'a str>,
        claims: Nullable<Text> => Option<&'a str>,
        paired_hash: Nullable<Text> => Option<&'a str>,
        paired_kind: Nullable<Text> => Option<&'a str>,
        paired_expires_at: Nullable<BigInt> => Option<i64>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::query_builder::QueryBuilder;

    #[test]
    fn each_tables_insert_is_one_statement_whatever_the_row_count() {
        let columns = TokenColumns::default();
        assert!(columns.is_empty());
        let mut sql = diesel::pg::PgQueryBuilder::default();
        columns.to_sql(&mut sql, &Pg).unwrap();
        assert_eq!(
            sql.finish(),
            "INSERT INTO tokens (token_id, token_hash, token_kind, tenant_domain, client_id, \
             subject, scope, issued_at, expires_at, family_id, claims, paired_hash, paired_kind, \
             paired_expires_at) SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14)"
        );
        assert!(columns.is_safe_to_cache_prepared(&Pg).unwrap());
        assert!(<TokenColumns as QueryId>::query_id().is_some());
        // Diesel finds a cached statement by its query id alone: each table's must be its own.
        let ids = [
            <TokenColumns as QueryId>::query_id(),
            <FamilyColumns as QueryId>::query_id(),
            <ReplayKeyColumns as QueryId>::query_id(),
        ];
        assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    }

    fn sql_of(rows: &NewRows<'_>) -> String {
        let mut sql = diesel::pg::PgQueryBuilder::default();
        rows.to_sql(&mut sql, &Pg).unwrap();
        sql.finish()
    }

    #[test]
    fn a_batchs_tables_go_in_one_statement_named_by_the_tables_with_rows() {
        let mut rows = NewRows::default();
        assert!(rows.is_empty());
        // Nothing to insert is no statement at all, not an empty one.
        let mut sql = diesel::pg::PgQueryBuilder::default();
        assert!(rows.to_sql(&mut sql, &Pg).is_err());

        rows.tokens.token_id.push("t1");
        assert!(!rows.is_empty());
        assert_eq!(sql_of(&rows), {
            let mut sql = diesel::pg::PgQueryBuilder::default();
            rows.tokens.to_sql(&mut sql, &Pg).unwrap();
            sql.finish()
        });

        rows.replay_keys.push(ReplayKeyRow {
            digest: vec![1; 16],
            expires_at: 10,
        });
        assert_eq!(
            sql_of(&rows),
            "WITH new_replay_keys AS (INSERT INTO replay_keys (digest, expires_at) SELECT * FROM \
             unnest($1, $2)) INSERT INTO tokens (token_id, token_hash, token_kind, tenant_domain, \
             client_id, subject, scope, issued_at, expires_at, family_id, claims, paired_hash, \
             paired_kind, paired_expires_at) SELECT * FROM unnest($3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16)"
        );
        rows.families.family_id.push("f1");
        let all = sql_of(&rows);
        assert!(
            all.starts_with(
                "WITH new_replay_keys AS (INSERT INTO replay_keys (digest, expires_at) SELECT * \
                 FROM unnest($1, $2)), new_token_families AS (INSERT INTO token_families \
                 (family_id, "
            ),
            "{all}"
        );
        assert!(all.contains(")) INSERT INTO tokens (token_id, "), "{all}");
        assert!(all.ends_with("$23, $24)"), "{all}");
        // Cached by its text: each combination of tables is its own prepared statement.
        assert!(rows.is_safe_to_cache_prepared(&Pg).unwrap());
        assert!(<NewRows as QueryId>::query_id().is_none());
    }
}
