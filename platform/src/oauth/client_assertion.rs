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
//! from the token's own header (`jwk`, `jku`, `x5u`, `x5c` are ignored).

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::client_auth::AUTHENTICATION_FAILED;
use super::error::OAuthError;
use super::service_account::unverified_claim;
use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::store::{ReplayKey, ReplayKind, ServiceProvider};

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a refused replay says.
pub const REPLAYED: &str = "the client assertion has already been used (its jti was seen before)";

/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECONDS: u64 = 60;

const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A client that proved itself with an assertion, and the replay key to commit with the request.
pub struct AssertedClient {
    pub client: Arc<ServiceProvider>,
    pub replay_key: ReplayKey,
}

fn refused(reason: impl std::fmt::Display) -> OAuthError {
    OAuthError::invalid_client(format!("client assertion: {reason}"))
}

/// Verifies `assertion` for the request's tenant and the `endpoint` it was posted to (below the
/// tenant's prefix); `client_id` is the request's, if it named one.
pub fn authenticate_by_assertion(
    app: &OAuthContext,
    _on: OnBlockingThread,
    tenant: &str,
    endpoint: &str,
    assertion: &str,
    client_id: Option<&str>,
    now: i64,
) -> Result<AssertedClient, OAuthError> {
    let max_bytes = app.settings.grant_type.jwt.max_assertion_bytes;
    if assertion.len() > max_bytes {
        return Err(refused("too large"));
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| refused("not a signed JWT"))?;
    if !ASYMMETRIC.contains(&header.alg) {
        return Err(refused(format!(
            "algorithm {:?} is not accepted; sign with the client's private key (RS, PS, ES or EdDSA)",
            header.alg
        )));
    }
    let subject =
        unverified_claim(assertion, "sub", max_bytes).ok_or_else(|| refused("no sub claim"))?;
    if client_id.is_some_and(|id| id != subject) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the client assertion's sub",
        ));
    }
    let client = match app.store.cached_client(tenant, &subject)? {
        Some(client) if client.uses_private_key_jwt() => client,
        // Unknown, or a client that authenticates with its secret: alike to the caller.
        _ => return Err(OAuthError::invalid_client(AUTHENTICATION_FAILED)),
    };
    let keys = client_keys(app, &client, header.kid.as_deref(), now)?;
    let audiences = accepted_audiences(app, tenant, endpoint);
    let claims = verify_with_any(&audiences, &client, assertion, header.alg, &keys)?;
    let expires_at = claims["exp"]
        .as_i64()
        .ok_or_else(|| refused("exp is not a number"))?;
    let max_lifetime = app.settings.grant_type.jwt.max_assertion_lifetime_seconds;
    if expires_at - now > max_lifetime as i64 + LEEWAY_SECONDS as i64 {
        return Err(refused(format!(
            "expires more than {max_lifetime} seconds from now"
        )));
    }
    if claims["iat"]
        .as_i64()
        .is_some_and(|iat| iat > now + LEEWAY_SECONDS as i64)
    {
        return Err(refused("issued in the future (iat)"));
    }
    let jti = match &claims["jti"] {
        Value::String(jti) if !jti.is_empty() && jti.len() <= 256 => jti.clone(),
        Value::Null => return Err(refused("no jti: a client assertion must be one-time")),
        _ => return Err(refused("jti must be a string of 1 to 256 characters")),
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
    client: &ServiceProvider,
    kid: Option<&str>,
    now: i64,
) -> Result<Vec<Value>, OAuthError> {
    let keys = match &client.jwks_uri {
        Some(uri) => match app.trusted_issuers.jwks_keys(uri, kid) {
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

fn verify_with_any(
    audiences: &[String],
    client: &ServiceProvider,
    assertion: &str,
    alg: Algorithm,
    keys: &[Value],
) -> Result<Value, OAuthError> {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_audience(audiences);
    validation.set_issuer(&[&client.client_id]);
    validation.sub = Some(client.client_id.clone());
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    crate::keys::jwt_keys::decode_with_any(assertion, keys, &validation).map_err(
        |kind| match kind {
            ErrorKind::InvalidSignature => {
                refused("signature does not verify with the client's keys")
            }
            ErrorKind::ExpiredSignature => refused("expired (exp)"),
            ErrorKind::ImmatureSignature => refused("not valid yet (nbf)"),
            ErrorKind::InvalidAudience => refused(format!(
                "aud must name this tenant's token endpoint {}, its issuer {}, or the endpoint \
                 the assertion is posted to",
                audiences[0], audiences[1]
            )),
            ErrorKind::InvalidIssuer => refused("iss must be the client_id"),
            ErrorKind::InvalidSubject => refused("sub must be the client_id"),
            ErrorKind::MissingRequiredClaim(claim) => refused(format!("missing claim {claim}")),
            _ => refused("malformed"),
        },
    )
}
