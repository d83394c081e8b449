//! A token the client presents (`subject_token`, `actor_token`), read into who it names: this
//! tenant's own tokens through the host (`host_validate_token`: revoked or expired is inactive),
//! a trusted identity provider's JWTs exactly as the JWT bearer grant reads an assertion.

use grantor_sdk::wire::token_types;
use grantor_sdk::{GrantRequest, GrantResult, Host, HostReply, ValidatedToken};
use grantor_trusted_jwt::{TrustedJwtValidator, ValidatedJwt};
use serde_json::{Map, Value};

use crate::{invalid_grant, invalid_request, server_error, shown};

/// Which parameter a token came in: every refusal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Subject,
    Actor,
}

impl Role {
    pub fn param(self) -> &'static str {
        match self {
            Role::Subject => "subject_token",
            Role::Actor => "actor_token",
        }
    }

    /// `refusal`, its description prefixed with the parameter it is about.
    pub fn named(self, refusal: GrantResult) -> GrantResult {
        match refusal {
            GrantResult::Error(mut e) => {
                e.error_description = format!("{}: {}", self.param(), e.error_description);
                GrantResult::Error(e)
            }
            granted => granted,
        }
    }
}

/// A presented token, validated.
pub struct Presented {
    /// An ID token of this server: it carries no scopes, and the user consented to none for the
    /// client here, so it is exchanged only for a grant to another domain.
    pub own_id_token: bool,
    /// Whom it names: its subject, or the client it was issued to when that client acted for
    /// itself.
    pub subject: String,
    /// Who issued it: this tenant, or a trusted identity provider.
    pub issuer: String,
    /// Issued by a trusted identity provider, not by this tenant.
    pub external: bool,
    /// Its claims (a provider's after its mappings and transformer).
    pub claims: Map<String, Value>,
    /// The scopes it carries: an access token's; `None` for an ID token or another JWT.
    pub scopes: Option<Vec<String>>,
    pub expires_at: i64,
    /// A provider's JWT: to be recorded as used when the exchange is granted, and the scopes
    /// its provider allows.
    pub validated: Option<ValidatedJwt>,
}

impl Presented {
    /// Its `act` claim: who acts for its subject already.
    pub fn act(&self) -> Option<&Value> {
        self.claims.get("act").filter(|v| v.is_object())
    }

    /// Its `may_act` claim (RFC 8693 4.4): who may act for its subject.
    pub fn may_act(&self) -> Option<&Value> {
        self.claims.get("may_act").filter(|v| v.is_object())
    }
}

/// Largest token read.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Reads `token`, of type `token_type`, presented as `role`.
pub fn read(
    host: &Host<'_>,
    validator: &TrustedJwtValidator,
    request: &GrantRequest,
    role: Role,
    token: &str,
    token_type: &str,
    requested_scope: Option<&str>,
) -> Result<Presented, GrantResult> {
    match token_type {
        token_types::ACCESS_TOKEN => own(host, request, role, token, &["access_token"]),
        token_types::ID_TOKEN | token_types::JWT => {
            let accepted: &[&str] = if token_type == token_types::ID_TOKEN {
                &["id_token"]
            } else {
                &["id_token", "access_token"]
            };
            if issuer_of(token).as_deref() == Some(request.metadata.issuer.as_str()) {
                own(host, request, role, token, accepted)
            } else {
                external(host, validator, request, role, token, requested_scope)
            }
        }
        token_types::REFRESH_TOKEN => Err(role.named(invalid_request(format!(
            "a refresh token is not exchanged ({}_type {}): it stays with its client",
            role.param(),
            token_types::REFRESH_TOKEN
        )))),
        other => Err(role.named(invalid_request(format!(
            "{}_type '{}' is not accepted; use {}, {} or {}",
            role.param(),
            shown(other),
            token_types::ACCESS_TOKEN,
            token_types::ID_TOKEN,
            token_types::JWT
        )))),
    }
}

/// The unverified `iss` of a JWT, to tell this tenant's tokens from a provider's before either is
/// verified (each path then verifies with its own keys).
fn issuer_of(token: &str) -> Option<String> {
    let jws = grantor_jose::Jws::parse(token, MAX_TOKEN_BYTES).ok()?;
    jws.claims.get("iss")?.as_str().map(str::to_owned)
}

/// One of this tenant's tokens, of a type in `accepted`.
fn own(
    host: &Host<'_>,
    request: &GrantRequest,
    role: Role,
    token: &str,
    accepted: &[&str],
) -> Result<Presented, GrantResult> {
    let validated: ValidatedToken = match host.validate_token(token) {
        HostReply::Ok(validated) => validated,
        HostReply::NotConfigured => {
            return Err(server_error(
                "the host cannot validate its own tokens (host_validate_token, ABI 1.1): it is older than this plugin",
            ))
        }
        HostReply::NotFound | HostReply::Conflict | HostReply::Failed(_) => {
            return Err(server_error("the host could not validate the token"))
        }
    };
    if !validated.active {
        return Err(role.named(invalid_grant(
            "not an active token of this server (unknown, expired or revoked)",
        )));
    }
    if !accepted.contains(&validated.token_type.as_str()) {
        return Err(role.named(invalid_grant(format!(
            "a token of type {} is presented where {} is expected",
            validated.token_type,
            accepted.join(" or ")
        ))));
    }
    let id_token = validated.token_type == "id_token";
    let own_client = validated.client_id == request.client.client_id;
    if id_token && !own_client {
        return Err(role.named(invalid_grant(
            "an ID token is exchanged only by the client it was issued to",
        )));
    }

    Ok(Presented {
        own_id_token: id_token,
        subject: validated
            .subject
            .unwrap_or_else(|| validated.client_id.clone()),
        issuer: request.metadata.issuer.clone(),
        external: false,
        claims: validated.claims,
        scopes: (!id_token).then_some(validated.scopes),
        expires_at: validated.expires_at,
        validated: None,
    })
}

/// A trusted identity provider's JWT, validated as the JWT bearer grant validates an assertion.
fn external(
    host: &Host<'_>,
    validator: &TrustedJwtValidator,
    request: &GrantRequest,
    role: Role,
    token: &str,
    requested_scope: Option<&str>,
) -> Result<Presented, GrantResult> {
    let validated = validator
        .validate(host, request, token, requested_scope)
        .map_err(|refusal| role.named(refusal))?;
    Ok(Presented {
        own_id_token: false,
        subject: validated.subject.clone(),
        issuer: validated.issuer.clone(),
        external: true,
        claims: validated.claims.clone(),
        scopes: None,
        expires_at: validated.expires_at,
        validated: Some(validated),
    })
}
