//! Issued tokens, kept only as hashes: a stolen database yields no usable token.

use diesel::prelude::*;

use super::schema::{token_families, tokens};
use super::{Store, StoreError, TokenFamily};

pub const KIND_ACCESS: &str = "access";
pub const KIND_REFRESH: &str = "refresh";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub token_hash: String,
    pub kind: &'static str,
    pub tenant_domain: String,
    pub client_id: String,
    pub subject: Option<String>,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The refresh token family the token belongs to (`None` for tokens issued without a
    /// refresh token).
    pub family_id: Option<String>,
    /// The grant's claims as a JSON object, when it produced any.
    pub claims: Option<String>,
}

/// A new token's row (its `revoked_at` starts empty).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tokens)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
// Written as NULL, not left to the column default: one statement shape for many rows at once.
#[diesel(treat_none_as_default_value = false)]
pub(super) struct NewTokenRow<'a> {
    token_hash: &'a str,
    token_kind: &'a str,
    tenant_domain: &'a str,
    client_id: &'a str,
    subject: Option<&'a str>,
    scope: &'a str,
    issued_at: i64,
    expires_at: i64,
    family_id: Option<&'a str>,
    claims: Option<&'a str>,
}

impl NewToken {
    pub(super) fn row(&self) -> NewTokenRow<'_> {
        NewTokenRow {
            token_hash: &self.token_hash,
            token_kind: self.kind,
            tenant_domain: &self.tenant_domain,
            client_id: &self.client_id,
            subject: self.subject.as_deref(),
            scope: &self.scope,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            family_id: self.family_id.as_deref(),
            claims: self.claims.as_deref(),
        }
    }
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
    pub family_id: Option<String>,
    pub claims: Option<String>,
}

impl Store {
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

    /// A refresh token of this tenant by hash, unexpired, whether spent or not (presenting a
    /// spent one is how reuse is detected), with its family.
    pub fn find_refresh_token(
        &self,
        tenant_domain: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(StoredToken, Option<TokenFamily>)>, StoreError> {
        self.with_conn(|conn| {
            let token: Option<StoredToken> = tokens::table
                .filter(tokens::token_hash.eq(token_hash))
                .filter(tokens::tenant_domain.eq(tenant_domain))
                .filter(tokens::token_kind.eq(KIND_REFRESH))
                .filter(tokens::expires_at.gt(now))
                .select(StoredToken::as_select())
                .first(conn)
                .optional()?;
            let Some(token) = token else {
                return Ok(None);
            };
            let family = match &token.family_id {
                Some(id) => token_families::table
                    .find(id)
                    .select(TokenFamily::as_select())
                    .first(conn)
                    .optional()?,
                None => None,
            };
            Ok(Some((token, family)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::test_thread as here;
    use crate::store::test_support::for_each_backend;

    #[test]
    fn tokens_expire_and_stay_in_their_tenant() {
        for_each_backend(|store| {
            let client = crate::store::NewClient {
                tenant_domain: "carbon.super".into(),
                name: "app".into(),
                client_id: "cid".into(),
                secret_hash: "sha256:00".into(),
                grant_types: vec![],
                scopes: vec![],
                access_token_lifetime: None,
                refresh_token_lifetime: None,
                token_format: "opaque".into(),
                audiences: Vec::new(),
                certificates: Vec::new(),
                jwks_uri: None,
                redirect_uris: Vec::new(),
                post_logout_redirect_uris: Vec::new(),
                consent: crate::store::CONSENT_REQUIRED.into(),
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
                family_id: None,
                claims: None,
            };
            let writer = crate::store::GroupCommitter::start(store, 2).unwrap();
            let insert = |token: &NewToken| {
                writer
                    .commit_blocking(
                        here(),
                        vec![crate::store::WriteOp::InsertToken(token.clone())],
                    )
                    .unwrap()
            };
            insert(&token);
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
            insert(&refresh);
            // Only its own client may use it, only as a refresh token, only once.
            let take = |client: &str, hash: &str| {
                writer.commit_blocking(
                    here(),
                    vec![crate::store::WriteOp::ConsumeRefreshToken {
                        tenant_domain: "carbon.super".into(),
                        client_id: client.into(),
                        token_hash: hash.into(),
                        family_id: None,
                        now: 150,
                    }],
                )
            };
            let spent = |r: Result<(), crate::store::ApplyError>| {
                matches!(
                    r,
                    Err(crate::store::ApplyError::Refused(
                        crate::store::WriteRefusal::RefreshTokenSpent
                    ))
                )
            };
            assert!(spent(take("other", "sha256:def")));
            assert!(spent(take("cid", "sha256:abc")));
            take("cid", "sha256:def").unwrap();
            assert!(spent(take("cid", "sha256:def")));
        });
    }
}
