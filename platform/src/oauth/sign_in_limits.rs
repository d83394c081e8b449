//! Which counters a password sign-in is counted under, with their limits
//! (`[oauth.password_grant]`), and what the client is told when one refuses (issue 21, items 2
//! and 7). The counting itself, atomic and shared by every node, is the store's
//! (`store::sign_in_attempts`).
//!
//! Three counters, so that failures from one place cannot be used to lock a user out everywhere:
//! the user at this client address (a low limit: someone guessing), the user from every address
//! (a higher ceiling against guesses spread over many addresses), and the address (one client
//! guessing many users). A counter is named by a SHA-256 digest, never by the username or the
//! address itself. IPv6 addresses count per /64 network (`client_network`).

use std::net::IpAddr;

use super::error::OAuthError;
use crate::config::PasswordGrantConfig;
use crate::store::{AttemptCounter, AttemptSettlement, CountedIn, SignInAttempt};

/// What a counter counts, in the order of an attempt's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterKind {
    UserAtAddress,
    User,
    Address,
}

const KINDS: [CounterKind; 3] = [
    CounterKind::UserAtAddress,
    CounterKind::User,
    CounterKind::Address,
];

impl CounterKind {
    fn name(self) -> &'static str {
        match self {
            CounterKind::UserAtAddress => "user-at-address",
            CounterKind::User => "user",
            CounterKind::Address => "address",
        }
    }

    fn limit(self, limits: &PasswordGrantConfig) -> u32 {
        match self {
            CounterKind::UserAtAddress => limits.max_failures_per_user_and_address,
            CounterKind::User => limits.max_failures_per_user,
            CounterKind::Address => limits.max_failures_per_address,
        }
    }

    fn whom(self) -> &'static str {
        match self {
            CounterKind::UserAtAddress => "for this user from this address",
            CounterKind::User => "for this user",
            CounterKind::Address => "from this address",
        }
    }
}

/// The attempt of `username` of `tenant` from `address` at `now`, to count before its password
/// is checked.
pub fn sign_in_attempt(
    limits: &PasswordGrantConfig,
    tenant: &str,
    username: &str,
    address: Option<IpAddr>,
    now: i64,
) -> SignInAttempt {
    let address = address.map_or_else(
        || "unknown".to_owned(),
        crate::client_network::client_network_text,
    );
    SignInAttempt {
        counters: KINDS
            .iter()
            .map(|&kind| AttemptCounter {
                key_digest: counter_digest(kind, tenant, username, &address),
                limit: kind.limit(limits),
            })
            .collect(),
        now,
        window_seconds: i64::try_from(limits.failure_window_seconds).unwrap_or(i64::MAX),
    }
}

/// The refusal for an attempt that counter number `counter` turned away.
pub fn refusal(counter: usize, retry_after: u64) -> OAuthError {
    let whom = KINDS.get(counter).map_or("", |kind| kind.whom());
    OAuthError::too_many_failures(
        format!("too many failed sign-ins {whom}; try again in {retry_after} s"),
        retry_after,
    )
}

/// A signed-in user: the attempt was no failure. The user at this address starts afresh (a
/// user who mistyped is not held back by it); the user's ceiling and the address get this
/// attempt back but keep their failures, so that one good sign-in cannot wipe out what was
/// guessed from elsewhere, nor an attacker with an account of their own clear their address.
pub fn settlement_after_success(counted: &[CountedIn]) -> AttemptSettlement {
    let mut settlement = AttemptSettlement::default();
    for (kind, counted) in KINDS.iter().zip(counted) {
        match kind {
            CounterKind::UserAtAddress => settlement.clear.push(counted.key_digest.clone()),
            CounterKind::User | CounterKind::Address => settlement.give_back.push(counted.clone()),
        }
    }
    settlement
}

/// The password could not be checked (no turn to hash, the store failing): no failure happened.
pub fn settlement_unchecked(counted: &[CountedIn]) -> AttemptSettlement {
    AttemptSettlement {
        give_back: counted.to_vec(),
        clear: Vec::new(),
    }
}

/// Fields separated by line feeds, the username last: a tenant domain and an address contain
/// none, so no two counters share a digest unless they name the same thing.
fn counter_digest(kind: CounterKind, tenant: &str, username: &str, address: &str) -> String {
    let named = match kind {
        CounterKind::UserAtAddress => format!("{}\n{tenant}\n{address}\n{username}", kind.name()),
        CounterKind::User => format!("{}\n{tenant}\n{username}", kind.name()),
        CounterKind::Address => format!("{}\n{address}", kind.name()),
    };
    crate::secrets::hash_secret(&named)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> PasswordGrantConfig {
        PasswordGrantConfig::default()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn an_attempt_has_three_counters_named_by_digests() {
        let username = "alice".repeat(50);
        let attempt = sign_in_attempt(&limits(), "acme", &username, ip("192.0.2.7"), 1000);
        assert_eq!(attempt.now, 1000);
        assert_eq!(attempt.window_seconds, 300);
        let limits: Vec<u32> = attempt.counters.iter().map(|c| c.limit).collect();
        assert_eq!(limits, [5, 50, 20]);
        for counter in &attempt.counters {
            // Fixed size, whatever was sent; nothing of it readable.
            assert_eq!(counter.key_digest.len(), "sha256:".len() + 64);
            assert!(!counter.key_digest.contains("alice") && !counter.key_digest.contains("192"));
        }
        let digests = |tenant, username, address| -> Vec<String> {
            sign_in_attempt(&super::tests::limits(), tenant, username, ip(address), 0)
                .counters
                .into_iter()
                .map(|c| c.key_digest)
                .collect()
        };
        let base = digests("acme", "alice", "192.0.2.7");
        // Another address: another pair and address, the same user.
        let moved = digests("acme", "alice", "192.0.2.8");
        assert_ne!(base[0], moved[0]);
        assert_eq!(base[1], moved[1]);
        assert_ne!(base[2], moved[2]);
        // Another user: only the address is shared.
        let other = digests("acme", "bob", "192.0.2.7");
        assert_ne!(base[0], other[0]);
        assert_ne!(base[1], other[1]);
        assert_eq!(base[2], other[2]);
        // Another tenant's alice is another user.
        assert_ne!(base[1], digests("other", "alice", "192.0.2.7")[1]);
        // A username cannot pass for an address and a username (the address comes first and
        // has no line feed).
        assert_ne!(
            digests("acme", "192.0.2.7\nalice", "192.0.2.8")[0],
            digests("acme", "alice", "192.0.2.7")[0]
        );
    }

    #[test]
    fn ipv6_counts_per_network_and_mapped_ipv4_as_ipv4() {
        let address = |text| {
            sign_in_attempt(&limits(), "acme", "alice", ip(text), 0).counters[2]
                .key_digest
                .clone()
        };
        assert_eq!(address("2001:db8:1:2::1"), address("2001:db8:1:2:ffff::9"));
        assert_ne!(address("2001:db8:1:2::1"), address("2001:db8:1:3::1"));
        assert_eq!(address("::ffff:192.0.2.7"), address("192.0.2.7"));
    }

    #[test]
    fn refusals_say_whom_and_when() {
        let refused = refusal(0, 42);
        assert_eq!((refused.status, refused.code), (429, "invalid_grant"));
        assert_eq!(refused.retry_after, Some(42));
        assert!(refused
            .description
            .contains("for this user from this address; try again in 42 s"));
        assert!(refusal(1, 1).description.contains("for this user;"));
        assert!(refusal(2, 1).description.contains("from this address"));
    }

    #[test]
    fn a_success_clears_the_user_at_the_address_and_gives_back_the_rest() {
        let counted: Vec<CountedIn> = ["p", "u", "a"]
            .iter()
            .map(|k| CountedIn {
                key_digest: (*k).into(),
                window_ends_at: 9,
            })
            .collect();
        let success = settlement_after_success(&counted);
        assert_eq!(success.clear, ["p"]);
        assert_eq!(success.give_back, counted[1..]);
        let unchecked = settlement_unchecked(&counted);
        assert!(unchecked.clear.is_empty());
        assert_eq!(unchecked.give_back, counted);
    }
}
