//! Issued tokens, kept only as hashes: a stolen database yields no usable token.

use diesel::prelude::*;

use super::schema::{token_families, tokens};
use super::{Store, StoreError, TokenFamily};
use crate::token_ids::TokenKey;

pub const KIND_ACCESS: &str = "access";
pub const KIND_REFRESH: &str = "refresh";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// How the token is found (`token_ids.rs`): its row's id, and the hash the row keeps.
    pub key: TokenKey,
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
// Written as NULL, not left to the column default: one statement shape whatever is None, which
// Diesel can keep prepared (a batch on PostgreSQL goes through `column_arrays.rs` instead).
#[diesel(treat_none_as_default_value = false)]
pub(super) struct NewTokenRow<'a> {
    pub(super) token_id: &'a str,
    pub(super) token_hash: &'a str,
    pub(super) token_kind: &'a str,
    pub(super) tenant_domain: &'a str,
    pub(super) client_id: &'a str,
    pub(super) subject: Option<&'a str>,
    pub(super) scope: &'a str,
    pub(super) issued_at: i64,
    pub(super) expires_at: i64,
    pub(super) family_id: Option<&'a str>,
    pub(super) claims: Option<&'a str>,
}

impl NewToken {
    pub(super) fn row(&self) -> NewTokenRow<'_> {
        NewTokenRow {
            token_id: &self.key.id,
            token_hash: &self.key.hash,
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
    pub token_id: String,
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
    /// The unexpired, unrevoked token with this key in this tenant.
    pub fn find_active_token(
        &self,
        tenant_domain: &str,
        token: &TokenKey,
        now: i64,
    ) -> Result<Option<StoredToken>, StoreError> {
        self.with_conn(|conn| {
            Ok(tokens::table
                .find(&token.id)
                .filter(tokens::token_hash.eq(&token.hash))
                .filter(tokens::tenant_domain.eq(tenant_domain))
                .filter(tokens::expires_at.gt(now))
                .filter(tokens::revoked_at.is_null())
                .select(StoredToken::as_select())
                .first(conn)
                .optional()?)
        })
    }

    /// A refresh token of this tenant by key, unexpired, whether spent or not (presenting a
    /// spent one is how reuse is detected), with its family.
    pub fn find_refresh_token(
        &self,
        tenant_domain: &str,
        token: &TokenKey,
        now: i64,
    ) -> Result<Option<(StoredToken, Option<TokenFamily>)>, StoreError> {
        self.with_conn(|conn| {
            let token: Option<StoredToken> = tokens::table
                .find(&token.id)
                .filter(tokens::token_hash.eq(&token.hash))
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
                key: TokenKey::of("abc"),
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
                .find_active_token("carbon.super", &TokenKey::of("abc"), 150)
                .unwrap()
                .unwrap();
            assert_eq!(found.scope, "read");
            assert!(store
                .find_active_token("other", &TokenKey::of("abc"), 150)
                .unwrap()
                .is_none());
            assert!(store
                .find_active_token("carbon.super", &TokenKey::of("abc"), 200)
                .unwrap()
                .is_none());
            // A token of the current format, found by the id it carries.
            let (refresh_token, refresh_key) = crate::token_ids::new_opaque_token(150_000).unwrap();
            let refresh = NewToken {
                key: refresh_key.clone(),
                kind: KIND_REFRESH,
                ..token.clone()
            };
            insert(&refresh);
            // Only its own client may use it, in its tenant, only as a refresh token, before it
            // expires, only once.
            let take_in = |tenant: &str, client: &str, key: &TokenKey, now: i64| {
                writer.commit_blocking(
                    here(),
                    vec![crate::store::WriteOp::ConsumeRefreshToken {
                        tenant_domain: tenant.into(),
                        client_id: client.into(),
                        token: key.clone(),
                        family_id: None,
                        now,
                    }],
                )
            };
            let take = |client: &str, key: &TokenKey| take_in("carbon.super", client, key, 150);
            let spent = |r: Result<(), crate::store::ApplyError>| {
                matches!(
                    r,
                    Err(crate::store::ApplyError::Refused(
                        crate::store::WriteRefusal::RefreshTokenSpent
                    ))
                )
            };
            assert!(spent(take("other", &refresh_key)));
            assert!(spent(take_in("other", "cid", &refresh_key, 150)));
            assert!(spent(take_in("carbon.super", "cid", &refresh_key, 200)));
            assert!(spent(take("cid", &TokenKey::of("abc"))));
            // Its id with another secret is not the token.
            let forged = format!("{}.{}", &refresh_key.id, "A".repeat(43));
            assert!(spent(take("cid", &TokenKey::of(&forged))));
            assert_eq!(TokenKey::of(&refresh_token), refresh_key);
            take("cid", &refresh_key).unwrap();
            assert!(spent(take("cid", &refresh_key)));
        });
    }

    #[test]
    fn tokens_and_replay_keys_from_before_token_ids_keep_working() {
        use crate::secrets::hash_secret;
        for_each_backend(|store| {
            let client = crate::store::clients::tests::sample("carbon.super", "app", "cid");
            store.add_client(&client, 0).unwrap();
            // The schema as it was, with what the server before this change wrote.
            store
                .with_conn(|conn| {
                    super::super::connection::revert_migration(conn, "20261204120000")?;
                    for (token, kind) in [("old-access", "access"), ("old-refresh", "refresh")] {
                        diesel::sql_query(format!(
                            "INSERT INTO tokens (token_hash, token_kind, tenant_domain, \
                             client_id, subject, scope, issued_at, expires_at) VALUES ('{}', \
                             '{kind}', 'carbon.super', 'cid', 'alice', 'read', 100, 1000)",
                            hash_secret(token)
                        ))
                        .execute(conn)?;
                    }
                    // One live key, one expired (only deleted).
                    let live_until = crate::clock::now_unix() + 3600;
                    diesel::sql_query(format!(
                        "INSERT INTO jwt_replay_cache (tenant_domain, issuer, jti, expires_at) \
                         VALUES ('carbon.super', 'https://idp', 'jti-1', {live_until}), \
                         ('carbon.super', 'https://idp', 'jti-old', 10)"
                    ))
                    .execute(conn)?;
                    Ok(())
                })
                .unwrap();
            // What opening the store does.
            store
                .with_conn(super::super::connection::run_migrations)
                .unwrap();
            store.adopt_text_replay_keys().unwrap();

            let old = TokenKey::of("old-access");
            assert_eq!(
                old.id, old.hash,
                "a token of the old format is found by its hash"
            );
            let found = store
                .find_active_token("carbon.super", &old, 150)
                .unwrap()
                .expect("the old access token is still active");
            assert_eq!(
                (found.subject.as_deref(), found.scope.as_str()),
                (Some("alice"), "read")
            );
            let writer = crate::store::GroupCommitter::start(store, 1).unwrap();
            let commit = |op| writer.commit_blocking(here(), vec![op]);
            let rotate = || {
                commit(crate::store::WriteOp::ConsumeRefreshToken {
                    tenant_domain: "carbon.super".into(),
                    client_id: "cid".into(),
                    token: TokenKey::of("old-refresh"),
                    family_id: None,
                    now: 150,
                })
            };
            rotate().unwrap();
            assert!(matches!(
                rotate(),
                Err(crate::store::ApplyError::Refused(
                    crate::store::WriteRefusal::RefreshTokenSpent
                ))
            ));
            commit(crate::store::WriteOp::RevokeToken {
                token: old.clone(),
                now: 160,
            })
            .unwrap();
            assert!(store
                .find_active_token("carbon.super", &old, 170)
                .unwrap()
                .is_none());
            // The assertion accepted before is still refused.
            let replayed = commit(crate::store::WriteOp::RecordReplayKey {
                key: crate::store::ReplayKey {
                    tenant_domain: "carbon.super".into(),
                    kind: crate::store::ReplayKind::GrantAssertion {
                        issuer: "https://idp".into(),
                    },
                    jti: "jti-1".into(),
                    expires_at: 1000,
                },
                now: 150,
            });
            assert!(
                matches!(
                    replayed,
                    Err(crate::store::ApplyError::Refused(
                        crate::store::WriteRefusal::ReplayKeyTaken(_)
                    ))
                ),
                "{replayed:?}"
            );
            // Carried over once: the old table is empty, and opening again changes nothing.
            let left: i64 = store
                .with_conn(|conn| {
                    Ok(super::super::schema::jwt_replay_cache::table
                        .count()
                        .get_result(conn)?)
                })
                .unwrap();
            assert_eq!(left, 0);
            store.adopt_text_replay_keys().unwrap();
        });
    }

    #[test]
    fn a_family_revocation_reaches_its_tokens_after_the_family_row_is_gone() {
        for_each_backend(|store| {
            let client = crate::store::clients::tests::sample("carbon.super", "app", "cid");
            store.add_client(&client, 0).unwrap();
            let (token, key) = crate::token_ids::new_opaque_token(100_000).unwrap();
            let ops = [
                crate::store::WriteOp::InsertFamily(crate::store::NewFamily {
                    family_id: "f-1".into(),
                    tenant_domain: "carbon.super".into(),
                    client_id: "cid".into(),
                    origin: Default::default(),
                    started_at: 100,
                    expires_at: 150,
                }),
                crate::store::WriteOp::InsertToken(NewToken {
                    key: key.clone(),
                    kind: KIND_REFRESH,
                    tenant_domain: "carbon.super".into(),
                    client_id: "cid".into(),
                    subject: None,
                    scope: "read".into(),
                    issued_at: 100,
                    expires_at: 1000,
                    family_id: Some("f-1".into()),
                    claims: None,
                }),
            ];
            let writer = crate::store::GroupCommitter::start(store, 1).unwrap();
            writer.commit_blocking(here(), ops.to_vec()).unwrap();
            // Purged by a node whose clock runs ahead, while the token is live here.
            store
                .with_conn(|conn| {
                    diesel::delete(super::super::schema::token_families::table).execute(conn)?;
                    Ok(())
                })
                .unwrap();
            writer
                .commit_blocking(
                    here(),
                    vec![crate::store::WriteOp::RevokeFamily {
                        family_id: "f-1".into(),
                        now: 120,
                    }],
                )
                .unwrap();
            assert!(store
                .find_active_token("carbon.super", &TokenKey::of(&token), 130)
                .unwrap()
                .is_none());
        });
    }
}
