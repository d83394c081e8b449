//! Authorization codes (issue 23, item 5), kept only as hashes (`crate::secrets::hash_secret` of
//! the code): a stolen database yields no code to exchange. A code is written at the authorization
//! endpoint (`Store::insert_authorization_code`, outside the token path) and consumed by the token
//! request that exchanges it, as one of that request's writes (`WriteOp::ConsumeAuthorizationCode`,
//! applied here by `consume_authorization_code`), so the consume and the tokens it yields land
//! together or not at all. A second use is refused with the refresh token family the first one
//! started, for the caller to revoke (RFC 6749 4.1.2).

use diesel::prelude::*;

use super::schema::authorization_codes as codes;
use super::writes::{ApplyError, WriteRefusal};
use super::{DbConnection, Store, StoreError};

/// A code as the authorization endpoint issues it (unconsumed, no family yet).
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = codes)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct NewAuthorizationCode {
    /// `crate::secrets::hash_secret` of the code; the code itself is never stored.
    pub code_hash: String,
    pub tenant_domain: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// The PKCE challenge (S256).
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// The hash of the sign-in session the code was issued in.
    pub session_id_hash: Option<String>,
    pub subject: String,
    /// Space-separated, as tokens keep it.
    pub scope: String,
    pub auth_time: i64,
    /// A JSON object, as tokens keep it.
    pub claims: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A stored code, whatever its state.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = codes)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub tenant_domain: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub session_id_hash: Option<String>,
    pub subject: String,
    pub scope: String,
    pub auth_time: i64,
    pub claims: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// When a token request exchanged it.
    pub consumed_at: Option<i64>,
    /// The refresh token family that exchange started, if it issued a refresh token.
    pub family_id: Option<String>,
}

impl Store {
    /// Records a code issued at the authorization endpoint.
    pub fn insert_authorization_code(&self, code: &NewAuthorizationCode) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            diesel::insert_into(codes::table)
                .values(code)
                .execute(conn)?;
            Ok(())
        })
    }

    /// The code of this tenant with this hash, expired or consumed as well: the caller decides.
    pub fn find_authorization_code(
        &self,
        tenant_domain: &str,
        code_hash: &str,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        self.with_conn(|conn| {
            Ok(codes::table
                .filter(codes::code_hash.eq(code_hash))
                .filter(codes::tenant_domain.eq(tenant_domain))
                .select(AuthorizationCode::as_select())
                .first(conn)
                .optional()?)
        })
    }
}

/// How long a code is kept after it expired. A code is consumed before it expires, so this also
/// keeps every code consumed within the last day: a replay of a recently exchanged code must still
/// find the family its first use started, to revoke it (RFC 6749 4.1.2), rather than read as an
/// unknown code whose tokens live on.
pub const CODE_RETENTION_SECONDS: i64 = 24 * 60 * 60;

/// Deletes about `limit` codes (rows sharing the cut-off second go together) that expired more
/// than `CODE_RETENTION_SECONDS` before `now`, oldest first, inside the caller's transaction.
pub(super) fn purge_old_authorization_codes(
    conn: &mut DbConnection,
    now: i64,
    limit: i64,
) -> Result<usize, StoreError> {
    let expired_before = now.saturating_sub(CODE_RETENTION_SECONDS);
    let cutoff: Option<i64> = codes::table
        .filter(codes::expires_at.le(expired_before))
        .select(codes::expires_at)
        .order(codes::expires_at)
        .offset(limit.max(1) - 1)
        .first(conn)
        .optional()?;
    let through = cutoff.unwrap_or(expired_before).min(expired_before);
    Ok(diesel::delete(codes::table.filter(codes::expires_at.le(through))).execute(conn)?)
}

/// Marks the code consumed by this request, with the family it started, inside the caller's
/// transaction: only once, only before it expires, only by its own client. Otherwise the request
/// is refused with the family the first use recorded (`None` when it recorded none or the code was
/// never consumed). The row's own update settles races between requests, batches and nodes: the
/// loser's update finds it consumed.
pub(super) fn consume_authorization_code(
    conn: &mut DbConnection,
    code_hash: &str,
    client_id: &str,
    family_id: Option<&str>,
    now: i64,
) -> Result<(), ApplyError> {
    let consumed = diesel::update(
        codes::table
            .filter(codes::code_hash.eq(code_hash))
            .filter(codes::client_id.eq(client_id))
            .filter(codes::expires_at.gt(now))
            .filter(codes::consumed_at.is_null()),
    )
    .set((
        codes::consumed_at.eq(Some(now)),
        codes::family_id.eq(family_id),
    ))
    .execute(conn)?;
    if consumed == 1 {
        return Ok(());
    }
    let first_use: Option<Option<String>> = codes::table
        .find(code_hash)
        .filter(codes::consumed_at.is_not_null())
        .select(codes::family_id)
        .first(conn)
        .optional()?;
    Err(ApplyError::Refused(WriteRefusal::AuthorizationCodeSpent {
        family_id: first_use.flatten(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::test_thread as here;
    use crate::store::test_support::for_each_backend;
    use crate::store::{
        FamilyOrigin, GroupCommitter, NewFamily, NewToken, WriteOp, KIND_ACCESS, KIND_REFRESH,
    };

    const T: &str = "carbon.super";
    const CODE: &str = "the-code";

    fn code(expires_at: i64) -> NewAuthorizationCode {
        NewAuthorizationCode {
            code_hash: crate::secrets::hash_secret(CODE),
            tenant_domain: T.into(),
            client_id: "cid-1".into(),
            redirect_uri: "https://app.example/cb".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            nonce: Some("n-0S6_WzA2Mj".into()),
            session_id_hash: Some(crate::secrets::hash_secret("session")),
            subject: "alice".into(),
            scope: "openid profile".into(),
            auth_time: 90,
            claims: Some(r#"{"email":"alice@example.com"}"#.into()),
            issued_at: 100,
            expires_at,
        }
    }

    /// Two clients, and a code of the first expiring at 160.
    fn setup(store: &Store) -> GroupCommitter {
        for id in ["cid-1", "cid-2"] {
            let client = crate::store::clients::tests::sample(T, id, id);
            store.add_client(&client, 1).unwrap();
        }
        store.insert_authorization_code(&code(160)).unwrap();
        GroupCommitter::start(store, 3).unwrap()
    }

    fn consume(client: &str, family: Option<&str>, now: i64) -> WriteOp {
        WriteOp::ConsumeAuthorizationCode {
            code_hash: crate::secrets::hash_secret(CODE),
            client_id: client.into(),
            family_id: family.map(Into::into),
            now,
        }
    }

    /// What an exchange writes: the consume, a new family, an access and a refresh token in it.
    fn exchange(family: &str, now: i64) -> Vec<WriteOp> {
        let token = |kind: &'static str| {
            WriteOp::InsertToken(NewToken {
                key: crate::token_ids::TokenKey::of(&format!("sha256:{family}-{kind}")),
                kind,
                tenant_domain: T.into(),
                client_id: "cid-1".into(),
                subject: Some("alice".into()),
                scope: "openid profile".into(),
                issued_at: now,
                expires_at: now + 3600,
                family_id: Some(family.into()),
                claims: None,
                paired: None,
            })
        };
        vec![
            consume("cid-1", Some(family), now),
            WriteOp::InsertFamily(NewFamily {
                family_id: family.into(),
                tenant_domain: T.into(),
                client_id: "cid-1".into(),
                origin: FamilyOrigin::default(),
                started_at: now,
                expires_at: now + 86_400,
            }),
            token(KIND_ACCESS),
            token(KIND_REFRESH),
        ]
    }

    fn spent(outcome: Result<(), ApplyError>) -> Option<Option<String>> {
        match outcome {
            Err(ApplyError::Refused(WriteRefusal::AuthorizationCodeSpent { family_id })) => {
                Some(family_id)
            }
            _ => None,
        }
    }

    fn token_exists(store: &Store, token: &str) -> bool {
        store
            .find_active_token(T, &crate::token_ids::TokenKey::of(token), 150)
            .unwrap()
            .is_some()
    }

    fn stored(store: &Store) -> AuthorizationCode {
        store
            .find_authorization_code(T, &crate::secrets::hash_secret(CODE))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_code_is_stored_by_its_hash_and_found_in_its_tenant() {
        for_each_backend(|store| {
            let _writer = setup(store);
            let found = stored(store);
            assert_eq!(found.code_hash, crate::secrets::hash_secret(CODE));
            assert_ne!(found.code_hash, CODE);
            let new = code(160);
            assert_eq!(
                (found.nonce, found.session_id_hash, found.claims),
                (new.nonce, new.session_id_hash, new.claims)
            );
            assert_eq!(
                (found.subject.as_str(), found.scope.as_str()),
                ("alice", "openid profile")
            );
            assert_eq!(
                (found.auth_time, found.issued_at, found.expires_at),
                (90, 100, 160)
            );
            assert_eq!((found.consumed_at, found.family_id), (None, None));
            // The code itself finds nothing, nor does another tenant.
            assert!(store.find_authorization_code(T, CODE).unwrap().is_none());
            store.ensure_tenant("acme", 0).unwrap();
            let hash = crate::secrets::hash_secret(CODE);
            assert!(store
                .find_authorization_code("acme", &hash)
                .unwrap()
                .is_none());
        });
    }

    #[test]
    fn a_code_is_consumed_once_and_its_second_use_names_the_family_of_the_first() {
        for_each_backend(|store| {
            let writer = setup(store);
            writer
                .commit_blocking(here(), exchange("fam-1", 150))
                .unwrap();
            let found = stored(store);
            assert_eq!(
                (found.consumed_at, found.family_id.as_deref()),
                (Some(150), Some("fam-1"))
            );
            assert!(token_exists(store, "sha256:fam-1-access"));
            assert!(token_exists(store, "sha256:fam-1-refresh"));
            // The second use is refused, with the family to revoke; none of its writes land.
            let again = writer.commit_blocking(here(), exchange("fam-2", 151));
            assert_eq!(spent(again), Some(Some("fam-1".into())));
            assert!(!token_exists(store, "sha256:fam-2-access"));
            assert!(!token_exists(store, "sha256:fam-2-refresh"));
            let found = stored(store);
            assert_eq!(
                (found.consumed_at, found.family_id.as_deref()),
                (Some(150), Some("fam-1"))
            );
            // A first use that issued no refresh token leaves no family to name.
            store
                .insert_authorization_code(&NewAuthorizationCode {
                    code_hash: "sha256:other".into(),
                    ..code(160)
                })
                .unwrap();
            let other = |now| WriteOp::ConsumeAuthorizationCode {
                code_hash: "sha256:other".into(),
                client_id: "cid-1".into(),
                family_id: None,
                now,
            };
            writer.commit_blocking(here(), vec![other(150)]).unwrap();
            assert_eq!(
                spent(writer.commit_blocking(here(), vec![other(151)])),
                Some(None)
            );
        });
    }

    #[test]
    fn an_expired_code_an_unknown_one_and_another_clients_are_refused() {
        for_each_backend(|store| {
            let writer = setup(store);
            let commit = |op| writer.commit_blocking(here(), vec![op]);
            // Expired at 160 sharp.
            assert_eq!(spent(commit(consume("cid-1", Some("f"), 160))), Some(None));
            assert_eq!(spent(commit(consume("cid-2", Some("f"), 150))), Some(None));
            let unknown = WriteOp::ConsumeAuthorizationCode {
                code_hash: "sha256:unknown".into(),
                client_id: "cid-1".into(),
                family_id: None,
                now: 150,
            };
            assert_eq!(spent(commit(unknown)), Some(None));
            // None of them consumed it: its own client, in time, still can.
            assert_eq!(stored(store).consumed_at, None);
            commit(consume("cid-1", None, 159)).unwrap();
        });
    }

    #[test]
    fn a_request_failing_after_its_consume_leaves_the_code_unconsumed() {
        for_each_backend(|store| {
            let writer = setup(store);
            let mut writes = exchange("fam-1", 150);
            // Its last token's hash is taken: the request fails after the consume.
            let WriteOp::InsertToken(taken) = writes[3].clone() else {
                unreachable!()
            };
            writer
                .commit_blocking(
                    here(),
                    vec![WriteOp::InsertToken(NewToken {
                        family_id: None,
                        ..taken
                    })],
                )
                .unwrap();
            let failed = writer.commit_blocking(here(), std::mem::take(&mut writes));
            assert!(matches!(failed, Err(ApplyError::Store(_))), "{failed:?}");
            assert!(!token_exists(store, "sha256:fam-1-access"));
            assert_eq!(
                (stored(store).consumed_at, stored(store).family_id),
                (None, None)
            );
        });
    }

    #[test]
    fn racing_exchanges_of_one_code_have_one_winner() {
        for_each_backend(|store| {
            let writer = setup(store);
            let outcomes: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..2)
                    .map(|n| {
                        let writer = &writer;
                        s.spawn(move || {
                            writer.commit_blocking(here(), exchange(&format!("race-{n}"), 150))
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let winners: Vec<usize> = (0..2).filter(|&n| outcomes[n].is_ok()).collect();
            assert_eq!(winners.len(), 1, "{outcomes:?}");
            let winner = format!("race-{}", winners[0]);
            let loser = format!("race-{}", 1 - winners[0]);
            let refusal = outcomes.into_iter().find(|o| o.is_err()).unwrap();
            assert_eq!(spent(refusal), Some(Some(winner.clone())));
            assert!(token_exists(store, &format!("sha256:{winner}-refresh")));
            assert!(!token_exists(store, &format!("sha256:{loser}-access")));
            assert!(!token_exists(store, &format!("sha256:{loser}-refresh")));
            assert_eq!(stored(store).family_id, Some(winner));
        });
    }
}
