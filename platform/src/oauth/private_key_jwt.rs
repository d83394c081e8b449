//! Client authentication by `private_key_jwt` (RFC 7523 2.2 and 3; OpenID Connect Core 9): a
//! client registered with a certificate or a JWKS URI posts
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a
//! `client_assertion` it signed with its private key.
//!
//! The assertion's `iss` and `sub` are the client_id; its `aud` names the tenant's token endpoint
//! or its issuer, or the endpoint it is posted to (introspection, revocation: Authlib and others
//! name the URL they post to); it has an `exp` within the JWT bearer settings' longest lifetime and a `jti`,
//! and it is used once: its replay key commits with whatever else the request writes, so a
//! replayed assertion fails that commit. Only asymmetric signatures are accepted (no
//! `client_secret_jwt`, no `none`); the key comes from the client's registration only, never
//! from the token's own header (`jwk`, `jku`, `x5u`, `x5c` are ignored), and verifies only the
//! algorithm it fits (its `kty`, `crv`, `use` and `alg`). Parsing, header policy, key fit,
//! signature and time window are `grantor_jose`'s; the policy (as data) and the wording are here.

use std::sync::Arc;

use grantor_jose::{
    Algorithm, HeaderError, HeaderPolicy, Jws, TimeClaims, TimeError, TimePolicy, TypRule,
    Verification, MAX_JTI_LEN,
};
use serde_json::Value;

use super::client_auth::AUTHENTICATION_FAILED;
use super::error::OAuthError;
use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::store::{Client, ReplayKey, ReplayKind};

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a refused replay says.
pub const REPLAYED: &str = "the client assertion has already been used (its jti was seen before)";

/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECONDS: i64 = 60;

/// What a client may sign its assertions with (also what discovery announces).
pub const CLIENT_ASSERTION_ALGORITHMS: &[Algorithm] = Algorithm::ALL;

const HEADER_POLICY: HeaderPolicy<'static> = HeaderPolicy {
    algorithms: CLIENT_ASSERTION_ALGORITHMS,
    typ: TypRule::Any,
};

const TIME_POLICY: TimePolicy = TimePolicy {
    leeway_seconds: LEEWAY_SECONDS,
    require_iat: false,
};

/// A client that proved itself with an assertion, and the replay key to commit with the request.
pub struct AssertedClient {
    pub client: Arc<Client>,
    pub replay_key: ReplayKey,
}

fn refused(reason: impl std::fmt::Display) -> OAuthError {
    OAuthError::invalid_client(format!("client assertion: {reason}"))
}

/// Verifies `assertion` for the request's tenant and the `endpoint` it was posted to (below the
/// tenant's prefix); `client_id` is the request's, if it named one.
pub fn authenticate_by_assertion(
    app: &OAuthContext,
    on: OnBlockingThread,
    tenant: &str,
    endpoint: &str,
    assertion: &str,
    client_id: Option<&str>,
    now: i64,
) -> Result<AssertedClient, OAuthError> {
    let max_bytes = app.settings.grant_type.jwt.max_assertion_bytes;
    let jws = Jws::parse(assertion, max_bytes).map_err(|error| match error {
        grantor_jose::ParseError::TooLarge { .. } => refused("too large"),
        _ => refused("not a signed JWT"),
    })?;
    let header = HEADER_POLICY.check(&jws.header).map_err(|error| match error {
        HeaderError::NotAccepted(alg) => refused(format!(
            "algorithm {} is not accepted; sign with the client's private key (RS, PS, ES or EdDSA)",
            alg.escape_default()
        )),
        HeaderError::Critical(_) | HeaderError::CriticalMalformed => {
            refused("names critical header extensions (crit) this server does not understand")
        }
        _ => refused("not a signed JWT"),
    })?;
    let subject = jws
        .string_claim("sub")
        .ok_or_else(|| refused("no sub claim"))?;
    if client_id.is_some_and(|id| id != subject) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the client assertion's sub",
        ));
    }
    let client = match app.store.cached_client(tenant, subject)? {
        Some(client) if client.uses_private_key_jwt() => client,
        // Unknown, or a client that authenticates with its secret: alike to the caller.
        _ => return Err(OAuthError::invalid_client(AUTHENTICATION_FAILED)),
    };
    let keys = client_keys(app, on, &client, header.kid.as_deref(), now)?;
    if grantor_jose::key::verify_with_any(&jws, header.algorithm, &keys) != Verification::Verified {
        return Err(refused("signature does not verify with the client's keys"));
    }
    let audiences = accepted_audiences(app, tenant, endpoint);
    let claims = &jws.claims;
    let expires_at = check_claims(claims, &client, &audiences, now)?;
    let max_lifetime = app.settings.grant_type.jwt.max_assertion_lifetime_seconds;
    if expires_at - now > max_lifetime as i64 + LEEWAY_SECONDS {
        return Err(refused(format!(
            "expires more than {max_lifetime} seconds from now"
        )));
    }
    let jti = match claims.get("jti").unwrap_or(&Value::Null) {
        Value::String(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => jti.clone(),
        Value::Null => return Err(refused("no jti: a client assertion must be one-time")),
        _ => {
            return Err(refused(format!(
                "jti must be a string of 1 to {MAX_JTI_LEN} characters"
            )))
        }
    };
    Ok(AssertedClient {
        replay_key: ReplayKey {
            tenant_domain: tenant.to_owned(),
            kind: ReplayKind::ClientAssertion {
                client_id: client.client_id.clone(),
            },
            jti,
            expires_at,
        },
        client,
    })
}

/// The client's keys that may have signed: the one its `kid` names, or every key without one.
fn client_keys(
    app: &OAuthContext,
    on: OnBlockingThread,
    client: &Client,
    kid: Option<&str>,
    now: i64,
) -> Result<Vec<Value>, OAuthError> {
    let keys = match &client.jwks_uri {
        Some(uri) => match app.trusted_issuers.jwks_keys(on, uri, kid) {
            Ok(lookup) => lookup.keys.iter().map(|k| Value::clone(k)).collect(),
            Err(e) => {
                tracing::warn!(client_id = %client.client_id, jwks_uri = %uri, "{e}");
                return Err(OAuthError::temporarily_unavailable(
                    "the client's published key set could not be fetched; try again later",
                ));
            }
        },
        None => {
            let keys = app
                .trusted_issuers
                .usable_certificate_keys(&client.certificates, now)
                .map_err(|e| OAuthError::internal("client certificate", e))?;
            if keys.usable.is_empty() && !keys.expired.is_empty() {
                return Err(refused(format!(
                    "the client's keys are past their validity: {}",
                    keys.expired.join("; ")
                )));
            }
            keys.usable
        }
    };
    let keys: Vec<Value> = keys
        .into_iter()
        .filter(|k| kid.is_none_or(|kid| k["kid"] == kid))
        .collect();
    if keys.is_empty() {
        return Err(refused(match kid {
            Some(kid) => format!("no key of the client has kid {}", kid.escape_default()),
            None => "the client has no usable key".to_owned(),
        }));
    }
    Ok(keys)
}

/// What a client assertion may name as its `aud`: the tenant's token endpoint and its issuer
/// (RFC 7523 3, OpenID Connect Core 9), and the URL of the endpoint it is posted to, with or
/// without the tenant's `/t/{tenant}` prefix for the default tenant.
fn accepted_audiences(app: &OAuthContext, tenant: &str, endpoint: &str) -> Vec<String> {
    let mut audiences = vec![
        app.urls.token_endpoint_url(tenant),
        app.urls.issuer_url(tenant),
    ];
    for url in [
        app.urls.tenant_url(tenant, endpoint),
        format!("{}/t/{tenant}/{endpoint}", app.urls.public_base_url),
    ] {
        if !audiences.contains(&url) {
            audiences.push(url);
        }
    }
    audiences
}

/// The claims of a verified assertion (RFC 7523 3): `exp`, `aud`, `iss` and `sub` present; the
/// time window; `sub` and `iss` the client_id; `aud` one of `audiences`. Returns `exp`.
fn check_claims(
    claims: &serde_json::Map<String, Value>,
    client: &Client,
    audiences: &[String],
    now: i64,
) -> Result<i64, OAuthError> {
    for claim in ["exp", "aud", "iss", "sub"] {
        if !claims.contains_key(claim) {
            return Err(refused(format!("missing claim {claim}")));
        }
    }
    let expires_at = TimeClaims::read(claims)
        .and_then(|times| TIME_POLICY.check(times, now))
        .map_err(|error| match error {
            TimeError::NotNumericDate(claim) => refused(format!("{claim} is not a number")),
            TimeError::Missing(claim) => refused(format!("missing claim {claim}")),
            TimeError::Expired { .. } => refused("expired (exp)"),
            TimeError::NotYetValid { .. } => refused("not valid yet (nbf)"),
            TimeError::IssuedInFuture { .. } => refused("issued in the future (iat)"),
        })?;
    let client_id = Some(client.client_id.as_str());
    if claims.get("sub").and_then(Value::as_str) != client_id {
        return Err(refused("sub must be the client_id"));
    }
    if claims.get("iss").and_then(Value::as_str) != client_id {
        return Err(refused("iss must be the client_id"));
    }
    let named = |aud: &str| audiences.iter().any(|a| a == aud);
    let aud_matches = match claims.get("aud") {
        Some(Value::String(aud)) => named(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(named),
        _ => false,
    };
    if !aud_matches {
        return Err(refused(format!(
            "aud must name this tenant's token endpoint {}, its issuer {}, or the endpoint \
             the assertion is posted to",
            audiences[0], audiences[1]
        )));
    }
    Ok(expires_at)
}
