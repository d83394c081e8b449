//! Token introspection (RFC 7662) and revocation (RFC 7009), both client-authenticated and both
//! within the request's tenant. Opaque and JWT access tokens alike are found by the hash the store
//! keeps, so a revoked JWT is reported inactive although its signature still verifies.

use serde_json::{json, Value};

use super::client_auth::{authenticate_client, extract_client_credentials};
use super::error::OAuthError;
use super::grants::family_revocation;
use super::wire::TokenRequest;
use crate::secrets::hash_secret;
use crate::store::{GroupCommitter, ServiceProvider, Store, WriteOp, KIND_ACCESS, KIND_REFRESH};

fn authenticated(store: &Store, request: &TokenRequest) -> Result<ServiceProvider, OAuthError> {
    let credentials = extract_client_credentials(request)?
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    Ok((*authenticate_client(store, &request.tenant_domain, &credentials)?).clone())
}

fn token_param(request: &TokenRequest) -> Result<&str, OAuthError> {
    request
        .param("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing parameter: token"))
}

/// `{"active": false}` for anything unknown, expired, revoked or of another tenant (RFC 7662
/// 2.2: nothing more is said about such a token).
pub fn introspect(store: &Store, request: &TokenRequest, now: i64) -> Result<Value, OAuthError> {
    authenticated(store, request)?;
    let token = token_param(request)?;
    let Some(found) = store.find_active_token(&request.tenant_domain, &hash_secret(token), now)?
    else {
        return Ok(json!({ "active": false }));
    };
    let mut answer = json!({
        "active": true,
        "scope": found.scope,
        "client_id": found.client_id,
        "exp": found.expires_at,
        "iat": found.issued_at,
    });
    if let Some(subject) = &found.subject {
        answer["sub"] = json!(subject);
    }
    if found.token_kind == KIND_ACCESS {
        answer["token_type"] = json!("Bearer");
    }
    Ok(answer)
}

/// Revokes a token of the requesting client: an access token alone, a refresh token with its
/// whole family (RFC 7009 2.1: the grant's access tokens go with it). Another client's token, or
/// an unknown one, is left as it is and answered the same (2.2).
pub fn revoke(
    store: &Store,
    writer: &GroupCommitter,
    request: &TokenRequest,
    now: i64,
) -> Result<(), OAuthError> {
    let client = authenticated(store, request)?;
    let token = token_param(request)?;
    let hash = hash_secret(token);
    let Some(found) = store.find_active_token(&request.tenant_domain, &hash, now)? else {
        return Ok(());
    };
    if found.client_id != client.client_id {
        return Ok(());
    }
    let write = match (&found.family_id, found.token_kind.as_str()) {
        (Some(family), KIND_REFRESH) => family_revocation(&client, family, now),
        _ => WriteOp::RevokeToken {
            token_hash: hash,
            now,
        },
    };
    writer.commit_blocking(vec![write]).map_err(|e| match e {
        crate::store::ApplyError::Store(e) => OAuthError::from(e),
        other => OAuthError::internal("revocation", other),
    })
}
