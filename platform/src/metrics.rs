//! The process's metrics, served in the Prometheus text format at `/metrics` on the admin
//! listener (`[admin] bind`). One registry per process, as Prometheus clients keep: every part
//! records into it without a handle passed down.
//!
//! Label values come from a fixed set or from the server's own configuration, never from what a
//! client sent. An unknown tenant is `unknown` and an unknown grant type `other`, so requests
//! cannot grow the label sets.
//!
//! Beside the cumulative counters, token requests are also counted per minute over the last hour
//! (`recent_token_requests`), for the console's overview. That window is this node's alone: with
//! several nodes, each one counts only the requests it answered.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub tenant: String,
    pub grant_type: String,
    /// `issued`, or the OAuth error code.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    pub grant_type: String,
    /// `ok`, or what went wrong at the boundary (`failed`: a panic, a timeout, a busy slot...).
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignInLabels {
    pub tenant: String,
    /// What came of it: `sign_in_page`, `invalid_credentials`, `too_many_failures`,
    /// `consent_page`, `code_issued`, `csrf_refused`, or the OAuth error sent back.
    pub outcome: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    token_requests: Family<RequestLabels, Counter>,
    token_seconds: Histograms<RequestLabels>,
    plugin_calls: Family<PluginLabels, Counter>,
    plugin_seconds: Histograms<PluginLabels>,
    jwks_fetches: Family<OutcomeLabels, Counter>,
    write_batch_requests: Histogram,
    authorization_requests: Family<SignInLabels, Counter>,
    /// Token requests per minute over the last hour, by the same labels as `token_requests`.
    /// One map under one short lock: a request only finds its series and bumps one bucket.
    recent_token_requests: Mutex<HashMap<RequestLabels, MinuteRing>>,
}

/// Token requests answered in the last hour, on this node, for one grant type and outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecentRequests {
    pub grant_type: String,
    pub outcome: String,
    /// One count per minute, the oldest first; the last is the current minute.
    pub per_minute: Vec<u64>,
    pub total: u64,
}

/// Minutes in the window `recent_token_requests` reports.
pub const RECENT_MINUTES: usize = 60;

/// Counts per minute for the last `RECENT_MINUTES` minutes, in a ring indexed by the Unix minute.
/// Each slot remembers which minute it counts, so a slot last used an hour or more ago reads as
/// zero and is reset when its minute comes round again: no timer has to sweep it.
///
/// A slot is reset whenever another minute than its own comes to it, later or earlier: the ring
/// follows the clock its callers read, so after the clock is set back it counts again at once
/// (what it counted in the minutes now "in the future" is out of every window until then anyway).
#[derive(Debug, Clone)]
struct MinuteRing {
    minutes: [i64; RECENT_MINUTES],
    counts: [u64; RECENT_MINUTES],
}

impl MinuteRing {
    fn new() -> MinuteRing {
        MinuteRing {
            // No slot has counted a minute yet; `i64::MIN` is no minute `unix_minute` returns.
            minutes: [i64::MIN; RECENT_MINUTES],
            counts: [0; RECENT_MINUTES],
        }
    }

    fn record(&mut self, minute: i64) {
        let slot = ring_slot(minute);
        if self.minutes[slot] != minute {
            self.minutes[slot] = minute;
            self.counts[slot] = 0;
        }
        self.counts[slot] = self.counts[slot].saturating_add(1);
    }

    /// The counts of the `RECENT_MINUTES` minutes ending with `current_minute`, the oldest
    /// first. Minutes after `current_minute` (a request recorded with a later clock reading than
    /// the caller's) are not in the window.
    fn window(&self, current_minute: i64) -> Vec<u64> {
        (0..RECENT_MINUTES as i64)
            .map(|age| current_minute - (RECENT_MINUTES as i64 - 1) + age)
            .map(|minute| {
                let slot = ring_slot(minute);
                if self.minutes[slot] == minute {
                    self.counts[slot]
                } else {
                    0
                }
            })
            .collect()
    }
}

/// The minute since the Unix epoch that `unix_seconds` falls in (whole minutes down, also before
/// 1970).
fn unix_minute(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(60)
}

fn ring_slot(minute: i64) -> usize {
    // rem_euclid of a positive modulus is in 0..RECENT_MINUTES, also for negative minutes.
    minute.rem_euclid(RECENT_MINUTES as i64) as usize
}

/// From 100 µs to about 26 s, doubling.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("grantor");
        let token_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "token_requests",
            "Token requests answered, by tenant, grant type and outcome",
            token_requests.clone(),
        );
        let token_seconds: Histograms<RequestLabels> =
            Family::new_with_constructor(latency_buckets);
        registry.register(
            "token_request_seconds",
            "Time from a token request's arrival to its answer",
            token_seconds.clone(),
        );
        let plugin_calls = Family::<PluginLabels, Counter>::default();
        registry.register(
            "plugin_calls",
            "Grant plugin calls, by grant type and outcome",
            plugin_calls.clone(),
        );
        let plugin_seconds: Histograms<PluginLabels> =
            Family::new_with_constructor(latency_buckets);
        registry.register(
            "plugin_call_seconds",
            "Time a grant plugin call took, waiting for its slot included",
            plugin_seconds.clone(),
        );
        let jwks_fetches = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "jwks_fetches",
            "Fetches of identity providers' and issuers' JWKS endpoints, by outcome",
            jwks_fetches.clone(),
        );
        let write_batch_requests = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "write_batch_requests",
            "Requests whose writes one database transaction committed (group commit)",
            write_batch_requests.clone(),
        );
        let authorization_requests = Family::<SignInLabels, Counter>::default();
        registry.register(
            "authorization_requests",
            "Requests to the authorization endpoint and its pages, by tenant and outcome",
            authorization_requests.clone(),
        );
        Metrics {
            authorization_requests,
            registry,
            token_requests,
            token_seconds,
            plugin_calls,
            plugin_seconds,
            jwks_fetches,
            write_batch_requests,
            recent_token_requests: Mutex::default(),
        }
    }

    /// One token request answered at `now_unix` (seconds since the epoch), after `elapsed`.
    pub fn token_request(&self, labels: RequestLabels, elapsed: Duration, now_unix: i64) {
        self.record_recent_token_request(&labels, now_unix);
        self.token_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.token_requests.get_or_create(&labels).inc();
    }

    fn record_recent_token_request(&self, labels: &RequestLabels, now_unix: i64) {
        let minute = unix_minute(now_unix);
        // A panic elsewhere while holding the lock leaves counts, not broken invariants: keep
        // counting rather than stop the token endpoint.
        let mut recent = self
            .recent_token_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(ring) = recent.get_mut(labels) {
            ring.record(minute);
            return;
        }
        // The labels' first request: the only one that allocates.
        let mut ring = MinuteRing::new();
        ring.record(minute);
        recent.insert(labels.clone(), ring);
    }

    /// The token requests this node answered for `tenant` in the `RECENT_MINUTES` minutes ending
    /// with the one `now_unix` falls in, one entry per grant type and outcome that had any,
    /// sorted by grant type, then outcome. Other nodes' requests are not in it.
    pub fn recent_token_requests(&self, tenant: &str, now_unix: i64) -> Vec<RecentRequests> {
        let minute = unix_minute(now_unix);
        let mut found: Vec<RecentRequests> = {
            let recent = self
                .recent_token_requests
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            recent
                .iter()
                .filter(|(labels, _)| labels.tenant == tenant)
                .map(|(labels, ring)| {
                    let per_minute = ring.window(minute);
                    RecentRequests {
                        grant_type: labels.grant_type.clone(),
                        outcome: labels.outcome.clone(),
                        total: per_minute
                            .iter()
                            .fold(0u64, |sum, n| sum.saturating_add(*n)),
                        per_minute,
                    }
                })
                .filter(|requests| requests.total > 0)
                .collect()
        };
        // Sorted after the lock is released: the token endpoint waits for the scan only.
        found.sort_by(|a, b| (&a.grant_type, &a.outcome).cmp(&(&b.grant_type, &b.outcome)));
        found
    }

    pub fn plugin_call(&self, grant_type: &str, ok: bool, elapsed: Duration) {
        let labels = PluginLabels {
            grant_type: grant_type.to_owned(),
            outcome: if ok { "ok" } else { "failed" }.to_owned(),
        };
        self.plugin_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.plugin_calls.get_or_create(&labels).inc();
    }

    pub fn jwks_fetch(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" }.to_owned();
        self.jwks_fetches
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// `outcome` is one of the handler's own words, never a client's.
    pub fn authorization_request(&self, tenant: &str, outcome: &'static str) {
        self.authorization_requests
            .get_or_create(&SignInLabels {
                tenant: tenant.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn write_batch(&self, requests: usize) {
        self.write_batch_requests.observe(requests as f64);
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_recorded_is_rendered() {
        let metrics = Metrics::new();
        metrics.token_request(
            RequestLabels {
                tenant: "acme".into(),
                grant_type: "client_credentials".into(),
                outcome: "issued".into(),
            },
            Duration::from_millis(3),
            1_800_000_000,
        );
        metrics.plugin_call("urn:x", false, Duration::from_millis(1));
        metrics.jwks_fetch(true);
        metrics.write_batch(7);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"grantor_token_requests_total{tenant="acme",grant_type="client_credentials",outcome="issued"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("grantor_token_request_seconds_bucket{"),
            "{text}"
        );
        assert!(
            text.contains(r#"grantor_plugin_calls_total{grant_type="urn:x",outcome="failed"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"grantor_jwks_fetches_total{outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("grantor_write_batch_requests_sum 7"),
            "{text}"
        );
    }

    /// 2027-01-15 08:00:00 UTC, the start of a minute.
    const T0: i64 = 1_800_000_000;

    fn answered(metrics: &Metrics, tenant: &str, grant_type: &str, outcome: &str, at: i64) {
        metrics.token_request(
            RequestLabels {
                tenant: tenant.into(),
                grant_type: grant_type.into(),
                outcome: outcome.into(),
            },
            Duration::from_millis(1),
            at,
        );
    }

    fn minutes(counts: &[(usize, u64)]) -> Vec<u64> {
        let mut per_minute = vec![0; RECENT_MINUTES];
        for (index, count) in counts {
            per_minute[*index] = *count;
        }
        per_minute
    }

    #[test]
    fn the_last_hour_is_counted_per_minute_oldest_first() {
        let metrics = Metrics::new();
        // The minute just before the window, and the oldest one in it.
        answered(
            &metrics,
            "acme",
            "client_credentials",
            "issued",
            T0 - 60 * 60,
        );
        answered(
            &metrics,
            "acme",
            "client_credentials",
            "issued",
            T0 - 59 * 60,
        );
        answered(&metrics, "acme", "client_credentials", "issued", T0 - 60);
        answered(&metrics, "acme", "client_credentials", "issued", T0);
        answered(&metrics, "acme", "client_credentials", "issued", T0 + 59);

        let recent = metrics.recent_token_requests("acme", T0 + 30);
        assert_eq!(
            recent,
            vec![RecentRequests {
                grant_type: "client_credentials".into(),
                outcome: "issued".into(),
                per_minute: minutes(&[(0, 1), (58, 1), (59, 2)]),
                total: 4,
            }]
        );
    }

    #[test]
    fn requests_older_than_an_hour_leave_the_window() {
        let metrics = Metrics::new();
        answered(&metrics, "acme", "password", "invalid_grant", T0);
        answered(&metrics, "acme", "password", "invalid_grant", T0);

        let an_hour_less_a_minute = metrics.recent_token_requests("acme", T0 + 59 * 60 + 59);
        assert_eq!(an_hour_less_a_minute.len(), 1);
        assert_eq!(an_hour_less_a_minute[0].per_minute, minutes(&[(0, 2)]));
        assert_eq!(an_hour_less_a_minute[0].total, 2);
        // A series with nothing left in the window is not listed.
        assert_eq!(metrics.recent_token_requests("acme", T0 + 60 * 60), vec![]);
    }

    #[test]
    fn a_bucket_reused_an_hour_later_starts_from_zero() {
        let metrics = Metrics::new();
        for _ in 0..5 {
            answered(&metrics, "acme", "password", "issued", T0);
        }
        // The same slot of the ring, one hour on.
        answered(&metrics, "acme", "password", "issued", T0 + 60 * 60);

        let recent = metrics.recent_token_requests("acme", T0 + 60 * 60);
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].per_minute, minutes(&[(59, 1)]));
        assert_eq!(recent[0].total, 1);
    }

    #[test]
    fn the_window_follows_a_clock_set_back() {
        let metrics = Metrics::new();
        answered(&metrics, "acme", "password", "issued", T0 + 2 * 60 * 60);
        // The clock is set back two hours: the same slot of the ring, two hours earlier.
        answered(&metrics, "acme", "password", "issued", T0);
        let recent = metrics.recent_token_requests("acme", T0);
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].per_minute, minutes(&[(59, 1)]));
    }

    #[test]
    fn a_request_after_the_asked_minute_is_not_in_its_window() {
        let metrics = Metrics::new();
        answered(&metrics, "acme", "password", "issued", T0 + 60);
        assert_eq!(metrics.recent_token_requests("acme", T0), vec![]);
    }

    #[test]
    fn tenants_are_counted_apart_and_series_sorted() {
        let metrics = Metrics::new();
        answered(&metrics, "acme", "password", "issued", T0);
        answered(&metrics, "acme", "client_credentials", "invalid_client", T0);
        answered(&metrics, "acme", "client_credentials", "issued", T0);
        answered(&metrics, "acme", "client_credentials", "issued", T0);
        answered(&metrics, "globex", "client_credentials", "issued", T0);

        let acme: Vec<(String, String, u64)> = metrics
            .recent_token_requests("acme", T0)
            .into_iter()
            .map(|r| (r.grant_type, r.outcome, r.total))
            .collect();
        assert_eq!(
            acme,
            vec![
                ("client_credentials".into(), "invalid_client".into(), 1),
                ("client_credentials".into(), "issued".into(), 2),
                ("password".into(), "issued".into(), 1),
            ]
        );
        let globex = metrics.recent_token_requests("globex", T0);
        assert_eq!(globex.len(), 1);
        assert_eq!(globex[0].total, 1);
        assert_eq!(metrics.recent_token_requests("initech", T0), vec![]);
    }

    #[test]
    fn minutes_before_1970_are_whole_minutes_down() {
        assert_eq!(unix_minute(-1), -1);
        assert_eq!(unix_minute(-60), -1);
        assert_eq!(unix_minute(-61), -2);
        assert_eq!(ring_slot(-1), RECENT_MINUTES - 1);
        let mut ring = MinuteRing::new();
        ring.record(unix_minute(-1));
        assert_eq!(ring.window(unix_minute(0)), minutes(&[(58, 1)]));
    }
}
