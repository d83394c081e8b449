//! RP-Initiated Logout 1.0: what a logout request asks, checked before anything ends. No HTTP
//! here: the caller reads the session cookie and renders the outcome.
//!
//! - `id_token_hint` must be an ID token this tenant signed (with a key it still publishes; an
//!   expired token is accepted, as section 2 allows); it names the client (`aud`/`azp`) and the
//!   user.
//! - `client_id`, when given with a hint, must be one of the hint's audiences.
//! - `post_logout_redirect_uri` is followed only when it is registered for the client, compared
//!   exactly (section 3); otherwise an error page, and no redirect.
//! - The session ends without asking only when the hint names the session's own user (section
//!   2: the OP "SHOULD ask the End-User whether to log out" otherwise): a link on another site
//!   cannot sign anyone out.

use std::collections::HashMap;

use serde_json::Value;

use super::context::OAuthContext;
use super::own_jwt::{audiences_of, verify_own_jwt, NotOurs};
use crate::store::{Client, StoreError};

/// Longest `id_token_hint` read.
const MAX_HINT_BYTES: usize = 16 * 1024;

/// What a hint says, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// `sub`, as the tenant presents it.
    pub subject: String,
    /// `aud` (one or several), `azp` first when present.
    pub audiences: Vec<String>,
    pub sid: Option<String>,
}

/// A logout request, checked.
#[derive(Debug)]
pub struct LogoutRequest {
    pub client: Option<std::sync::Arc<Client>>,
    pub hint: Option<Hint>,
    /// Registered for the client: where to send the browser afterwards.
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// Why a logout request cannot be followed: said on an error page, never by a redirect.
#[derive(Debug)]
pub enum LogoutRefusal {
    Invalid(String),
    Failed(StoreError),
}

impl From<StoreError> for LogoutRefusal {
    fn from(e: StoreError) -> Self {
        LogoutRefusal::Failed(e)
    }
}

/// Checks the parameters of a logout request to `tenant`.
pub fn check_logout_request(
    ctx: &OAuthContext,
    tenant: &str,
    params: &HashMap<String, String>,
    now: i64,
) -> Result<LogoutRequest, LogoutRefusal> {
    let param = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let hint = match param("id_token_hint") {
        Some(token) => Some(verify_hint(ctx, tenant, token, now)?),
        None => None,
    };
    let client_id = match (param("client_id"), &hint) {
        (Some(client_id), Some(hint)) if !hint.audiences.iter().any(|a| a == client_id) => {
            return Err(LogoutRefusal::Invalid(
                "client_id is not an audience of the id_token_hint".into(),
            ))
        }
        (Some(client_id), _) => Some(client_id.to_owned()),
        (None, Some(hint)) => hint.audiences.first().cloned(),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(client_id) => ctx.store.cached_client(tenant, client_id)?,
        None => None,
    };
    let post_logout_redirect_uri = match param("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(client) = &client else {
                return Err(LogoutRefusal::Invalid(
                    "post_logout_redirect_uri needs the client: send client_id or id_token_hint"
                        .into(),
                ));
            };
            if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(LogoutRefusal::Invalid(
                    "the post_logout_redirect_uri is not registered for this client".into(),
                ));
            }
            Some(uri.to_owned())
        }
    };
    Ok(LogoutRequest {
        client,
        hint,
        post_logout_redirect_uri,
        state: param("state").map(str::to_owned),
    })
}

/// Verifies `token` as an ID token of `tenant`: its signature by a key the tenant publishes, and
/// its issuer. Its expiry is not checked.
fn verify_hint(
    ctx: &OAuthContext,
    tenant: &str,
    token: &str,
    now: i64,
) -> Result<Hint, LogoutRefusal> {
    let invalid = |why: &str| {
        LogoutRefusal::Invalid(format!(
            "id_token_hint is not an ID token of this tenant: {why}"
        ))
    };
    let jws = match verify_own_jwt(ctx, tenant, token, MAX_HINT_BYTES, now)? {
        Ok(jws) => jws,
        Err(NotOurs::Malformed(why)) => return Err(invalid(&why)),
        Err(NotOurs::Signature) => return Err(invalid("its signature does not verify")),
        Err(NotOurs::Issuer) => return Err(invalid("another issuer")),
    };
    let Some(subject) = jws.claims.get("sub").and_then(Value::as_str) else {
        return Err(invalid("no sub"));
    };
    let mut audiences: Vec<String> = Vec::new();
    if let Some(azp) = jws.claims.get("azp").and_then(Value::as_str) {
        audiences.push(azp.to_owned());
    }
    audiences.extend(audiences_of(&jws.claims));
    audiences.dedup();
    Ok(Hint {
        subject: subject.to_owned(),
        audiences,
        sid: jws
            .claims
            .get("sid")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
