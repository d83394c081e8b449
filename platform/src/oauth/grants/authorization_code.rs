//! The authorization code grant (RFC 6749 4.1.3, OpenID Connect Core 3.1.3): a client exchanges
//! the code the authorization endpoint sent to its redirect URI, once, with the PKCE verifier
//! (RFC 7636 4.5) only it holds.
//!
//! - The code is found by its hash in the addressed tenant and must be this client's, unexpired
//!   and unconsumed, and `redirect_uri` must be the one it was issued for (4.1.3).
//! - PKCE: the verifier must transform to the code's challenge (S256). A code issued without a
//!   challenge would be refused a verifier (RFC 9700 2.1.1: downgrade), though the authorization
//!   endpoint issues none without one.
//! - The sign-in session the code was issued in must still be live: a logout between the
//!   sign-in and the exchange leaves the code worthless.
//! - A code presented again after its exchange is reuse: refused, and the family its first
//!   exchange started (every token issued from it, refresh token or not) revoked by the commit
//!   stage (4.1.2). Of two exchanges racing with one code, the one that loses at commit counts as
//!   reuse too.

use std::sync::Arc;

use crate::oauth::authorization_request::verify_pkce;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::token::{Decision, IdTokenWanted, Spent, Verdict};
use crate::oauth::wire::TokenRequest;
use crate::secrets::hash_secret;
use crate::store::{public_session_id, Client, FamilyOrigin};

/// The refusal of a code that is not there for this client: unknown, another client's, consumed
/// without tokens to revoke. Never says which.
pub const INVALID_CODE: &str = "the authorization code is invalid, expired, or was already used";

/// Longest code looked up: longer than any this server issues.
const MAX_CODE_BYTES: usize = 256;

pub fn authorize(
    ctx: &OAuthContext,
    request: &TokenRequest,
    client: &Arc<Client>,
    now: i64,
) -> Result<Verdict<Decision>, OAuthError> {
    let required = |name: &str| {
        request
            .param(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter: {name}")))
    };
    let code = required("code")?;
    let redirect_uri = required("redirect_uri")?;
    let verifier = request.param("code_verifier").filter(|v| !v.is_empty());
    if code.len() > MAX_CODE_BYTES {
        return Err(OAuthError::invalid_grant(INVALID_CODE));
    }
    let code_hash = hash_secret(code);
    let found = ctx
        .store
        .find_authorization_code(&client.tenant_domain, &code_hash)?
        .filter(|found| found.client_id == client.client_id);
    let Some(found) = found else {
        return Err(OAuthError::invalid_grant(INVALID_CODE));
    };
    if found.consumed_at.is_some() {
        return match found.family_id {
            Some(family_id) => Ok(Verdict::Reuse {
                client: client.clone(),
                family_id,
                spent: Spent::AuthorizationCode,
            }),
            None => Err(OAuthError::invalid_grant(INVALID_CODE)),
        };
    }
    if found.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired; sign in again",
        ));
    }
    if found.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri is not the one the authorization code was issued for",
        ));
    }
    match (found.code_challenge.is_empty(), verifier) {
        (true, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent for a code issued without a code_challenge",
            ))
        }
        (true, None) => {}
        (false, None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required: the code was issued with a PKCE code_challenge",
            ))
        }
        (false, Some(verifier)) => {
            if !verify_pkce(verifier, &found.code_challenge) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
    }
    if let Some(session) = &found.session_id_hash {
        let live = ctx.store.find_session(
            &client.tenant_domain,
            session,
            now,
            ctx.settings.sign_in.session_idle_timeout(),
        )?;
        if live.is_none() {
            return Err(OAuthError::invalid_grant(
                "the sign-in session the authorization code was issued in has ended",
            ));
        }
    }
    let scopes = crate::oauth::scopes::stored_scopes(&found.scope);
    let id_token = scopes.iter().any(|s| s == "openid").then(|| IdTokenWanted {
        nonce: found.nonce.clone(),
        auth_time: Some(found.auth_time),
        sid: found.session_id_hash.as_deref().map(public_session_id),
    });
    Ok(Verdict::Granted(Decision {
        subject: Some(found.subject),
        scopes,
        issue_refresh_token: client.allows_grant_type(super::REFRESH_TOKEN),
        rotation: None,
        origin: FamilyOrigin::default(),
        replay_keys: Vec::new(),
        claims: found.claims,
        id_token,
        code: Some(code_hash),
        shape: Default::default(),
    }))
}
