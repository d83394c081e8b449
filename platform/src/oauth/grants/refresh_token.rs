//! The refresh token grant (RFC 6749 6) with rotation and families (RFC 9700 4.14.2): a refresh
//! token is exchanged, once, for a new access token and a new refresh token of the same family,
//! for the same subject and at most the same scopes.
//!
//! - A refresh token presented after it was spent is reuse: the whole family is revoked (its
//!   successor and every access token issued from it), and the request refused. Of two requests
//!   racing with one token, the one that loses at commit counts as reuse too.
//! - A family ends at its absolute lifetime (`refresh_token_family_lifetime_seconds`) however often it
//!   rotates.
//! - A family whose original grant came from an identity provider stops when that provider is
//!   removed, disabled or registered anew, or no longer bound to the client as a service account
//!   when the grant came through that binding. A removed client takes its tokens with it.

use std::sync::Arc;

use crate::oauth::error::OAuthError;
use crate::oauth::scopes::parse_scope;
use crate::oauth::token::{ContinuedFamily, Decision, Rotation, Spent, Verdict};
use crate::oauth::wire::TokenRequest;
use crate::store::{Client, FamilyOrigin, Store, TokenFamily};

/// A spent token presented again is reuse: refused, and its family revoked by the commit stage.
pub fn authorize(
    store: &Store,
    request: &TokenRequest,
    client: &Arc<Client>,
    now: i64,
) -> Result<Verdict<Decision>, OAuthError> {
    let token = request
        .param("refresh_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing parameter: refresh_token"))?;
    // Scope is checked before the token is used up, so a bad request does not cost the client
    // its refresh token.
    let requested = request.param("scope").map(parse_scope).transpose()?;
    let key = crate::token_ids::TokenKey::of(token);
    let found = store
        .find_refresh_token(&client.tenant_domain, &key, now)?
        .filter(|(t, _)| t.client_id == client.client_id);
    let Some((previous, family)) = found else {
        return Err(invalid_token());
    };
    if previous.revoked_at.is_some() {
        return match family {
            Some(family) => Ok(Verdict::Reuse {
                client: client.clone(),
                family_id: family.family_id,
                spent: Spent::RefreshToken,
            }),
            None => Err(invalid_token()),
        };
    }
    if let Some(family) = &family {
        family_still_valid(store, client, family, now)?;
    }
    let original = crate::oauth::scopes::stored_scopes(&previous.scope);
    let scopes = match requested.filter(|r| !r.is_empty()) {
        None => original.clone(),
        Some(requested) => {
            if let Some(extra) = requested.iter().find(|s| !original.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope '{extra}' was not granted with the refresh token"
                )));
            }
            requested
        }
    };
    // The client may have lost scopes since.
    let scopes: Vec<String> = scopes
        .into_iter()
        .filter(|s| client.scopes.contains(s))
        .collect();
    if scopes.is_empty() && !original.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the refresh token's scopes is still allowed for this client",
        ));
    }
    Ok(Verdict::Granted(Decision {
        subject: previous.subject,
        scopes,
        issue_refresh_token: true,
        rotation: Some(Rotation {
            token: key,
            family: family.map(|f| ContinuedFamily {
                family_id: f.family_id,
                expires_at: f.expires_at,
            }),
        }),
        origin: FamilyOrigin::default(),
        replay_keys: Vec::new(),
        // The original grant's claims go on with the family.
        claims: previous.claims,
        id_token: None,
        code: None,
        shape: Default::default(),
    }))
}

/// The family's own limits: revoked, past its absolute lifetime, or cut off from the identity
/// provider its original grant came from.
fn family_still_valid(
    store: &Store,
    client: &Client,
    family: &TokenFamily,
    now: i64,
) -> Result<(), OAuthError> {
    if family.revoked_at.is_some() {
        return Err(invalid_token());
    }
    if now >= family.expires_at {
        return Err(OAuthError::invalid_grant(
            "the refresh token's family has reached its absolute lifetime; a new grant is needed",
        ));
    }
    let Some(issuer) = &family.idp_issuer else {
        return Ok(());
    };
    let stopped = |why: &str| {
        Err(OAuthError::invalid_grant(format!(
            "the refresh token no longer works: the identity provider of its original grant {why}"
        )))
    };
    let provider = store.cached_identity_provider(&client.tenant_domain, issuer)?;
    match provider {
        None => stopped("was removed"),
        Some(p) if Some(p.created_at) != family.idp_created_at => stopped("was registered anew"),
        Some(p) if !p.enabled => stopped("is disabled"),
        Some(p)
            if family.via_service_account != 0
                && p.service_account_client.as_deref() != Some(client.client_id.as_str()) =>
        {
            stopped("is no longer bound to this client as a service account")
        }
        Some(_) => Ok(()),
    }
}

/// The refusal for a refresh token that is unknown, expired, spent, or another client's; the
/// token endpoint gives the same one when the token turns out spent at commit.
pub fn invalid_token() -> OAuthError {
    OAuthError::invalid_grant(
        "the refresh token is invalid, expired, already used, or was issued to another client",
    )
}
