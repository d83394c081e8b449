//! A JWT this tenant signed: parsed, its signature checked with a key the tenant publishes, its
//! issuer the tenant's. One check for every place that takes back what the tenant signed (an
//! `id_token_hint` at logout, a token a grant plugin asks the host about); each says in its own
//! words why one is refused, and checks the rest (times, audience, type) by its own rules.

use grantor_jose::{verify_with_any, Algorithm, HeaderPolicy, Jws, TypRule, Verification};
use serde_json::Value;

use super::context::OAuthContext;
use crate::store::StoreError;

/// Why a token is not a JWT of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotOurs {
    /// Not a compact JWS, or a header no key of ours could have signed.
    Malformed(String),
    /// No key the tenant publishes verifies it.
    Signature,
    /// Signed by the tenant's key under another issuer (another tenant sharing nothing but a
    /// server would have its own keys; this is a token minted for another purpose).
    Issuer,
}

/// `token` (at most `max_bytes`) as a JWT `tenant` signed under its issuer, at `now`.
pub fn verify_own_jwt<'a>(
    ctx: &OAuthContext,
    tenant: &str,
    token: &'a str,
    max_bytes: usize,
    now: i64,
) -> Result<Result<Jws<'a>, NotOurs>, StoreError> {
    let jws = match Jws::parse(token, max_bytes) {
        Ok(jws) => jws,
        Err(e) => return Ok(Err(NotOurs::Malformed(e.to_string()))),
    };
    let policy = HeaderPolicy {
        algorithms: Algorithm::ALL,
        typ: TypRule::Any,
    };
    let header = match policy.check(&jws.header) {
        Ok(header) => header,
        Err(e) => return Ok(Err(NotOurs::Malformed(e.to_string()))),
    };
    let key_set = ctx
        .tenant_keys()
        .published_key_set(tenant, now)?
        .unwrap_or(Value::Null);
    let keys: Vec<Value> = key_set["keys"].as_array().cloned().unwrap_or_default();
    if verify_with_any(&jws, header.algorithm, &keys) != Verification::Verified {
        return Ok(Err(NotOurs::Signature));
    }
    if jws.claims.get("iss").and_then(Value::as_str) != Some(ctx.urls.issuer_url(tenant).as_str()) {
        return Ok(Err(NotOurs::Issuer));
    }
    Ok(Ok(jws))
}

/// `aud` as a list (RFC 7519 4.1.3: a string or an array of strings).
pub fn audiences_of(claims: &serde_json::Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}
