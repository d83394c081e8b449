//! Identity providers' JWKS endpoints, fetched and cached by the host (RFC 7517 5).
//!
//! A key set is fresh for its cache lifetime (the response's `max-age`, bounded, or the
//! configured default); after that it is refetched on use. An unknown `kid` refetches at most once
//! per `min_refresh_interval_seconds`, so forged `kid`s cannot turn into a fetch per request. When a
//! fetch fails, the last good key set is used while it is younger than `max_stale_seconds`. A fetch never
//! takes longer than connect plus read timeout, and never reads more than `max_response_bytes`.
//!
//! One fetch per endpoint at a time, and no lock is held across it: a request that finds a fetch
//! running uses the key set it already has when that has the key it needs, and otherwise waits for
//! the fetch, never longer than the fetch itself may take. So one slow endpoint delays only the
//! requests that need its keys. At most `MAX_ENDPOINTS` endpoints are kept, the least recently used
//! dropped first.
//!
//! Two forms of the lookup, so the blocking contract is in the name: `keys` is async (it awaits
//! the fetch and never blocks its thread: the gateway's workers), `keys_blocking` blocks its
//! thread (plugin host callbacks on the token work pool, command-line use) and must never be called
//! on an async worker.
//!
//! Transport: https only, except plain http to a loopback address (local development, tests);
//! a redirect is followed only to a URL that passes the same rule, and never from https to http.

use crate::blocking::OnBlockingThread;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::clock::{Monotonic, SystemMonotonic};
use crate::config::JwksEndpointConfig;

/// Most keys kept from one key set; a provider publishes a handful.
const MAX_KEYS: usize = 64;
/// Most endpoints cached at once; a tenant has a handful of providers.
const MAX_ENDPOINTS: usize = 1024;
/// Most redirects followed for one fetch.
const MAX_REDIRECTS: usize = 3;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JwksError {
    /// Nothing usable: the endpoint failed and no recent key set is cached.
    #[error("{0}")]
    Unavailable(String),
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyLookup {
    /// The keys with the requested `kid`, or all keys when no `kid` was asked for. Shared with
    /// the cache: the same key set hands out the same keys, so a cache of keys prepared from
    /// them can know one by its address without comparing it whole.
    pub keys: Vec<Arc<Value>>,
    /// A `kid` was asked for and the (refreshed, if allowed) key set does not have it.
    pub unknown_kid: bool,
}

/// Whether a JWKS URI may be fetched: https, or http to a loopback address. The reason says what
/// to change.
pub fn check_jwks_uri(uri: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(uri).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(
            "must be an https URL (plain http is accepted only for loopback addresses such as \
             127.0.0.1, ::1 or localhost)"
                .into(),
        ),
        other => Err(format!("must be an https URL, not {other}:")),
    }
}

pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A redirect target must pass `check_jwks_uri`, and https never leads to http.
fn redirect_refusal(from: Option<&url::Url>, to: &url::Url) -> Option<String> {
    if let Err(reason) = check_jwks_uri(to.as_str()) {
        return Some(format!("redirect to {to} refused: {reason}"));
    }
    let downgrade = from.is_some_and(|from| from.scheme() == "https") && to.scheme() != "https";
    downgrade.then(|| format!("redirect from https to {to} refused"))
}

#[derive(Default)]
struct State {
    keys: Option<Vec<Arc<Value>>>,
    fetched_at: Option<Instant>,
    fresh_for: Duration,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    fetching: bool,
}

#[derive(Default)]
struct Endpoint {
    state: Mutex<State>,
    /// Wakes the lookups waiting for this endpoint's fetch.
    fetched: tokio::sync::Notify,
}

/// What a lookup does once it has looked at the endpoint's state.
enum Step {
    Answer,
    /// Another lookup's fetch is running and this one needs its outcome.
    Wait,
    /// This lookup fetches (it has marked the fetch as running).
    Fetch,
}

/// Marks an endpoint's fetch as over when the fetching lookup is dropped before it recorded the
/// outcome (a client gone away drops its request's future): the next lookup may fetch again, and
/// the waiters are woken.
struct Fetching<'a> {
    endpoint: &'a Endpoint,
    recorded: bool,
}

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            let mut state = self
                .endpoint
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            state.fetching = false;
            state.last_error = Some("the fetch was abandoned".into());
            drop(state);
            self.endpoint.fetched.notify_waiters();
        }
    }
}

struct Endpoints {
    by_uri: HashMap<String, (Arc<Endpoint>, u64)>,
    uses: u64,
}

pub struct JwksCache {
    settings: JwksEndpointConfig,
    client: reqwest::Client,
    clock: Arc<dyn Monotonic>,
    endpoints: Mutex<Endpoints>,
    fetches: std::sync::atomic::AtomicU64,
}

/// Why a lookup would fetch.
#[derive(PartialEq)]
enum Need {
    Nothing,
    /// The key set is stale (or absent).
    Fresh,
    /// The key set lacks the requested `kid`.
    Kid,
}

impl JwksCache {
    pub fn new(settings: JwksEndpointConfig) -> Result<JwksCache, String> {
        JwksCache::with_clock(settings, Arc::new(SystemMonotonic))
    }

    pub fn with_clock(
        settings: JwksEndpointConfig,
        clock: Arc<dyn Monotonic>,
    ) -> Result<JwksCache, String> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match redirect_refusal(attempt.previous().last(), attempt.url()) {
                Some(reason) => attempt.error(reason),
                None => attempt.follow(),
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .read_timeout(Duration::from_millis(settings.read_timeout))
            .timeout(fetch_bound(&settings))
            .redirect(redirects)
            .user_agent(concat!("grantor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the JWKS HTTP client: {e}"))?;
        Ok(JwksCache {
            settings,
            client,
            clock,
            endpoints: Mutex::new(Endpoints {
                by_uri: HashMap::new(),
                uses: 0,
            }),
            fetches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many fetches were attempted since start (for logs and tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The provider's keys for `kid` (or all of them). Waits for at most one fetch, without
    /// blocking its thread.
    pub async fn keys(&self, uri: &str, kid: Option<&str>) -> Result<KeyLookup, JwksError> {
        // Every request through the gateway asks: a fresh key set that has the key answers at
        // once (its URI was checked when it was fetched).
        if let Some(found) = self.cached_keys(uri, kid) {
            return Ok(found);
        }
        check_jwks_uri(uri).map_err(|reason| {
            JwksError::Unavailable(format!("the JWKS endpoint {uri} is not fetched: {reason}"))
        })?;
        let endpoint = self.endpoint(uri);
        match self.next_step(&endpoint, kid) {
            Step::Answer => {}
            Step::Wait => {
                // Bounded by the running fetch's own timeout.
                let deadline = tokio::time::Instant::now() + fetch_bound(&self.settings);
                loop {
                    let notified = endpoint.fetched.notified();
                    tokio::pin!(notified);
                    // Registered before the state is read, so the fetch's wake-up is not missed.
                    notified.as_mut().enable();
                    let fetching = endpoint
                        .state
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .fetching;
                    if !fetching || tokio::time::timeout_at(deadline, notified).await.is_err() {
                        break;
                    }
                }
            }
            Step::Fetch => self.refresh(uri, &endpoint).await,
        }
        self.answer(uri, &endpoint, kid)
    }

    /// `keys` for a caller on a blocking thread (a plugin's host callback, the command line):
    /// blocks it for at most one fetch. An async worker cannot call it (it holds no
    /// `OnBlockingThread`: it would stall the worker, and tokio refuses to block one); async code
    /// calls `keys`.
    pub fn keys_blocking(
        &self,
        _on: OnBlockingThread,
        uri: &str,
        kid: Option<&str>,
    ) -> Result<KeyLookup, JwksError> {
        if let Some(found) = self.cached_keys(uri, kid) {
            return Ok(found);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(self.keys(uri, kid)),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| JwksError::Unavailable(format!("no runtime for the JWKS fetch: {e}")))?
                .block_on(self.keys(uri, kid)),
        }
    }

    /// Decides under the endpoint's lock; a fetch is marked as running before the lock is let go.
    fn next_step(&self, endpoint: &Endpoint, kid: Option<&str>) -> Step {
        let mut state = endpoint.state.lock().unwrap_or_else(|e| e.into_inner());
        let need = self.need(&state, kid);
        if need == Need::Nothing {
            Step::Answer
        } else if state.fetching {
            // Someone is fetching: a key set that has the key will do meanwhile; without one,
            // wait for that fetch rather than start another.
            if need == Need::Kid || state.keys.is_none() {
                Step::Wait
            } else {
                Step::Answer
            }
        } else if self.may_attempt(&state) {
            state.fetching = true;
            state.last_attempt = Some(self.clock.now());
            Step::Fetch
        } else {
            Step::Answer
        }
    }

    /// The lookup's answer from the key set the endpoint has now.
    fn answer(
        &self,
        uri: &str,
        endpoint: &Endpoint,
        kid: Option<&str>,
    ) -> Result<KeyLookup, JwksError> {
        let state = endpoint.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        let usable = state.fetched_at.is_some_and(|at| {
            now.duration_since(at) < Duration::from_secs(self.settings.max_stale_seconds)
        });
        match select(state.keys.as_deref(), kid) {
            Some(found) if usable => Ok(found),
            _ => Err(JwksError::Unavailable(format!(
                "the JWKS endpoint {uri} gave no usable key set ({})",
                state.last_error.as_deref().unwrap_or("key set too old")
            ))),
        }
    }

    /// The keys for `kid` (or all) when the cached key set is fresh and has them, without
    /// fetching or waiting; `None` means only `keys` can answer (it may fetch).
    pub fn cached_keys(&self, uri: &str, kid: Option<&str>) -> Option<KeyLookup> {
        let endpoint = self.endpoint(uri);
        let state = endpoint.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.need(&state, kid) != Need::Nothing {
            return None;
        }
        select(state.keys.as_deref(), kid)
    }

    fn need(&self, state: &State, kid: Option<&str>) -> Need {
        let now = self.clock.now();
        let fresh = state
            .fetched_at
            .is_some_and(|at| now.duration_since(at) < state.fresh_for);
        if !fresh {
            Need::Fresh
        } else if select(state.keys.as_deref(), kid).is_some_and(|f| f.unknown_kid) {
            Need::Kid
        } else {
            Need::Nothing
        }
    }

    /// At most one attempt per `min_refresh_interval_seconds`, successful or not.
    fn may_attempt(&self, state: &State) -> bool {
        let interval = Duration::from_secs(self.settings.min_refresh_interval_seconds);
        let now = self.clock.now();
        state
            .last_attempt
            .is_none_or(|at| now.duration_since(at) >= interval)
    }

    /// The endpoint's entry, created on first use; the least recently used one is dropped when
    /// there are too many.
    fn endpoint(&self, uri: &str) -> Arc<Endpoint> {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        endpoints.uses += 1;
        let use_number = endpoints.uses;
        if let Some((endpoint, last_use)) = endpoints.by_uri.get_mut(uri) {
            *last_use = use_number;
            return endpoint.clone();
        }
        if endpoints.by_uri.len() >= MAX_ENDPOINTS {
            let oldest = endpoints
                .by_uri
                .iter()
                .min_by_key(|(_, (_, last_use))| *last_use)
                .map(|(uri, _)| uri.clone());
            if let Some(oldest) = oldest {
                endpoints.by_uri.remove(&oldest);
            }
        }
        let endpoint = Arc::new(Endpoint::default());
        endpoints
            .by_uri
            .insert(uri.to_owned(), (endpoint.clone(), use_number));
        endpoint
    }

    /// Fetches (the fetch already marked as running, no lock held), then records the outcome and
    /// wakes the waiters. A failure keeps the previous key set.
    async fn refresh(&self, uri: &str, endpoint: &Endpoint) {
        let mut fetching = Fetching {
            endpoint,
            recorded: false,
        };
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let outcome = fetch_key_set(&self.client, uri, self.settings.max_response_bytes).await;
        crate::metrics::metrics().jwks_fetch(outcome.is_ok());
        {
            let mut state = endpoint.state.lock().unwrap_or_else(|e| e.into_inner());
            state.fetching = false;
            match outcome {
                Ok((keys, max_age)) => {
                    tracing::info!(
                        uri,
                        keys = keys.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "JWKS fetched"
                    );
                    state.keys = Some(keys.into_iter().map(Arc::new).collect());
                    state.fetched_at = Some(self.clock.now());
                    state.last_error = None;
                    state.fresh_for = self.cache_lifetime(max_age);
                }
                Err(reason) => {
                    tracing::warn!(
                        uri,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "JWKS fetch failed: {reason}"
                    );
                    state.last_error = Some(reason);
                }
            }
        }
        fetching.recorded = true;
        endpoint.fetched.notify_waiters();
    }

    fn cache_lifetime(&self, max_age: Option<u64>) -> Duration {
        let seconds = max_age
            .unwrap_or(self.settings.cache_lifetime_seconds)
            .clamp(
                self.settings.min_refresh_interval_seconds,
                self.settings.max_stale_seconds,
            );
        Duration::from_secs(seconds)
    }
}

/// The longest one fetch may take.
fn fetch_bound(settings: &JwksEndpointConfig) -> Duration {
    Duration::from_millis(settings.connect_timeout_ms + settings.read_timeout)
}

async fn fetch_key_set(
    client: &reqwest::Client,
    uri: &str,
    max_bytes: usize,
) -> Result<(Vec<Value>, Option<u64>), String> {
    let mut response = client
        .get(uri)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(describe)?;
    if !response.status().is_success() {
        return Err(format!("HTTP status {}", response.status()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(format!("response larger than {max_bytes} bytes"));
    }
    let max_age = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(format!("response larger than {max_bytes} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((parse_key_set(&body)?, max_age))
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else if e.is_redirect() {
        // The policy's own reason is the source; reqwest's text only says a redirect failed.
        std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_else(|| e.to_string())
    } else {
        e.to_string()
    }
}

fn parse_max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse().ok())
}

/// A JWK Set: an object with a `keys` array. Keys that fit no algorithm verified here
/// (`grantor_jose::key_fits`: `oct`, unknown types and curves, keys marked for encryption) are
/// dropped.
pub fn parse_key_set(body: &[u8]) -> Result<Vec<Value>, String> {
    let document: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWK Set (no \"keys\" array)")?;
    let usable: Vec<Value> = keys
        .iter()
        .filter(|k| {
            grantor_jose::Algorithm::ALL
                .iter()
                .any(|alg| grantor_jose::key_fits(k, *alg))
        })
        .take(MAX_KEYS)
        .cloned()
        .collect();
    if usable.is_empty() {
        return Err("the JWK Set has no signature keys".into());
    }
    Ok(usable)
}

/// `None` when there is no key set at all.
fn select(keys: Option<&[Arc<Value>]>, kid: Option<&str>) -> Option<KeyLookup> {
    let keys = keys?;
    Some(match kid {
        None => KeyLookup {
            keys: keys.to_vec(),
            unknown_kid: false,
        },
        Some(kid) => {
            let named: Vec<Arc<Value>> = keys
                .iter()
                .filter(|k| k["kid"].as_str() == Some(kid))
                .cloned()
                .collect();
            KeyLookup {
                unknown_kid: named.is_empty(),
                keys: named,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::test_thread as here;
    use serde_json::json;
    use std::sync::Condvar;

    #[test]
    fn key_sets_are_parsed_strictly() {
        let keys = parse_key_set(
            br#"{"keys":[{"kty":"RSA","kid":"a","n":"x","e":"AQAB"},{"kty":"oct","k":"c2Vj"},
                 {"kty":"EC","use":"enc"},{"kty":"OKP","crv":"Ed25519","x":"y"}]}"#,
        )
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert!(parse_key_set(b"<html>").unwrap_err().contains("not JSON"));
        assert!(parse_key_set(br#"{"key":[]}"#)
            .unwrap_err()
            .contains("no \"keys\""));
        assert!(parse_key_set(br#"{"keys":[{"kty":"oct"}]}"#).is_err());
    }

    #[test]
    fn selection_by_kid() {
        let keys = vec![Arc::new(json!({"kid": "a"})), Arc::new(json!({"kid": "b"}))];
        assert_eq!(select(Some(&keys), None).unwrap().keys.len(), 2);
        assert_eq!(
            select(Some(&keys), Some("b")).unwrap().keys,
            vec![Arc::new(json!({"kid": "b"}))]
        );
        assert!(select(Some(&keys), Some("c")).unwrap().unknown_kid);
        assert!(select(None, None).is_none());
    }

    #[test]
    fn max_age_is_read_and_bounded() {
        assert_eq!(parse_max_age("public, max-age=600"), Some(600));
        assert_eq!(parse_max_age("no-cache"), None);
        let cache = JwksCache::new(JwksEndpointConfig::default()).unwrap();
        let settings = JwksEndpointConfig::default();
        assert_eq!(
            cache.cache_lifetime(Some(1)),
            Duration::from_secs(settings.min_refresh_interval_seconds)
        );
        assert_eq!(
            cache.cache_lifetime(Some(u64::MAX)),
            Duration::from_secs(settings.max_stale_seconds)
        );
        assert_eq!(
            cache.cache_lifetime(None),
            Duration::from_secs(settings.cache_lifetime_seconds)
        );
    }

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        for allowed in [
            "https://idp.example/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.8.9.1/jwks",
            "http://[::1]:9/jwks",
            "http://localhost/jwks",
        ] {
            assert!(check_jwks_uri(allowed).is_ok(), "{allowed}");
        }
        for (refused, reason) in [
            ("http://idp.example/jwks", "must be an https URL"),
            ("http://10.0.0.1/jwks", "loopback"),
            ("http://localhost.idp.example/jwks", "must be an https URL"),
            ("ftp://idp.example/jwks", "not ftp:"),
            ("file:///etc/passwd", "not file:"),
            ("idp.example/jwks", "not a URL"),
        ] {
            let err = check_jwks_uri(refused).unwrap_err();
            assert!(err.contains(reason), "{refused}: {err}");
        }
        let url = |u: &str| url::Url::parse(u).unwrap();
        assert!(redirect_refusal(None, &url("https://b.example/k")).is_none());
        assert!(
            redirect_refusal(Some(&url("http://127.0.0.1/a")), &url("http://localhost/b"))
                .is_none()
        );
        assert!(
            redirect_refusal(Some(&url("https://a.example/")), &url("http://b.example/"))
                .unwrap()
                .contains("must be an https URL")
        );
        assert!(
            redirect_refusal(Some(&url("https://a.example/")), &url("http://127.0.0.1/"))
                .unwrap()
                .contains("from https")
        );
    }

    /// A JWKS endpoint on loopback: answers each path as set, counts requests, and can hold
    /// answers back until released (to catch a request while another's fetch is running).
    struct Endpoint {
        base: String,
        hits: Arc<std::sync::atomic::AtomicU64>,
        answers: Arc<Mutex<HashMap<String, String>>>,
        held: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Endpoint {
        fn start() -> Endpoint {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let hits = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let answers: Arc<Mutex<HashMap<String, String>>> = Arc::default();
            let held: Arc<(Mutex<bool>, Condvar)> = Arc::default();
            let (h, a, g) = (hits.clone(), answers.clone(), held.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let (h, a, g) = (h.clone(), a.clone(), g.clone());
                    std::thread::spawn(move || answer(&mut stream, &h, &a, &g));
                }
            });
            Endpoint {
                base,
                hits,
                answers,
                held,
            }
        }

        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        fn set(&self, path: &str, status: &str, headers: &str, body: &str) {
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
                body.len()
            );
            self.answers.lock().unwrap().insert(path.into(), response);
        }

        fn serve_kids(&self, path: &str, kids: &[&str]) {
            let keys: Vec<Value> = kids
                .iter()
                .map(|kid| json!({"kty": "RSA", "kid": kid, "n": "x", "e": "AQAB"}))
                .collect();
            self.set(path, "200 OK", "", &json!({ "keys": keys }).to_string());
        }

        fn hits(&self) -> u64 {
            self.hits.load(std::sync::atomic::Ordering::SeqCst)
        }

        fn hold(&self, on: bool) {
            *self.held.0.lock().unwrap() = on;
            self.held.1.notify_all();
        }
    }

    fn answer(
        stream: &mut std::net::TcpStream,
        hits: &std::sync::atomic::AtomicU64,
        answers: &Mutex<HashMap<String, String>>,
        held: &(Mutex<bool>, Condvar),
    ) {
        use std::io::{Read, Write};
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let text = String::from_utf8_lossy(&request);
        let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let mut on_hold = held.0.lock().unwrap();
        while *on_hold {
            on_hold = held.1.wait(on_hold).unwrap();
        }
        drop(on_hold);
        let response = answers
            .lock()
            .unwrap()
            .get(&path)
            .cloned()
            .unwrap_or_else(|| "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".into());
        let _ = stream.write_all(response.as_bytes());
    }

    fn cache_with(clock: &Arc<ManualClock>) -> JwksCache {
        let settings = JwksEndpointConfig {
            cache_lifetime_seconds: 300,
            min_refresh_interval_seconds: 30,
            max_stale_seconds: 3600,
            // Generous, so a held answer is never cut short by a busy machine.
            read_timeout: 30_000,
            ..JwksEndpointConfig::default()
        };
        JwksCache::with_clock(settings, clock.clone()).unwrap()
    }

    fn kids(lookup: &KeyLookup) -> Vec<&str> {
        lookup
            .keys
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect()
    }

    use crate::clock::ManualClock;

    #[test]
    fn a_key_set_is_reused_while_fresh_and_refetched_after() {
        let clock = Arc::new(ManualClock::default());
        let cache = cache_with(&clock);
        let endpoint = Endpoint::start();
        endpoint.serve_kids("/jwks", &["a"]);
        let uri = endpoint.url("/jwks");
        for _ in 0..5 {
            assert_eq!(
                kids(&cache.keys_blocking(here(), &uri, Some("a")).unwrap()),
                ["a"]
            );
        }
        assert_eq!(endpoint.hits(), 1);
        endpoint.serve_kids("/jwks", &["b"]);
        clock.advance(Duration::from_secs(299));
        assert_eq!(
            kids(&cache.keys_blocking(here(), &uri, None).unwrap()),
            ["a"]
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            kids(&cache.keys_blocking(here(), &uri, None).unwrap()),
            ["b"]
        );
        assert_eq!(endpoint.hits(), 2);
    }

    #[test]
    fn forged_kids_cost_at_most_one_fetch_per_interval_and_rotation_is_followed() {
        let clock = Arc::new(ManualClock::default());
        let cache = cache_with(&clock);
        let endpoint = Endpoint::start();
        endpoint.serve_kids("/jwks", &["a"]);
        let uri = endpoint.url("/jwks");
        cache.keys_blocking(here(), &uri, Some("a")).unwrap();
        // Right after a fetch, no unknown kid refetches.
        for i in 0..40 {
            let forged = format!("forged-{i}");
            assert!(
                cache
                    .keys_blocking(here(), &uri, Some(&forged))
                    .unwrap()
                    .unknown_kid
            );
        }
        assert_eq!(endpoint.hits(), 1);
        // Once the interval has passed, one unknown kid refetches once: the rotation is seen.
        endpoint.serve_kids("/jwks", &["a", "rotated"]);
        clock.advance(Duration::from_secs(30));
        assert_eq!(
            kids(&cache.keys_blocking(here(), &uri, Some("rotated")).unwrap()),
            ["rotated"]
        );
        for i in 0..40 {
            let forged = format!("forged-{i}");
            assert!(
                cache
                    .keys_blocking(here(), &uri, Some(&forged))
                    .unwrap()
                    .unknown_kid
            );
        }
        assert_eq!(endpoint.hits(), 2);
    }

    #[test]
    fn the_last_good_key_set_serves_while_the_endpoint_fails_until_max_stale() {
        let clock = Arc::new(ManualClock::default());
        let cache = cache_with(&clock);
        let endpoint = Endpoint::start();
        endpoint.serve_kids("/jwks", &["a"]);
        let uri = endpoint.url("/jwks");
        cache.keys_blocking(here(), &uri, None).unwrap();
        endpoint.set("/jwks", "500 Internal Server Error", "", "down");
        clock.advance(Duration::from_secs(300));
        assert_eq!(
            kids(&cache.keys_blocking(here(), &uri, None).unwrap()),
            ["a"]
        );
        assert_eq!(endpoint.hits(), 2);
        // Failures are retried once per interval, not per request.
        assert_eq!(
            kids(&cache.keys_blocking(here(), &uri, None).unwrap()),
            ["a"]
        );
        assert_eq!(endpoint.hits(), 2);
        clock.advance(Duration::from_secs(3300));
        let err = cache
            .keys_blocking(here(), &uri, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("HTTP status 500"), "{err}");
        assert_eq!(endpoint.hits(), 3);
    }

    #[test]
    fn an_unreachable_endpoint_is_unavailable_and_not_retried_within_the_interval() {
        let clock = Arc::new(ManualClock::default());
        let cache = cache_with(&clock);
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let uri = format!("http://127.0.0.1:{port}/jwks");
        let err = cache.keys_blocking(here(), &uri, None).unwrap_err();
        assert!(err.to_string().contains("no usable key set"));
        let _ = cache.keys_blocking(here(), &uri, None);
        assert_eq!(cache.fetch_count(), 1);
    }

    #[test]
    fn redirects_are_followed_only_where_the_transport_rule_allows() {
        let clock = Arc::new(ManualClock::default());
        let cache = cache_with(&clock);
        let endpoint = Endpoint::start();
        endpoint.serve_kids("/real", &["a"]);
        let to_real = format!("location: {}\r\n", endpoint.url("/real"));
        endpoint.set("/moved", "302 Found", &to_real, "");
        assert_eq!(
            kids(
                &cache
                    .keys_blocking(here(), &endpoint.url("/moved"), None)
                    .unwrap()
            ),
            ["a"]
        );
        endpoint.set(
            "/away",
            "302 Found",
            "location: http://idp.example/jwks\r\n",
            "",
        );
        let err = cache
            .keys_blocking(here(), &endpoint.url("/away"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("redirect to http://idp.example/jwks refused")
                && err.contains("must be an https URL"),
            "{err}"
        );
        // A URI that breaks the rule is never fetched, even if it got into the database.
        let err = cache
            .keys_blocking(here(), "http://idp.example/jwks", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not fetched"), "{err}");
        assert_eq!(cache.fetch_count(), 2);
    }

    #[test]
    fn a_request_does_not_wait_for_another_requests_fetch_when_it_has_the_key() {
        let clock = Arc::new(ManualClock::default());
        let cache = Arc::new(cache_with(&clock));
        let endpoint = Endpoint::start();
        endpoint.serve_kids("/jwks", &["a"]);
        let uri = endpoint.url("/jwks");
        cache.keys_blocking(here(), &uri, Some("a")).unwrap();
        clock.advance(Duration::from_secs(300));
        endpoint.hold(true);
        let fetching = {
            let (cache, uri) = (cache.clone(), uri.clone());
            std::thread::spawn(move || cache.keys_blocking(here(), &uri, Some("a")))
        };
        // Wait until the refetch has reached the endpoint (and is held there)...
        let deadline = Instant::now() + Duration::from_secs(30);
        while endpoint.hits() < 2 {
            assert!(Instant::now() < deadline, "the refetch never started");
            std::thread::yield_now();
        }
        // ...then another request for a key the cache has is answered while it is still held.
        assert_eq!(
            kids(&cache.keys_blocking(here(), &uri, Some("a")).unwrap()),
            ["a"]
        );
        assert!(!fetching.is_finished());
        endpoint.hold(false);
        assert_eq!(kids(&fetching.join().unwrap().unwrap()), ["a"]);
        assert_eq!(endpoint.hits(), 2);
    }

    /// The async form runs on an async worker (where blocking on the runtime would panic), and
    /// a second lookup while the first one's fetch is held waits for that fetch, not a second one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_async_lookup_fetches_on_a_worker_and_shares_a_running_fetch() {
        let clock = Arc::new(ManualClock::default());
        let cache = Arc::new(cache_with(&clock));
        let endpoint = Endpoint::start();
        endpoint.serve_kids("/jwks", &["a"]);
        let uri = endpoint.url("/jwks");
        endpoint.hold(true);
        let first = {
            let (cache, uri) = (cache.clone(), uri.clone());
            tokio::spawn(async move { cache.keys(&uri, Some("a")).await })
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while endpoint.hits() < 1 {
            assert!(Instant::now() < deadline, "the fetch never started");
            tokio::task::yield_now().await;
        }
        let second = {
            let (cache, uri) = (cache.clone(), uri.clone());
            tokio::spawn(async move { cache.keys(&uri, Some("a")).await })
        };
        endpoint.hold(false);
        assert_eq!(kids(&first.await.unwrap().unwrap()), ["a"]);
        assert_eq!(kids(&second.await.unwrap().unwrap()), ["a"]);
        assert_eq!(endpoint.hits(), 1);
        assert_eq!(cache.fetch_count(), 1);
    }

    /// A lookup dropped while it fetches (its client went away) does not leave the endpoint
    /// marked as fetching: the next lookup, once the interval allows, fetches again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_fetch_does_not_block_the_endpoint() {
        let clock = Arc::new(ManualClock::default());
        let cache = Arc::new(cache_with(&clock));
        let endpoint = Endpoint::start();
        endpoint.serve_kids("/jwks", &["a"]);
        let uri = endpoint.url("/jwks");
        endpoint.hold(true);
        let abandoned = {
            let (cache, uri) = (cache.clone(), uri.clone());
            tokio::spawn(async move { cache.keys(&uri, None).await })
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while endpoint.hits() < 1 {
            assert!(Instant::now() < deadline, "the fetch never started");
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());
        endpoint.hold(false);
        clock.advance(Duration::from_secs(30));
        assert_eq!(kids(&cache.keys(&uri, None).await.unwrap()), ["a"]);
        assert_eq!(endpoint.hits(), 2);
    }

    #[test]
    fn endpoints_are_bounded_least_recently_used_first() {
        let cache = JwksCache::new(JwksEndpointConfig::default()).unwrap();
        let first = cache.endpoint("https://first.example/jwks");
        for i in 0..MAX_ENDPOINTS + 10 {
            cache.endpoint(&format!("https://idp{i}.example/jwks"));
            if i % 100 == 0 {
                // Kept in use, so never the least recently used.
                assert!(Arc::ptr_eq(
                    &first,
                    &cache.endpoint("https://first.example/jwks")
                ));
            }
        }
        let endpoints = cache.endpoints.lock().unwrap();
        assert_eq!(endpoints.by_uri.len(), MAX_ENDPOINTS);
        assert!(!endpoints.by_uri.contains_key("https://idp0.example/jwks"));
    }
}
