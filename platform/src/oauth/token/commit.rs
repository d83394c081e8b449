//! Stage 4: what the request writes commits in one transaction of the group commit; the response
//! exists for the client only after that. The races the database settles become refusals here,
//! and the reuse of a refresh token or an authorization code (found by the decision, or at commit)
//! becomes the revocation of the family it started: the only place a token request revokes
//! anything.

use std::sync::Arc;

use super::decide::{Spent, Verdict};
use super::issue::Issued;
use crate::blocking::Answer;
use crate::oauth::client_auth::AUTHENTICATION_FAILED;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::authorization_code::INVALID_CODE;
use crate::oauth::grants::invalid_refresh_token;
use crate::oauth::wire::TokenResponse;
use crate::store::{ApplyError, Client, ReplayKind, WriteOp, WriteRefusal};

pub async fn commit(
    ctx: &OAuthContext,
    verdict: Verdict<Issued>,
) -> Result<TokenResponse, OAuthError> {
    match verdict {
        Verdict::Granted(mut issued) => {
            let committed = ctx.writer.commit(std::mem::take(&mut issued.writes)).await;
            settle(ctx, issued, committed).await
        }
        Verdict::Reuse {
            client,
            family_id,
            spent,
        } => Err(revoke_reused(ctx, &client, family_id, spent).await),
    }
}

/// What the token work pool answers for a request whose stages ran on it.
pub enum Submitted {
    /// A grant, with its writes' commit (submitted from the pool's thread).
    Committed(Issued, Result<(), ApplyError>),
    /// Anything else: nothing was submitted.
    Decided(Verdict<Issued>),
}

/// On the token work pool's thread: a grant's writes go to the group commit, which answers the
/// request once they are durable (its caller is woken once, not once by the pool and again by the
/// commit); anything else is answered at once.
pub fn submit(
    ctx: &OAuthContext,
    verdict: Result<Verdict<Issued>, OAuthError>,
    answer: Answer<Result<Submitted, OAuthError>>,
) {
    match verdict {
        Ok(Verdict::Granted(mut issued)) => {
            let writes = std::mem::take(&mut issued.writes);
            ctx.writer.commit_then(writes, move |committed| {
                answer.send(Ok(Submitted::Committed(issued, committed)))
            });
        }
        decided => answer.send(decided.map(Submitted::Decided)),
    }
}

/// `commit` for what `submit` answered.
pub async fn finish(ctx: &OAuthContext, submitted: Submitted) -> Result<TokenResponse, OAuthError> {
    match submitted {
        Submitted::Committed(issued, committed) => settle(ctx, issued, committed).await,
        Submitted::Decided(verdict) => commit(ctx, verdict).await,
    }
}

/// A grant's response once its writes committed; the races the database settled, as refusals.
async fn settle(
    ctx: &OAuthContext,
    issued: Issued,
    committed: Result<(), ApplyError>,
) -> Result<TokenResponse, OAuthError> {
    match committed {
        Ok(()) => Ok(issued.response),
        Err(ApplyError::Refused(WriteRefusal::ReplayKeyTaken(key))) => match key.kind {
            ReplayKind::ClientAssertion { .. } => Err(OAuthError::invalid_client(
                crate::oauth::private_key_jwt::REPLAYED,
            )),
            // The plugin's own words for a replay it finds, so both ways of finding one read alike.
            ReplayKind::GrantAssertion { .. } => Err(OAuthError::invalid_grant(
                grantor_sdk::jwt_bearer::replayed_assertion(&key.jti),
            )),
        },
        Err(ApplyError::Refused(WriteRefusal::RefreshTokenSpent)) => match issued.rotated_family {
            // Spent by another request since this one read it: reuse, as if presented late.
            Some(family_id) => {
                Err(revoke_reused(ctx, &issued.client, family_id, Spent::RefreshToken).await)
            }
            None => Err(invalid_refresh_token()),
        },
        // Exchanged by another request since this one read it (or expired meanwhile): reuse
        // when that exchange started a family.
        Err(ApplyError::Refused(WriteRefusal::AuthorizationCodeSpent { family_id })) => {
            match family_id {
                Some(family_id) => {
                    Err(
                        revoke_reused(ctx, &issued.client, family_id, Spent::AuthorizationCode)
                            .await,
                    )
                }
                None => Err(OAuthError::invalid_grant(INVALID_CODE)),
            }
        }
        Err(ApplyError::Refused(WriteRefusal::OwnerRemoved)) => {
            // Removed after this request authenticated it: it is no client any more.
            Err(OAuthError::invalid_client(AUTHENTICATION_FAILED))
        }
        Err(ApplyError::Store(e)) if e.is_unavailable() => Err(e.into()),
        Err(ApplyError::Store(e)) => Err(OAuthError::internal("token storage", e)),
    }
}

/// A refresh token or an authorization code presented after it was spent: the family it started is
/// revoked (refresh tokens and every access token issued from it) and the request refused. The
/// refusal stands whether or not the revocation commits.
async fn revoke_reused(
    ctx: &OAuthContext,
    client: &Arc<Client>,
    family_id: String,
    spent: Spent,
) -> OAuthError {
    let what = match spent {
        Spent::RefreshToken => "a spent refresh token",
        Spent::AuthorizationCode => "a spent authorization code",
    };
    tracing::warn!(
        tenant = %client.tenant_domain,
        client_id = %client.client_id,
        "{what} was presented again: its family is revoked, access tokens included"
    );
    let revoke = WriteOp::RevokeFamily {
        family_id,
        now: crate::clock::now_unix(),
    };
    if let Err(e) = ctx.writer.commit(vec![revoke]).await {
        tracing::error!("revoking a refresh token family failed: {e}");
    }
    match spent {
        Spent::RefreshToken => invalid_refresh_token(),
        Spent::AuthorizationCode => OAuthError::invalid_grant(
            "the authorization code was already used; the tokens issued for it are revoked",
        ),
    }
}
