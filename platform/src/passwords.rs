//! User passwords: argon2id (RFC 9106) with the crate's default parameters (19 MiB, 2 passes, one
//! lane: OWASP's recommendation), stored as PHC strings so that parameters can change later and old
//! hashes still verify. Both directions are slow by design: call them on a blocking thread.
//!
//! Every hash and verification the server runs goes through `PasswordHashing`, which bounds how
//! many run at once (`[oauth.password_grant] max_concurrent_hashes`): each takes 19 MiB, so
//! without a bound, requests sent at once would take memory without limit (issue 21, item 6).
//! Past the bound a caller waits briefly for a turn, then is told to come back
//! (`PasswordError::Busy`, a 503 with `Retry-After` for the client).

use crate::blocking::OnBlockingThread;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Longest password accepted, in bytes: argon2 takes any length, but a megabyte "password" is only
/// a way to make the server work.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Every turn to hash was taken for longer than the wait.
    #[error("too many passwords are being checked at once; try again shortly")]
    Busy,
}

/// The turns to hash or verify a password: at most `max_at_once` at a time, server-wide.
pub struct PasswordHashing {
    turns: Semaphore,
    wait: Duration,
}

impl PasswordHashing {
    pub fn new(max_at_once: usize, wait: Duration) -> PasswordHashing {
        PasswordHashing {
            turns: Semaphore::new(max_at_once.max(1)),
            wait,
        }
    }

    /// An argon2id PHC string for `password` (see `hash_password`), in a turn.
    pub fn hash(&self, on: OnBlockingThread, password: &str) -> Result<String, PasswordError> {
        // Checked before waiting for a turn: a refusal costs nothing.
        check_length(password)?;
        let _turn = self.turn(on)?;
        hash_password(password)
    }

    /// Whether `password` matches `stored`, in a turn. With no stored hash (no such user) the
    /// decoy is checked instead, so that the answer takes as long as a real user's.
    pub fn verify(
        &self,
        on: OnBlockingThread,
        password: &str,
        stored: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let _turn = self.turn(on)?;
        let matches = verify_password(password, stored.unwrap_or(decoy_hash()));
        Ok(stored.is_some() && matches)
    }

    /// Blocks for a turn, at most `wait`: on a blocking thread of the server's runtime (a token
    /// request, an admin request), whose timer it waits on; or without a runtime (the command
    /// line, one hash at a time), where a turn is always free.
    fn turn(&self, _on: OnBlockingThread) -> Result<SemaphorePermit<'_>, PasswordError> {
        if let Ok(turn) = self.turns.try_acquire() {
            return Ok(turn);
        }
        if self.wait.is_zero() {
            return Err(PasswordError::Busy);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(PasswordError::Busy);
        };
        match runtime.block_on(tokio::time::timeout(self.wait, self.turns.acquire())) {
            Ok(Ok(turn)) => Ok(turn),
            _ => Err(PasswordError::Busy),
        }
    }
}

fn check_length(password: &str) -> Result<(), PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// An argon2id PHC string for `password`, with a fresh random salt.
fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_length(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed stored hash never matches.
fn verify_password(password: &str, stored: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a password nobody knows, computed once: verifying against it costs what verifying
/// a real user's password costs, so an unknown username takes as long to refuse as a wrong
/// password (no user enumeration by timing).
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random = crate::secrets::random_token(24).unwrap_or_else(|_| "decoy".to_owned());
        hash_password(&random).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse ", &hash));
        assert!(!verify_password("", &hash));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("correct horse").unwrap());
        assert!(!verify_password("x", "not a hash"));
        assert!(decoy_hash().starts_with("$argon2id$"));
        assert!(!verify_password("decoy", decoy_hash()));
    }

    #[test]
    fn turns_are_bounded_and_a_caller_past_the_wait_is_told_to_come_back() {
        let hashing = std::sync::Arc::new(PasswordHashing::new(1, Duration::from_millis(50)));
        let here = OnBlockingThread::outside_runtime().unwrap();
        let hash = hashing.hash(here, "correct horse").unwrap();
        assert!(hashing.verify(here, "correct horse", Some(&hash)).unwrap());
        assert!(!hashing.verify(here, "correct horse", None).unwrap());
        // The only turn is taken: without a runtime there is nobody to wait for.
        let taken = hashing.turns.try_acquire().unwrap();
        assert!(matches!(hashing.hash(here, "x"), Err(PasswordError::Busy)));
        // On a blocking thread of a runtime, the caller waits, then gives up.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let waiting = hashing.clone();
        let outcome = runtime
            .block_on(OnBlockingThread::spawn(move |on| {
                waiting.verify(on, "correct horse", Some(&hash))
            }))
            .unwrap();
        assert!(matches!(outcome, Err(PasswordError::Busy)), "{outcome:?}");
        drop(taken);
        // A turn given back within the wait is taken.
        let patient = std::sync::Arc::new(PasswordHashing::new(1, Duration::from_secs(30)));
        let taken = patient.turns.try_acquire().unwrap();
        let waiting = patient.clone();
        let outcome = runtime.block_on(async move {
            let verify = OnBlockingThread::spawn(move |on| waiting.verify(on, "x", None));
            tokio::task::yield_now().await;
            drop(taken);
            verify.await.unwrap()
        });
        assert!(matches!(outcome, Ok(false)), "{outcome:?}");
        // Bad lengths are refused without a turn.
        let _taken = patient.turns.try_acquire().unwrap();
        assert!(matches!(patient.hash(here, ""), Err(PasswordError::Empty)));
    }

    #[test]
    fn refuses_empty_and_oversized_passwords() {
        assert!(matches!(hash_password(""), Err(PasswordError::Empty)));
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(hash_password(&long), Err(PasswordError::TooLong)));
        assert!(!verify_password(&long, decoy_hash()));
    }
}
