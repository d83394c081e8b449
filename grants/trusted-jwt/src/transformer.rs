//! The identity provider's claim transformer, run by the host on the verified, mapped claims. It
//! may refuse the assertion (its message becomes the `invalid_grant` description), choose the
//! subject and the scopes; the claims the grant validated come back unchanged (the host sees to
//! it).

use grantor_sdk::{
    ClaimsTransformRequest, GrantResult, Host, HostReply, IdentityProviderInfo, TransformedClaims,
};
use serde_json::{Map, Value};

use crate::{invalid_grant, server_error};

/// The claims as the transformer left them, with its choices of subject and scopes; the claims
/// unchanged when the provider has no transformer.
pub fn apply(
    host: &Host<'_>,
    provider: &IdentityProviderInfo,
    claims: Map<String, Value>,
    requested_scopes: Option<&[String]>,
) -> Result<TransformedClaims, GrantResult> {
    if !provider.claim_transformer {
        return Ok(TransformedClaims {
            claims,
            subject: None,
            scopes: None,
            rejected: None,
        });
    }
    let request = ClaimsTransformRequest {
        issuer: provider.issuer.clone(),
        claims,
        requested_scopes: requested_scopes.unwrap_or_default().to_vec(),
    };
    match host.transform_claims(&request) {
        HostReply::Ok(TransformedClaims {
            rejected: Some(message),
            ..
        }) => Err(invalid_grant(message)),
        HostReply::Ok(transformed) => Ok(transformed),
        HostReply::Failed(why) => Err(server_error(format!(
            "the claim transformer of identity provider '{}' failed: {why}",
            provider.name
        ))),
        HostReply::NotConfigured | HostReply::NotFound | HostReply::Conflict => {
            // The provider said it has a transformer: never skip it silently.
            Err(server_error(format!(
                "the claim transformer of identity provider '{}' could not be run",
                provider.name
            )))
        }
    }
}
