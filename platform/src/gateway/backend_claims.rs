//! How the validated claims reach the backend: an `X-JWT-Assertion` JWT signed with the gateway's
//! own key (as WSO2's gateway sends it; its public key is at the gateway's
//! `/.well-known/jwks.json`), or one `X-Claim-<name>` header per claim, or nothing. Whatever the
//! client sent under these names is removed first, so a backend can trust them.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Map, Value};
use warp::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::BackendClaims;
use crate::keys::signing::ReadySigner;

use super::validation::Validated;

pub const ASSERTION_HEADER: &str = "x-jwt-assertion";
const CLAIM_HEADER_PREFIX: &str = "x-claim-";
/// The `iss` of the backend JWT.
pub const GATEWAY_ISSUER: &str = "grantor-gateway";
/// Longest a backend JWT is valid, in seconds (never past the client's token).
const ASSERTION_LIFETIME: i64 = 300;

/// Signed backend JWTs by the digest of the client token they were made for: a token's next calls
/// reuse its JWT (as WSO2's gateway caches them) until 30 s before the JWT expires.
#[derive(Default)]
pub struct AssertionCache {
    by_token: Mutex<HashMap<String, (String, i64)>>,
}

const MAX_CACHED_ASSERTIONS: usize = 10_000;
const REUSE_MARGIN_SECONDS: i64 = 30;

impl AssertionCache {
    fn get_or_sign(
        &self,
        token_digest: &str,
        now: i64,
        sign: impl FnOnce() -> Result<(String, i64), String>,
    ) -> Result<String, String> {
        if let Some((jwt, until)) = self
            .by_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token_digest)
        {
            if now < *until {
                return Ok(jwt.clone());
            }
        }
        let (jwt, expires) = sign()?;
        let mut cache = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_ASSERTIONS {
            cache.retain(|_, (_, until)| now < *until);
            if cache.len() >= MAX_CACHED_ASSERTIONS {
                cache.clear();
            }
        }
        cache.insert(
            token_digest.to_owned(),
            (jwt.clone(), expires - REUSE_MARGIN_SECONDS),
        );
        Ok(jwt)
    }
}

/// What `attach` needs besides the claims: the gateway's key and its cache of signed JWTs.
pub struct BackendSigner<'a> {
    pub signer: &'a ReadySigner,
    pub cache: &'a AssertionCache,
    /// The client's token (its digest is the cache key).
    pub token: &'a str,
}

/// Removes client-sent claim headers, then adds the gateway's.
pub fn attach(
    headers: &mut HeaderMap,
    mode: BackendClaims,
    validated: &Validated,
    backend: &BackendSigner<'_>,
    now: i64,
) -> Result<(), String> {
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            name.as_str() == ASSERTION_HEADER || name.as_str().starts_with(CLAIM_HEADER_PREFIX)
        })
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
    match mode {
        BackendClaims::None => {}
        BackendClaims::Jwt => {
            // Digested here, in the one mode that caches by it.
            let digest = crate::secrets::hash_secret(backend.token);
            let jwt = backend
                .cache
                .get_or_sign(&digest, now, || backend_jwt(validated, backend.signer, now))?;
            let value = HeaderValue::from_str(&jwt).map_err(|e| e.to_string())?;
            headers.insert(HeaderName::from_static(ASSERTION_HEADER), value);
        }
        BackendClaims::Headers => {
            for (name, value) in &validated.claims {
                let Ok(header) = HeaderName::from_bytes(
                    format!("{CLAIM_HEADER_PREFIX}{}", name.to_ascii_lowercase()).as_bytes(),
                ) else {
                    tracing::warn!(
                        claim = %name.escape_default(),
                        "claim not passed to the backend: its name cannot be a header name"
                    );
                    continue;
                };
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match HeaderValue::from_str(&text) {
                    Ok(value) => {
                        headers.insert(header, value);
                    }
                    // Never the value itself in the log: only which claim.
                    Err(_) => tracing::warn!(
                        claim = %name.escape_default(),
                        "claim not passed to the backend: its value holds characters a header \
                         cannot carry (CR, LF or other controls)"
                    ),
                }
            }
        }
    }
    Ok(())
}

/// The claims as the backend sees them: the client token's (mapped) claims, `iss` the gateway, the
/// client token's issuer as `client_token_iss`, and a short `exp`.
fn backend_jwt(
    validated: &Validated,
    signer: &ReadySigner,
    now: i64,
) -> Result<(String, i64), String> {
    let mut claims: Map<String, Value> = validated.claims.clone();
    let token_exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
    claims.insert("client_token_iss".into(), json!(validated.issuer));
    claims.insert("iss".into(), json!(GATEWAY_ISSUER));
    claims.insert("iat".into(), json!(now));
    let expires = token_exp.min(now + ASSERTION_LIFETIME);
    claims.insert("exp".into(), json!(expires));
    let jwt = signer
        .sign_jwt("JWT", &Value::Object(claims))
        .map_err(|e| e.to_string())?;
    Ok((jwt, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tokens_backend_jwt_is_signed_once_and_reused_until_near_its_end() {
        let cache = AssertionCache::default();
        let signed = std::cell::Cell::new(0);
        let sign = || {
            signed.set(signed.get() + 1);
            Ok((format!("jwt-{}", signed.get()), 1_300))
        };
        assert_eq!(cache.get_or_sign("t1", 1_000, sign).unwrap(), "jwt-1");
        assert_eq!(cache.get_or_sign("t1", 1_269, sign).unwrap(), "jwt-1");
        assert_eq!(cache.get_or_sign("t2", 1_000, sign).unwrap(), "jwt-2");
        // 30 s before it expires, a fresh one.
        assert_eq!(cache.get_or_sign("t1", 1_270, sign).unwrap(), "jwt-3");
        assert_eq!(signed.get(), 3);
    }
}
