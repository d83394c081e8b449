//! Issued tokens, kept only as hashes: a stolen database yields no usable token.

use diesel::prelude::*;

use super::schema::tokens;
use super::{Store, StoreError};

pub const KIND_ACCESS: &str = "access";
pub const KIND_REFRESH: &str = "refresh";

#[derive(Debug, Clone)]
pub struct NewToken {
    pub token_hash: String,
    pub kind: &'static str,
    pub tenant_domain: String,
    pub client_id: String,
    pub subject: Option<String>,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A stored token as lookups see it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct StoredToken {
    pub token_hash: String,
    pub token_kind: String,
    pub tenant_domain: String,
    pub client_id: String,
    pub subject: Option<String>,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Store {
    pub fn insert_token(&self, token: &NewToken) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            diesel::insert_into(tokens::table)
                .values((
                    tokens::token_hash.eq(&token.token_hash),
                    tokens::token_kind.eq(token.kind),
                    tokens::tenant_domain.eq(&token.tenant_domain),
                    tokens::client_id.eq(&token.client_id),
                    tokens::subject.eq(&token.subject),
                    tokens::scope.eq(&token.scope),
                    tokens::issued_at.eq(token.issued_at),
                    tokens::expires_at.eq(token.expires_at),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    /// The unexpired, unrevoked token with this hash in this tenant.
    pub fn find_active_token(
        &self,
        tenant_domain: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<StoredToken>, StoreError> {
        self.with_conn(|conn| {
            Ok(tokens::table
                .filter(tokens::token_hash.eq(token_hash))
                .filter(tokens::tenant_domain.eq(tenant_domain))
                .filter(tokens::expires_at.gt(now))
                .filter(tokens::revoked_at.is_null())
                .select(StoredToken::as_select())
                .first(conn)
                .optional()?)
        })
    }

    /// Takes a refresh token for one use: the active refresh token with this hash, issued to this
    /// client in this tenant, is revoked and returned. Of two requests racing with the same token
    /// only one gets it (the revocation is conditional on the token being unrevoked).
    pub fn consume_refresh_token(
        &self,
        tenant_domain: &str,
        client_id: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<StoredToken>, StoreError> {
        self.with_conn(|conn| {
            let active = tokens::table
                .filter(tokens::token_hash.eq(token_hash))
                .filter(tokens::tenant_domain.eq(tenant_domain))
                .filter(tokens::client_id.eq(client_id))
                .filter(tokens::token_kind.eq(KIND_REFRESH))
                .filter(tokens::expires_at.gt(now))
                .filter(tokens::revoked_at.is_null());
            let Some(token) = active
                .select(StoredToken::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let revoked = diesel::update(active)
                .set(tokens::revoked_at.eq(Some(now)))
                .execute(conn)?;
            Ok((revoked == 1).then_some(token))
        })
    }

    /// Deletes tokens that expired before `now`; returns how many.
    pub fn purge_expired_tokens(&self, now: i64) -> Result<usize, StoreError> {
        self.with_conn(|conn| {
            Ok(diesel::delete(tokens::table.filter(tokens::expires_at.le(now))).execute(conn)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    #[test]
    fn tokens_expire_and_stay_in_their_tenant() {
        for_each_backend(|store| {
            let client = crate::store::NewServiceProvider {
                tenant_domain: "carbon.super".into(),
                name: "app".into(),
                client_id: "cid".into(),
                secret_hash: "sha256:00".into(),
                grant_types: vec![],
                scopes: vec![],
                access_token_lifetime: None,
                refresh_token_lifetime: None,
            };
            store.add_client(&client, 0).unwrap();
            let token = NewToken {
                token_hash: "sha256:abc".into(),
                kind: KIND_ACCESS,
                tenant_domain: "carbon.super".into(),
                client_id: "cid".into(),
                subject: None,
                scope: "read".into(),
                issued_at: 100,
                expires_at: 200,
            };
            store.insert_token(&token).unwrap();
            let found = store
                .find_active_token("carbon.super", "sha256:abc", 150)
                .unwrap()
                .unwrap();
            assert_eq!(found.scope, "read");
            assert!(store
                .find_active_token("other", "sha256:abc", 150)
                .unwrap()
                .is_none());
            assert!(store
                .find_active_token("carbon.super", "sha256:abc", 200)
                .unwrap()
                .is_none());
            let refresh = NewToken {
                token_hash: "sha256:def".into(),
                kind: KIND_REFRESH,
                ..token.clone()
            };
            store.insert_token(&refresh).unwrap();
            // Only its own client may use it, only as a refresh token, only once.
            let take = |client: &str, hash: &str| {
                store
                    .consume_refresh_token("carbon.super", client, hash, 150)
                    .unwrap()
            };
            assert!(take("other", "sha256:def").is_none());
            assert!(take("cid", "sha256:abc").is_none());
            assert_eq!(take("cid", "sha256:def").unwrap().scope, "read");
            assert!(take("cid", "sha256:def").is_none());
            assert_eq!(store.purge_expired_tokens(199).unwrap(), 0);
            assert_eq!(store.purge_expired_tokens(200).unwrap(), 2);
        });
    }
}
