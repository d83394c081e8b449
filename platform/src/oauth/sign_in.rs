//! The authorization endpoint's decisions once a request is valid (`authorization_request`): whose
//! browser session it comes with, whether the user must sign in or consent first, and the code it
//! ends with. No HTTP here: the caller reads cookies and forms, and renders what is decided.
//!
//! - A session is found by the digest of its cookie, fresh from the store (a logout on one node
//!   holds on every other at once), and touched so its idle timeout restarts.
//! - A sign-in always starts a new session, ending the one the browser had (no fixation).
//! - The code is random (256 bits), stored only as a hash, bound to the client, the redirect URI,
//!   the PKCE challenge, the nonce and the session, and lives
//!   `[oauth.sign_in] authorization_code_lifetime_seconds`.

use crate::oauth::authorization_request::AuthorizationRequest;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::secrets::{hash_secret, random_token};
use crate::store::{
    hash_session_id, new_session_id, Client, NewAuthorizationCode, NewSession, Session, StoreError,
    User, CONSENT_REQUIRED,
};

/// What the request needs before a code can be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The login page: no session, `prompt=login`, or a sign-in older than `max_age`.
    SignIn,
    /// The consent page: the client asks for consent and the user has not given it to these
    /// scopes (or `prompt=consent`).
    Consent,
    /// Nothing: the code can be issued.
    Issue,
}

/// The live session of `tenant` the browser's cookie names, touched; `None` without one.
pub fn live_session(
    ctx: &OAuthContext,
    tenant: &str,
    session_id: Option<&str>,
    now: i64,
) -> Result<Option<Session>, StoreError> {
    let Some(session_id) = session_id else {
        return Ok(None);
    };
    let id_hash = hash_session_id(session_id);
    let idle = ctx.settings.sign_in.session_idle_timeout();
    let Some(session) = ctx.store.find_session(tenant, &id_hash, now, idle)? else {
        return Ok(None);
    };
    ctx.store.touch_session(&id_hash, now, idle)?;
    Ok(Some(session))
}

/// Whether the user must sign in (again) for `request` with `session`.
pub fn must_sign_in(request: &AuthorizationRequest, session: Option<&Session>, now: i64) -> bool {
    let Some(session) = session else {
        return true;
    };
    if request.prompt.login {
        return true;
    }
    // OpenID Connect Core 3.1.2.1: "If the elapsed time is greater than this value, the OP MUST
    // attempt to actively re-authenticate the End-User." Time is counted in whole seconds, so a
    // sign-in of this very second has an elapsed time of 0: `max_age=0` asks for a sign-in now
    // whatever the elapsed time, or it would not in the second after each sign-in.
    request.max_age.is_some_and(|max_age| {
        let elapsed = now.saturating_sub(session.auth_time);
        max_age == 0 || u64::try_from(elapsed).unwrap_or(0) > max_age
    })
}

/// Whether `subject` must consent to `request`'s scopes for `client`: only a client registered
/// with `--consent required`, and then unless a remembered grant covers them (`prompt=consent`
/// asks again).
pub fn must_consent(
    ctx: &OAuthContext,
    client: &Client,
    request: &AuthorizationRequest,
    subject: &str,
) -> Result<bool, StoreError> {
    if client.consent != CONSENT_REQUIRED {
        return Ok(false);
    }
    if request.prompt.consent {
        return Ok(true);
    }
    let given = ctx
        .store
        .find_consent(&client.tenant_domain, &client.client_id, subject)?;
    Ok(!given.is_some_and(|consent| consent.covers(&request.scopes)))
}

/// What comes next for a signed-in (or not) browser.
pub fn next_step(
    ctx: &OAuthContext,
    client: &Client,
    request: &AuthorizationRequest,
    session: Option<&Session>,
    now: i64,
) -> Result<Step, StoreError> {
    match session {
        Some(session) if !must_sign_in(request, Some(session), now) => {
            if must_consent(ctx, client, request, &session.subject)? {
                Ok(Step::Consent)
            } else {
                Ok(Step::Issue)
            }
        }
        _ => Ok(Step::SignIn),
    }
}

/// A new session for `user`, who just proved their password, in place of the browser's
/// `previous` one (ended, so its cookie is worth nothing even if it leaked). The session id, for
/// the cookie, and the session.
pub fn start_session(
    ctx: &OAuthContext,
    user: &User,
    previous: Option<&str>,
    now: i64,
) -> Result<(String, Session), OAuthError> {
    if let Some(previous) = previous {
        ctx.store
            .end_session(&user.tenant_domain, &hash_session_id(previous), now)?;
    }
    let session_id = new_session_id().map_err(|e| OAuthError::internal("random", e))?;
    let lifetime = ctx.settings.sign_in.session_lifetime();
    let new = NewSession {
        id_hash: hash_session_id(&session_id),
        tenant_domain: user.tenant_domain.clone(),
        subject: user.username.clone(),
        auth_time: now,
        created_at: now,
        expires_at: now.saturating_add(lifetime),
    };
    ctx.store.create_session(&new)?;
    let session = Session {
        id_hash: new.id_hash,
        tenant_domain: new.tenant_domain,
        subject: new.subject,
        auth_time: now,
        created_at: now,
        last_seen_at: now,
        expires_at: new.expires_at,
        ended_at: None,
    };
    Ok((session_id, session))
}

/// Remembers that the session's user allowed `client` the request's scopes.
pub fn remember_consent(
    ctx: &OAuthContext,
    client: &Client,
    request: &AuthorizationRequest,
    session: &Session,
    now: i64,
) -> Result<(), StoreError> {
    ctx.store
        .grant_consent(
            &client.tenant_domain,
            &client.client_id,
            &session.subject,
            &request.scopes,
            now,
        )
        .map(|_| ())
}

/// Why no code was issued.
#[derive(Debug)]
pub enum CodeRefusal {
    /// The session's user was removed meanwhile: sign in again.
    UserGone,
    Failed(OAuthError),
}

impl From<StoreError> for CodeRefusal {
    fn from(e: StoreError) -> Self {
        CodeRefusal::Failed(e.into())
    }
}

/// Issues a code for `request` in `session`: stored hashed, returned once.
pub fn issue_code(
    ctx: &OAuthContext,
    client: &Client,
    request: &AuthorizationRequest,
    session: &Session,
    now: i64,
) -> Result<String, CodeRefusal> {
    let Some(user) = ctx
        .store
        .find_user(&client.tenant_domain, &session.subject)?
    else {
        return Err(CodeRefusal::UserGone);
    };
    let claims = user.claims_object();
    let code =
        random_token(32).map_err(|e| CodeRefusal::Failed(OAuthError::internal("random", e)))?;
    let lifetime = ctx.settings.sign_in.authorization_code_lifetime_seconds;
    ctx.store.insert_authorization_code(&NewAuthorizationCode {
        code_hash: hash_secret(&code),
        tenant_domain: client.tenant_domain.clone(),
        client_id: client.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        session_id_hash: Some(session.id_hash.clone()),
        subject: session.subject.clone(),
        scope: request.scopes.join(" "),
        auth_time: session.auth_time,
        claims: (!claims.is_empty()).then(|| serde_json::Value::Object(claims).to_string()),
        issued_at: now,
        expires_at: now.saturating_add(i64::try_from(lifetime).unwrap_or(600)),
    })?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::authorization_request::{Prompt, ResponseMode};

    fn request(prompt: Prompt, max_age: Option<u64>) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "app".into(),
            redirect_uri: "https://app.example/cb".into(),
            scopes: vec!["openid".into()],
            state: None,
            nonce: None,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            response_mode: ResponseMode::Query,
            prompt,
            max_age,
            login_hint: None,
        }
    }

    fn session(auth_time: i64) -> Session {
        Session {
            id_hash: "h".into(),
            tenant_domain: "acme".into(),
            subject: "alice".into(),
            auth_time,
            created_at: auth_time,
            last_seen_at: auth_time,
            expires_at: auth_time + 3600,
            ended_at: None,
        }
    }

    #[test]
    fn sign_in_is_needed_without_a_session_for_prompt_login_and_past_max_age() {
        let plain = request(Prompt::default(), None);
        assert!(must_sign_in(&plain, None, 1000));
        assert!(!must_sign_in(&plain, Some(&session(900)), 1000));
        let login = request(
            Prompt {
                login: true,
                ..Prompt::default()
            },
            None,
        );
        assert!(must_sign_in(&login, Some(&session(999)), 1000));
        let max_age = request(Prompt::default(), Some(60));
        assert!(!must_sign_in(&max_age, Some(&session(940)), 1000));
        assert!(must_sign_in(&max_age, Some(&session(939)), 1000));
        // max_age=0: every request signs in again, in the second of the last sign-in too.
        for auth_time in [999, 1000] {
            assert!(must_sign_in(
                &request(Prompt::default(), Some(0)),
                Some(&session(auth_time)),
                1000
            ));
        }
    }
}
