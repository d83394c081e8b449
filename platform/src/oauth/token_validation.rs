//! A tenant's own token as introspection sees it, for grant plugins (ABI 1.1's
//! `host_validate_token`, which token exchange calls for its subject and actor tokens).
//!
//! Access and refresh tokens, JWT or opaque, are found by the digest the store keeps: a revoked or
//! expired one is inactive whatever its signature says. ID tokens are not stored; one is checked
//! by its signature with a key the tenant publishes, its issuer and its time window.

use grantor_jose::Jws;
use grantor_sdk::ValidatedToken;
use serde_json::{Map, Value};

use super::context::OAuthContext;
use super::error::OAuthError;
use super::own_jwt::{audiences_of, verify_own_jwt};
use super::scopes::stored_scopes;
use crate::store::{KIND_ACCESS, KIND_REFRESH};

/// Longest token looked at; anything longer is no token of ours.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// `token` as a token of `tenant` at `now`; `active: false` (and nothing else) when it is none.
pub fn validate_own_token(
    ctx: &OAuthContext,
    tenant: &str,
    token: &str,
    now: i64,
) -> Result<ValidatedToken, OAuthError> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Ok(ValidatedToken::default());
    }
    if let Some(found) =
        ctx.store
            .find_active_token(tenant, &crate::token_ids::TokenKey::of(token), now)?
    {
        let token_type = match found.token_kind.as_str() {
            KIND_ACCESS => "access_token",
            KIND_REFRESH => "refresh_token",
            _ => return Ok(ValidatedToken::default()),
        };
        // Ours (its digest is stored), so its payload needs no second check of the signature.
        let jwt_claims = Jws::parse(token, MAX_TOKEN_BYTES)
            .ok()
            .map(|jws| jws.claims);
        let format = if jwt_claims.is_some() {
            "jwt"
        } else {
            "opaque"
        };
        let claims = match jwt_claims {
            Some(claims) => claims,
            None => found
                .claims
                .as_deref()
                .and_then(|c| serde_json::from_str::<Map<String, Value>>(c).ok())
                .unwrap_or_default(),
        };
        return Ok(ValidatedToken {
            active: true,
            token_type: token_type.into(),
            format: format.into(),
            audience: audiences_of(&claims),
            client_id: found.client_id,
            subject: found.subject,
            scopes: stored_scopes(&found.scope),
            issued_at: found.issued_at,
            expires_at: found.expires_at,
            claims,
        });
    }
    id_token(ctx, tenant, token, now)
}

/// An ID token of `tenant`: signed by a key it publishes, its issuer, unexpired.
fn id_token(
    ctx: &OAuthContext,
    tenant: &str,
    token: &str,
    now: i64,
) -> Result<ValidatedToken, OAuthError> {
    let inactive = Ok(ValidatedToken::default());
    let Ok(jws) = verify_own_jwt(ctx, tenant, token, MAX_TOKEN_BYTES, now)? else {
        return inactive;
    };
    // Only `typ: JWT` (or none): an access token the store does not hold (any more) is revoked
    // or expired, an ID-JAG is for another domain.
    if !matches!(
        jws.header.get("typ").and_then(Value::as_str),
        None | Some("JWT")
    ) {
        return inactive;
    }
    let Some(found_tenant) = ctx.store.cached_active_tenant(tenant)? else {
        return inactive;
    };
    let claims = jws.claims;
    let int = |name: &str| claims.get(name).and_then(Value::as_i64);
    let (Some(subject), Some(expires_at)) = (claims.get("sub").and_then(Value::as_str), int("exp"))
    else {
        return inactive;
    };
    if expires_at <= now || int("nbf").is_some_and(|nbf| nbf > now) {
        return inactive;
    }
    // Every ID token this server signs names its client in `azp`; the JWT authorization grants
    // it signs for other domains (`typ: JWT` too) never do, and are no ID tokens here.
    let Some(client_id) = claims.get("azp").and_then(Value::as_str).map(str::to_owned) else {
        return inactive;
    };
    let audience = audiences_of(&claims);
    if !audience.contains(&client_id) {
        return inactive;
    }
    Ok(ValidatedToken {
        active: true,
        token_type: "id_token".into(),
        format: "jwt".into(),
        client_id,
        subject: Some(found_tenant.stored_subject(subject).to_owned()),
        scopes: Vec::new(),
        issued_at: int("iat").unwrap_or(0),
        expires_at,
        audience,
        claims,
    })
}
