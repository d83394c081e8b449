//! Opaque tokens, for an API configured with `introspection`: checked by RFC 7662 introspection at
//! the token server, the answer reused until the token's `exp` or `cache_seconds`, whichever is
//! sooner (an inactive answer for `cache_seconds`). The cache holds SHA-256 digests of tokens,
//! never the tokens, and at most `MAX_CACHED` answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value};

use super::validation::{TokenRefusal, Validated};
use crate::config::IntrospectionConfig;

const MAX_CACHED: usize = 10_000;

pub struct Introspector {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

#[derive(Clone)]
struct Cached {
    answer: Option<Validated>,
    fetched_at: i64,
    /// The token's `exp` (`i64::MAX` when unknown or inactive).
    expires: i64,
}

impl Cached {
    /// Whether an API that reuses answers for `cache_seconds` may use this one at `now`.
    fn usable(&self, cache_seconds: u64, now: i64) -> bool {
        let bound = self
            .fetched_at
            .saturating_add(i64::try_from(cache_seconds).unwrap_or(i64::MAX));
        now < bound.min(self.expires)
    }
}

/// Entries are kept this long at most, whatever an API's `cache_seconds`.
const MAX_KEPT_SECONDS: i64 = 3600;

impl Introspector {
    pub fn new() -> Result<Introspector, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Introspector {
            http,
            cache: Mutex::default(),
        })
    }

    pub async fn check(
        &self,
        config: &IntrospectionConfig,
        token: &str,
        now: i64,
    ) -> Result<Validated, TokenRefusal> {
        let key = format!("{}\n{}", config.url, crate::secrets::hash_secret(token));
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .filter(|c| c.usable(config.cache_seconds, now))
            .cloned();
        let cached = match cached {
            Some(cached) => cached,
            None => {
                let answer = self.ask(config, token).await?;
                let expires = answer
                    .as_ref()
                    .and_then(|a| a.claims.get("exp"))
                    .and_then(Value::as_i64)
                    .unwrap_or(i64::MAX);
                let cached = Cached {
                    answer,
                    fetched_at: now,
                    expires,
                };
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= MAX_CACHED {
                    cache.retain(|_, c| now < c.expires && now - c.fetched_at < MAX_KEPT_SECONDS);
                    if cache.len() >= MAX_CACHED {
                        cache.clear();
                    }
                }
                cache.insert(key, cached.clone());
                cached
            }
        };
        cached
            .answer
            .ok_or_else(|| TokenRefusal("the token is not active".into()))
    }

    /// `Some` for an active token, `None` for an inactive one.
    async fn ask(
        &self,
        config: &IntrospectionConfig,
        token: &str,
    ) -> Result<Option<Validated>, TokenRefusal> {
        let unavailable = || TokenRefusal("the token could not be checked; try again later".into());
        let response = self
            .http
            .post(&config.url)
            .basic_auth(&config.client_id, config.secret())
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(url = %config.url, "introspection failed: {e}");
                unavailable()
            })?;
        if !response.status().is_success() {
            tracing::warn!(url = %config.url, status = %response.status(), "introspection refused the gateway");
            return Err(unavailable());
        }
        let mut body: Map<String, Value> = response.json().await.map_err(|e| {
            tracing::warn!(url = %config.url, "introspection answer unreadable: {e}");
            unavailable()
        })?;
        if body.remove("active") != Some(Value::Bool(true)) {
            return Ok(None);
        }
        let scopes = body
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Some(Validated {
            issuer: body
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or(&config.url)
                .to_owned(),
            subject: body
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            claims: body,
            scopes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_reused_within_the_api_bound_and_never_past_the_token() {
        let cached = Cached {
            answer: None,
            fetched_at: 1_000,
            expires: 1_100,
        };
        assert!(cached.usable(60, 1_059));
        assert!(!cached.usable(60, 1_060));
        assert!(!cached.usable(0, 1_000));
        // The token's exp ends reuse before a long bound does.
        assert!(cached.usable(3_600, 1_099));
        assert!(!cached.usable(3_600, 1_100));
    }
}
