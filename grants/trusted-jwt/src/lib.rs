//! `grantor-trusted-jwt`: the validation of a JWT signed by an identity provider a tenant trusts
//! (RFC 7523 2.1, 3; RFC 8725), moved out of the JWT bearer grant so that every grant reading such
//! a token validates it the same way.
//!
//! The checks run in the order of the JWT bearer grant's numbered rules (see
//! `grants/README.md`), with one deliberate exception: `exp` is checked before the signature,
//! since it is cheap and does not depend on keys (an expired token is refused whoever signed it).
//! Every refusal is `invalid_grant` with a precise description that never repeats the token
//! itself.

pub mod assertion;
pub mod audience;
pub mod claim_mappings;
pub mod claims;
pub mod header;
pub mod scopes;
pub mod settings;
pub mod transformer;
pub mod validity;
pub mod verify;

use grantor_sdk::{
    ClientAuthentication, ClientInfo, GrantResult, Host, HostReply, IdentityProviderInfo,
};

use settings::Settings;

use grantor_jose::MAX_JTI_LEN;
use grantor_sdk::jwt_bearer::{replayed_assertion, DIGEST_REPLAY_KEY_PREFIX};

pub fn invalid_grant(description: impl Into<String>) -> GrantResult {
    GrantResult::invalid_grant(description)
}

pub fn server_error(description: impl Into<String>) -> GrantResult {
    GrantResult::error("server_error", description)
}

pub fn record_use(
    settings: &Settings,
    host: &Host<'_>,
    issuer: &str,
    jti: Option<&str>,
    assertion: &str,
    keep_until: i64,
) -> Result<(), GrantResult> {
    let digest;
    let jti = match jti {
        Some(jti) => jti,
        None if settings.require_jti => {
            return Err(invalid_grant(
                "the assertion has no jti claim, which this server requires (require_jti)",
            ))
        }
        None => {
            digest = replay_key_of(assertion);
            &digest
        }
    };
    if jti.len() > MAX_JTI_LEN {
        return Err(invalid_grant(format!(
            "the assertion's jti is longer than {MAX_JTI_LEN} bytes"
        )));
    }
    match host.record_jti(issuer, jti, keep_until) {
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

/// The replay key of an assertion without `jti`: a digest of the whole signed assertion, in a
/// name space of its own (`assertion-sha256:`).
pub fn replay_key_of(assertion: &str) -> String {
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
pub fn check_binding(
    provider: &IdentityProviderInfo,
    client: &ClientInfo,
) -> Result<(), GrantResult> {
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
pub fn subject_of(
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

pub fn find_provider(host: &Host<'_>, issuer: &str) -> Result<IdentityProviderInfo, GrantResult> {
    match host.find_identity_provider::<IdentityProviderInfo>(issuer) {
        HostReply::Ok(provider) if provider.enabled => Ok(provider),
        HostReply::Ok(provider) => Err(invalid_grant(format!(
            "identity provider '{}' (issuer {}) is disabled",
            provider.name,
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

/// A value from the assertion as a description may show it: escaped and bounded.
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
