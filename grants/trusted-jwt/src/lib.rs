//! `grantor-trusted-jwt`: the validation of a JWT signed by an identity provider a tenant trusts
//! (RFC 7523 2.1, 3; RFC 8725): the JWT bearer grant's assertion, and the token exchange grant's
//! subject and actor tokens of type `jwt` or `id_token` (RFC 8693), validated the same way: the
//! same provider lookup, audience and alias rules, keys, claim mappings, transformer and one-time
//! use. It owns rules 1-8 of `grants/README.md`; the scopes to grant (rule 9) and the grant itself
//! stay with each grant, which also words its own missing-parameter refusals.
//!
//! The checks run in the order of the numbered rules, with one deliberate exception: `exp` is
//! checked before the signature, since it is cheap and does not depend on keys (an expired token
//! is refused whoever signed it). Every refusal is `invalid_grant` (unless a rule says otherwise)
//! with a precise description that never repeats the token itself. It never writes: one use is
//! staged through the host's replay cache, committed with the tokens.

// Refusals are `GrantResult`s, the SDK's answer type, returned once per refused request: its
// size (ABI 1.1's result fields made it grow) costs nothing worth boxing it for.
#![allow(clippy::result_large_err)]

mod assertion;
mod audience;
mod claim_mappings;
mod claims;
mod header;
mod providers;
pub mod scopes;
mod settings;
mod transformer;
mod validity;
mod verify;

use std::sync::Arc;

use grantor_jose::{PreparedKeys, MAX_JTI_LEN};
use grantor_sdk::jwt_bearer::{
    replayed_assertion, DIGEST_REPLAY_KEY_PREFIX, MAX_CLOCK_SKEW_SECONDS,
};
use grantor_sdk::wire::token_types::ID_JAG_TYP;
use grantor_sdk::{
    ClientAuthentication, ClientInfo, GrantRequest, GrantResult, Host, HostReply,
    IdentityProviderInfo,
};
use serde_json::{Map, Value};

use settings::Settings;
use validity::TimeClaims;

/// Validates JWTs from a tenant's trusted identity providers with one configuration (the host's
/// `[oauth.grant_type.jwt]` settings) and one cache of parsed keys.
pub struct TrustedJwtValidator {
    settings: Settings,
    /// The identity providers' keys, each parsed once.
    prepared_keys: PreparedKeys,
    /// The identity providers as the host last described them, each description decoded once.
    providers: providers::Providers,
}

/// A token that passed rules 1-7: what it says after the provider's mappings and transformer, and
/// what its one use (rule 8, [`TrustedJwtValidator::record_use`]) records. Only
/// [`TrustedJwtValidator::validate`] makes one.
#[derive(Debug, Clone)]
pub struct ValidatedJwt {
    /// `iss`: the identity provider whose keys verified the token.
    pub issuer: String,
    pub provider: Arc<IdentityProviderInfo>,
    /// The claims after the provider's claim mappings and claim transformer.
    pub claims: Map<String, Value>,
    /// `sub` of those claims, allowed by the provider.
    pub subject: String,
    /// `exp` (Unix time).
    pub expires_at: i64,
    /// The transformer's scopes when it chose some, else the requested scopes within the token's
    /// scope claim (the provider's `scope_claim`), else the claim's; `None` when none of them says.
    pub scopes: Option<Vec<String>>,
    /// The JOSE header's `typ`, lowercase without `application/` (not checked here).
    pub header_typ: Option<String>,
    /// What stands for the token in the replay cache.
    replay_key: ReplayKey,
    /// Until when the token's use is remembered: `exp` plus the provider's clock skew.
    keep_until: i64,
}

/// A token's key in the replay cache (rule 8).
#[derive(Debug, Clone)]
enum ReplayKey {
    /// The token's `jti`.
    Jti(String),
    /// A token without `jti`: a digest of the signed token (`assertion-sha256:...`).
    Digest(String),
}

impl ValidatedJwt {
    /// The token's `jti`, when it has one.
    pub fn jti(&self) -> Option<&str> {
        match &self.replay_key {
            ReplayKey::Jti(jti) => Some(jti),
            ReplayKey::Digest(_) => None,
        }
    }
}

impl TrustedJwtValidator {
    /// From the plugin's JSON configuration: the host's `[oauth.grant_type.jwt]` settings merged
    /// into the registration's properties.
    pub fn from_config(config: Value) -> Result<Self, String> {
        Ok(TrustedJwtValidator {
            settings: Settings::from_json(config)?,
            prepared_keys: PreparedKeys::default(),
            providers: providers::Providers::default(),
        })
    }

    /// Rules 1-7 for `token`, a compact JWS from the request's tenant's identity providers:
    /// shape, header, issuer (an enabled provider, its service-account binding to the request's
    /// client), `exp`, signature, claim mappings, subject and audience (the token endpoint, the
    /// tenant's issuer, the provider's aliases), the time window, the scope claim, the claim
    /// transformer, and the subject the provider allows. `requested_scope` is the request's
    /// `scope` parameter; it is read (`invalid_scope` when malformed) where rule 7 needs it.
    pub fn validate(
        &self,
        host: &Host<'_>,
        request: &GrantRequest,
        token: &str,
        requested_scope: Option<&str>,
    ) -> Result<ValidatedJwt, GrantResult> {
        let now = request.metadata.now;

        // 1. One token, bounded, a compact JWS.
        let parsed =
            assertion::parse(token, self.settings.max_assertion_bytes).map_err(invalid_grant)?;

        // 2. An asymmetric algorithm, no critical extensions; key pointers ignored.
        let header = header::check_header(&parsed.header).map_err(invalid_grant)?;
        if !header.ignored_key_pointers.is_empty() {
            host.log_debug(&format!(
                "ignored key-pointing header parameters: {}",
                header.ignored_key_pointers.join(", ")
            ));
        }
        // An access token (RFC 9068) is for a resource server, never an assertion: one whose
        // audience names this server is still a bearer token someone else was given.
        if header.typ.as_deref() == Some(ACCESS_TOKEN_TYP) {
            return Err(invalid_grant(
                "the assertion is an access token (typ at+jwt), not an assertion",
            ));
        }
        let registered = claims::read(&parsed.claims).map_err(invalid_grant)?;

        // 3. The issuer is a trusted identity provider of this tenant, and enabled.
        let issuer = registered
            .iss
            .as_deref()
            .ok_or_else(|| invalid_grant("the assertion has no iss claim"))?;
        let found = find_provider(&self.providers, host, issuer)?;
        let provider = found.info.clone();
        check_binding(&provider, &request.client)?;
        let skew = provider.clock_skew_seconds.clamp(0, MAX_CLOCK_SKEW_SECONDS);

        // 6 (first part, see the crate comment). Expired tokens go no further.
        validity::check_expiry(registered.exp, now, skew).map_err(invalid_grant)?;

        // 4. The signature, with the provider's keys.
        verify::verify_signature(host, &self.prepared_keys, &found, &header, &parsed)?;

        // An ID-JAG is for the one client its `client_id` names (as signed, before mappings).
        if header.typ.as_deref() == Some(ID_JAG_TYP) {
            check_id_jag_client(&parsed.claims, &request.client.client_id)?;
        }

        // The provider's claim mappings, on verified claims, before anything reads them.
        let mut claims = claim_mappings::apply(parsed.claims, &provider.claim_mappings);

        // 5. Subject and audience. A service account's token without `sub` is for the client it
        // stands for.
        if !claims.contains_key("sub") {
            if let Some(bound) = &provider.service_account_client {
                claims.insert("sub".into(), Value::String(bound.clone()));
            }
        }
        if registered.sub.is_none() && provider.service_account_client.is_none() {
            return Err(invalid_grant("the assertion has no sub claim"));
        }
        let audiences = registered
            .aud
            .as_deref()
            .ok_or_else(|| invalid_grant("the assertion has no aud claim"))?;
        let accepted = audience::accepted_audiences(
            &request.metadata.token_endpoint,
            &request.metadata.issuer,
            &provider.aliases,
        );
        audience::check_audience(audiences, &accepted).map_err(invalid_grant)?;

        // 6. The rest of the time window.
        let times = TimeClaims {
            exp: registered.exp,
            nbf: registered.nbf,
            iat: registered.iat,
        };
        validity::check_window(times, now, skew, &self.settings).map_err(invalid_grant)?;
        let expires_at = registered.exp.unwrap_or(now);

        // 7. The provider's claim transformer, on a token that passed every check so far.
        let requested = scopes::requested(requested_scope)?;
        let asserted = match &provider.scope_claim {
            Some(claim) => scopes::from_claim(&claims, claim)?,
            None => None,
        };
        let requested = scopes::within_assertion(requested, asserted)?;
        let transformed = transformer::apply(host, &provider, claims, requested.as_deref())?;
        let claims = transformed.claims;
        let subject = subject_of(&claims, &provider)?;

        // What rule 8 records, read now so that the token itself is not kept.
        let replay_key = match registered.jti {
            Some(jti) => ReplayKey::Jti(jti),
            None => ReplayKey::Digest(replay_key_of(token)),
        };
        Ok(ValidatedJwt {
            issuer: issuer.to_owned(),
            provider,
            claims,
            subject,
            expires_at,
            // The transformer's scopes, when it chose some, stand for the request's.
            scopes: transformed.scopes.or(requested),
            header_typ: header.typ,
            replay_key,
            keep_until: expires_at.saturating_add(skew),
        })
    }

    /// Rule 8: one use per token, on every node: its `jti`, or a digest of the signed token when
    /// it has none (for an assertion-only request the token is the only credential), staged
    /// through the host's replay cache until `exp` plus skew. Call it last, after every refusal
    /// the grant may still give, so that a refused request does not use the token up.
    pub fn record_use(&self, host: &Host<'_>, validated: &ValidatedJwt) -> Result<(), GrantResult> {
        let jti = match &validated.replay_key {
            ReplayKey::Jti(jti) => jti,
            ReplayKey::Digest(_) if self.settings.require_jti => {
                return Err(invalid_grant(
                    "the assertion has no jti claim, which this server requires (require_jti)",
                ))
            }
            ReplayKey::Digest(digest) => digest,
        };
        if jti.len() > MAX_JTI_LEN {
            return Err(invalid_grant(format!(
                "the assertion's jti is longer than {MAX_JTI_LEN} bytes"
            )));
        }
        match host.record_jti(&validated.issuer, jti, validated.keep_until) {
            HostReply::Ok(()) => Ok(()),
            HostReply::Conflict => Err(invalid_grant(replayed_assertion(jti))),
            HostReply::NotConfigured => Err(server_error(
                "the host offers no replay cache; an assertion with a jti cannot be accepted safely",
            )),
            HostReply::NotFound | HostReply::Failed(_) => {
                Err(server_error("the replay cache could not record the jti"))
            }
        }
    }
}

fn invalid_grant(description: impl Into<String>) -> GrantResult {
    GrantResult::invalid_grant(description)
}

fn server_error(description: impl Into<String>) -> GrantResult {
    GrantResult::error("server_error", description)
}

/// The replay key of a token without `jti`: a digest of the whole signed token, in a
/// name space of its own (`assertion-sha256:`).
fn replay_key_of(assertion: &str) -> String {
    use std::fmt::Write;
    let digest = openssl::sha::sha256(assertion.as_bytes());
    let mut key = String::from(DIGEST_REPLAY_KEY_PREFIX);
    for byte in digest {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

/// A provider bound to a client (service-account style) speaks for that client only; a request
/// with no client authentication is accepted only through such a binding (RFC 6749 5.2:
/// `invalid_client`).
fn check_binding(provider: &IdentityProviderInfo, client: &ClientInfo) -> Result<(), GrantResult> {
    let assertion_only = client.authentication == ClientAuthentication::Assertion;
    match &provider.service_account_client {
        Some(bound) if *bound == client.client_id => Ok(()),
        _ if assertion_only => Err(GrantResult::error(
            "invalid_client",
            "client authentication is required",
        )),
        Some(_) => Err(invalid_grant(format!(
            "identity provider '{}' is a service account of another client",
            provider.name
        ))),
        None => Ok(()),
    }
}

/// The subject: `sub` after the mappings and the transformer, which the provider must allow.
fn subject_of(
    claims: &serde_json::Map<String, serde_json::Value>,
    provider: &IdentityProviderInfo,
) -> Result<String, GrantResult> {
    let subject = match claims.get("sub") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(invalid_grant(format!(
                "the claim mappings and transformer of identity provider '{}' leave no usable sub claim",
                provider.name
            )))
        }
    };
    // A service account is always itself (its client id or its issuer); naming anyone else is
    // delegation, which the operator must list (`--allowed-subject`).
    let itself = provider
        .service_account_client
        .as_ref()
        .is_some_and(|bound| subject == *bound || subject == provider.issuer);
    match (&provider.allowed_subjects, &provider.service_account_client) {
        _ if itself => Ok(subject),
        (Some(allowed), _) if !allowed.contains(&subject) => Err(invalid_grant(format!(
            "subject '{}' is not allowed by identity provider '{}'",
            shown(&subject),
            provider.name
        ))),
        (None, Some(bound)) => Err(invalid_grant(format!(
            "service account '{}' may assert only itself (no sub, or sub {} or {}); subject '{}' \
             is not among the subjects it may act for (--allowed-subject)",
            provider.name,
            shown(bound),
            shown(&provider.issuer),
            shown(&subject)
        ))),
        _ => Ok(subject),
    }
}

fn find_provider(
    providers: &providers::Providers,
    host: &Host<'_>,
    issuer: &str,
) -> Result<Arc<providers::Provider>, GrantResult> {
    match providers.find(host, issuer) {
        HostReply::Ok(provider) if provider.info.enabled => Ok(provider),
        HostReply::Ok(provider) => Err(invalid_grant(format!(
            "identity provider '{}' (issuer {}) is disabled",
            provider.info.name,
            shown(issuer)
        ))),
        HostReply::NotFound => Err(invalid_grant(format!(
            "No registered identity provider found for the JWT with issuer name : {}",
            shown(issuer)
        ))),
        HostReply::NotConfigured | HostReply::Conflict => {
            Err(server_error("the host offers no identity provider lookup"))
        }
        HostReply::Failed(e) => Err(server_error(format!(
            "identity provider lookup failed: {e}"
        ))),
    }
}

/// A value from a token as a refusal's description may show it: escaped and bounded.
pub fn shown(value: &str) -> String {
    const MAX_SHOWN_CHARS: usize = 200;
    let escaped: String = value.escape_default().collect();
    if escaped.chars().count() > MAX_SHOWN_CHARS {
        let cut: String = escaped.chars().take(MAX_SHOWN_CHARS).collect();
        format!("{cut}...")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests;

/// An RFC 9068 access token's `typ` (as the header check gives it: lowercase, without
/// `application/`).
const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// An ID-JAG names the client it was issued for (`client_id`): only that client may use it, with
/// any grant that reads it.
fn check_id_jag_client(claims: &Map<String, Value>, client_id: &str) -> Result<(), GrantResult> {
    match claims.get("client_id").and_then(Value::as_str) {
        Some(named) if named == client_id => Ok(()),
        Some(named) => Err(invalid_grant(format!(
            "the ID-JAG is for client '{}', not this one",
            shown(named)
        ))),
        None => Err(invalid_grant("the ID-JAG has no client_id claim")),
    }
}
