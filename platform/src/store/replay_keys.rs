//! Replay keys: the ids of accepted assertions, kept until the assertions expire so that none is
//! accepted twice. Two kinds share one table (`replay_keys`): the assertions of grants (an
//! identity provider's `jti`s) and the assertions clients authenticate with (`private_key_jwt`,
//! one name space per client). The table keeps a 16-byte digest of (tenant, kind, jti) and the
//! expiry: a short key is a small index entry, and the index takes one page per key inserted, not
//! one per text column. The kind is a type everywhere but in the digest, which this file alone
//! computes.

use std::borrow::Cow;

use diesel::prelude::*;

use super::schema::{jwt_replay_cache, replay_keys};
use super::DbConnection;

/// Whose assertion a replay key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayKind {
    /// A client's own assertion (RFC 7523 section 3 used for client authentication): refused as
    /// `invalid_client` when replayed.
    ClientAssertion { client_id: String },
    /// An identity provider's assertion presented as a grant: refused as `invalid_grant`.
    GrantAssertion { issuer: String },
}

/// One replay key as a request records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayKey {
    pub tenant_domain: String,
    pub kind: ReplayKind,
    /// The assertion's `jti` (or what its grant uses in its place).
    pub jti: String,
    /// Kept until then; an expired key no longer blocks its id and is replaced.
    pub expires_at: i64,
}

/// The `issuer` column of a client's assertions: a name space no identity provider's issuer (a URL
/// or a name) shares.
const CLIENT_ASSERTION_ISSUER_PREFIX: &str = "client-assertion:";

/// Bytes of a stored replay key: half of a SHA-256, so two keys collide by chance about once in
/// 2^64 keys.
pub const DIGEST_BYTES: usize = 16;

impl ReplayKey {
    /// What the table keeps of the key.
    pub(super) fn digest(&self) -> Vec<u8> {
        digest(&self.tenant_domain, &self.kind.stored_issuer(), &self.jti)
    }
}

/// Each part with its length first, so no two different triples hash the same bytes.
fn digest(tenant: &str, issuer: &str, jti: &str) -> Vec<u8> {
    let mut hasher = openssl::sha::Sha256::new();
    for part in [tenant, issuer, jti] {
        hasher.update(&(part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finish()[..DIGEST_BYTES].to_vec()
}

/// Carries the keys of the table before digests (`jwt_replay_cache`) over into `replay_keys`
/// and empties it, in one transaction of the caller's: run when the store opens, after the
/// migrations. Nothing to do once it is empty.
pub(super) fn adopt_text_keys(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    let old: Vec<(String, String, String, i64)> = jwt_replay_cache::table
        // An expired key blocks nothing: it is only deleted.
        .filter(jwt_replay_cache::expires_at.ge(now))
        .select((
            jwt_replay_cache::tenant_domain,
            jwt_replay_cache::issuer,
            jwt_replay_cache::jti,
            jwt_replay_cache::expires_at,
        ))
        .load(conn)?;
    for (tenant, issuer, jti, expires_at) in &old {
        let row = (
            replay_keys::digest.eq(digest(tenant, issuer, jti)),
            replay_keys::expires_at.eq(*expires_at),
        );
        // A key carried over already (by another node starting at the same time) stays.
        match conn {
            DbConnection::Sqlite(c) => diesel::insert_or_ignore_into(replay_keys::table)
                .values(row)
                .execute(c)?,
            DbConnection::Postgres(c) => diesel::insert_into(replay_keys::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?,
        };
    }
    diesel::delete(jwt_replay_cache::table).execute(conn)?;
    Ok(old.len())
}

impl ReplayKind {
    /// The kind as the digest includes it: a grant's issuer, or a client's name space.
    pub(super) fn stored_issuer(&self) -> Cow<'_, str> {
        match self {
            ReplayKind::GrantAssertion { issuer } => Cow::Borrowed(issuer),
            ReplayKind::ClientAssertion { client_id } => {
                Cow::Owned(format!("{CLIENT_ASSERTION_ISSUER_PREFIX}{client_id}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_tell_every_part_apart() {
        let key = |tenant: &str, issuer: &str, jti: &str| ReplayKey {
            tenant_domain: tenant.into(),
            kind: ReplayKind::GrantAssertion {
                issuer: issuer.into(),
            },
            jti: jti.into(),
            expires_at: 0,
        };
        let one = key("t", "https://idp", "abc").digest();
        assert_eq!(one.len(), DIGEST_BYTES);
        assert_eq!(one, key("t", "https://idp", "abc").digest());
        // The same bytes split differently are another key.
        assert_ne!(one, key("t", "https://idpa", "bc").digest());
        assert_ne!(one, key("th", "ttps://idp", "abc").digest());
        assert_ne!(one, key("u", "https://idp", "abc").digest());
        let client = ReplayKey {
            kind: ReplayKind::ClientAssertion {
                client_id: "https://idp".into(),
            },
            ..key("t", "", "abc")
        };
        assert_ne!(one, client.digest());
    }

    #[test]
    fn a_clients_assertions_have_a_name_space_of_their_own() {
        let client = ReplayKind::ClientAssertion {
            client_id: "cid".into(),
        };
        let grant = ReplayKind::GrantAssertion {
            issuer: "cid".into(),
        };
        assert_eq!(client.stored_issuer(), "client-assertion:cid");
        assert_eq!(grant.stored_issuer(), "cid");
    }
}
