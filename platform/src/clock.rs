//! The one place that reads the system clock. Everything else takes `now` as a parameter so tests
//! can control time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch. A clock before 1970 reads as 0 rather than panicking.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The milliseconds past the current second, for what orders events finer than `now_unix` does
/// (a token id's issue time: `now` seconds, given as usual, then these).
pub fn subsecond_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::from(d.subsec_millis()))
        .unwrap_or(0)
}

/// A monotonic clock for what measures intervals (cache freshness, refresh limits), so tests move
/// time instead of sleeping.
pub trait Monotonic: Send + Sync {
    fn now(&self) -> std::time::Instant;
}

/// The real monotonic clock.
pub struct SystemMonotonic;

impl Monotonic for SystemMonotonic {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
}

/// A clock that stands still until a test advances it.
pub struct ManualClock {
    start: std::time::Instant,
    elapsed: std::sync::Mutex<std::time::Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            start: std::time::Instant::now(),
            elapsed: std::sync::Mutex::default(),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, by: std::time::Duration) {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Monotonic for ManualClock {
    fn now(&self) -> std::time::Instant {
        self.start + *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}
