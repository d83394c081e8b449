//! The resource owner password credentials grant (RFC 6749 4.3; reference 000 step 4): a trusted
//! client signs one of its tenant's users in with their username and password.
//!
//! - An absurd username or password (longer than any a user can have) is refused at once, counted
//!   nowhere and checked against nothing.
//! - The attempt is counted (`sign_in_limits`: the user at this address, the user, the address;
//!   in the store, so every node counts together) before the password is checked. Past a limit
//!   the grant is refused with 429 and `Retry-After`, without checking the password, until the
//!   window ends; counting first means attempts sent at once cannot all pass the check.
//! - The password is checked against the user's argon2id hash in a turn of the bounded password
//!   hashing (on the blocking thread this runs on); no turn free in time is a 503, and the
//!   attempt is given back. An unknown user is checked against a decoy hash, and both failures
//!   read alike, so neither the answer nor its timing tells whether a username exists.
//! - A failure keeps its count; a success gives it back (`sign_in_limits::settlement_after_success`).
//! - The user's claims (email, groups, ...) go with the tokens, and into the ID token when the
//!   client asked for `openid`.

use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::scopes::{narrow_scopes, parse_scope};
use crate::oauth::sign_in_limits::{
    refusal, settlement_after_success, settlement_unchecked, sign_in_attempt,
};
use crate::oauth::token::{Decision, IdTokenWanted};
use crate::oauth::wire::TokenRequest;
use crate::passwords::{PasswordError, MAX_PASSWORD_BYTES};
use crate::store::{AttemptSettlement, AttemptVerdict, Client, FamilyOrigin, User};

pub const INVALID_CREDENTIALS: &str = "invalid username or password";

pub fn authorize(
    app: &OAuthContext,
    on: OnBlockingThread,
    request: &TokenRequest,
    client: &Client,
    now: i64,
) -> Result<Decision, OAuthError> {
    let required = |name: &str| {
        request
            .param(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter: {name}")))
    };
    let username = required("username")?;
    let password = required("password")?;
    if username.len() > crate::store::MAX_USERNAME_BYTES {
        return Err(OAuthError::invalid_request(format!(
            "username is longer than {} bytes",
            crate::store::MAX_USERNAME_BYTES
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(OAuthError::invalid_request(format!(
            "password is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    let requested = request.param("scope").map(parse_scope).transpose()?;
    let scopes = narrow_scopes(requested.as_deref(), &client.scopes)?;

    let attempt = sign_in_attempt(
        &app.settings.password_grant,
        &client.tenant_domain,
        username,
        request.remote_address,
        now,
    );
    let counted = match app.writer.count_sign_in_attempt(on, attempt)? {
        AttemptVerdict::Admitted(counted) => counted,
        AttemptVerdict::Refused {
            counter,
            retry_after,
        } => return Err(refusal(counter, retry_after)),
    };
    let user = match check_password(app, on, &client.tenant_domain, username, password) {
        Ok(user) => user,
        Err(unchecked) => {
            settle(app, on, settlement_unchecked(&counted));
            return Err(unchecked);
        }
    };
    let Some(user) = user else {
        tracing::info!(
            tenant = %client.tenant_domain,
            client_id = %client.client_id,
            username = %username.escape_default(),
            "failed sign-in"
        );
        return Err(OAuthError::invalid_grant(INVALID_CREDENTIALS));
    };
    settle(app, on, settlement_after_success(&counted));
    let claims = user.claims_object();
    let id_token =
        crate::oauth::id_token::wanted(request.param("scope"), &scopes).then(|| IdTokenWanted {
            nonce: request.param("nonce").map(str::to_owned),
        });
    Ok(Decision {
        subject: Some(user.username.clone()),
        scopes,
        issue_refresh_token: client.allows_grant_type(super::REFRESH_TOKEN),
        rotation: None,
        origin: FamilyOrigin::default(),
        replay_keys: Vec::new(),
        claims: (!claims.is_empty()).then(|| serde_json::Value::Object(claims).to_string()),
        id_token,
    })
}

/// The user whose password this is; `Ok(None)` for a wrong password or an unknown user alike,
/// `Err` when it could not be checked.
fn check_password(
    app: &OAuthContext,
    on: OnBlockingThread,
    tenant: &str,
    username: &str,
    password: &str,
) -> Result<Option<User>, OAuthError> {
    let user = app.store.find_user(tenant, username)?;
    let stored = user.as_ref().map(|u| u.password_hash.as_str());
    match app.password_hashing.verify(on, password, stored) {
        Ok(true) => Ok(user),
        Ok(false) => Ok(None),
        Err(PasswordError::Busy) => Err(OAuthError::temporarily_unavailable(
            PasswordError::Busy.to_string(),
        )),
        Err(e) => Err(OAuthError::internal("password check", e)),
    }
}

/// A count given back late only makes the limit stricter for a while: said in the log, not to
/// the client.
fn settle(app: &OAuthContext, on: OnBlockingThread, settlement: AttemptSettlement) {
    if let Err(e) = app.writer.settle_sign_in_attempt(on, settlement) {
        tracing::warn!("giving back a sign-in attempt's count failed: {e}");
    }
}
