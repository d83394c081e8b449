//! Counting failures per key (a user, a client address) in fixed windows: past the limit, the key
//! is refused until its window ends. Kept in memory, per node, and bounded: the map never holds
//! more than `MAX_KEYS` keys, forgetting finished windows first, then the oldest.
//!
//! The caller passes the time, so tests need no clock.

use std::collections::HashMap;
use std::sync::Mutex;

/// Most keys remembered at once; an attacker cycling addresses cannot grow the map without end.
pub const MAX_KEYS: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Window {
    started_at: i64,
    failures: u32,
}

#[derive(Debug)]
pub struct FailureLimiter {
    window_seconds: i64,
    windows: Mutex<HashMap<String, Window>>,
}

impl FailureLimiter {
    pub fn new(window_seconds: u64) -> FailureLimiter {
        FailureLimiter {
            window_seconds: i64::try_from(window_seconds).unwrap_or(i64::MAX).max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds until the window ends)` when `key` has had `limit` failures in its window.
    pub fn refused_for(&self, key: &str, limit: u32, now: i64) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.get(key)?;
        let ends_at = window.started_at.saturating_add(self.window_seconds);
        (now < ends_at && window.failures >= limit).then(|| (ends_at - now) as u64)
    }

    pub fn record_failure(&self, key: &str, now: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            self.make_room(&mut windows, now);
        }
        let window = windows.entry(key.to_owned()).or_insert(Window {
            started_at: now,
            failures: 0,
        });
        if now >= window.started_at.saturating_add(self.window_seconds) {
            *window = Window {
                started_at: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    /// Forgets `key`'s failures (a success for a user).
    pub fn clear(&self, key: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.remove(key);
    }

    fn make_room(&self, windows: &mut HashMap<String, Window>, now: i64) {
        let window_seconds = self.window_seconds;
        windows.retain(|_, w| now < w.started_at.saturating_add(window_seconds));
        if windows.len() >= MAX_KEYS {
            let oldest = windows
                .iter()
                .min_by_key(|(_, w)| w.started_at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                windows.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.windows.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_until_the_window_ends() {
        let limiter = FailureLimiter::new(300);
        for at in 0..3 {
            assert_eq!(limiter.refused_for("alice", 3, 100 + at), None);
            limiter.record_failure("alice", 100 + at);
        }
        assert_eq!(limiter.refused_for("alice", 3, 102), Some(298));
        assert_eq!(limiter.refused_for("alice", 3, 399), Some(1));
        assert_eq!(limiter.refused_for("bob", 3, 102), None);
        // The window ends 300 s after its first failure; then counting starts again.
        assert_eq!(limiter.refused_for("alice", 3, 400), None);
        limiter.record_failure("alice", 400);
        assert_eq!(limiter.refused_for("alice", 3, 401), None);
        assert_eq!(limiter.refused_for("alice", 1, 401), Some(299));
        limiter.clear("alice");
        assert_eq!(limiter.refused_for("alice", 1, 401), None);
    }

    #[test]
    fn stays_bounded() {
        let limiter = FailureLimiter::new(10);
        for i in 0..MAX_KEYS {
            limiter.record_failure(&format!("k{i}"), 0);
        }
        // Every window is live: the oldest goes.
        limiter.record_failure("new", 5);
        assert_eq!(limiter.len(), MAX_KEYS);
        // Every window has ended: all are forgotten at once.
        limiter.record_failure("later", 100);
        assert_eq!(limiter.len(), 1);
    }
}
