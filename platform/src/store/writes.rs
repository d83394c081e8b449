//! What one token request writes, as data: the replay key of its assertion, a refresh token or an
//! authorization code it consumes, the tokens it issues. A request's writes are applied together
//! inside one savepoint of a group commit (`group_commit.rs`): all of them land, or none do.
//! Applying never decides anything a grant has not already decided, except the races the database
//! settles: a replay key already taken, a refresh token or an authorization code already spent.

use diesel::prelude::*;

use super::authorization_codes::consume_authorization_code;
use super::column_arrays::{NewRows, ReplayKeyRow};
use super::prepared_updates::ConsumeRefreshToken;
use super::replay_keys::ReplayKey;
use super::schema::{replay_keys as cache, token_families, tokens};
use super::token_families::{revoke_families, Families};
use super::{is_unique_violation, DbConnection, NewFamily, NewToken, StoreError};
use crate::token_ids::TokenKey;

/// Runs `$body` with `$c` bound to the backend's own connection. Diesel's multi-backend
/// connection builds each statement's SQL text anew to find it in its cache; a backend's own
/// connection finds a statement of a static shape by its type. On the write path, where every
/// request runs the same few inserts, that building was a sixth of the writer's time (perf).
macro_rules! on_own_connection {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            DbConnection::Sqlite($c) => $body,
            DbConnection::Postgres($c) => $body,
        }
    };
}

/// One write of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// An assertion's replay key (its `jti`), kept until `expires_at`. An expired entry with the
    /// same key no longer blocks it and is replaced.
    RecordReplayKey {
        key: ReplayKey,
        now: i64,
    },
    /// Revokes an active refresh token of this client (rotation); it must still be unrevoked when
    /// the write lands, so of two requests racing with one token only one succeeds.
    ConsumeRefreshToken {
        tenant_domain: String,
        client_id: String,
        token: TokenKey,
        /// Its family: when the token turns out spent, the caller revokes it (reuse).
        family_id: Option<String>,
        now: i64,
    },
    /// A new refresh token family; before the tokens that belong to it.
    InsertFamily(NewFamily),
    InsertToken(NewToken),
    /// Revokes a family and every token in it (a spent refresh token of it was presented).
    RevokeFamily {
        family_id: String,
        now: i64,
    },
    /// Revokes one token (RFC 7009).
    RevokeToken {
        token: TokenKey,
        now: i64,
    },
    /// Marks an authorization code consumed by this client's request, with the refresh token
    /// family the exchange starts; it must be unconsumed and unexpired when the write lands, so
    /// of two requests racing with one code only one succeeds.
    ConsumeAuthorizationCode {
        code_hash: String,
        client_id: String,
        family_id: Option<String>,
        now: i64,
    },
}

/// Why the database refused a request's writes although each was well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteRefusal {
    /// The replay key was already recorded and has not expired: the assertion was used before.
    /// The key tells whose (a grant's assertion, or a client's own).
    ReplayKeyTaken(ReplayKey),
    /// The refresh token was revoked, expired or consumed by another request.
    RefreshTokenSpent,
    /// The client or tenant the writes belong to was removed after the request read it (the
    /// read cache follows removals within its refresh interval; the database is exact).
    OwnerRemoved,
    /// The authorization code was consumed before, expired, or is another client's. `family_id`
    /// is the refresh token family its first use started, for the caller to revoke (RFC 6749
    /// 4.1.2).
    AuthorizationCodeSpent { family_id: Option<String> },
}

/// The outcome of applying one request's writes.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("refused: {0:?}")]
    Refused(WriteRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for ApplyError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                ApplyError::Refused(WriteRefusal::OwnerRemoved)
            }
            e => ApplyError::Store(StoreError::Query(e)),
        }
    }
}

/// Whether a replay key's expired predecessor is deleted before the key is inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiredKeys {
    /// Delete it first (the one-by-one pass: the insert then decides alone).
    Replace,
    /// Insert only: an expired key still in the table makes the insert fail like a live one,
    /// and the caller retries one by one with `Replace`. Saves a statement per request on the
    /// optimistic pass, where an expired key in the way is rare.
    InsertOnly,
}

/// Applies one request's writes in order on a connection inside the caller's transaction. The
/// caller rolls back (to its savepoint) on any error.
pub fn apply_writes(
    conn: &mut DbConnection,
    ops: &[WriteOp],
    expired_keys: ExpiredKeys,
) -> Result<(), ApplyError> {
    for op in ops {
        match op {
            WriteOp::RecordReplayKey { key, now } => {
                if expired_keys == ExpiredKeys::Replace {
                    delete_expired_replay_key(conn, key, *now)?;
                }
                insert_replay_key(conn, key)?
            }
            WriteOp::ConsumeRefreshToken {
                tenant_domain,
                client_id,
                token,
                now,
                ..
            } => consume_refresh_token(conn, tenant_domain, client_id, token, *now)?,
            WriteOp::InsertFamily(family) => {
                on_own_connection!(conn, c => diesel::insert_into(token_families::table)
                    .values(family.row())
                    .execute(c))?;
            }
            WriteOp::InsertToken(token) => insert_token(conn, token)?,
            WriteOp::RevokeFamily { family_id, now } => revoke_family(conn, family_id, *now)?,
            WriteOp::RevokeToken { token, now } => revoke_token(conn, token, *now)?,
            WriteOp::ConsumeAuthorizationCode {
                code_hash,
                client_id,
                family_id,
                now,
            } => {
                consume_authorization_code(conn, code_hash, client_id, family_id.as_deref(), *now)?
            }
        }
    }
    Ok(())
}

/// Applies the writes of many requests at once on PostgreSQL, every new row in one statement (a
/// round trip, prepared once per connection: `column_arrays.rs`): every replay key, every new
/// family, every new token; consumed refresh tokens and authorization codes one by one before it.
/// Expired replay keys are not cleared first: one that is still in the table makes the insert
/// fail, and the caller then applies the requests one by one (`apply_writes`, which replaces it).
/// Any error means the caller must roll back and go one by one: the error does not say which
/// request caused it. When every write is a new row (`only_new_rows`), this is one statement,
/// atomic without a transaction around it.
pub fn apply_writes_together<'a>(
    conn: &mut DbConnection,
    requests: impl Iterator<Item = &'a [WriteOp]>,
) -> Result<(), ApplyError> {
    if !matches!(conn, DbConnection::Postgres(_)) {
        return Err(ApplyError::Store(StoreError::Config(
            "writes are applied together on PostgreSQL only".into(),
        )));
    }
    let mut new_rows = NewRows::default();
    for op in requests.flatten() {
        match op {
            WriteOp::RecordReplayKey { key, .. } => new_rows.replay_keys.push(ReplayKeyRow {
                digest: key.digest(),
                expires_at: key.expires_at,
            }),
            WriteOp::ConsumeRefreshToken {
                tenant_domain,
                client_id,
                token,
                now,
                ..
            } => consume_refresh_token(conn, tenant_domain, client_id, token, *now)?,
            WriteOp::InsertFamily(family) => new_rows.families.push(family.row()),
            WriteOp::InsertToken(token) => new_rows.tokens.push(token.row()),
            WriteOp::RevokeFamily { family_id, now } => revoke_family(conn, family_id, *now)?,
            WriteOp::RevokeToken { token, now } => revoke_token(conn, token, *now)?,
            WriteOp::ConsumeAuthorizationCode {
                code_hash,
                client_id,
                family_id,
                now,
            } => {
                consume_authorization_code(conn, code_hash, client_id, family_id.as_deref(), *now)?
            }
        }
    }
    let DbConnection::Postgres(c) = conn else {
        unreachable!("checked above");
    };
    if !new_rows.is_empty() {
        new_rows.execute(c)?;
    }
    Ok(())
}

/// Whether these writes only add rows: `apply_writes_together` then sends one statement and
/// nothing else.
pub fn only_new_rows(ops: &[WriteOp]) -> bool {
    ops.iter().all(|op| {
        matches!(
            op,
            WriteOp::RecordReplayKey { .. } | WriteOp::InsertFamily(_) | WriteOp::InsertToken(_)
        )
    })
}

/// Revokes the token with this key, whichever half of its row it is; its pair stays as it is.
fn revoke_token(conn: &mut DbConnection, token: &TokenKey, now: i64) -> Result<(), ApplyError> {
    diesel::update(
        tokens::table
            .filter(tokens::token_id.eq(&token.id))
            .filter(tokens::token_hash.eq(&token.hash))
            .filter(tokens::revoked_at.is_null()),
    )
    .set(tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    diesel::update(
        tokens::table
            .filter(tokens::token_id.eq(&token.id))
            .filter(tokens::paired_hash.eq(&token.hash))
            .filter(tokens::paired_revoked_at.is_null()),
    )
    .set(tokens::paired_revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

/// The family and its tokens, access tokens included, are revoked (idempotent).
fn revoke_family(conn: &mut DbConnection, family_id: &str, now: i64) -> Result<(), ApplyError> {
    revoke_families(conn, Families::One { family_id }, now)?;
    Ok(())
}

fn delete_expired_replay_key(
    conn: &mut DbConnection,
    key: &ReplayKey,
    now: i64,
) -> Result<(), ApplyError> {
    diesel::delete(
        cache::table
            .filter(cache::digest.eq(key.digest()))
            .filter(cache::expires_at.lt(now)),
    )
    .execute(conn)?;
    Ok(())
}

fn insert_replay_key(conn: &mut DbConnection, key: &ReplayKey) -> Result<(), ApplyError> {
    let row = (
        cache::digest.eq(key.digest()),
        cache::expires_at.eq(key.expires_at),
    );
    let inserted =
        on_own_connection!(conn, c => diesel::insert_into(cache::table).values(row).execute(c));
    match inserted {
        Ok(_) => Ok(()),
        // The primary key settles races between requests, batches and nodes alike.
        Err(e) if is_unique_violation(&e) => Err(ApplyError::Refused(
            WriteRefusal::ReplayKeyTaken(key.clone()),
        )),
        Err(e) => Err(e.into()),
    }
}

fn consume_refresh_token(
    conn: &mut DbConnection,
    tenant_domain: &str,
    client_id: &str,
    token: &TokenKey,
    now: i64,
) -> Result<(), ApplyError> {
    let consume = ConsumeRefreshToken {
        token_id: &token.id,
        token_hash: &token.hash,
        tenant_domain,
        client_id,
        now,
    };
    let revoked = on_own_connection!(conn, c => consume.execute(c))?;
    if revoked == 1 {
        Ok(())
    } else {
        Err(ApplyError::Refused(WriteRefusal::RefreshTokenSpent))
    }
}

fn insert_token(conn: &mut DbConnection, token: &NewToken) -> Result<(), ApplyError> {
    on_own_connection!(conn, c => diesel::insert_into(tokens::table)
        .values(token.row())
        .execute(c))?;
    Ok(())
}
