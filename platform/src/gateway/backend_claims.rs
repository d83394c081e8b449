//! How the validated claims reach the backend: an `X-JWT-Assertion` JWT signed with the gateway's
//! own key (as WSO2's gateway sends it; its public key is at the gateway's
//! `/.well-known/jwks.json`), or one `X-Claim-<name>` header per claim, or nothing. Whatever the
//! client sent under these names is removed first, so a backend can trust them.

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

/// Removes client-sent claim headers, then adds the gateway's.
pub fn attach(
    headers: &mut HeaderMap,
    mode: BackendClaims,
    validated: &Validated,
    signer: &ReadySigner,
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
            let jwt = backend_jwt(validated, signer, now)?;
            let value = HeaderValue::from_str(&jwt).map_err(|e| e.to_string())?;
            headers.insert(HeaderName::from_static(ASSERTION_HEADER), value);
        }
        BackendClaims::Headers => {
            for (name, value) in &validated.claims {
                let Ok(header) = HeaderName::from_bytes(
                    format!("{CLAIM_HEADER_PREFIX}{}", name.to_ascii_lowercase()).as_bytes(),
                ) else {
                    continue;
                };
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if let Ok(value) = HeaderValue::from_str(&text) {
                    headers.insert(header, value);
                }
            }
        }
    }
    Ok(())
}

/// The claims as the backend sees them: the client token's (mapped) claims, `iss` the gateway, the
/// client token's issuer as `client_token_iss`, and a short `exp`.
fn backend_jwt(validated: &Validated, signer: &ReadySigner, now: i64) -> Result<String, String> {
    let mut claims: Map<String, Value> = validated.claims.clone();
    let token_exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
    claims.insert("client_token_iss".into(), json!(validated.issuer));
    claims.insert("iss".into(), json!(GATEWAY_ISSUER));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(token_exp.min(now + ASSERTION_LIFETIME)));
    signer
        .sign_jwt("JWT", &Value::Object(claims))
        .map_err(|e| e.to_string())
}
