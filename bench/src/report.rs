//! The report: the run's figures as plain text for a person, and optionally as one JSON object
//! for scripts. Formatting only; every number comes in measured.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::cli::{BackendClaims, Mode, RequestedTokenType};
use crate::floors::{CryptoFloor, CryptoPerRequest, SignFloor};
use crate::gateway::{self, CpuTarget, LatencyTarget};
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
    /// authorization-code: the codes made before the run, and how many the run exchanged.
    pub codes: Option<CodePool>,
    /// The access tokens' format, and for JWTs the `alg` and length of the first one issued.
    pub access_tokens: Option<AccessTokens>,
    /// authorization-code: the `alg` and length of the first ID token issued.
    pub id_tokens: Option<IdTokens>,
    /// introspect: the token pool obtained before the run.
    pub introspected: Option<TokenPool>,
    /// token-exchange: the subject tokens obtained before the run, and what was asked for.
    pub exchange: Option<ExchangePool>,
    pub run: &'a LoadResult,
    /// CPU time the server (when this run started it) and the load generator spent in the
    /// measured window.
    pub server_cpu: Option<std::time::Duration>,
    pub load_cpu: Option<std::time::Duration>,
    /// CPU time of the PostgreSQL processes on this machine over the measured window, when the
    /// run's database is one.
    pub database_cpu: Option<std::time::Duration>,
    /// The server's group commit over the measured window, as its `/health` counted it.
    pub writer: Option<crate::writer::WriterWindow>,
    pub floors: Option<Floors<'a>>,
    /// Cores the machine has (the ceiling of the RS256 floor).
    pub cores: usize,
    /// gateway: the run straight to the upstream and the gateway's CPU (`run` is the one through
    /// the gateway).
    pub gateway: Option<GatewayFigures<'a>>,
}

pub struct GatewayFigures<'a> {
    pub backend_claims: BackendClaims,
    /// `[gateway] workers` (0: one per core).
    pub workers: usize,
    /// `ITEM_PATH` on the upstream.
    pub direct_url: &'a str,
    /// The same load straight to the upstream, no token.
    pub direct: &'a LoadResult,
    /// CPU the gateway process spent in the window of the run through it.
    pub gateway_cpu: Option<std::time::Duration>,
    /// CPU this process (load generator and upstream) spent in the direct run's window.
    pub direct_load_cpu: Option<std::time::Duration>,
}

impl GatewayFigures<'_> {
    fn gateway_cpu_us(&self, run: &LoadResult) -> Option<f64> {
        self.gateway_cpu.map(|spent| per_request_us(spent, run))
    }

    fn cpu_target(&self, run: &LoadResult, floors: Option<&Floors>) -> Option<CpuTarget> {
        Some(CpuTarget {
            gateway_us: self.gateway_cpu_us(run)?,
            verify_us: floors?.verify.micros(),
        })
    }
}

fn latency_target(run: &LoadResult, connections: usize) -> Option<LatencyTarget> {
    (!run.latency.is_empty()).then(|| LatencyTarget {
        p99_ms: run.latency.value_at_quantile(0.99) as f64 / 1000.0,
        connections,
    })
}

/// Microseconds of CPU per request in the window.
fn per_request_us(spent: std::time::Duration, run: &LoadResult) -> f64 {
    spent.as_secs_f64() * 1e6 / run.requests().max(1) as f64
}

/// `a`'s percentile minus `b`'s, in milliseconds.
fn added_ms(a: &Histogram<u64>, b: &Histogram<u64>, q: f64) -> Option<f64> {
    (!a.is_empty() && !b.is_empty())
        .then(|| (a.value_at_quantile(q) as f64 - b.value_at_quantile(q) as f64) / 1000.0)
}

pub struct Floors<'a> {
    pub verify: &'a CryptoFloor,
    /// Where each response carries a JWT access token: one signature of its key type.
    pub sign: Option<&'a SignFloor>,
    /// Not in gateway mode, where the run straight to the upstream is the HTTP floor.
    pub http: Option<&'a LoadResult>,
    pub http_duration_secs: u64,
}

pub struct AccessTokens {
    pub format: &'static str,
    /// The `alg` of a JWT access token's header.
    pub alg: Option<String>,
    pub bytes: usize,
}

/// The ID tokens of the code exchange.
pub struct IdTokens {
    pub alg: Option<String>,
    pub bytes: usize,
}

/// authorization-code: the codes made through the sign-in before the run.
pub struct CodePool {
    pub made: usize,
    /// Making them (single sign-on requests), after the sign-in.
    pub took: std::time::Duration,
    /// The sign-in through the login page (its code is the first request's).
    pub sign_in_took: std::time::Duration,
    pub used: usize,
}

pub struct TokenPool {
    pub tokens: usize,
    pub took: std::time::Duration,
}

/// token-exchange: the subject tokens (and the one actor token) obtained before the run.
pub struct ExchangePool {
    pub subject_tokens: usize,
    pub took: std::time::Duration,
    pub requested: RequestedTokenType,
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
    Some(format!(
        "{what:<13} {:.1} us per request ({:.2} cores busy)",
        per_request_us(spent, run),
        cores_busy(spent, run)
    ))
}

fn cores_busy(spent: std::time::Duration, run: &LoadResult) -> f64 {
    spent.as_secs_f64() / run.window.as_secs_f64().max(1e-9)
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
    if let Some(codes) = &summary.codes {
        line(format!(
            "codes         {} made in {:.2} s before the run by single sign-on, after one sign-in \
             through the login page ({:.2} s); {} sent (warm-up included), none twice",
            codes.made,
            codes.took.as_secs_f64(),
            codes.sign_in_took.as_secs_f64(),
            codes.used
        ));
    }
    if let Some(tokens) = &summary.id_tokens {
        line(format!(
            "id tokens     {}, {} bytes",
            tokens.alg.as_deref().unwrap_or("no alg"),
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
    if let Some(pool) = &summary.exchange {
        line(format!(
            "exchanges     delegation: {} subject tokens (a user's access tokens, jwt-bearer) and \
             one actor token (the client's, client_credentials) obtained in {:.2} s before the \
             run; each request exchanges the next subject token in turn with the actor token \
             for {}",
            pool.subject_tokens,
            pool.took.as_secs_f64(),
            match pool.requested {
                RequestedTokenType::AccessToken => "an access token",
                RequestedTokenType::Jwt => "a JWT authorization grant for another domain",
            }
        ));
    }
    if let Some(after) = run.pool_ran_out_after {
        let (pool, more) = match summary.mode {
            Mode::AuthorizationCode => ("code", "Make more with --codes"),
            _ => ("assertion", "Mint more with --assertions"),
        };
        line(format!(
            "!! the {pool} pool ran out {:.2} s into the measured window; sending stopped \
             there (none reused); figures cover {:.2} s. {more}.",
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
    if let Some(line_text) = cpu_line("database cpu", summary.database_cpu, run) {
        line(line_text);
    }
    if let Some(writer) = &summary.writer {
        line(writer.line());
    }
    if let Some(gw) = &summary.gateway {
        if let Some(line_text) = cpu_line("gateway cpu", gw.gateway_cpu, run) {
            line(line_text);
        }
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
    if let Some(gw) = &summary.gateway {
        let direct = gw.direct;
        line(String::new());
        line(
            "straight to the upstream (same load, same connections, no token, no gateway)"
                .to_owned(),
        );
        line(format!("target        {}", gw.direct_url));
        line(format!(
            "requests      {} ({} successful)",
            direct.requests(),
            direct.ok
        ));
        line(format!(
            "throughput    {} req/s ({} successful/s)",
            grouped(direct.throughput()),
            grouped(direct.ok_throughput())
        ));
        line(format!("latency       {}", latency_line(&direct.latency)));
        line(format!(
            "responses     {}",
            counts_line(direct, summary.expect)
        ));
        if let Some(line_text) = cpu_line("load cpu", gw.direct_load_cpu, direct) {
            line(line_text);
        }
        if !direct.error_samples.is_empty() {
            line("first errors:".to_owned());
            for sample in &direct.error_samples {
                line(format!("  {sample}"));
            }
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
        }
        if let Some(sign) = floors.sign.filter(|_| summary.mode.verifies_and_signs()) {
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
        if let Some(http) = http {
            line(format!(
                "http floor    {} req/s ({} successful/s) over {} s, {} connections, in-process \
                 warp; p50 {} ms  p99 {} ms",
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
        if let Some(sign) = floors.sign.filter(|_| summary.mode.verifies_and_signs()) {
            let crypto = CryptoPerRequest::new(verify, &sign.floor);
            if let Some(r) = ratio(run.ok_throughput(), crypto.ceiling(summary.cores)) {
                line(format!(
                    "ratio         {r:.3} of the {}-core crypto floor (verification + signature)",
                    summary.cores
                ));
            }
        }
    }
    if let Some(gw) = &summary.gateway {
        for text in gateway_lines(summary, gw) {
            line(text);
        }
    }
    out
}

/// The gateway against the direct run, and the targets.
fn gateway_lines(summary: &Summary, gw: &GatewayFigures) -> Vec<String> {
    let run = summary.run;
    let mut lines = vec![
        String::new(),
        format!(
            "gateway       added to each request (workers = {}, backend_claims = \"{}\"{})",
            gw.workers,
            gw.backend_claims.name(),
            match gw.backend_claims {
                BackendClaims::Jwt =>
                    ": an ES256 X-JWT-Assertion, signed once per token and reused (one token here)",
                BackendClaims::Headers => ": one X-Claim-* header per claim",
                BackendClaims::None => "",
            }
        ),
    ];
    if let Some(r) = ratio(run.ok_throughput(), gw.direct.ok_throughput()) {
        lines.push(format!(
            "ratio         {r:.3} of the direct run's throughput"
        ));
    }
    if let (Some(p50), Some(p99)) = (
        added_ms(&run.latency, &gw.direct.latency, 0.5),
        added_ms(&run.latency, &gw.direct.latency, 0.99),
    ) {
        lines.push(format!(
            "added latency p50 {p50:+.3} ms  p99 {p99:+.3} ms (through the gateway minus direct)"
        ));
    }
    lines.push(match gw.cpu_target(run, summary.floors.as_ref()) {
        Some(t) => format!(
            "target cpu    gateway {:.1} us of one core per request, budget one RS256 \
             verification {:.1} + {:.0} = {:.1} us: {} ({:.2}x the budget)",
            t.gateway_us,
            t.verify_us,
            gateway::CPU_ALLOWANCE_US,
            t.budget_us(),
            gateway::verdict(t.met()),
            t.gateway_us / t.budget_us()
        ),
        None if gw.gateway_cpu.is_none() => {
            "target cpu    not evaluated: the gateway's CPU time is not readable from /proc"
                .to_owned()
        }
        None => {
            "target cpu    not evaluated: no RS256 verification floor (--skip-floors)".to_owned()
        }
    });
    lines.push(match latency_target(run, summary.connections) {
        Some(t) => format!(
            "target p99    gateway p99 {:.3} ms, limit {:.0} ms at {} connections: {}{}",
            t.p99_ms,
            gateway::P99_LIMIT_MS,
            gateway::TARGET_CONNECTIONS,
            gateway::verdict(t.met()),
            if t.at_stated_load() {
                String::new()
            } else {
                format!(" (this run: {} connections)", t.connections)
            }
        ),
        None => "target p99    not evaluated: no responses recorded".to_owned(),
    });
    lines
}

fn gateway_json(summary: &Summary, gw: &GatewayFigures) -> Value {
    let run = summary.run;
    let direct = gw.direct;
    let statuses: serde_json::Map<String, Value> = direct
        .by_status
        .iter()
        .map(|(s, n)| (s.to_string(), json!(n)))
        .collect();
    let cpu = gw.cpu_target(run, summary.floors.as_ref());
    let latency = latency_target(run, summary.connections);
    json!({
        "backend_claims": gw.backend_claims.name(),
        "workers": gw.workers,
        "cpu_us_per_request": gw.gateway_cpu_us(run),
        "cores_busy": gw.gateway_cpu.map(|spent| cores_busy(spent, run)),
        "ratio_to_direct": ratio(run.ok_throughput(), direct.ok_throughput()),
        "added_latency_ms": {
            "p50": added_ms(&run.latency, &direct.latency, 0.5),
            "p99": added_ms(&run.latency, &direct.latency, 0.99),
        },
        "direct": {
            "target": gw.direct_url,
            "window_s": direct.window.as_secs_f64(),
            "requests": direct.requests(),
            "successful": direct.ok,
            "throughput_rps": direct.throughput(),
            "successful_rps": direct.ok_throughput(),
            "latency": latency_json(&direct.latency),
            "statuses": statuses,
            "other_200": direct.bad_200,
            "transport_errors": direct.transport_errors,
            "abandoned": direct.abandoned,
            "load_cpu_us_per_request": gw.direct_load_cpu.map(|spent| per_request_us(spent, direct)),
            "error_samples": direct.error_samples,
        },
        "targets": {
            "cpu": cpu.map(|t| json!({
                "gateway_us": t.gateway_us,
                "rs256_verify_us": t.verify_us,
                "allowance_us": gateway::CPU_ALLOWANCE_US,
                "budget_us": t.budget_us(),
                "met": t.met(),
            })),
            "p99": latency.map(|t| json!({
                "p99_ms": t.p99_ms,
                "limit_ms": gateway::P99_LIMIT_MS,
                "connections": t.connections,
                "stated_connections": gateway::TARGET_CONNECTIONS,
                "met": t.met(),
            })),
        },
    })
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
        "codes_made": summary.codes.as_ref().map(|c| c.made),
        "codes_making_s": summary.codes.as_ref().map(|c| c.took.as_secs_f64()),
        "sign_in_s": summary.codes.as_ref().map(|c| c.sign_in_took.as_secs_f64()),
        "codes_used": summary.codes.as_ref().map(|c| c.used),
        "id_token_alg": summary.id_tokens.as_ref().and_then(|t| t.alg.clone()),
        "id_token_bytes": summary.id_tokens.as_ref().map(|t| t.bytes),
        "access_token_format": summary.access_tokens.as_ref().map(|t| t.format),
        "access_token_alg": summary.access_tokens.as_ref().and_then(|t| t.alg.clone()),
        "access_token_bytes": summary.access_tokens.as_ref().map(|t| t.bytes),
        "introspected_tokens": summary.introspected.as_ref().map(|p| p.tokens),
        "introspected_tokens_obtaining_s": summary
            .introspected
            .as_ref()
            .map(|p| p.took.as_secs_f64()),
        "subject_tokens": summary.exchange.as_ref().map(|p| p.subject_tokens),
        "subject_tokens_obtaining_s": summary.exchange.as_ref().map(|p| p.took.as_secs_f64()),
        "requested_token_type": summary.exchange.as_ref().map(|p| p.requested.name()),
        "server_cpu_us_per_request": summary.server_cpu.map(|spent| per_request_us(spent, run)),
        "database_cpu_us_per_request": summary.database_cpu.map(|spent| per_request_us(spent, run)),
        "writer": summary.writer.as_ref().map(crate::writer::WriterWindow::json),
        "load_cpu_us_per_request": summary.load_cpu.map(|spent| per_request_us(spent, run)),
        "error_samples": run.error_samples,
    });
    if let Some(gw) = &summary.gateway {
        value["gateway"] = gateway_json(summary, gw);
    }
    if let Some(floors) = &summary.floors {
        let ceiling = floors.verify.ceiling(summary.cores);
        value["floors"] = json!({
            "cores": summary.cores,
            "rs256_verify_us": floors.verify.micros(),
            "rs256_verifications_per_core_per_s": floors.verify.per_core_per_second(),
            "rs256_ceiling_per_s": ceiling,
            "http_floor_rps": floors.http.map(|http| http.ok_throughput()),
            "http_floor_latency": floors.http.map(|http| latency_json(&http.latency)),
            "ratio_to_http_floor": floors
                .http
                .and_then(|http| ratio(run.ok_throughput(), http.ok_throughput())),
            "ratio_to_rs256_ceiling": summary
                .mode
                .spends_assertions()
                .then(|| ratio(run.ok_throughput(), ceiling))
                .flatten(),
        });
        if let Some(sign) = floors.sign {
            let sign_ceiling = sign.floor.ceiling(summary.cores);
            // Not for the code exchange, which verifies nothing: its crypto is the signature.
            let crypto = summary
                .mode
                .verifies_and_signs()
                .then(|| CryptoPerRequest::new(floors.verify, &sign.floor));
            let crypto_ceiling = crypto.as_ref().map(|c| c.ceiling(summary.cores));
            let extra = json!({
                "sign_alg": sign.alg.name(),
                "sign_input_bytes": sign.input_bytes,
                "sign_us": sign.floor.micros(),
                "signatures_per_core_per_s": sign.floor.per_core_per_second(),
                "sign_ceiling_per_s": sign_ceiling,
                "ratio_to_sign_ceiling": ratio(run.ok_throughput(), sign_ceiling),
                "crypto_floor_us": crypto.as_ref().map(CryptoPerRequest::micros),
                "crypto_ceiling_per_s": crypto_ceiling,
                "ratio_to_crypto_ceiling": crypto_ceiling
                    .and_then(|ceiling| ratio(run.ok_throughput(), ceiling)),
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
            codes: None,
            access_tokens: Some(AccessTokens {
                format: "jwt",
                alg: Some("ES256".into()),
                bytes: 480,
            }),
            id_tokens: None,
            introspected: None,
            exchange: None,
            run: &run,
            server_cpu: None,
            database_cpu: None,
            writer: None,
            load_cpu: None,
            floors: Some(Floors {
                verify: &verify,
                sign: Some(&sign),
                http: Some(&http),
                http_duration_secs: 1,
            }),
            cores: 2,
            gateway: None,
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
    fn code_exchange_runs_report_the_codes_and_the_signing_floor_without_a_verification() {
        // 1,000 req/s; RS256 signing 500 us: 4,000/s on 2 cores.
        let run = result(10_000, 10);
        let verify = crypto(25);
        let sign = SignFloor {
            alg: crate::cli::SigningAlg::RS256,
            input_bytes: 400,
            floor: crypto(500),
        };
        let summary = Summary {
            mode: Mode::AuthorizationCode,
            expect: Expect::IdToken,
            backend: "sqlite".into(),
            target: "http://127.0.0.1:1/t/x/oauth2/token",
            connections: 32,
            warmup_secs: 2,
            duration_secs: 10,
            minted: None,
            assertions_used: None,
            codes: Some(CodePool {
                made: 24_000,
                took: std::time::Duration::from_millis(8_500),
                sign_in_took: std::time::Duration::from_millis(150),
                used: 12_345,
            }),
            access_tokens: None,
            id_tokens: Some(IdTokens {
                alg: Some("RS256".into()),
                bytes: 812,
            }),
            introspected: None,
            exchange: None,
            run: &run,
            server_cpu: None,
            database_cpu: None,
            writer: None,
            load_cpu: None,
            floors: Some(Floors {
                verify: &verify,
                sign: Some(&sign),
                http: None,
                http_duration_secs: 1,
            }),
            cores: 2,
            gateway: None,
        };
        let text = text(&summary);
        assert!(
            text.contains(
                "codes         24000 made in 8.50 s before the run by single sign-on, after one \
                 sign-in through the login page (0.15 s); 12345 sent (warm-up included), none \
                 twice"
            ),
            "{text}"
        );
        assert!(text.contains("id tokens     RS256, 812 bytes"), "{text}");
        assert!(!text.contains("assertions"), "{text}");
        assert!(
            text.contains("ratio         0.250 of the 2-core RS256 signing ceiling"),
            "{text}"
        );
        // Nothing is verified per request: no crypto floor of verification + signature, no
        // ratio to the verification ceiling.
        assert!(!text.contains("crypto floor"), "{text}");
        assert!(!text.contains("verification ceiling"), "{text}");
        let json = json(&summary);
        assert_eq!(json["mode"], "authorization-code");
        assert_eq!(json["codes_made"], 24_000);
        assert_eq!(json["codes_used"], 12_345);
        assert_eq!(json["id_token_alg"], "RS256");
        assert_eq!(json["assertions_minted"], Value::Null);
        assert_eq!(json["floors"]["crypto_floor_us"], Value::Null);
        assert_eq!(json["floors"]["ratio_to_rs256_ceiling"], Value::Null);
        let ratio = json["floors"]["ratio_to_sign_ceiling"]
            .as_f64()
            .unwrap_or(0.0);
        assert!((ratio - 0.25).abs() < 1e-9, "{ratio}");
    }

    #[test]
    fn a_code_pool_that_runs_out_says_to_make_more() {
        let mut run = result(100, 1);
        run.pool_ran_out_after = Some(std::time::Duration::from_millis(500));
        let summary = Summary {
            mode: Mode::AuthorizationCode,
            expect: Expect::IdToken,
            backend: "sqlite".into(),
            target: "http://127.0.0.1:1/t/x/oauth2/token",
            connections: 1,
            warmup_secs: 0,
            duration_secs: 1,
            minted: None,
            assertions_used: None,
            codes: None,
            access_tokens: None,
            id_tokens: None,
            introspected: None,
            exchange: None,
            run: &run,
            server_cpu: None,
            database_cpu: None,
            writer: None,
            load_cpu: None,
            floors: None,
            cores: 2,
            gateway: None,
        };
        let text = text(&summary);
        assert!(
            text.contains("!! the code pool ran out 0.50 s into the measured window"),
            "{text}"
        );
        assert!(text.contains("Make more with --codes."), "{text}");
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
            codes: None,
            id_tokens: None,
            access_tokens: Some(AccessTokens {
                format: "opaque",
                alg: None,
                bytes: 43,
            }),
            introspected: Some(TokenPool {
                tokens: 256,
                took: std::time::Duration::from_millis(500),
            }),
            exchange: None,
            run: &run,
            server_cpu: None,
            database_cpu: None,
            writer: None,
            load_cpu: None,
            floors: Some(Floors {
                verify: &verify,
                sign: None,
                http: Some(&http),
                http_duration_secs: 1,
            }),
            cores: 2,
            gateway: None,
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
    fn token_exchange_runs_say_what_was_exchanged_and_ratio_a_jwt_grant_to_signing() {
        // 1,000 exchanges/s; signing 1 ms: 2,000/s on 2 cores.
        let run = result(10_000, 10);
        let verify = crypto(50);
        let sign = SignFloor {
            alg: crate::cli::SigningAlg::RS256,
            input_bytes: 400,
            floor: crypto(1000),
        };
        let summary = |requested, sign: Option<&'static SignFloor>| Summary {
            mode: Mode::TokenExchange,
            expect: Expect::AccessToken,
            backend: "sqlite".into(),
            target: "http://127.0.0.1:1/t/x/oauth2/token",
            connections: 32,
            warmup_secs: 2,
            duration_secs: 10,
            minted: None,
            assertions_used: None,
            codes: None,
            access_tokens: None,
            id_tokens: None,
            introspected: None,
            exchange: Some(ExchangePool {
                subject_tokens: 256,
                took: std::time::Duration::from_millis(750),
                requested,
            }),
            run: &run,
            server_cpu: Some(std::time::Duration::from_secs(5)),
            database_cpu: None,
            writer: None,
            load_cpu: None,
            floors: Some(Floors {
                verify: &verify,
                sign,
                http: None,
                http_duration_secs: 1,
            }),
            cores: 2,
            gateway: None,
        };
        let opaque = summary(RequestedTokenType::AccessToken, None);
        let opaque_text = text(&opaque);
        assert!(
            opaque_text.contains(
                "exchanges     delegation: 256 subject tokens (a user's access tokens, \
                 jwt-bearer) and one actor token (the client's, client_credentials) obtained in \
                 0.75 s before the run; each request exchanges the next subject token in turn \
                 with the actor token for an access token"
            ),
            "{opaque_text}"
        );
        assert!(
            opaque_text.contains("server cpu    500.0 us per request"),
            "{opaque_text}"
        );
        // Nothing is verified per request, and an opaque token is signed by nobody.
        assert!(!opaque_text.contains("ceiling"), "{opaque_text}");
        let opaque_json = json(&opaque);
        assert_eq!(opaque_json["mode"], "token-exchange");
        assert_eq!(opaque_json["subject_tokens"], 256);
        assert_eq!(opaque_json["subject_tokens_obtaining_s"], 0.75);
        assert_eq!(opaque_json["requested_token_type"], "access-token");
        assert_eq!(opaque_json["assertions_minted"], Value::Null);
        assert_eq!(opaque_json["floors"]["ratio_to_rs256_ceiling"], Value::Null);

        // A JWT grant per request: its signature is the crypto, and no verification is added.
        let sign: &'static SignFloor = Box::leak(Box::new(sign));
        let grant = summary(RequestedTokenType::Jwt, Some(sign));
        let grant_text = text(&grant);
        assert!(
            grant_text.contains("for a JWT authorization grant for another domain"),
            "{grant_text}"
        );
        assert!(
            grant_text.contains("ratio         0.500 of the 2-core RS256 signing ceiling"),
            "{grant_text}"
        );
        assert!(!grant_text.contains("crypto floor"), "{grant_text}");
        assert!(!grant_text.contains("verification ceiling"), "{grant_text}");
        let grant_json = json(&grant);
        assert_eq!(grant_json["requested_token_type"], "jwt");
        assert_eq!(grant_json["floors"]["crypto_floor_us"], Value::Null);
        let ratio = grant_json["floors"]["ratio_to_sign_ceiling"]
            .as_f64()
            .unwrap_or(0.0);
        assert!((ratio - 0.5).abs() < 1e-9, "{ratio}");
    }

    fn gateway_summary<'a>(
        run: &'a LoadResult,
        direct: &'a LoadResult,
        verify: Option<&'a CryptoFloor>,
        gateway_cpu: Option<std::time::Duration>,
        connections: usize,
    ) -> Summary<'a> {
        Summary {
            mode: Mode::Gateway,
            expect: gateway::expect(),
            backend: "sqlite".into(),
            target: "http://127.0.0.1:2/bench/item",
            connections,
            warmup_secs: 1,
            duration_secs: 10,
            minted: None,
            assertions_used: None,
            codes: None,
            id_tokens: None,
            access_tokens: None,
            introspected: None,
            exchange: None,
            run,
            server_cpu: Some(std::time::Duration::ZERO),
            database_cpu: None,
            writer: None,
            load_cpu: None,
            floors: verify.map(|verify| Floors {
                verify,
                sign: None,
                http: None,
                http_duration_secs: 3,
            }),
            cores: 2,
            gateway: Some(GatewayFigures {
                backend_claims: BackendClaims::None,
                workers: 1,
                direct_url: "http://127.0.0.1:3/bench/item",
                direct,
                gateway_cpu,
                direct_load_cpu: Some(std::time::Duration::from_millis(200)),
            }),
        }
    }

    #[test]
    fn gateway_runs_report_the_direct_run_and_both_targets() {
        // Through the gateway: 5,000 in 10 s, p99 1 ms; direct: 20,000 in 10 s.
        let run = result(5000, 10);
        let direct = result(20000, 10);
        let verify = crypto(30);
        // 0.25 s of gateway CPU over 5,000 requests: 50 us each, within 30 + 30.
        let cpu = Some(std::time::Duration::from_millis(250));
        let summary = gateway_summary(&run, &direct, Some(&verify), cpu, 32);
        let text = text(&summary);
        for expected in [
            "gateway cpu   50.0 us per request (0.03 cores busy)",
            "straight to the upstream (same load, same connections, no token, no gateway)",
            "target        http://127.0.0.1:3/bench/item",
            "throughput    2,000.0 req/s (2,000.0 successful/s)",
            "load cpu      10.0 us per request (0.02 cores busy)",
            "ratio         0.250 of the direct run's throughput",
            "added latency p50 +0.000 ms  p99 +0.000 ms",
            "target cpu    gateway 50.0 us of one core per request, budget one RS256 \
             verification 30.0 + 30 = 60.0 us: met (0.83x the budget)",
            "target p99    gateway p99 1.000 ms, limit 5 ms at 32 connections: met\n",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        assert!(!text.contains("http floor"), "{text}");
        let json = json(&summary);
        let gw = &json["gateway"];
        assert_eq!(gw["backend_claims"], "none");
        assert_eq!(gw["workers"], 1);
        assert_eq!(gw["cpu_us_per_request"], 50.0);
        assert_eq!(gw["ratio_to_direct"], 0.25);
        assert_eq!(gw["direct"]["successful"], 20000);
        assert_eq!(gw["direct"]["load_cpu_us_per_request"], 10.0);
        assert_eq!(gw["targets"]["cpu"]["budget_us"], 60.0);
        assert_eq!(gw["targets"]["cpu"]["met"], true);
        assert_eq!(gw["targets"]["p99"]["p99_ms"], 1.0);
        assert_eq!(gw["targets"]["p99"]["met"], true);
        assert_eq!(json["server_cpu_us_per_request"], 0.0);
        assert_eq!(json["floors"]["http_floor_rps"], Value::Null);
        assert_eq!(json["mode"], "gateway");

        // Over both targets, at another load than the one stated.
        let mut slow = result(5000, 10);
        slow.latency.record_n(9000, 10).expect("record");
        let cpu = Some(std::time::Duration::from_millis(400));
        let text = super::text(&gateway_summary(&slow, &direct, Some(&verify), cpu, 4));
        assert!(
            text.contains("budget one RS256 verification 30.0 + 30 = 60.0 us: NOT met (1.33x"),
            "{text}"
        );
        // 9,000 us within the histogram's three significant digits.
        assert!(text.contains("target p99    gateway p99 9.0"), "{text}");
        assert!(
            text.contains(" ms, limit 5 ms at 32 connections: NOT met (this run: 4 connections)\n"),
            "{text}"
        );

        // What cannot be judged says why.
        let text = super::text(&gateway_summary(&run, &direct, None, cpu, 32));
        assert!(
            text.contains("target cpu    not evaluated: no RS256 verification floor"),
            "{text}"
        );
        let summary = gateway_summary(&run, &direct, Some(&verify), None, 32);
        assert!(
            super::text(&summary).contains("target cpu    not evaluated: the gateway's CPU time"),
        );
        assert_eq!(
            super::json(&summary)["gateway"]["targets"]["cpu"],
            Value::Null
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
