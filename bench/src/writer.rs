//! The server's group commit over the measured window: what its `GET /health` counts
//! (`group_commit`: batches, requests, writer wall and CPU time, WAL pages), read at the window's
//! edges, as figures per request.

use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;

use crate::cli::Cli;
use crate::load::{self, Endpoint};

/// The counters `/health` reports under `group_commit`; a server too old to report one reads 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counters {
    batches: u64,
    requests: u64,
    busy_us: u64,
    cpu_us: u64,
    /// `None` where the server counts none (PostgreSQL).
    wal_frames: Option<u64>,
}

impl Counters {
    fn from_health(body: &[u8]) -> Option<Counters> {
        let health: Value = serde_json::from_slice(body).ok()?;
        let group = health.get("group_commit")?;
        let read = |name: &str| group.get(name).and_then(Value::as_u64).unwrap_or(0);
        Some(Counters {
            batches: read("batches"),
            requests: read("requests"),
            busy_us: read("busy_us"),
            cpu_us: read("cpu_us"),
            wal_frames: group.get("wal_frames").and_then(Value::as_u64),
        })
    }
}

/// The writer's work between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriterWindow {
    delta: Counters,
    window: Duration,
}

impl WriterWindow {
    fn per_request(&self, total: u64) -> f64 {
        total as f64 / self.delta.requests.max(1) as f64
    }

    /// `writer  41.2 us wall, 25.3 us cpu, 2.05 wal pages per request; batches of 15.8, 62% busy`
    pub fn line(&self) -> String {
        let d = &self.delta;
        let pages = match d.wal_frames {
            Some(frames) => format!("{:.2}", self.per_request(frames)),
            None => "n/a".into(),
        };
        format!(
            "writer        {:.1} us wall, {:.1} us cpu, {pages} wal pages per request; batches of {:.1}, {:.0}% busy",
            self.per_request(d.busy_us),
            self.per_request(d.cpu_us),
            d.requests as f64 / d.batches.max(1) as f64,
            100.0 * d.busy_us as f64 / self.window.as_micros().max(1) as f64,
        )
    }

    pub fn json(&self) -> Value {
        let d = &self.delta;
        serde_json::json!({
            "requests": d.requests,
            "batches": d.batches,
            "wall_us_per_request": self.per_request(d.busy_us),
            "cpu_us_per_request": self.per_request(d.cpu_us),
            "wal_pages_per_request": d.wal_frames.map(|frames| self.per_request(frames)),
        })
    }
}

async fn read(endpoint: &Endpoint) -> Option<Counters> {
    let (status, body) = load::send_once(endpoint, Method::GET, None, None)
        .await
        .ok()?;
    status
        .is_success()
        .then(|| Counters::from_health(&body))
        .flatten()
}

/// Reads the server's counters at the edges of the measured window that starts after the
/// warm-up; `None` when either reading failed.
pub fn sample(health_url: String, cli: &Cli) -> tokio::task::JoinHandle<Option<WriterWindow>> {
    let from = Instant::now() + Duration::from_secs(cli.warmup);
    let window = Duration::from_secs(cli.duration);
    tokio::spawn(async move {
        let endpoint = Endpoint::parse(&health_url).await.ok()?;
        tokio::time::sleep_until(from.into()).await;
        let started = Instant::now();
        let before = read(&endpoint).await?;
        tokio::time::sleep(window).await;
        let after = read(&endpoint).await?;
        let delta = Counters {
            batches: after.batches.saturating_sub(before.batches),
            requests: after.requests.saturating_sub(before.requests),
            busy_us: after.busy_us.saturating_sub(before.busy_us),
            cpu_us: after.cpu_us.saturating_sub(before.cpu_us),
            wal_frames: after
                .wal_frames
                .zip(before.wal_frames)
                .map(|(a, b)| a.saturating_sub(b)),
        };
        Some(WriterWindow {
            delta,
            window: started.elapsed(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_per_request_over_the_window() {
        let body = br#"{"status":"ok","group_commit":{"batches":10,"requests":160,"busy_us":6400,"cpu_us":3200,"wal_frames":320}}"#;
        let delta = Counters::from_health(body).unwrap();
        let window = WriterWindow {
            delta,
            window: Duration::from_millis(64),
        };
        assert_eq!(
            window.line(),
            "writer        40.0 us wall, 20.0 us cpu, 2.00 wal pages per request; batches of 16.0, 10% busy"
        );
        // A server that counts fewer things reads them as zero, not as a failure.
        let old =
            Counters::from_health(br#"{"group_commit":{"batches":1,"requests":2,"busy_us":3}}"#);
        assert_eq!(old.unwrap().cpu_us, 0);
    }
}
