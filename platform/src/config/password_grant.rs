//! `[oauth.password_grant]`: sign-in limits and password hashing.

use serde::{Deserialize, Serialize};

use super::Check;

/// `[oauth.password_grant]`: how sign-ins are limited, and how much password hashing runs at once.
///
/// Attempts are counted in the database, so every node sharing it counts against the same
/// allowance, and before the password is checked, so attempts sent at once cannot all pass. An
/// attempt counts until it is known to be no failure: a success gives its count back. Three
/// counters, each over `failure_window_seconds` from its first attempt: a user from one client
/// address (low: someone guessing), a user from every address (a higher ceiling, so that failures
/// from one place do not lock the user out everywhere; OWASP's advice), and an address (one
/// client guessing many users). IPv6 addresses are counted per /64 network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordGrantConfig {
    /// Failed sign-ins for one user (in a tenant) from one client address within the window,
    /// before that user is refused from that address until the window has passed.
    pub max_failures_per_user_and_address: u32,
    /// Failed sign-ins for one user from all addresses together within the window, before the
    /// user is refused from everywhere until the window has passed.
    pub max_failures_per_user: u32,
    /// Failed sign-ins from one client address within the window, for any users, before that
    /// address is refused.
    pub max_failures_per_address: u32,
    /// The window, in seconds.
    pub failure_window_seconds: u64,
    /// Password hashes and verifications (argon2id, 19 MiB each) one server runs at once, for
    /// sign-ins and for users created through the admin API; unset: twice the CPU cores.
    pub max_concurrent_hashes: Option<usize>,
    /// How long one waits for a turn, in milliseconds, before the request is answered 503
    /// `temporarily_unavailable` with `Retry-After`.
    pub hash_wait_ms: u64,
}

impl PasswordGrantConfig {
    /// `max_concurrent_hashes`, or twice the CPU cores when it is not set.
    pub fn concurrent_hashes(&self) -> usize {
        self.max_concurrent_hashes.unwrap_or_else(|| {
            2 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }

    pub(super) fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        if self.max_failures_per_user_and_address == 0
            || self.max_failures_per_user == 0
            || self.max_failures_per_address == 0
            || self.failure_window_seconds == 0
        {
            return invalid(
                "oauth.password_grant",
                "max_failures_per_user_and_address, max_failures_per_user, max_failures_per_address and failure_window_seconds must be positive",
            );
        }
        if self.max_failures_per_user_and_address > self.max_failures_per_user {
            // The per-user ceiling would then lock the user out everywhere first.
            return invalid(
                "oauth.password_grant.max_failures_per_user_and_address",
                "must be at most max_failures_per_user",
            );
        }
        if self.failure_window_seconds > i64::MAX as u64 / 2 {
            return invalid(
                "oauth.password_grant.failure_window_seconds",
                "is too large",
            );
        }
        if self.max_concurrent_hashes == Some(0) {
            return invalid(
                "oauth.password_grant.max_concurrent_hashes",
                "must be at least 1 (leave it out for twice the CPU cores)",
            );
        }
        Ok(())
    }
}

impl Default for PasswordGrantConfig {
    fn default() -> Self {
        PasswordGrantConfig {
            max_failures_per_user_and_address: 5,
            max_failures_per_user: 50,
            max_failures_per_address: 20,
            failure_window_seconds: 300,
            max_concurrent_hashes: None,
            hash_wait_ms: 200,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;

    #[test]
    fn password_grant_limits() {
        let config = load_toml("").unwrap();
        let password = &config.oauth.password_grant;
        assert_eq!(
            (
                password.max_failures_per_user_and_address,
                password.max_failures_per_user,
                password.max_failures_per_address,
                password.failure_window_seconds,
                password.max_concurrent_hashes,
                password.hash_wait_ms,
            ),
            (5, 50, 20, 300, None, 200)
        );
        assert!(password.concurrent_hashes() >= 2);
        let config = load_toml(
            "[oauth.password_grant]\nmax_failures_per_user_and_address = 3\n\
             max_concurrent_hashes = 1\nhash_wait_ms = 0\n",
        )
        .unwrap();
        assert_eq!(config.oauth.password_grant.concurrent_hashes(), 1);
        assert_eq!(
            config
                .oauth
                .password_grant
                .max_failures_per_user_and_address,
            3
        );
        for (toml, key) in [
            (
                "max_failures_per_user_and_address = 0",
                "oauth.password_grant",
            ),
            ("max_failures_per_user = 0", "oauth.password_grant"),
            ("failure_window_seconds = 0", "oauth.password_grant"),
            (
                "max_failures_per_user_and_address = 6\nmax_failures_per_user = 5",
                "oauth.password_grant.max_failures_per_user_and_address",
            ),
            (
                "failure_window_seconds = 9223372036854775807",
                "oauth.password_grant.failure_window_seconds",
            ),
            (
                "max_concurrent_hashes = 0",
                "oauth.password_grant.max_concurrent_hashes",
            ),
            ("hash_wait_ms = 10000", "oauth.password_grant.hash_wait_ms"),
            ("max_hashes = 2", "max_hashes"),
        ] {
            let err = load_toml(&format!("[oauth.password_grant]\n{toml}\n")).unwrap_err();
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }
}
