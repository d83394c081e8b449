//! Token introspection (RFC 7662) and revocation (RFC 7009), both client-authenticated and both
//! within the request's tenant. Opaque and JWT access tokens alike are found in the store (by the
//! id an opaque token carries, or a JWT's hash) and checked against the hash it keeps, so a revoked
//! JWT is reported inactive although its signature still verifies.

use serde_json::{json, Value};

use super::client_auth::{authenticate, AuthenticatedClient};
use super::error::OAuthError;
use super::wire::TokenRequest;
use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::store::Client;
use crate::store::{ApplyError, ReplayKey, WriteOp, WriteRefusal, KIND_ACCESS, KIND_REFRESH};
use crate::token_ids::TokenKey;

fn authenticated(
    app: &OAuthContext,
    on: OnBlockingThread,
    request: &TokenRequest,
    now: i64,
) -> Result<AuthenticatedClient, OAuthError> {
    let authenticated = authenticate(app, on, request, now)?
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    tracing::Span::current().record("client_id", authenticated.client.client_id.as_str());
    Ok(authenticated)
}

/// What a request decided on the token work pool: the writes to commit before it is answered
/// (a client assertion's replay key first, then a revocation), and its answer, which may be an
/// error given only once the writes landed (another client's token).
pub struct Decided {
    writes: Vec<WriteOp>,
    answer: Result<Value, OAuthError>,
}

impl Decided {
    fn new(writes: Vec<WriteOp>, answer: Result<Value, OAuthError>) -> Decided {
        Decided { writes, answer }
    }

    /// Commits the writes, waiting for the group commit without holding a thread, then gives
    /// the answer: nothing is answered for a replayed client assertion.
    pub async fn answer(self, app: &OAuthContext) -> Result<Value, OAuthError> {
        app.writer.commit(self.writes).await.map_err(|e| match e {
            ApplyError::Refused(WriteRefusal::ReplayKeyTaken { .. }) => {
                OAuthError::invalid_client(super::private_key_jwt::REPLAYED)
            }
            ApplyError::Store(e) => OAuthError::from(e),
            other => OAuthError::internal("introspection or revocation", other),
        })?;
        self.answer
    }
}

/// A client assertion's replay key, recorded before anything is answered.
fn replay_writes(key: Option<ReplayKey>, now: i64) -> Vec<WriteOp> {
    key.map(|key| WriteOp::RecordReplayKey { key, now })
        .into_iter()
        .collect()
}

fn token_param(request: &TokenRequest) -> Result<&str, OAuthError> {
    request
        .param("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing parameter: token"))
}

/// `{"active": false}` for anything unknown, expired, revoked or of another tenant (RFC 7662
/// 2.2: nothing more is said about such a token). The token is looked up before the client's
/// replay key is committed; a replayed assertion's answer is then never given.
pub fn introspect(
    app: &OAuthContext,
    on: OnBlockingThread,
    request: &TokenRequest,
    now: i64,
) -> Result<Decided, OAuthError> {
    let AuthenticatedClient { client, replay_key } = authenticated(app, on, request, now)?;
    let token = token_param(request)?;
    let answer = describe(app, &client, request, token, now);
    Ok(Decided::new(replay_writes(replay_key, now), answer))
}

/// What introspection says of `token`.
fn describe(
    app: &OAuthContext,
    client: &Client,
    request: &TokenRequest,
    token: &str,
    now: i64,
) -> Result<Value, OAuthError> {
    let store = &app.store;
    let found = store
        .find_active_token(&request.tenant_domain, &TokenKey::of(token), now)?
        // A refresh token is its client's alone: another client (a resource server, say) has no
        // business with it, and is told as much as of an unknown token.
        .filter(|found| found.token_kind != KIND_REFRESH || found.client_id == client.client_id);
    let Some(found) = found else {
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
        let presented = match store.cached_active_tenant(&request.tenant_domain)? {
            Some(tenant) => tenant.present_subject(subject),
            None => subject.clone(),
        };
        answer["sub"] = json!(presented);
    }
    if found.token_kind == KIND_ACCESS {
        answer["token_type"] = json!("Bearer");
    }
    // A token exchange's audience and actor (RFC 8693 2.1, 4.1), as stored with the token.
    let stored: Option<serde_json::Map<String, Value>> = found
        .claims
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    for name in ["aud", "act"] {
        if let Some(value) = stored.as_ref().and_then(|claims| claims.get(name)) {
            answer[name] = value.clone();
        }
    }
    Ok(answer)
}

/// Revokes a token of the requesting client: an access token alone, a refresh token with its
/// whole family (RFC 7009 2.1: the grant's access tokens go with it). Another client's token is
/// refused and left as it is (2.1: the server "verifies whether the token was issued to the
/// client making the revocation request. If this validation fails, the request is refused");
/// an unknown one is answered as revoked (2.2).
pub fn revoke(
    app: &OAuthContext,
    on: OnBlockingThread,
    request: &TokenRequest,
    now: i64,
) -> Result<Decided, OAuthError> {
    let AuthenticatedClient { client, replay_key } = authenticated(app, on, request, now)?;
    let token = token_param(request)?;
    let mut writes = replay_writes(replay_key, now);
    let revoked = Ok(Value::Object(Default::default()));
    let key = TokenKey::of(token);
    let Some(found) = app
        .store
        .find_active_token(&request.tenant_domain, &key, now)?
    else {
        return Ok(Decided::new(writes, revoked));
    };
    if found.client_id != client.client_id {
        return Ok(Decided::new(
            writes,
            Err(OAuthError::unauthorized_client(
                "the token was not issued to this client",
            )),
        ));
    }
    let write = match (&found.family_id, found.token_kind.as_str()) {
        (Some(family), KIND_REFRESH) => WriteOp::RevokeFamily {
            family_id: family.clone(),
            now,
        },
        _ => WriteOp::RevokeToken { token: key, now },
    };
    writes.push(write);
    Ok(Decided::new(writes, revoked))
}
