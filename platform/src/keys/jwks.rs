//! Identity providers' JWKS endpoints, fetched and cached by the host (RFC 7517 5).
//!
//! Each URI has one cache entry behind its own lock, so concurrent requests for a provider share
//! one fetch. A key set is fresh for its cache lifetime (the response's `max-age`, bounded, or the
//! configured default); after that it is refetched on use. An unknown `kid` refetches at most once
//! per `min_refresh_interval`, so forged `kid`s cannot turn into a fetch per request. When a
//! fetch fails, the last good key set is used while it is younger than `max_stale`. A fetch never
//! takes longer than connect plus read timeout, and never reads more than `max_response_bytes`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::JwksEndpointConfig;

/// Most keys kept from one key set; a provider publishes a handful.
const MAX_KEYS: usize = 64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JwksError {
    /// Nothing usable: the endpoint failed and no recent key set is cached.
    #[error("{0}")]
    Unavailable(String),
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyLookup {
    /// The keys with the requested `kid`, or all keys when no `kid` was asked for.
    pub keys: Vec<Value>,
    /// A `kid` was asked for and the (refreshed, if allowed) key set does not have it.
    pub unknown_kid: bool,
}

#[derive(Default)]
struct Entry {
    keys: Option<Vec<Value>>,
    fetched_at: Option<Instant>,
    fresh_for: Duration,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

pub struct JwksCache {
    settings: JwksEndpointConfig,
    client: reqwest::Client,
    entries: Mutex<HashMap<String, Arc<Mutex<Entry>>>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl JwksCache {
    pub fn new(settings: JwksEndpointConfig) -> Result<JwksCache, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout))
            .read_timeout(Duration::from_millis(settings.read_timeout))
            .timeout(Duration::from_millis(
                settings.connect_timeout + settings.read_timeout,
            ))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("grantor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the JWKS HTTP client: {e}"))?;
        Ok(JwksCache {
            settings,
            client,
            entries: Mutex::new(HashMap::new()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many fetches were attempted since start (for logs and tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The provider's keys for `kid` (or all of them). Blocks for at most one fetch.
    pub fn keys(&self, uri: &str, kid: Option<&str>) -> Result<KeyLookup, JwksError> {
        let entry = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.entry(uri.to_owned()).or_default().clone()
        };
        let mut entry = entry.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let fresh = entry
            .fetched_at
            .is_some_and(|at| now.duration_since(at) < entry.fresh_for);
        if !fresh {
            self.refresh(uri, &mut entry, now);
        }
        let mut found = select(entry.keys.as_deref(), kid);
        if found.as_ref().is_some_and(|f| f.unknown_kid) && fresh {
            // The provider may have rotated: one refetch per interval, whatever the kid.
            if self.refresh(uri, &mut entry, now) {
                found = select(entry.keys.as_deref(), kid);
            }
        }
        let usable = entry.fetched_at.is_some_and(|at| {
            now.duration_since(at) < Duration::from_secs(self.settings.max_stale)
        });
        match found {
            Some(found) if usable => Ok(found),
            _ => Err(JwksError::Unavailable(format!(
                "the JWKS endpoint {uri} gave no usable key set ({})",
                entry.last_error.as_deref().unwrap_or("key set too old")
            ))),
        }
    }

    /// Refetches unless the last attempt was within `min_refresh_interval`; returns whether it
    /// fetched a new key set. A failure keeps the previous key set.
    fn refresh(&self, uri: &str, entry: &mut Entry, now: Instant) -> bool {
        let interval = Duration::from_secs(self.settings.min_refresh_interval);
        if entry
            .last_attempt
            .is_some_and(|at| now.duration_since(at) < interval)
        {
            return false;
        }
        entry.last_attempt = Some(now);
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        match self.fetch(uri) {
            Ok((keys, max_age)) => {
                tracing::info!(
                    uri,
                    keys = keys.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "JWKS fetched"
                );
                entry.keys = Some(keys);
                entry.fetched_at = Some(now);
                entry.last_error = None;
                entry.fresh_for = self.cache_lifetime(max_age);
                true
            }
            Err(reason) => {
                tracing::warn!(
                    uri,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "JWKS fetch failed: {reason}"
                );
                entry.last_error = Some(reason);
                false
            }
        }
    }

    fn cache_lifetime(&self, max_age: Option<u64>) -> Duration {
        let seconds = max_age
            .unwrap_or(self.settings.cache_lifetime)
            .clamp(self.settings.min_refresh_interval, self.settings.max_stale);
        Duration::from_secs(seconds)
    }

    /// One fetch, on the async runtime when there is one (the plugin's blocking thread belongs
    /// to it), else on a runtime of its own (command-line use, benchmarks).
    fn fetch(&self, uri: &str) -> Result<(Vec<Value>, Option<u64>), String> {
        let work = fetch_key_set(&self.client, uri, self.settings.max_response_bytes);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(work),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(work),
        }
    }
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

/// A JWK Set: an object with a `keys` array. Keys of types a signature can never be verified
/// with here (`oct`, unknown) are dropped, as are keys marked for encryption.
pub fn parse_key_set(body: &[u8]) -> Result<Vec<Value>, String> {
    let document: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWK Set (no \"keys\" array)")?;
    let usable: Vec<Value> = keys
        .iter()
        .filter(|k| matches!(k["kty"].as_str(), Some("RSA" | "EC" | "OKP")))
        .filter(|k| k.get("use").is_none_or(|u| u == "sig"))
        .take(MAX_KEYS)
        .cloned()
        .collect();
    if usable.is_empty() {
        return Err("the JWK Set has no signature keys".into());
    }
    Ok(usable)
}

/// `None` when there is no key set at all.
fn select(keys: Option<&[Value]>, kid: Option<&str>) -> Option<KeyLookup> {
    let keys = keys?;
    Some(match kid {
        None => KeyLookup {
            keys: keys.to_vec(),
            unknown_kid: false,
        },
        Some(kid) => {
            let named: Vec<Value> = keys
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
    use serde_json::json;

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
        let keys = vec![json!({"kid": "a"}), json!({"kid": "b"})];
        assert_eq!(select(Some(&keys), None).unwrap().keys.len(), 2);
        assert_eq!(
            select(Some(&keys), Some("b")).unwrap().keys,
            vec![json!({"kid": "b"})]
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
            Duration::from_secs(settings.min_refresh_interval)
        );
        assert_eq!(
            cache.cache_lifetime(Some(u64::MAX)),
            Duration::from_secs(settings.max_stale)
        );
        assert_eq!(
            cache.cache_lifetime(None),
            Duration::from_secs(settings.cache_lifetime)
        );
    }

    #[test]
    fn an_unreachable_endpoint_is_unavailable_quickly() {
        let cache = JwksCache::new(JwksEndpointConfig {
            connect_timeout: 200,
            read_timeout: 200,
            ..JwksEndpointConfig::default()
        })
        .unwrap();
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let err = cache
            .keys(&format!("http://127.0.0.1:{port}/jwks"), None)
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(err.to_string().contains("no usable key set"));
        // Within the refresh interval the failure is not retried.
        let _ = cache.keys(&format!("http://127.0.0.1:{port}/jwks"), None);
        assert_eq!(cache.fetch_count(), 1);
    }
}
