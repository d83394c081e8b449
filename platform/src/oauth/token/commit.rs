//! Stage 4: what the request writes commits in one transaction of the group commit; the response
//! exists for the client only after that. The races the database settles become refusals here,
//! and refresh token reuse (found by the decision, or at commit) becomes the revocation of its
//! family: the only place a token request revokes anything.

use std::sync::Arc;

use super::decide::Verdict;
use super::issue::Issued;
use crate::oauth::client_auth::AUTHENTICATION_FAILED;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::invalid_refresh_token;
use crate::oauth::wire::TokenResponse;
use crate::store::{ApplyError, Client, ReplayKind, WriteOp, WriteRefusal};

pub async fn commit(
    ctx: &OAuthContext,
    verdict: Verdict<Issued>,
) -> Result<TokenResponse, OAuthError> {
    let issued = match verdict {
        Verdict::Granted(issued) => issued,
        Verdict::Reuse { client, family_id } => {
            return Err(revoke_reused(ctx, &client, family_id).await)
        }
    };
    match ctx.writer.commit(issued.writes).await {
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
            Some(family_id) => Err(revoke_reused(ctx, &issued.client, family_id).await),
            None => Err(invalid_refresh_token()),
        },
        // No grant writes this yet (the `authorization_code` grant comes later, with the
        // revocation of the family the first use started).
        Err(ApplyError::Refused(WriteRefusal::AuthorizationCodeSpent { .. })) => {
            Err(OAuthError::invalid_grant(
                "the authorization code is invalid, expired, or was already used",
            ))
        }
        Err(ApplyError::Refused(WriteRefusal::OwnerRemoved)) => {
            // Removed after this request authenticated it: it is no client any more.
            Err(OAuthError::invalid_client(AUTHENTICATION_FAILED))
        }
        Err(ApplyError::Store(e)) if e.is_unavailable() => Err(e.into()),
        Err(ApplyError::Store(e)) => Err(OAuthError::internal("token storage", e)),
    }
}

/// A refresh token presented after it was spent: its family is revoked (its successor and every
/// access token issued from it) and the request refused. The refusal stands whether or not the
/// revocation commits.
async fn revoke_reused(ctx: &OAuthContext, client: &Arc<Client>, family_id: String) -> OAuthError {
    tracing::warn!(
        tenant = %client.tenant_domain,
        client_id = %client.client_id,
        "a spent refresh token was presented again: its family is revoked, access tokens included"
    );
    let revoke = WriteOp::RevokeFamily {
        family_id,
        now: crate::clock::now_unix(),
    };
    if let Err(e) = ctx.writer.commit(vec![revoke]).await {
        tracing::error!("revoking a refresh token family failed: {e}");
    }
    invalid_refresh_token()
}
