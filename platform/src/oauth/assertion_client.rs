//! Service-account style requests (RFC 7523 2.1 as Google's libraries send them): a JWT bearer
//! request with no client authentication at all, whose assertion's issuer is an identity provider
//! bound to a client of the tenant (`idp add --service-account-client`). The host reads the
//! assertion's `iss` *unverified*, only to find which client the request claims to be; the plugin
//! then verifies the assertion with that provider's keys and checks the binding. Any other request
//! without client authentication stays `invalid_client`.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use super::error::OAuthError;
use super::wire::TokenRequest;
use crate::config::JWT_BEARER_GRANT_TYPE;
use crate::store::{ServiceProvider, Store};

const AUTHENTICATION_REQUIRED: &str = "client authentication is required";

#[derive(Deserialize)]
struct IssuerOnly {
    iss: Option<serde_json::Value>,
}

/// The client a request without credentials stands for, or `invalid_client`.
pub fn client_named_by_assertion(
    store: &Store,
    tenant: &str,
    grant_type: &str,
    request: &TokenRequest,
    max_assertion_bytes: usize,
) -> Result<Arc<ServiceProvider>, OAuthError> {
    let refuse = || OAuthError::invalid_client(AUTHENTICATION_REQUIRED);
    if grant_type != JWT_BEARER_GRANT_TYPE {
        return Err(refuse());
    }
    let issuer = request
        .param("assertion")
        .and_then(|assertion| unverified_issuer(assertion, max_assertion_bytes))
        .ok_or_else(refuse)?;
    let Some(provider) = store.cached_identity_provider(tenant, &issuer)? else {
        return Err(refuse());
    };
    let Some(client_id) = provider
        .service_account_client
        .as_deref()
        .filter(|_| provider.enabled)
    else {
        return Err(refuse());
    };
    store.cached_client(tenant, client_id)?.ok_or_else(|| {
        tracing::warn!(
            tenant,
            provider = %provider.name,
            client_id,
            "service-account identity provider is bound to a client that no longer exists"
        );
        refuse()
    })
}

/// The `iss` of a compact JWS, without verifying anything; `None` for anything malformed.
fn unverified_issuer(assertion: &str, max_bytes: usize) -> Option<String> {
    if assertion.len() > max_bytes {
        return None;
    }
    let mut parts = assertion.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice::<IssuerOnly>(&json).ok()?.iss? {
        serde_json::Value::String(iss) if !iss.is_empty() => Some(iss),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jws(payload: &str) -> String {
        format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn reads_only_a_string_issuer_of_a_well_formed_jws() {
        assert_eq!(
            unverified_issuer(&jws(r#"{"iss":"https://sa.example","x":1}"#), 4096).as_deref(),
            Some("https://sa.example")
        );
        for bad in [
            jws(r#"{"iss":7}"#),
            jws(r#"{"iss":""}"#),
            jws(r#"{"sub":"a"}"#),
            jws("not json"),
            format!("{}.extra", jws(r#"{"iss":"a"}"#)),
            "one.two".to_owned(),
            "e30.!!!.c2ln".to_owned(),
        ] {
            assert_eq!(unverified_issuer(&bad, 4096), None, "{bad}");
        }
        assert_eq!(unverified_issuer(&jws(r#"{"iss":"a"}"#), 10), None);
    }
}
