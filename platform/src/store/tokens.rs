//! Issued tokens, kept only as hashes: a stolen database yields no usable token.
//!
//! A grant's opaque access and refresh tokens share one row (`NewToken::together`): both carry the
//! row's id (`token_ids.rs`), each with a secret of its own, and each keeps its own hash, kind,
//! expiry and revocation. The row's own columns describe the token that expires last, so the
//! row's `expires_at` is when it may be purged; the `paired_*` columns describe the other. One
//! row per grant is one insert into the table and each of its indexes where two rows were two.
//! Rows without a pair (tokens issued alone, JWT access tokens, rows written before) read as
//! they always did.

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
    /// The grant's other token, kept in this row (`NewToken::together`).
    pub paired: Option<PairedToken>,
}

/// The second token of a row: what differs from the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedToken {
    pub hash: String,
    pub kind: &'static str,
    pub expires_at: i64,
}

impl NewToken {
    /// The rows that store two tokens of one grant: one, when they share their id (both carry
    /// it) and everything but their kind, hash and expiry; otherwise one each. In a shared row
    /// the token that expires last is the row's own.
    pub fn together(self, other: NewToken) -> Vec<NewToken> {
        type Shared<'t> = (
            &'t str,
            &'t str,
            &'t str,
            Option<&'t str>,
            &'t str,
            i64,
            Option<&'t str>,
            Option<&'t str>,
        );
        fn shared(t: &NewToken) -> Shared<'_> {
            (
                &t.key.id,
                &t.tenant_domain,
                &t.client_id,
                t.subject.as_deref(),
                &t.scope,
                t.issued_at,
                t.family_id.as_deref(),
                t.claims.as_deref(),
            )
        }
        let pairable = shared(&self) == shared(&other)
            && self.kind != other.kind
            && self.key.hash != other.key.hash
            && self.paired.is_none()
            && other.paired.is_none();
        if !pairable {
            return vec![self, other];
        }
        let (mut first, second) = if other.expires_at > self.expires_at {
            (other, self)
        } else {
            (self, other)
        };
        first.paired = Some(PairedToken {
            hash: second.key.hash,
            kind: second.kind,
            expires_at: second.expires_at,
        });
        vec![first]
    }
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
    pub(super) paired_hash: Option<&'a str>,
    pub(super) paired_kind: Option<&'a str>,
    pub(super) paired_expires_at: Option<i64>,
}

impl NewToken {
    pub(super) fn row(&self) -> NewTokenRow<'_> {
        let paired = self.paired.as_ref();
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
            paired_hash: paired.map(|p| p.hash.as_str()),
            paired_kind: paired.map(|p| p.kind),
            paired_expires_at: paired.map(|p| p.expires_at),
        }
    }
}

/// A stored token as lookups see it: one token, whichever half of its row it is.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A row as stored: one token, or two of one grant.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
struct StoredRow {
    token_id: String,
    token_hash: String,
    token_kind: String,
    tenant_domain: String,
    client_id: String,
    subject: Option<String>,
    scope: String,
    issued_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    family_id: Option<String>,
    claims: Option<String>,
    paired_hash: Option<String>,
    paired_kind: Option<String>,
    paired_expires_at: Option<i64>,
    paired_revoked_at: Option<i64>,
}

impl StoredRow {
    /// The token of this row whose hash is `hash`, if either is.
    fn token(self, hash: &str) -> Option<StoredToken> {
        let (token_hash, token_kind, expires_at, revoked_at) = if self.token_hash == hash {
            (
                self.token_hash,
                self.token_kind,
                self.expires_at,
                self.revoked_at,
            )
        } else if self.paired_hash.as_deref() == Some(hash) {
            (
                self.paired_hash?,
                self.paired_kind?,
                self.paired_expires_at?,
                self.paired_revoked_at,
            )
        } else {
            return None;
        };
        Some(StoredToken {
            token_id: self.token_id,
            token_hash,
            token_kind,
            tenant_domain: self.tenant_domain,
            client_id: self.client_id,
            subject: self.subject,
            scope: self.scope,
            issued_at: self.issued_at,
            expires_at,
            revoked_at,
            family_id: self.family_id,
            claims: self.claims,
        })
    }
}

/// The token with this key in this tenant, whatever its state.
fn find_token(
    conn: &mut super::DbConnection,
    tenant_domain: &str,
    token: &TokenKey,
) -> Result<Option<StoredToken>, StoreError> {
    let row: Option<StoredRow> = tokens::table
        .find(&token.id)
        .filter(tokens::tenant_domain.eq(tenant_domain))
        .select(StoredRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.and_then(|row| row.token(&token.hash)))
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
            Ok(find_token(conn, tenant_domain, token)?
                .filter(|t| t.expires_at > now && t.revoked_at.is_none()))
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
            let token = find_token(conn, tenant_domain, token)?
                .filter(|t| t.token_kind == KIND_REFRESH && t.expires_at > now);
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
                paired: None,
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

    /// A grant's access and refresh tokens as `issue_tokens` makes them: one id, two secrets.
    fn grant_tokens(access_expires_at: i64, refresh_expires_at: i64) -> (NewToken, NewToken) {
        let (_, access_key) = crate::token_ids::new_opaque_token(100_000).unwrap();
        let mut random = [0u8; crate::token_ids::TOKEN_RANDOM_BYTES];
        openssl::rand::rand_bytes(&mut random).unwrap();
        let (_, refresh_key) = crate::token_ids::paired_opaque_token(&access_key, &random);
        let access = NewToken {
            key: access_key,
            kind: KIND_ACCESS,
            tenant_domain: "carbon.super".into(),
            client_id: "cid".into(),
            subject: Some("alice".into()),
            scope: "read".into(),
            issued_at: 100,
            expires_at: access_expires_at,
            family_id: Some("f-1".into()),
            claims: None,
            paired: None,
        };
        let refresh = NewToken {
            key: refresh_key,
            kind: KIND_REFRESH,
            expires_at: refresh_expires_at,
            ..access.clone()
        };
        (access, refresh)
    }

    fn one_row(a: &NewToken, b: &NewToken) -> NewToken {
        let mut rows = a.clone().together(b.clone());
        assert_eq!(rows.len(), 1);
        rows.pop().unwrap()
    }

    #[test]
    fn only_two_tokens_of_one_grant_share_a_row() {
        let (access, refresh) = grant_tokens(500, 1000);
        let row = one_row(&access, &refresh);
        // The one that expires last is the row's own, whichever order they come in.
        assert_eq!(row, one_row(&refresh, &access));
        assert_eq!((row.kind, row.expires_at), (KIND_REFRESH, 1000));
        let paired = row.paired.as_ref().unwrap();
        assert_eq!(
            (paired.kind, paired.expires_at, paired.hash.as_str()),
            (KIND_ACCESS, 500, access.key.hash.as_str())
        );
        // A JWT access token is found by its own hash, not the refresh token's id.
        let jwt = NewToken {
            key: TokenKey::hashed("eyJ.a.b"),
            ..access.clone()
        };
        let apart = |a: NewToken, b: NewToken| a.together(b).len() == 2;
        assert!(apart(jwt, refresh.clone()));
        let other_subject = NewToken {
            subject: Some("bob".into()),
            ..access.clone()
        };
        assert!(apart(other_subject, refresh.clone()));
        assert!(apart(access.clone(), access.clone()));
        assert!(apart(row, access));
    }

    #[test]
    fn each_token_of_a_shared_row_keeps_its_own_kind_expiry_and_revocation() {
        for_each_backend(|store| {
            let client = crate::store::clients::tests::sample("carbon.super", "app", "cid");
            store.add_client(&client, 0).unwrap();
            let writer = crate::store::GroupCommitter::start(store, 1).unwrap();
            let commit = |ops: Vec<crate::store::WriteOp>| writer.commit_blocking(here(), ops);
            let family = crate::store::WriteOp::InsertFamily(crate::store::NewFamily {
                family_id: "f-1".into(),
                tenant_domain: "carbon.super".into(),
                client_id: "cid".into(),
                origin: Default::default(),
                started_at: 100,
                expires_at: 5000,
            });
            let insert = |access: &NewToken, refresh: &NewToken| {
                let row = one_row(access, refresh);
                commit(vec![crate::store::WriteOp::InsertToken(row)]).unwrap();
            };
            commit(vec![family]).unwrap();
            let (access, refresh) = grant_tokens(500, 1000);
            insert(&access, &refresh);
            let rows: i64 = store
                .with_conn(|conn| Ok(tokens::table.count().get_result(conn)?))
                .unwrap();
            assert_eq!(rows, 1);
            let active = |key: &TokenKey, now: i64| {
                store
                    .find_active_token("carbon.super", key, now)
                    .unwrap()
                    .map(|t| (t.token_kind, t.expires_at))
            };
            assert_eq!(active(&access.key, 150), Some((KIND_ACCESS.into(), 500)));
            assert_eq!(active(&refresh.key, 150), Some((KIND_REFRESH.into(), 1000)));
            // The access token's end is not the refresh token's.
            assert_eq!(active(&access.key, 600), None);
            assert_eq!(active(&refresh.key, 600), Some((KIND_REFRESH.into(), 1000)));
            let (found, _) = store
                .find_refresh_token("carbon.super", &refresh.key, 600)
                .unwrap()
                .unwrap();
            assert_eq!(found.token_hash, refresh.key.hash);
            assert!(store
                .find_refresh_token("carbon.super", &access.key, 150)
                .unwrap()
                .is_none());
            // The row's id with a third secret is neither token.
            let forged = TokenKey::of(&format!("{}.{}", access.key.id, "A".repeat(43)));
            assert_eq!(active(&forged, 150), None);

            // Consuming the refresh token leaves the access token; the access token is never
            // consumed as a refresh token.
            let consume = |key: &TokenKey, now: i64| {
                commit(vec![crate::store::WriteOp::ConsumeRefreshToken {
                    tenant_domain: "carbon.super".into(),
                    client_id: "cid".into(),
                    token: key.clone(),
                    family_id: Some("f-1".into()),
                    now,
                }])
            };
            let spent = |r: Result<(), crate::store::ApplyError>| {
                matches!(
                    r,
                    Err(crate::store::ApplyError::Refused(
                        crate::store::WriteRefusal::RefreshTokenSpent
                    ))
                )
            };
            assert!(spent(consume(&access.key, 150)));
            assert!(spent(consume(&forged, 150)));
            consume(&refresh.key, 150).unwrap();
            assert!(spent(consume(&refresh.key, 150)));
            assert_eq!(active(&refresh.key, 160), None);
            assert_eq!(active(&access.key, 160), Some((KIND_ACCESS.into(), 500)));

            // Revoking one token leaves the other; so does revoking it twice.
            let (access, refresh) = grant_tokens(500, 1000);
            insert(&access, &refresh);
            for _ in 0..2 {
                commit(vec![crate::store::WriteOp::RevokeToken {
                    token: access.key.clone(),
                    now: 170,
                }])
                .unwrap();
            }
            assert_eq!(active(&access.key, 180), None);
            assert_eq!(active(&refresh.key, 180), Some((KIND_REFRESH.into(), 1000)));
            // A refresh token that outlives its access token is consumed after it expired.
            consume(&refresh.key, 600).unwrap();

            // The family's revocation reaches both tokens of every row in it.
            let (access, refresh) = grant_tokens(2000, 1000);
            insert(&access, &refresh);
            assert_eq!(active(&access.key, 1500), Some((KIND_ACCESS.into(), 2000)));
            commit(vec![crate::store::WriteOp::RevokeFamily {
                family_id: "f-1".into(),
                now: 190,
            }])
            .unwrap();
            assert_eq!(active(&access.key, 200), None);
            assert_eq!(active(&refresh.key, 200), None);
            assert!(spent(consume(&refresh.key, 200)));
        });
    }

    #[test]
    fn a_shared_row_is_purged_after_its_last_token_expires() {
        for_each_backend(|store| {
            let client = crate::store::clients::tests::sample("carbon.super", "app", "cid");
            store.add_client(&client, 0).unwrap();
            let writer = crate::store::GroupCommitter::start(store, 1).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            for (access_expires_at, refresh_expires_at) in [(500, 1000), (1000, 500)] {
                let (access, refresh) = grant_tokens(access_expires_at, refresh_expires_at);
                let row = one_row(&access, &refresh);
                writer
                    .commit_blocking(here(), vec![crate::store::WriteOp::InsertToken(row)])
                    .unwrap();
                let last = if access_expires_at > refresh_expires_at {
                    &access
                } else {
                    &refresh
                };
                runtime.block_on(writer.purge_expired(600, 1000)).unwrap();
                assert!(store
                    .find_active_token("carbon.super", &last.key, 700)
                    .unwrap()
                    .is_some());
                runtime.block_on(writer.purge_expired(1000, 1000)).unwrap();
                let rows: i64 = store
                    .with_conn(|conn| Ok(tokens::table.count().get_result(conn)?))
                    .unwrap();
                assert_eq!(rows, 0);
            }
        });
    }

    /// Rows of one token, as every row before the migration that pairs tokens, read the same
    /// after it; reverting it keeps each row's own token and forgets only the second ones.
    #[test]
    fn rows_of_one_token_survive_the_pairing_migration_both_ways() {
        for_each_backend(|store| {
            let client = crate::store::clients::tests::sample("carbon.super", "app", "cid");
            store.add_client(&client, 0).unwrap();
            let writer = crate::store::GroupCommitter::start(store, 1).unwrap();
            let (alone, _) = grant_tokens(500, 1000);
            let (access, refresh) = grant_tokens(500, 1000);
            let row = one_row(&access, &refresh);
            let ops = vec![
                crate::store::WriteOp::InsertToken(alone.clone()),
                crate::store::WriteOp::InsertToken(row),
            ];
            writer.commit_blocking(here(), ops).unwrap();
            drop(writer);
            let found = |key: &TokenKey| {
                store
                    .find_active_token("carbon.super", key, 150)
                    .unwrap()
                    .map(|t| t.token_kind)
            };
            let revert =
                |conn: &mut _| super::super::connection::revert_migration(conn, "20261205060000");
            store.with_conn(revert).unwrap();
            let kept: Vec<String> = store
                .with_conn(|conn| {
                    Ok(tokens::table
                        .select(tokens::token_hash)
                        .order(tokens::token_hash)
                        .load(conn)?)
                })
                .unwrap();
            let mut expected = vec![alone.key.hash.clone(), refresh.key.hash.clone()];
            expected.sort();
            assert_eq!(kept, expected);
            let applied = store
                .with_conn(super::super::connection::run_migrations)
                .unwrap();
            assert_eq!(applied, ["20261205060000"]);
            assert_eq!(found(&alone.key), Some(KIND_ACCESS.into()));
            assert_eq!(found(&refresh.key), Some(KIND_REFRESH.into()));
            assert_eq!(found(&access.key), None);
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
                    // Later migrations of the table first.
                    super::super::connection::revert_migration(conn, "20261205060000")?;
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
                    paired: None,
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
