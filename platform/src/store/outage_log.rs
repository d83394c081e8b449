//! Saying that the database is out of reach (down, restarting, its disk full) without saying it
//! for every request: at most one line per `PERIOD` per place, with the count of failures since
//! the last line. A full disk failed 2,150 requests in 3 s, each with its own error line, which
//! only helped fill the disk of the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest gap between two lines of one place while failures go on.
const PERIOD: Duration = Duration::from_secs(10);

/// One place that reports the database out of reach (the group commit, a request's read).
pub struct OutageLog {
    place: &'static str,
    state: Mutex<State>,
}

struct State {
    last_line: Option<Instant>,
    unlogged: u64,
}

impl OutageLog {
    pub const fn new(place: &'static str) -> OutageLog {
        OutageLog {
            place,
            state: Mutex::new(State {
                last_line: None,
                unlogged: 0,
            }),
        }
    }

    /// Records one failure; logs it (a warning) when this place has said nothing for `PERIOD`.
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        self.failed_at(Instant::now(), error);
    }

    fn failed_at(&self, now: Instant, error: &dyn std::fmt::Display) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.unlogged += 1;
        if state
            .last_line
            .is_some_and(|last| now.saturating_duration_since(last) < PERIOD)
        {
            return false;
        }
        let failures = std::mem::take(&mut state.unlogged);
        state.last_line = Some(now);
        drop(state);
        tracing::warn!(
            place = self.place,
            failures,
            "the database is unavailable (answered 503 with Retry-After; at most one line per {} s): {error}",
            PERIOD.as_secs()
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count() {
        let log = OutageLog::new("test");
        let start = Instant::now();
        assert!(log.failed_at(start, &"disk full"));
        for n in 1..100 {
            assert!(!log.failed_at(start + Duration::from_millis(n), &"disk full"));
        }
        assert!(log.failed_at(start + PERIOD, &"disk full"));
        assert_eq!(log.state.lock().unwrap().unlogged, 0);
        assert!(!log.failed_at(start + PERIOD + Duration::from_secs(1), &"disk full"));
        assert_eq!(log.state.lock().unwrap().unlogged, 1);
    }
}
