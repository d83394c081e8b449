//! A user proving their password, the one way for the password grant and the login page alike, so
//! both count against the same sign-in limits (`sign_in_limits`, in the store: every node counts
//! together) and do the same work whether or not the user exists.
//!
//! - The attempt is counted before the password is checked: attempts sent at once cannot all pass
//!   the check. Past a limit it is refused, without checking the password, until the window ends.
//! - The password is checked against the user's argon2id hash in a turn of the bounded password
//!   hashing; an unknown user is checked against a decoy hash, and both failures read alike, so
//!   neither the answer nor its timing tells whether a username exists. No turn free in time: the
//!   attempt is given back and the caller told to come back.
//! - A failure keeps its count; a success gives it back (`sign_in_limits::settlement_after_success`).
//! - The log says who failed to sign in, where and through what; never the password.

use std::net::IpAddr;

use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::sign_in_limits::{
    refusal, settlement_after_success, settlement_unchecked, sign_in_attempt,
};
use crate::passwords::{PasswordError, MAX_PASSWORD_BYTES};
use crate::store::{AttemptSettlement, AttemptVerdict, User};

/// What both ways of signing in say for a wrong password and an unknown user alike.
pub const INVALID_CREDENTIALS: &str = "invalid username or password";

/// Why a password sign-in did not sign anyone in.
#[derive(Debug)]
pub enum SignInRefusal {
    /// A wrong password or an unknown user (which of them is not said).
    InvalidCredentials,
    /// A limit of failed sign-ins was reached: counter number `counter` (`sign_in_limits`), for
    /// `retry_after` more seconds.
    TooManyFailures { counter: usize, retry_after: u64 },
    /// A username or password longer than any a user can have: counted nowhere, checked against
    /// nothing. The description says which.
    Absurd(String),
    /// It could not be checked (no hashing turn free in time, the store failing): not a failure.
    Unchecked(OAuthError),
}

impl SignInRefusal {
    /// The refusal as the token endpoint answers it.
    pub fn into_oauth_error(self) -> OAuthError {
        match self {
            SignInRefusal::InvalidCredentials => OAuthError::invalid_grant(INVALID_CREDENTIALS),
            SignInRefusal::TooManyFailures {
                counter,
                retry_after,
            } => refusal(counter, retry_after),
            SignInRefusal::Absurd(description) => OAuthError::invalid_request(description),
            SignInRefusal::Unchecked(error) => error,
        }
    }
}

/// Where a sign-in comes from, for its log line.
pub struct Attempt<'a> {
    pub tenant: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    /// The client address, as `client_network` reads it (proxies included).
    pub address: Option<IpAddr>,
    /// The client the user signs in to.
    pub client_id: &'a str,
    /// `password grant` or `login page`.
    pub through: &'static str,
}

/// The user whose password `attempt` presents, counted against the sign-in limits.
pub fn sign_in_with_password(
    ctx: &OAuthContext,
    on: OnBlockingThread,
    attempt: &Attempt<'_>,
    now: i64,
) -> Result<User, SignInRefusal> {
    if let Some(absurd) = absurd(attempt) {
        return Err(SignInRefusal::Absurd(absurd));
    }
    let counted = sign_in_attempt(
        &ctx.settings.password_grant,
        attempt.tenant,
        attempt.username,
        attempt.address,
        now,
    );
    let counted = match ctx
        .writer
        .count_sign_in_attempt(on, counted)
        .map_err(|e| SignInRefusal::Unchecked(e.into()))?
    {
        AttemptVerdict::Admitted(counted) => counted,
        AttemptVerdict::Refused {
            counter,
            retry_after,
        } => {
            return Err(SignInRefusal::TooManyFailures {
                counter,
                retry_after,
            })
        }
    };
    let user = match check_password(ctx, on, attempt) {
        Ok(user) => user,
        Err(unchecked) => {
            settle(ctx, on, settlement_unchecked(&counted));
            return Err(SignInRefusal::Unchecked(unchecked));
        }
    };
    let Some(user) = user else {
        tracing::info!(
            tenant = %attempt.tenant,
            client_id = %attempt.client_id,
            username = %attempt.username.escape_default(),
            through = attempt.through,
            "failed sign-in"
        );
        return Err(SignInRefusal::InvalidCredentials);
    };
    settle(ctx, on, settlement_after_success(&counted));
    Ok(user)
}

/// Why `attempt` is absurd (a username or password longer than any a user can have), if it is.
pub fn absurd(attempt: &Attempt<'_>) -> Option<String> {
    if attempt.username.len() > crate::store::MAX_USERNAME_BYTES {
        return Some(format!(
            "username is longer than {} bytes",
            crate::store::MAX_USERNAME_BYTES
        ));
    }
    (attempt.password.len() > MAX_PASSWORD_BYTES)
        .then(|| format!("password is longer than {MAX_PASSWORD_BYTES} bytes"))
}

/// The user whose password this is; `Ok(None)` for a wrong password or an unknown user alike,
/// `Err` when it could not be checked.
fn check_password(
    ctx: &OAuthContext,
    on: OnBlockingThread,
    attempt: &Attempt<'_>,
) -> Result<Option<User>, OAuthError> {
    let user = ctx.store.find_user(attempt.tenant, attempt.username)?;
    let stored = user.as_ref().map(|u| u.password_hash.as_str());
    match ctx.password_hashing.verify(on, attempt.password, stored) {
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
fn settle(ctx: &OAuthContext, on: OnBlockingThread, settlement: AttemptSettlement) {
    if let Err(e) = ctx.writer.settle_sign_in_attempt(on, settlement) {
        tracing::warn!("giving back a sign-in attempt's count failed: {e}");
    }
}
