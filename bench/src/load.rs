//! The closed-loop load generator: C tokio tasks, each owning one keep-alive HTTP/1.1 connection
//! (hyper's low-level client over a TcpStream) and sending token (or introspection) requests back
//! to back, or GETs without a body (the gateway mode). It owns the request bodies (form
//! encoding), the response check, the warm-up/measure window and the latency histogram. It
//! never reuses an assertion or an authorization code: when the pool runs out, sending stops. Introspected tokens are not spent, so those go round in turn.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;

pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// How long a request still in flight when the window closes may take before it is abandoned.
const END_GRACE: Duration = Duration::from_secs(2);
/// Pause after a failed connect, so a dead server is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);
/// Error bodies or messages kept for the report, over all connections.
const ERROR_SAMPLES: usize = 5;
/// Latencies above this (in microseconds) are recorded as this value.
const HISTOGRAM_MAX_MICROS: u64 = 120_000_000;

/// An `http://` endpoint: where to connect, and the Host header and path to send.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

impl Endpoint {
    pub async fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("{url}: only http:// URLs are supported");
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            bail!("{url}: expected http://HOST[:PORT]/PATH");
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = tokio::net::lookup_host(with_port.as_str())
            .await
            .with_context(|| format!("{url}: cannot resolve {authority}"))?
            .next()
            .with_context(|| format!("{url}: {authority} resolves to no address"))?;
        Ok(Endpoint {
            url: url.to_owned(),
            addr,
            host: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// HTTP Basic client authentication (RFC 6749 section 2.3.1: id and secret form-encoded first).
pub fn basic_authorization(client_id: &str, client_secret: &str) -> anyhow::Result<HeaderValue> {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(client_secret));
    HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
        .context("client credentials do not fit in a header")
}

/// `application/x-www-form-urlencoded` of `pairs`, in order.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub fn jwt_bearer_body(assertion: &str, scope: Option<&str>) -> String {
    let mut pairs = vec![("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)];
    pairs.extend(scope.map(|s| ("scope", s)));
    form_body(&pairs)
}

pub fn client_credentials_body(scope: Option<&str>) -> String {
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend(scope.map(|s| ("scope", s)));
    form_body(&pairs)
}

/// RFC 7662 2.1: the token, with no hint (Grantor finds either kind by its hash).
pub fn introspect_body(token: &str) -> String {
    form_body(&[("token", token)])
}

/// The refresh grant keeps the original scope, so none is sent.
pub fn refresh_token_body(refresh_token: &str) -> String {
    form_body(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ])
}

/// Pre-encoded request bodies, each handed out once.
pub struct BodyPool {
    bodies: Vec<Bytes>,
    next: AtomicUsize,
}

impl BodyPool {
    pub fn new(bodies: Vec<Bytes>) -> BodyPool {
        BodyPool {
            bodies,
            next: AtomicUsize::new(0),
        }
    }

    fn take(&self) -> Option<Bytes> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.bodies.get(i).cloned()
    }

    /// The bodies in turn, starting over after the last: for requests that spend nothing.
    fn take_cycling(&self) -> Option<Bytes> {
        if self.bodies.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.bodies.get(i % self.bodies.len()).cloned()
    }

    pub fn used(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.bodies.len())
    }
}

/// What each request of the run carries.
pub enum Work {
    /// One body from the pool per request (jwt-bearer assertions).
    Pool(Arc<BodyPool>),
    /// The same body every time (client_credentials, the HTTP floor).
    Fixed(Bytes),
    /// The pool's bodies in turn, each used again and again (introspection of a token pool).
    Cycle(Arc<BodyPool>),
    /// Rotation: one chain per connection, each request spending the current refresh token.
    /// A broken chain is restarted with a jwt-bearer exchange from `reseed`.
    RefreshChains {
        initial: Vec<String>,
        reseed: Arc<BodyPool>,
    },
}

pub struct LoadSpec {
    pub endpoint: Endpoint,
    /// POST (a form body each request) or GET (no body).
    pub method: Method,
    pub authorization: Option<HeaderValue>,
    pub work: Work,
    /// What a successful response carries.
    pub expect: Expect,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// The measured window's outcome, all connections merged.
pub struct LoadResult {
    /// Latency of every response completed in the window, in microseconds.
    pub latency: Histogram<u64>,
    /// Responses by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// 200 with what `Expect` asks for: an access token (a JWT one, and for rotation a refresh
    /// token too), or `"active": true`.
    pub ok: u64,
    /// 200 whose body lacked it.
    pub bad_200: u64,
    pub transport_errors: u64,
    /// Requests abandoned because they were still running `END_GRACE` after the window.
    pub abandoned: u64,
    /// Refresh chains restarted with a jwt-bearer exchange (not counted as requests).
    pub reseeds: u64,
    /// Connections that stopped because the pool ran out, and when the first one did (since the
    /// measured window opened; negative values are clamped: it ran out in the warm-up).
    pub pool_ran_out_after: Option<Duration>,
    /// Length of the window the counts cover.
    pub window: Duration,
    /// The first few error bodies and transport errors, from any phase.
    pub error_samples: Vec<String>,
}

impl LoadResult {
    pub fn requests(&self) -> u64 {
        self.by_status.values().sum::<u64>() + self.transport_errors
    }

    pub fn throughput(&self) -> f64 {
        per_second(self.requests(), self.window)
    }

    pub fn ok_throughput(&self) -> f64 {
        per_second(self.ok, self.window)
    }
}

fn per_second(count: u64, window: Duration) -> f64 {
    if window.is_zero() {
        0.0
    } else {
        count as f64 / window.as_secs_f64()
    }
}

struct Clock {
    measure_from: Instant,
    measure_until: Instant,
}

impl Clock {
    fn in_window(&self, t: Instant) -> bool {
        t >= self.measure_from && t <= self.measure_until
    }
}

/// Per-connection tallies, merged into a `LoadResult` at the end.
struct ConnectionStats {
    latency: Histogram<u64>,
    by_status: BTreeMap<u16, u64>,
    ok: u64,
    bad_200: u64,
    transport_errors: u64,
    abandoned: u64,
    reseeds: u64,
    pool_ran_out_at: Option<Instant>,
    last_counted: Option<Instant>,
    error_samples: Vec<String>,
}

impl ConnectionStats {
    fn new() -> anyhow::Result<ConnectionStats> {
        Ok(ConnectionStats {
            latency: new_histogram()?,
            by_status: BTreeMap::new(),
            ok: 0,
            bad_200: 0,
            transport_errors: 0,
            abandoned: 0,
            reseeds: 0,
            pool_ran_out_at: None,
            last_counted: None,
            error_samples: Vec::new(),
        })
    }

    fn sample(&mut self, text: String) {
        if self.error_samples.len() < ERROR_SAMPLES {
            self.error_samples.push(text);
        }
    }
}

pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).context("cannot make a histogram")
}

/// Runs the load: warm-up, then the measured window, then merges every connection's tallies.
pub async fn run(spec: LoadSpec) -> anyhow::Result<LoadResult> {
    let start = Instant::now();
    let clock = Arc::new(Clock {
        measure_from: start + spec.warmup,
        measure_until: start + spec.warmup + spec.duration,
    });
    let spec = Arc::new(spec);
    let mut tasks = Vec::with_capacity(spec.connections);
    for i in 0..spec.connections {
        let chain = match &spec.work {
            Work::RefreshChains { initial, .. } => initial.get(i).cloned(),
            _ => None,
        };
        tasks.push(tokio::spawn(drive_connection(
            spec.clone(),
            clock.clone(),
            chain,
        )));
    }
    let mut merged = LoadResult {
        latency: new_histogram()?,
        by_status: BTreeMap::new(),
        ok: 0,
        bad_200: 0,
        transport_errors: 0,
        abandoned: 0,
        reseeds: 0,
        pool_ran_out_after: None,
        window: spec.duration,
        error_samples: Vec::new(),
    };
    let mut first_ran_out: Option<Instant> = None;
    let mut last_counted: Option<Instant> = None;
    for task in tasks {
        let stats = task.await.context("a load task failed")??;
        merged
            .latency
            .add(&stats.latency)
            .context("cannot merge latency histograms")?;
        for (status, n) in stats.by_status {
            *merged.by_status.entry(status).or_default() += n;
        }
        merged.ok += stats.ok;
        merged.bad_200 += stats.bad_200;
        merged.transport_errors += stats.transport_errors;
        merged.abandoned += stats.abandoned;
        merged.reseeds += stats.reseeds;
        first_ran_out = earliest(first_ran_out, stats.pool_ran_out_at);
        last_counted = last_counted.max(stats.last_counted);
        for sample in stats.error_samples {
            if merged.error_samples.len() < ERROR_SAMPLES {
                merged.error_samples.push(sample);
            }
        }
    }
    if let Some(ran_out) = first_ran_out {
        merged.pool_ran_out_after = Some(ran_out.saturating_duration_since(clock.measure_from));
        // Sending stopped early: the counts cover the window up to the last response in it.
        merged.window = last_counted
            .map(|t| t.saturating_duration_since(clock.measure_from))
            .unwrap_or_default();
    }
    Ok(merged)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One connection's closed loop until the window closes (or the pool runs out).
async fn drive_connection(
    spec: Arc<LoadSpec>,
    clock: Arc<Clock>,
    mut chain: Option<String>,
) -> anyhow::Result<ConnectionStats> {
    let mut stats = ConnectionStats::new()?;
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let deadline = clock.measure_until + END_GRACE;
    loop {
        if Instant::now() >= clock.measure_until {
            break;
        }
        let mut connection = match sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => match connect(spec.endpoint.addr).await {
                Ok(s) => s,
                Err(e) => {
                    if clock.in_window(Instant::now()) {
                        stats.transport_errors += 1;
                    }
                    stats.sample(format!("connect: {e:#}"));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let body = match &spec.work {
            Work::Pool(pool) => match pool.take() {
                Some(body) => body,
                None => {
                    stats.pool_ran_out_at = Some(Instant::now());
                    break;
                }
            },
            Work::Fixed(body) => body.clone(),
            Work::Cycle(pool) => match pool.take_cycling() {
                Some(body) => body,
                None => {
                    stats.pool_ran_out_at = Some(Instant::now());
                    break;
                }
            },
            Work::RefreshChains { reseed, .. } => match &chain {
                Some(token) => Bytes::from(refresh_token_body(token)),
                None => {
                    // Restarting a chain is setup, not a measured request.
                    let Some(body) = reseed.take() else {
                        stats.pool_ran_out_at = Some(Instant::now());
                        break;
                    };
                    let request = build_request(&spec, body)?;
                    match tokio::time::timeout_at(deadline, exchange(&mut connection, request))
                        .await
                    {
                        Ok(Ok((status, body))) => match check_token_response(status, &body, true) {
                            Verdict::Ok { refresh_token } => {
                                stats.reseeds += 1;
                                chain = refresh_token;
                            }
                            _ => stats.sample(error_sample(status, &body)),
                        },
                        Ok(Err(e)) => {
                            stats.sample(format!("request: {e:#}"));
                            continue;
                        }
                        Err(_) => break,
                    }
                    sender = Some(connection);
                    continue;
                }
            },
        };
        let request = build_request(&spec, body)?;
        let started = Instant::now();
        let outcome = tokio::time::timeout_at(deadline, exchange(&mut connection, request)).await;
        let finished = Instant::now();
        let counted = clock.in_window(finished);
        match outcome {
            Err(_) => {
                stats.abandoned += 1;
                break;
            }
            Ok(Err(e)) => {
                if counted {
                    stats.transport_errors += 1;
                    stats.last_counted = Some(finished);
                }
                stats.sample(format!("request: {e:#}"));
                // The token may or may not have been spent: restart the chain.
                chain = None;
                continue;
            }
            Ok(Ok((status, body))) => {
                let rotation = matches!(spec.work, Work::RefreshChains { .. });
                let verdict = check_response(spec.expect, status, &body, rotation);
                if counted {
                    let micros = u64::try_from(finished.duration_since(started).as_micros())
                        .unwrap_or(u64::MAX);
                    stats.latency.saturating_record(micros.max(1));
                    *stats.by_status.entry(status.as_u16()).or_default() += 1;
                    stats.last_counted = Some(finished);
                }
                match verdict {
                    Verdict::Ok { refresh_token } => {
                        if counted {
                            stats.ok += 1;
                        }
                        if rotation {
                            chain = refresh_token;
                        }
                    }
                    Verdict::Bad200 => {
                        if counted {
                            stats.bad_200 += 1;
                        }
                        stats.sample(error_sample(status, &body));
                        chain = None;
                    }
                    Verdict::Refused => {
                        stats.sample(error_sample(status, &body));
                        chain = None;
                    }
                }
            }
        }
        sender = Some(connection);
    }
    Ok(stats)
}

fn build_request(spec: &LoadSpec, body: Bytes) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut builder = Request::builder()
        .method(spec.method.clone())
        .uri(spec.endpoint.path.as_str())
        .header(HOST, spec.endpoint.host.as_str());
    if spec.method != Method::GET {
        builder = builder.header(CONTENT_TYPE, FORM_CONTENT_TYPE);
    }
    if let Some(auth) = &spec.authorization {
        builder = builder.header(AUTHORIZATION, auth.clone());
    }
    builder
        .body(Full::new(body))
        .context("cannot build a request")
}

/// Opens one keep-alive HTTP/1.1 connection; its driver runs on its own task until the sender
/// is dropped.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake failed")?;
    tokio::spawn(async move {
        // Errors surface on the sender's next request.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole response body.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await.context("connection not ready")?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .context("cannot read the response body")?
        .to_bytes();
    Ok((status, body))
}

/// One request on a connection of its own, for setup (health checks, seeding chains).
pub async fn send_once(
    endpoint: &Endpoint,
    method: Method,
    authorization: Option<&HeaderValue>,
    body: Option<String>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut sender = connect(endpoint.addr).await?;
    let mut builder = Request::builder()
        .method(method)
        .uri(endpoint.path.as_str())
        .header(HOST, endpoint.host.as_str());
    if body.is_some() {
        builder = builder.header(CONTENT_TYPE, FORM_CONTENT_TYPE);
    }
    if let Some(auth) = authorization {
        builder = builder.header(AUTHORIZATION, auth.clone());
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .context("cannot build a request")?;
    exchange(&mut sender, request).await
}

/// What a 200 must carry to count as a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A token response: a string `access_token`.
    AccessToken,
    /// A token response whose `access_token` is a compact JWS (three non-empty parts).
    JwtAccessToken,
    /// An OpenID token response: a string `access_token` and an `id_token` that is a compact
    /// JWS.
    IdToken,
    /// An introspection response saying `"active": true`.
    Active,
    /// Exactly this body (the gateway mode's upstream answer, through the gateway or not).
    Body(&'static str),
}

impl Expect {
    /// What the report calls a 200 that lacked it.
    pub fn shortfall(self) -> &'static str {
        match self {
            Expect::AccessToken => "200 without a token",
            Expect::JwtAccessToken => "200 without a JWT access token",
            Expect::IdToken => "200 without an access token and an ID token",
            Expect::Active => "200 not active",
            Expect::Body(_) => "200 with another body",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A token response; the refresh token when one was needed and present.
    Ok { refresh_token: Option<String> },
    /// 200 without what was expected (or without the refresh token rotation needs).
    Bad200,
    /// Any other status.
    Refused,
}

/// 200 with a string `access_token` is a success; with `need_refresh_token`, the response must
/// also carry the next `refresh_token`.
pub fn check_token_response(status: StatusCode, body: &[u8], need_refresh_token: bool) -> Verdict {
    check_response(Expect::AccessToken, status, body, need_refresh_token)
}

/// Whether a 200 answers what `expect` asks for (see `check_token_response` for
/// `need_refresh_token`).
pub fn check_response(
    expect: Expect,
    status: StatusCode,
    body: &[u8],
    need_refresh_token: bool,
) -> Verdict {
    if status != StatusCode::OK {
        return Verdict::Refused;
    }
    if let Expect::Body(expected) = expect {
        return if body == expected.as_bytes() {
            Verdict::Ok {
                refresh_token: None,
            }
        } else {
            Verdict::Bad200
        };
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Verdict::Bad200;
    };
    let carries = match expect {
        Expect::Body(_) => false,
        Expect::Active => json.get("active") == Some(&Value::Bool(true)),
        Expect::AccessToken => json.get("access_token").is_some_and(Value::is_string),
        Expect::JwtAccessToken => json
            .get("access_token")
            .and_then(Value::as_str)
            .is_some_and(is_compact_jws),
        Expect::IdToken => {
            json.get("access_token").is_some_and(Value::is_string)
                && json
                    .get("id_token")
                    .and_then(Value::as_str)
                    .is_some_and(is_compact_jws)
        }
    };
    if !carries {
        return Verdict::Bad200;
    }
    let refresh_token = json
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if need_refresh_token && refresh_token.is_none() {
        return Verdict::Bad200;
    }
    Verdict::Ok { refresh_token }
}

/// Three dot-separated, non-empty parts: the shape of a signed JWT (RFC 7515 7.1).
pub fn is_compact_jws(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty())
}

/// The `alg` of a compact JWS's protected header, when it decodes.
pub fn jws_alg(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// The `access_token` of a token response body.
pub fn access_token(body: &[u8]) -> Option<String> {
    token_field(body, "access_token")
}

/// The `id_token` of a token response body.
pub fn id_token(body: &[u8]) -> Option<String> {
    token_field(body, "id_token")
}

fn token_field(body: &[u8], name: &str) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    json.get(name)?.as_str().map(str::to_owned)
}

pub fn error_sample(status: StatusCode, body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(MAX).collect();
    format!("{}: {}", status.as_u16(), text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_bearer_form_encodes_the_grant_type_and_keeps_the_assertion_intact() {
        let assertion = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_";
        let body = jwt_bearer_body(assertion, Some("read write"));
        assert_eq!(
            body,
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer\
             &assertion=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_&scope=read+write"
        );
        let decoded: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(decoded[1], ("assertion".to_owned(), assertion.to_owned()));
        assert_eq!(jwt_bearer_body("a.b.c", None).matches('&').count(), 1);
    }

    #[test]
    fn basic_authorization_form_encodes_id_and_secret() {
        let header = basic_authorization("bench", "s:e cret").expect("header");
        let encoded = header
            .to_str()
            .expect("ascii")
            .strip_prefix("Basic ")
            .expect("basic");
        let decoded = String::from_utf8(STANDARD.decode(encoded).expect("b64")).expect("utf8");
        assert_eq!(decoded, "bench:s%3Ae+cret");
    }

    #[test]
    fn token_responses_are_checked_for_what_the_mode_needs() {
        let ok = br#"{"access_token":"a","token_type":"Bearer","refresh_token":"r"}"#;
        assert_eq!(
            check_token_response(StatusCode::OK, ok, true),
            Verdict::Ok {
                refresh_token: Some("r".into())
            }
        );
        let no_refresh = br#"{"access_token":"a"}"#;
        assert_eq!(
            check_token_response(StatusCode::OK, no_refresh, true),
            Verdict::Bad200
        );
        assert!(matches!(
            check_token_response(StatusCode::OK, no_refresh, false),
            Verdict::Ok { .. }
        ));
        assert_eq!(
            check_token_response(StatusCode::OK, b"{\"error\":\"x\"}", false),
            Verdict::Bad200
        );
        assert_eq!(
            check_token_response(StatusCode::BAD_REQUEST, ok, false),
            Verdict::Refused
        );
    }

    #[test]
    fn jwt_access_tokens_need_three_non_empty_parts() {
        let jwt = br#"{"access_token":"eyJhbGciOiJFUzI1NiJ9.e30.c2ln","token_type":"Bearer"}"#;
        assert!(matches!(
            check_response(Expect::JwtAccessToken, StatusCode::OK, jwt, false),
            Verdict::Ok { .. }
        ));
        for opaque in [
            br#"{"access_token":"Zm9vYmFy"}"#.as_slice(),
            br#"{"access_token":"a..c"}"#,
            br#"{"access_token":"a.b.c.d"}"#,
            br#"{"access_token":7}"#,
        ] {
            assert_eq!(
                check_response(Expect::JwtAccessToken, StatusCode::OK, opaque, false),
                Verdict::Bad200,
                "{}",
                String::from_utf8_lossy(opaque)
            );
        }
        assert_eq!(
            jws_alg("eyJhbGciOiJFUzI1NiJ9.e30.c2ln").as_deref(),
            Some("ES256")
        );
        assert_eq!(jws_alg("Zm9vYmFy"), None);
        assert_eq!(
            access_token(jwt).as_deref(),
            Some("eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
        );
    }

    #[test]
    fn code_exchanges_need_an_access_token_and_a_signed_id_token() {
        let ok = br#"{"access_token":"Zm9v","token_type":"Bearer","id_token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}"#;
        assert!(matches!(
            check_response(Expect::IdToken, StatusCode::OK, ok, false),
            Verdict::Ok {
                refresh_token: None
            }
        ));
        assert_eq!(
            id_token(ok).as_deref(),
            Some("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
        );
        for body in [
            br#"{"access_token":"Zm9v","token_type":"Bearer"}"#.as_slice(),
            br#"{"access_token":"Zm9v","id_token":"a..c"}"#,
            br#"{"id_token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}"#,
            br#"{"access_token":"Zm9v","id_token":7}"#,
        ] {
            assert_eq!(
                check_response(Expect::IdToken, StatusCode::OK, body, false),
                Verdict::Bad200,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            check_response(Expect::IdToken, StatusCode::BAD_REQUEST, ok, false),
            Verdict::Refused
        );
    }

    #[test]
    fn introspection_succeeds_only_when_active() {
        let active = br#"{"active":true,"scope":"read","client_id":"c","token_type":"Bearer"}"#;
        assert!(matches!(
            check_response(Expect::Active, StatusCode::OK, active, false),
            Verdict::Ok {
                refresh_token: None
            }
        ));
        for body in [
            br#"{"active":false}"#.as_slice(),
            br#"{"active":"true"}"#,
            br#"{"access_token":"a"}"#,
            b"not json",
        ] {
            assert_eq!(
                check_response(Expect::Active, StatusCode::OK, body, false),
                Verdict::Bad200
            );
        }
        assert_eq!(
            check_response(Expect::Active, StatusCode::UNAUTHORIZED, active, false),
            Verdict::Refused
        );
        assert_eq!(introspect_body("a+b/c="), "token=a%2Bb%2Fc%3D");
    }

    #[test]
    fn a_fixed_body_must_come_back_exactly() {
        let expect = Expect::Body(r#"{"id":"item"}"#);
        assert!(matches!(
            check_response(expect, StatusCode::OK, br#"{"id":"item"}"#, false),
            Verdict::Ok {
                refresh_token: None
            }
        ));
        for body in [br#"{"id":"other"}"#.as_slice(), b"", br#"{"id":"item"} "#] {
            assert_eq!(
                check_response(expect, StatusCode::OK, body, false),
                Verdict::Bad200
            );
        }
        assert_eq!(
            check_response(expect, StatusCode::UNAUTHORIZED, br#"{"id":"item"}"#, false),
            Verdict::Refused
        );
        assert_eq!(expect.shortfall(), "200 with another body");
    }

    #[test]
    fn get_requests_carry_no_form_content_type() {
        let spec = |method: Method| LoadSpec {
            endpoint: Endpoint {
                url: "http://127.0.0.1:1/bench/item".into(),
                addr: "127.0.0.1:1".parse().expect("addr"),
                host: "127.0.0.1:1".into(),
                path: "/bench/item".into(),
            },
            method,
            authorization: Some(HeaderValue::from_static("Bearer a.b.c")),
            work: Work::Fixed(Bytes::new()),
            expect: Expect::Body("{}"),
            connections: 1,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(1),
        };
        let get = build_request(&spec(Method::GET), Bytes::new()).expect("request");
        assert_eq!(get.method(), Method::GET);
        assert_eq!(get.uri().path(), "/bench/item");
        assert!(get.headers().get(CONTENT_TYPE).is_none());
        assert_eq!(get.headers()[AUTHORIZATION], "Bearer a.b.c");
        assert_eq!(get.headers()[HOST], "127.0.0.1:1");
        let post = build_request(&spec(Method::POST), Bytes::from("a=b")).expect("request");
        assert_eq!(post.headers()[CONTENT_TYPE], FORM_CONTENT_TYPE);
    }

    #[test]
    fn a_cycling_pool_goes_round_its_bodies() {
        let pool = BodyPool::new(vec![Bytes::from("a"), Bytes::from("b")]);
        let taken: Vec<Bytes> = (0..5).filter_map(|_| pool.take_cycling()).collect();
        assert_eq!(taken, ["a", "b", "a", "b", "a"].map(Bytes::from));
        assert_eq!(BodyPool::new(Vec::new()).take_cycling(), None);
    }

    #[tokio::test]
    async fn endpoints_parse_with_and_without_a_port() {
        let e = Endpoint::parse("http://127.0.0.1:3000/oauth2/token")
            .await
            .expect("parse");
        assert_eq!(e.addr, "127.0.0.1:3000".parse().expect("addr"));
        assert_eq!(
            (e.host.as_str(), e.path.as_str()),
            ("127.0.0.1:3000", "/oauth2/token")
        );
        let e = Endpoint::parse("http://127.0.0.1").await.expect("parse");
        assert_eq!((e.addr.port(), e.path.as_str()), (80, "/"));
        assert!(Endpoint::parse("https://127.0.0.1/x").await.is_err());
    }
}
