//! The refresh token grant (RFC 6749 6): a refresh token is exchanged, once, for a new access
//! token and a new refresh token (rotation, RFC 9700 4.14.2), for the same subject and at most the
//! same scopes. A refresh token used twice is refused the second time: it is consumed in the
//! transaction that stores its successor, conditional on being unrevoked, so of two racing
//! requests exactly one commits.

use crate::oauth::error::OAuthError;
use crate::oauth::issuance::AuthorizedGrant;
use crate::oauth::scopes::parse_scope;
use crate::oauth::wire::TokenRequest;
use crate::secrets::hash_secret;
use crate::store::{ServiceProvider, Store};

pub fn authorize(
    store: &Store,
    request: &TokenRequest,
    client: &ServiceProvider,
    now: i64,
) -> Result<AuthorizedGrant, OAuthError> {
    let token = request
        .param("refresh_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing parameter: refresh_token"))?;
    // Scope is checked before the token is used up, so a bad request does not cost the client
    // its refresh token.
    let requested = request.param("scope").map(parse_scope).transpose()?;
    let previous = store
        .find_active_token(&client.tenant_domain, &hash_secret(token), now)?
        .filter(|t| t.client_id == client.client_id && t.token_kind == crate::store::KIND_REFRESH);
    let Some(previous) = previous else {
        return Err(invalid_token());
    };
    let original: Vec<String> = previous
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
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
    Ok(AuthorizedGrant {
        subject: previous.subject,
        scopes,
        issue_refresh_token: true,
        consumes_refresh_token: Some(previous.token_hash),
    })
}

/// The refusal for a refresh token that is unknown, expired, spent, or another client's; the
/// token endpoint gives the same one when the token turns out spent at commit.
pub fn invalid_token() -> OAuthError {
    OAuthError::invalid_grant(
        "the refresh token is invalid, expired, already used, or was issued to another client",
    )
}
