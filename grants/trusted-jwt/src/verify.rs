//! Rule 4 of the grant: the signature, verified with the identity provider's keys as the host
//! gives them (JWKs): by `kid` when the header names a known key, else each key that fits the
//! algorithm in turn (`grantor_jose`'s key/algorithm fit and verification, each key parsed once
//! across requests). Certificates come with the provider (`certificate_keys`); only a JWKS
//! endpoint's keys need the `host_get_verification_keys` callback.

use std::sync::Arc;

use grantor_jose::{CheckedHeader, Jws, PreparedKeys, Verification};
use grantor_sdk::wire::keys_for_kid;
use grantor_sdk::{GrantResult, Host, HostReply, IdentityProviderInfo, VerificationKeys};

use crate::providers::Provider;
use crate::{invalid_grant, server_error};

pub fn verify_signature(
    host: &Host<'_>,
    prepared: &PreparedKeys,
    found: &Provider,
    header: &CheckedHeader,
    parsed: &Jws<'_>,
) -> Result<(), GrantResult> {
    let provider = &found.info;
    let keys = match &found.certificate_keys {
        Some(keys) => keys_for_kid(keys.clone(), header.kid.as_deref()),
        None => keys_from_host(host, provider, header)?
            .into_iter()
            .map(Arc::new)
            .collect(),
    };
    verify_with(prepared, keys, provider, header, parsed)
}

fn keys_from_host(
    host: &Host<'_>,
    provider: &IdentityProviderInfo,
    header: &CheckedHeader,
) -> Result<Vec<serde_json::Value>, GrantResult> {
    Ok(
        match host
            .get_verification_keys::<VerificationKeys>(&provider.issuer, header.kid.as_deref())
        {
            HostReply::Ok(VerificationKeys {
                unavailable: Some(reason),
                ..
            }) => {
                return Err(GrantResult::error(
                    "temporarily_unavailable",
                    format!(
                        "the keys of identity provider '{}' cannot be obtained: {reason}",
                        provider.name
                    ),
                ))
            }
            HostReply::Ok(keys) => keys.keys,
            HostReply::NotConfigured => {
                return Err(invalid_grant(format!(
                    "identity provider '{}' has no verification keys configured",
                    provider.name
                )))
            }
            HostReply::NotFound => {
                return Err(invalid_grant(format!(
                    "identity provider '{}' has no key with kid '{}'",
                    provider.name,
                    crate::shown(header.kid.as_deref().unwrap_or_default())
                )))
            }
            HostReply::Conflict | HostReply::Failed(_) => {
                return Err(server_error(
                    "the identity provider's keys could not be read",
                ))
            }
        },
    )
}

fn verify_with(
    prepared: &PreparedKeys,
    keys: Vec<Arc<serde_json::Value>>,
    provider: &IdentityProviderInfo,
    header: &CheckedHeader,
    parsed: &Jws<'_>,
) -> Result<(), GrantResult> {
    let alg = header.algorithm.name();
    match prepared.verify(parsed, header.algorithm, &keys) {
        Verification::Verified => Ok(()),
        Verification::NoFittingKey => {
            let types: Vec<&str> = keys.iter().filter_map(|k| k["kty"].as_str()).collect();
            Err(invalid_grant(format!(
                "identity provider '{}' has no key for alg {alg} (its keys: {}){}",
                provider.name,
                if types.is_empty() {
                    "none".to_owned()
                } else {
                    types.join(", ")
                },
                expired_note(provider)
            )))
        }
        Verification::BadSignature => Err(invalid_grant(format!(
            "the assertion's signature ({alg}) does not verify with the keys of identity provider '{}'{}",
            provider.name,
            expired_note(provider)
        ))),
    }
}

/// Why a key the operator registered was not tried: its certificate is past `notAfter`.
fn expired_note(provider: &IdentityProviderInfo) -> String {
    if provider.expired_certificates.is_empty() {
        String::new()
    } else {
        format!(
            "; not used, being past their validity: {}",
            provider.expired_certificates.join("; ")
        )
    }
}
