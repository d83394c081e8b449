//! The report: the run's figures as plain text for a person, and optionally as one JSON object
//! for scripts. Formatting only; every number comes in measured.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::cli::Mode;
use crate::floors::{CryptoFloor, CryptoPerRequest, SignFloor};
use crate::load::{Expect, LoadResult};

/// Percentiles reported, as quantiles, with their labels.
const PERCENTILES: [(&str, f64); 4] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

pub struct Summary<'a> {
    pub mode: Mode,
    /// What counted as a success (names the 200s that fell short).
    pub expect: Expect,
    /// Where the server under test runs: sqlite / postgres (started), attached, peer.
    pub backend: String,
    pub target: &'a str,
    pub connections: usize,
    pub warmup_secs: u64,
    pub duration_secs: u64,
    /// Assertions signed before the run, and how long that took.
    pub minted: Option<(usize, std::time::Duration)>,
    pub assertions_used: Option<usize>,
    /// The access tokens' format, and for JWTs the `alg` and length of the first one issued.
    pub access_tokens: Option<AccessTokens>,
    /// introspect: the token pool obtained before the run.
    pub introspected: Option<TokenPool>,
    pub run: &'a LoadResult,
    /// CPU time the server (when this run started it) and the load generator spent in the
    /// measured window.
    pub server_cpu: Option<std::time::Duration>,
    pub load_cpu: Option<std::time::Duration>,
    pub floors: Option<Floors<'a>>,
    /// Cores the machine has (the ceiling of the RS256 floor).
    pub cores: usize,
}

pub struct Floors<'a> {
    pub verify: &'a CryptoFloor,
    /// Where each response carries a JWT access token: one signature of its key type.
    pub sign: Option<&'a SignFloor>,
    pub http: &'a LoadResult,
    pub http_duration_secs: u64,
}

pub struct AccessTokens {
    pub format: &'static str,
    /// The `alg` of a JWT access token's header.
    pub alg: Option<String>,
    pub bytes: usize,
}

pub struct TokenPool {
    pub tokens: usize,
    pub took: std::time::Duration,
}

/// `1234.5` -> `1,234.5`-style grouping is not worth a dependency; one decimal and thousands
/// separators by hand.
fn grouped(value: f64) -> String {
    let rounded = format!("{value:.1}");
    let (int, frac) = rounded.split_once('.').unwrap_or((&rounded, "0"));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}.{frac}")
}

/// Microseconds as milliseconds with three decimals.
fn ms(micros: u64) -> String {
    format!("{:.3}", micros as f64 / 1000.0)
}

/// `p50 1.234  p90 ...  max 9.876 ms`, or a note when nothing was recorded.
pub fn latency_line(histogram: &Histogram<u64>) -> String {
    if histogram.is_empty() {
        return "no responses recorded".to_owned();
    }
    let mut line = String::new();
    for (label, q) in PERCENTILES {
        let _ = write!(line, "{label} {}  ", ms(histogram.value_at_quantile(q)));
    }
    let _ = write!(line, "max {} ms", ms(histogram.max()));
    line
}

fn latency_json(histogram: &Histogram<u64>) -> Value {
    let mut map = serde_json::Map::new();
    for (label, q) in PERCENTILES {
        map.insert(
            format!("{label}_ms"),
            json!(histogram.value_at_quantile(q) as f64 / 1000.0),
        );
    }
    map.insert("max_ms".into(), json!(histogram.max() as f64 / 1000.0));
    Value::Object(map)
}

fn counts_line(run: &LoadResult, expect: Expect) -> String {
    let mut parts: Vec<String> = run
        .by_status
        .iter()
        .map(|(status, n)| format!("{status}: {n}"))
        .collect();
    if run.bad_200 > 0 {
        parts.push(format!("{}: {}", expect.shortfall(), run.bad_200));
    }
    parts.push(format!("transport errors: {}", run.transport_errors));
    parts.join("  ")
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

/// `server cpu    123.4 us per request (1.23 cores busy)`, from the CPU spent in the window.
fn cpu_line(what: &str, spent: Option<std::time::Duration>, run: &LoadResult) -> Option<String> {
    let spent = spent?;
    let requests = run.requests().max(1) as f64;
    let window = run.window.as_secs_f64().max(1e-9);
    Some(format!(
        "{what:<13} {:.1} us per request ({:.2} cores busy)",
        spent.as_secs_f64() * 1e6 / requests,
        spent.as_secs_f64() / window
    ))
}

pub fn text(summary: &Summary) -> String {
    let run = summary.run;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("mode          {}", summary.mode.name()));
    line(format!("backend       {}", summary.backend));
    line(format!("target        {}", summary.target));
    line(format!("connections   {}", summary.connections));
    line(format!(
        "duration      {} s measured after {} s warm-up",
        summary.duration_secs, summary.warmup_secs
    ));
    if let Some((n, took)) = summary.minted {
        line(format!(
            "assertions    {n} minted in {:.2} s before the run ({} used)",
            took.as_secs_f64(),
            summary.assertions_used.unwrap_or(0)
        ));
    }
    if let Some(tokens) = &summary.access_tokens {
        line(format!(
            "access tokens {}{}, {} bytes",
            tokens.format,
            tokens
                .alg
                .as_deref()
                .map(|alg| format!(" ({alg})"))
                .unwrap_or_default(),
            tokens.bytes
        ));
    }
    if let Some(pool) = &summary.introspected {
        line(format!(
            "token pool    {} access tokens obtained in {:.2} s before the run \
             (client_credentials), introspected in turn",
            pool.tokens,
            pool.took.as_secs_f64()
        ));
    }
    if let Some(after) = run.pool_ran_out_after {
        line(format!(
            "!! the assertion pool ran out {:.2} s into the measured window; sending stopped \
             there (none reused); figures cover {:.2} s. Mint more with --assertions.",
            after.as_secs_f64(),
            run.window.as_secs_f64()
        ));
    }
    line(format!(
        "requests      {} ({} successful)",
        run.requests(),
        run.ok
    ));
    line(format!(
        "throughput    {} req/s ({} successful/s)",
        grouped(run.throughput()),
        grouped(run.ok_throughput())
    ));
    line(format!("latency       {}", latency_line(&run.latency)));
    line(format!(
        "responses     {}",
        counts_line(run, summary.expect)
    ));
    if let Some(line_text) = cpu_line("server cpu", summary.server_cpu, run) {
        line(line_text);
    }
    if let Some(line_text) = cpu_line("load cpu", summary.load_cpu, run) {
        line(line_text);
    }
    if run.reseeds > 0 {
        line(format!(
            "reseeds       {} refresh chains restarted with a jwt-bearer exchange",
            run.reseeds
        ));
    }
    if run.abandoned > 0 {
        line(format!(
            "abandoned     {} requests still unanswered 2 s after the window",
            run.abandoned
        ));
    }
    if !run.error_samples.is_empty() {
        line("first errors:".to_owned());
        for sample in &run.error_samples {
            line(format!("  {sample}"));
        }
    }
    if let Some(floors) = &summary.floors {
        let verify = floors.verify;
        let http = floors.http;
        line(String::new());
        line("floors (same run, same machine)".to_owned());
        line(format!(
            "rs256 verify  {:.1} us per verification (openssl, 1 thread, {} runs): {} \
             verifications/s per core, {} /s on {} cores",
            verify.micros(),
            verify.operations,
            grouped(verify.per_core_per_second()),
            grouped(verify.ceiling(summary.cores)),
            summary.cores
        ));
        if let Some(sign) = floors.sign {
            line(format!(
                "{:<13} {:.1} us per signature of {} bytes (openssl, 1 thread, {} runs): {} \
                 signatures/s per core, {} /s on {} cores",
                format!("{} sign", sign.alg.name().to_lowercase()),
                sign.floor.micros(),
                sign.input_bytes,
                sign.floor.operations,
                grouped(sign.floor.per_core_per_second()),
                grouped(sign.floor.ceiling(summary.cores)),
                summary.cores
            ));
            let crypto = CryptoPerRequest::new(verify, &sign.floor);
            line(format!(
                "crypto floor  {:.1} us of one core per request (one RS256 verification {:.1} + \
                 one {} signature {:.1}): {} req/s on {} cores",
                crypto.micros(),
                verify.micros(),
                sign.alg.name(),
                sign.floor.micros(),
                grouped(crypto.ceiling(summary.cores)),
                summary.cores
            ));
        }
        line(format!(
            "http floor    {} req/s ({} successful/s) over {} s, {} connections, in-process warp; \
             p50 {} ms  p99 {} ms",
            grouped(http.throughput()),
            grouped(http.ok_throughput()),
            floors.http_duration_secs,
            summary.connections,
            ms(http.latency.value_at_quantile(0.5)),
            ms(http.latency.value_at_quantile(0.99))
        ));
        if let Some(r) = ratio(run.ok_throughput(), http.ok_throughput()) {
            line(format!(
                "ratio         {r:.3} of the HTTP floor's throughput"
            ));
        }
        if let Some(sign) = floors.sign {
            if let Some(r) = ratio(run.ok_throughput(), sign.floor.ceiling(summary.cores)) {
                line(format!(
                    "ratio         {r:.3} of the {}-core {} signing ceiling",
                    summary.cores,
                    sign.alg.name()
                ));
            }
        }
        if summary.mode.spends_assertions() {
            if let Some(r) = ratio(run.ok_throughput(), verify.ceiling(summary.cores)) {
                line(format!(
                    "ratio         {r:.3} of the {}-core RS256 verification ceiling",
                    summary.cores
                ));
            }
        }
        if let Some(sign) = floors.sign {
            let crypto = CryptoPerRequest::new(verify, &sign.floor);
            if let Some(r) = ratio(run.ok_throughput(), crypto.ceiling(summary.cores)) {
                line(format!(
                    "ratio         {r:.3} of the {}-core crypto floor (verification + signature)",
                    summary.cores
                ));
            }
        }
    }
    out
}

pub fn json(summary: &Summary) -> Value {
    let run = summary.run;
    let statuses: serde_json::Map<String, Value> = run
        .by_status
        .iter()
        .map(|(s, n)| (s.to_string(), json!(n)))
        .collect();
    let mut value = json!({
        "mode": summary.mode.name(),
        "backend": summary.backend,
        "target": summary.target,
        "connections": summary.connections,
        "warmup_s": summary.warmup_secs,
        "duration_s": summary.duration_secs,
        "window_s": run.window.as_secs_f64(),
        "requests": run.requests(),
        "successful": run.ok,
        "throughput_rps": run.throughput(),
        "successful_rps": run.ok_throughput(),
        "latency": latency_json(&run.latency),
        "statuses": statuses,
        "ok_without_token": run.bad_200,
        "transport_errors": run.transport_errors,
        "abandoned": run.abandoned,
        "reseeds": run.reseeds,
        "pool_ran_out_after_s": run.pool_ran_out_after.map(|d| d.as_secs_f64()),
        "assertions_minted": summary.minted.map(|(n, _)| n),
        "minting_s": summary.minted.map(|(_, t)| t.as_secs_f64()),
        "assertions_used": summary.assertions_used,
        "access_token_format": summary.access_tokens.as_ref().map(|t| t.format),
        "access_token_alg": summary.access_tokens.as_ref().and_then(|t| t.alg.clone()),
        "access_token_bytes": summary.access_tokens.as_ref().map(|t| t.bytes),
        "introspected_tokens": summary.introspected.as_ref().map(|p| p.tokens),
        "introspected_tokens_obtaining_s": summary
            .introspected
            .as_ref()
            .map(|p| p.took.as_secs_f64()),
        "error_samples": run.error_samples,
    });
    if let Some(floors) = &summary.floors {
        let ceiling = floors.verify.ceiling(summary.cores);
        value["floors"] = json!({
            "cores": summary.cores,
            "rs256_verify_us": floors.verify.micros(),
            "rs256_verifications_per_core_per_s": floors.verify.per_core_per_second(),
            "rs256_ceiling_per_s": ceiling,
            "http_floor_rps": floors.http.ok_throughput(),
            "http_floor_latency": latency_json(&floors.http.latency),
            "ratio_to_http_floor": ratio(run.ok_throughput(), floors.http.ok_throughput()),
            "ratio_to_rs256_ceiling": summary
                .mode
                .spends_assertions()
                .then(|| ratio(run.ok_throughput(), ceiling))
                .flatten(),
        });
        if let Some(sign) = floors.sign {
            let sign_ceiling = sign.floor.ceiling(summary.cores);
            let crypto = CryptoPerRequest::new(floors.verify, &sign.floor);
            let crypto_ceiling = crypto.ceiling(summary.cores);
            let extra = json!({
                "sign_alg": sign.alg.name(),
                "sign_input_bytes": sign.input_bytes,
                "sign_us": sign.floor.micros(),
                "signatures_per_core_per_s": sign.floor.per_core_per_second(),
                "sign_ceiling_per_s": sign_ceiling,
                "ratio_to_sign_ceiling": ratio(run.ok_throughput(), sign_ceiling),
                "crypto_floor_us": crypto.micros(),
                "crypto_ceiling_per_s": crypto_ceiling,
                "ratio_to_crypto_ceiling": ratio(run.ok_throughput(), crypto_ceiling),
            });
            if let (Some(floors_json), Value::Object(extra)) =
                (value["floors"].as_object_mut(), extra)
            {
                floors_json.extend(extra);
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_line_reports_percentiles_in_milliseconds() {
        let mut h = crate::load::new_histogram().expect("histogram");
        for micros in 1..=1000u64 {
            h.record(micros * 10).expect("record");
        }
        let line = latency_line(&h);
        // 3 significant digits: p50 of 10..10000 us is 5000 us = 5.000 ms (within histogram
        // precision).
        assert!(line.starts_with("p50 5.0"), "{line}");
        assert!(line.contains("p99 9.9"), "{line}");
        assert!(
            line.ends_with("max 10.007 ms") || line.ends_with("max 10.000 ms"),
            "{line}"
        );
        assert_eq!(
            latency_line(&crate::load::new_histogram().expect("h")),
            "no responses recorded"
        );
    }

    fn result(ok: u64, window_secs: u64) -> LoadResult {
        let mut latency = crate::load::new_histogram().expect("histogram");
        latency.record(1000).expect("record");
        LoadResult {
            latency,
            by_status: [(200u16, ok)].into_iter().collect(),
            ok,
            bad_200: 0,
            transport_errors: 0,
            abandoned: 0,
            reseeds: 0,
            pool_ran_out_after: None,
            window: std::time::Duration::from_secs(window_secs),
            error_samples: Vec::new(),
        }
    }

    fn crypto(micros: u64) -> CryptoFloor {
        CryptoFloor {
            operations: 1000,
            per_operation: std::time::Duration::from_micros(micros),
        }
    }

    #[test]
    fn jwt_access_token_runs_report_the_signing_and_crypto_floors() {
        // 500 req/s; verify 50 us, sign 950 us: per request 1 ms, 2,000/s on 2 cores.
        let run = result(5000, 10);
        let http = result(30000, 1);
        let verify = crypto(50);
        let sign = SignFloor {
            alg: crate::cli::SigningAlg::ES256,
            input_bytes: 401,
            floor: crypto(950),
        };
        let summary = Summary {
            mode: Mode::JwtAccessToken,
            expect: Expect::JwtAccessToken,
            backend: "sqlite".into(),
            target: "http://127.0.0.1:1/t/x/oauth2/token",
            connections: 32,
            warmup_secs: 1,
            duration_secs: 10,
            minted: Some((6000, std::time::Duration::from_secs(1))),
            assertions_used: Some(5100),
            access_tokens: Some(AccessTokens {
                format: "jwt",
                alg: Some("ES256".into()),
                bytes: 480,
            }),
            introspected: None,
            run: &run,
            server_cpu: None,
            load_cpu: None,
            floors: Some(Floors {
                verify: &verify,
                sign: Some(&sign),
                http: &http,
                http_duration_secs: 1,
            }),
            cores: 2,
        };
        let text = text(&summary);
        assert!(
            text.contains("access tokens jwt (ES256), 480 bytes"),
            "{text}"
        );
        assert!(
            text.contains("es256 sign    950.0 us per signature of 401 bytes"),
            "{text}"
        );
        assert!(
            text.contains("crypto floor  1000.0 us of one core per request"),
            "{text}"
        );
        // 500 / (2 * 1,052.6) = 0.2375 signing, 500 / 40,000 verification, 500 / 2,000 crypto.
        assert!(
            text.contains("ratio         0.238 of the 2-core ES256 signing ceiling"),
            "{text}"
        );
        assert!(
            text.contains("ratio         0.013 of the 2-core RS256 verification ceiling"),
            "{text}"
        );
        assert!(
            text.contains("ratio         0.250 of the 2-core crypto floor"),
            "{text}"
        );
        let json = json(&summary);
        let floors = &json["floors"];
        assert_eq!(floors["sign_alg"], "ES256");
        assert_eq!(floors["sign_input_bytes"], 401);
        let close = |key: &str, expected: f64| {
            let got = floors[key].as_f64().unwrap_or(f64::NAN);
            assert!((got - expected).abs() < 1e-3, "{key}: {got} != {expected}");
        };
        close("sign_us", 950.0);
        close("crypto_floor_us", 1000.0);
        close("crypto_ceiling_per_s", 2000.0);
        close("ratio_to_crypto_ceiling", 0.25);
        close("ratio_to_rs256_ceiling", 500.0 / 40_000.0);
        close("ratio_to_sign_ceiling", 500.0 / (2.0 * 1e6 / 950.0));
        assert_eq!(json["access_token_alg"], "ES256");
        assert_eq!(json["mode"], "jwt-access-token");
    }

    #[test]
    fn introspect_runs_have_no_crypto_ratios() {
        let run = result(1000, 1);
        let http = result(2000, 1);
        let verify = crypto(50);
        let summary = Summary {
            mode: Mode::Introspect,
            expect: Expect::Active,
            backend: "sqlite".into(),
            target: "http://127.0.0.1:1/t/x/oauth2/introspect",
            connections: 4,
            warmup_secs: 1,
            duration_secs: 1,
            minted: None,
            assertions_used: None,
            access_tokens: Some(AccessTokens {
                format: "opaque",
                alg: None,
                bytes: 43,
            }),
            introspected: Some(TokenPool {
                tokens: 256,
                took: std::time::Duration::from_millis(500),
            }),
            run: &run,
            server_cpu: None,
            load_cpu: None,
            floors: Some(Floors {
                verify: &verify,
                sign: None,
                http: &http,
                http_duration_secs: 1,
            }),
            cores: 2,
        };
        let text = text(&summary);
        assert!(text.contains("access tokens opaque, 43 bytes"), "{text}");
        assert!(text.contains("token pool    256 access tokens"), "{text}");
        assert!(
            text.contains("ratio         0.500 of the HTTP floor"),
            "{text}"
        );
        assert!(!text.contains("ceiling"), "{text}");
        let json = json(&summary);
        assert_eq!(json["floors"]["ratio_to_rs256_ceiling"], Value::Null);
        assert_eq!(json["floors"].get("crypto_floor_us"), None);
        assert_eq!(json["introspected_tokens"], 256);
    }

    #[test]
    fn throughput_is_grouped_by_thousands() {
        assert_eq!(grouped(1234567.24), "1,234,567.2");
        assert_eq!(grouped(999.96), "1,000.0");
        assert_eq!(grouped(12.0), "12.0");
        assert_eq!(grouped(-4321.0), "-4,321.0");
    }
}
