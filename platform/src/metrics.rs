//! The process's metrics, served in the Prometheus text format at `/metrics` on the admin
//! listener (`[admin] bind`). One registry per process, as Prometheus clients keep: every part
//! records into it without a handle passed down.
//!
//! Label values come from a fixed set or from the server's own configuration, never from what a
//! client sent. An unknown tenant is `unknown` and an unknown grant type `other`, so requests
//! cannot grow the label sets.

use std::sync::LazyLock;
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
        }
    }

    pub fn token_request(&self, labels: RequestLabels, elapsed: Duration) {
        self.token_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.token_requests.get_or_create(&labels).inc();
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
}
