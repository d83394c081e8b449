//! Service-account style requests (RFC 7523 2.1 as Google's libraries send them): a JWT bearer
//! request with no client authentication at all, whose assertion's issuer is an identity provider
//! bound to a client of the tenant (`idp add --service-account-client`). The host reads the
//! assertion's `iss` *unverified*, only to find which client the request claims to be; the plugin
//! then verifies the assertion with that provider's keys and checks the binding. Any other request
//! without client authentication stays `invalid_client`.

use std::sync::Arc;

use super::error::OAuthError;
use super::wire::TokenRequest;
use crate::config::JWT_BEARER_GRANT_TYPE;
use crate::store::{Client, Store};

const AUTHENTICATION_REQUIRED: &str = "client authentication is required";

/// The client a request without credentials stands for, or `invalid_client`.
pub fn client_named_by_assertion(
    store: &Store,
    tenant: &str,
    grant_type: &str,
    request: &TokenRequest,
    max_assertion_bytes: usize,
) -> Result<Arc<Client>, OAuthError> {
    let refuse = || OAuthError::invalid_client(AUTHENTICATION_REQUIRED);
    if grant_type != JWT_BEARER_GRANT_TYPE {
        return Err(refuse());
    }
    let issuer = request
        .param("assertion")
        .and_then(|assertion| unverified_claim(assertion, "iss", max_assertion_bytes))
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

/// A string claim of a compact JWS, read without verifying anything (only to find whose keys
/// verify it); `None` for anything malformed, too large, or a claim that is absent, empty or not a
/// string.
fn unverified_claim(jws: &str, claim: &str, max_bytes: usize) -> Option<String> {
    let jws = grantor_jose::Jws::parse(jws, max_bytes).ok()?;
    jws.string_claim(claim).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn jws(payload: &str) -> String {
        format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn reads_only_a_string_claim_of_a_well_formed_jws() {
        assert_eq!(
            unverified_claim(&jws(r#"{"iss":"https://sa.example","x":1}"#), "iss", 4096).as_deref(),
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
            assert_eq!(unverified_claim(&bad, "iss", 4096), None, "{bad}");
        }
        assert_eq!(unverified_claim(&jws(r#"{"iss":"a"}"#), "iss", 10), None);
        assert_eq!(
            unverified_claim(&jws(r#"{"iss":"a","sub":"b"}"#), "sub", 4096).as_deref(),
            Some("b")
        );
    }
}
