//! OpenID Connect ID tokens (Core 1.0 section 2) for users signed in (the code flow, or the legacy
//! password grant): signed
//! with the tenant's current key, `aud` the client and the extra audiences registered for it
//! (`client add --audience`), which is what lets another server or tenant accept the token in a
//! JWT bearer exchange (reference 000).

use serde_json::{json, Map, Value};

use super::error::OAuthError;
use super::token::{Decision, IdTokenWanted, JwtIssuer};
use crate::store::Client;

/// The claims an ID token sets itself (listed in the OpenID metadata as `claims_supported`, with
/// the user's own).
pub const ID_TOKEN_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "jti",
    "sid",
];

/// Whether a user's claim of this name would take the place of one of the token's own; such a
/// claim is left out of the user's tokens (and `user add` refuses it).
pub fn is_reserved_claim(name: &str) -> bool {
    // `act` says who acts for the user (RFC 8693 4.1): set by token exchange only, never a
    // standing claim of the user.
    ID_TOKEN_CLAIMS.contains(&name)
        || super::token::JWT_ACCESS_TOKEN_CLAIMS.contains(&name)
        || name == "act"
}

/// Longest `nonce` accepted, in bytes.
const MAX_NONCE_BYTES: usize = 512;

/// Whether a request asked for an ID token: `openid` requested explicitly and granted.
pub fn wanted(requested_scope: Option<&str>, granted_scopes: &[String]) -> bool {
    let requested = requested_scope.is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    requested && granted_scopes.iter().any(|s| s == "openid")
}

/// The signed ID token for `grant`'s subject.
pub fn sign(
    jwt: &JwtIssuer,
    client: &Client,
    grant: &Decision,
    wanted: &IdTokenWanted,
    now: i64,
    lifetime: u64,
) -> Result<String, OAuthError> {
    if grant.subject.is_none() {
        return Err(OAuthError::internal(
            "ID token",
            "a grant without a user asked for one",
        ));
    }
    let subject = jwt.subject(grant, client);
    let nonce = wanted.nonce.as_deref();
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_BYTES) {
        return Err(OAuthError::invalid_request(format!(
            "nonce is longer than {MAX_NONCE_BYTES} bytes"
        )));
    }
    let mut claims: Map<String, Value> = grant
        .claims
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    claims.retain(|name, _| !is_reserved_claim(name));
    let mut audiences = vec![client.client_id.clone()];
    audiences.extend(
        client
            .audiences
            .iter()
            .filter(|a| **a != client.client_id)
            .cloned(),
    );
    let expires_at = now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
    // Unique per token: two sign-ins in the same second would otherwise get the same bytes (RS256
    // signatures are deterministic), and a JWT bearer exchange spends a token once.
    let jti = crate::secrets::random_token(16).map_err(|e| OAuthError::internal("random", e))?;
    for (name, value) in [
        ("iss", json!(jwt.issuer)),
        ("sub", json!(subject)),
        // A single audience as a string, as most relying parties expect; several as an array.
        (
            "aud",
            if audiences.len() == 1 {
                json!(client.client_id)
            } else {
                json!(audiences)
            },
        ),
        ("azp", json!(client.client_id)),
        ("iat", json!(now)),
        ("auth_time", json!(wanted.auth_time.unwrap_or(now))),
        ("exp", json!(expires_at)),
        ("jti", json!(jti)),
    ] {
        claims.insert(name.into(), value);
    }
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(sid) = &wanted.sid {
        claims.insert("sid".into(), json!(sid));
    }
    jwt.signer
        .sign_jwt("JWT", &Value::Object(claims))
        .map_err(|e| OAuthError::internal("signing an ID token", e))
}
