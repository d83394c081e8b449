//! Where a script's `print` and `debug` go. Off by default: a script runs on every token request,
//! so one forgotten `print` would write a line per request, and its text may hold claims. With
//! `claim_transformer.log_output` on, lines go to the log at most `max_log_lines_per_second`
//! a second (across all scripts), each cut to `MAX_LINE_CHARS` with control characters escaped
//! (no forged log lines); what is dropped is counted and reported with the next line let through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::Monotonic;

/// Longest line kept from one `print`/`debug`.
const MAX_LINE_CHARS: usize = 500;

pub struct ScriptOutput {
    enabled: bool,
    per_second: u64,
    clock: Arc<dyn Monotonic>,
    window: Mutex<Window>,
    written: AtomicU64,
    dropped: AtomicU64,
}

struct Window {
    started: Option<Instant>,
    written: u64,
    /// Dropped since the last line let through, to be reported with the next one.
    unreported: u64,
}

/// What to do with one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Write it; `dropped_before` lines were dropped since the last one written.
    Write {
        dropped_before: u64,
    },
    Drop,
}

impl ScriptOutput {
    pub fn new(enabled: bool, per_second: u64, clock: Arc<dyn Monotonic>) -> ScriptOutput {
        ScriptOutput {
            enabled,
            per_second,
            clock,
            window: Mutex::new(Window {
                started: None,
                written: 0,
                unreported: 0,
            }),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Output that is off: for tests of the engine that do not look at what scripts print.
    #[cfg(test)]
    pub fn quiet() -> Arc<ScriptOutput> {
        Arc::new(ScriptOutput::new(
            false,
            0,
            Arc::new(crate::clock::SystemMonotonic),
        ))
    }

    /// Lines written and dropped since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.written.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }

    pub fn admit(&self) -> Admit {
        if !self.enabled {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Admit::Drop;
        }
        let now = self.clock.now();
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let expired = window
            .started
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
        if expired {
            window.started = Some(now);
            window.written = 0;
        }
        if window.written >= self.per_second {
            window.unreported += 1;
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Admit::Drop;
        }
        window.written += 1;
        self.written.fetch_add(1, Ordering::Relaxed);
        Admit::Write {
            dropped_before: std::mem::take(&mut window.unreported),
        }
    }

    /// Logs one line of script output if admitted.
    pub fn write(&self, kind: &str, text: &str) {
        let Admit::Write { dropped_before } = self.admit() else {
            return;
        };
        let line = printable(text);
        if dropped_before > 0 {
            tracing::info!(
                target: "grantor::claim_transformer",
                kind,
                dropped_before,
                "{line}"
            );
        } else {
            tracing::info!(target: "grantor::claim_transformer", kind, "{line}");
        }
    }
}

/// One line: control characters escaped, bounded.
fn printable(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| {
            let as_is = !c.is_control();
            let escaped: Vec<char> = if as_is {
                vec![c]
            } else {
                c.escape_default().collect()
            };
            escaped
        })
        .collect();
    if escaped.chars().count() > MAX_LINE_CHARS {
        let cut: String = escaped.chars().take(MAX_LINE_CHARS).collect();
        format!("{cut}...")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn off_by_default_means_nothing_is_written() {
        let output = ScriptOutput::new(false, 10, Arc::new(ManualClock::default()));
        for _ in 0..5 {
            assert_eq!(output.admit(), Admit::Drop);
        }
        assert_eq!(output.counts(), (0, 5));
    }

    #[test]
    fn lines_are_limited_per_second_and_the_dropped_ones_reported() {
        let clock = Arc::new(ManualClock::default());
        let output = ScriptOutput::new(true, 3, clock.clone());
        let admitted: Vec<Admit> = (0..10).map(|_| output.admit()).collect();
        assert_eq!(
            admitted
                .iter()
                .filter(|a| matches!(a, Admit::Write { .. }))
                .count(),
            3
        );
        assert_eq!(output.counts(), (3, 7));
        clock.advance(Duration::from_millis(999));
        assert_eq!(output.admit(), Admit::Drop);
        clock.advance(Duration::from_millis(1));
        assert_eq!(output.admit(), Admit::Write { dropped_before: 8 });
        assert_eq!(output.admit(), Admit::Write { dropped_before: 0 });
    }

    #[test]
    fn a_line_cannot_forge_log_lines_or_grow_without_bound() {
        assert_eq!(printable("a\nb\r\u{1b}[31m"), "a\\nb\\r\\u{1b}[31m");
        let long = printable(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), MAX_LINE_CHARS + 3);
    }
}
