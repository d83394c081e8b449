//! The report: the run's figures as plain text for a person, and optionally as one JSON object
//! for scripts. Formatting only; every number comes in measured.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::floors::VerifyFloor;
use crate::load::LoadResult;

/// Percentiles reported, as quantiles, with their labels.
const PERCENTILES: [(&str, f64); 4] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

pub struct Summary<'a> {
    pub mode: &'a str,
    /// Where the server under test runs: sqlite / postgres (started), attached, peer.
    pub backend: String,
    pub target: &'a str,
    pub connections: usize,
    pub warmup_secs: u64,
    pub duration_secs: u64,
    /// Assertions signed before the run, and how long that took.
    pub minted: Option<(usize, std::time::Duration)>,
    pub assertions_used: Option<usize>,
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
    pub verify: &'a VerifyFloor,
    pub http: &'a LoadResult,
    pub http_duration_secs: u64,
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

fn counts_line(run: &LoadResult) -> String {
    let mut parts: Vec<String> = run
        .by_status
        .iter()
        .map(|(status, n)| format!("{status}: {n}"))
        .collect();
    if run.bad_200 > 0 {
        parts.push(format!("200 without a token: {}", run.bad_200));
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
    line(format!("mode          {}", summary.mode));
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
    line(format!("responses     {}", counts_line(run)));
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
            verify.per_verification.as_secs_f64() * 1e6,
            verify.verifications,
            grouped(verify.per_core_per_second()),
            grouped(verify.ceiling(summary.cores)),
            summary.cores
        ));
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
        if summary.mode == "jwt-bearer" {
            if let Some(r) = ratio(run.ok_throughput(), verify.ceiling(summary.cores)) {
                line(format!(
                    "ratio         {r:.3} of the {}-core RS256 verification ceiling",
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
        "mode": summary.mode,
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
        "error_samples": run.error_samples,
    });
    if let Some(floors) = &summary.floors {
        let ceiling = floors.verify.ceiling(summary.cores);
        value["floors"] = json!({
            "cores": summary.cores,
            "rs256_verify_us": floors.verify.per_verification.as_secs_f64() * 1e6,
            "rs256_verifications_per_core_per_s": floors.verify.per_core_per_second(),
            "rs256_ceiling_per_s": ceiling,
            "http_floor_rps": floors.http.ok_throughput(),
            "http_floor_latency": latency_json(&floors.http.latency),
            "ratio_to_http_floor": ratio(run.ok_throughput(), floors.http.ok_throughput()),
            "ratio_to_rs256_ceiling": (summary.mode == "jwt-bearer")
                .then(|| ratio(run.ok_throughput(), ceiling))
                .flatten(),
        });
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

    #[test]
    fn throughput_is_grouped_by_thousands() {
        assert_eq!(grouped(1234567.24), "1,234,567.2");
        assert_eq!(grouped(999.96), "1,000.0");
        assert_eq!(grouped(12.0), "12.0");
        assert_eq!(grouped(-4321.0), "-4,321.0");
    }
}
