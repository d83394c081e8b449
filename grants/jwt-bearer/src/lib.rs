//! Grantor's JWT bearer grant (RFC 7523 2.1, 3; RFC 8725): a client presents a JWT signed by an
//! identity provider its tenant trusts, and obtains an access token for the JWT's subject.
//!
//! The assertion is validated by `grantor-trusted-jwt` (rules 1-8 of `grants/README.md`, shared
//! with the token exchange grant); this plugin reads the request's parameters, narrows the scopes
//! (rule 9) before the assertion's one use is recorded, and makes the grant (rule 10).

// Refusals are `GrantResult`s, the SDK's answer type, returned once per refused request: its
// size (ABI 1.1's result fields made it grow) costs nothing worth boxing it for.
#![allow(clippy::result_large_err)]

use grantor_sdk::{
    AuthorizedGrant, ClientAuthentication, GrantHandler, GrantRequest, GrantResult, Host,
};
use grantor_trusted_jwt::{scopes, TrustedJwtValidator};

pub struct JwtBearerGrant {
    validator: TrustedJwtValidator,
}

impl GrantHandler for JwtBearerGrant {
    fn create(config: serde_json::Value) -> Result<Self, String> {
        Ok(JwtBearerGrant {
            validator: TrustedJwtValidator::from_config(config)?,
        })
    }

    fn handle(&self, host: &Host<'_>, request: GrantRequest) -> GrantResult {
        match self.decide(host, &request) {
            Ok(grant) => GrantResult::Granted(grant),
            Err(refusal) => refusal,
        }
    }
}

grantor_sdk::export_grant_plugin! {
    handler: JwtBearerGrant,
    name: "grant-jwt-bearer",
    version: env!("CARGO_PKG_VERSION"),
    // The literal is required here (the macro builds a C string from it); it is JWT_BEARER.
    grant_types: ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
}

impl JwtBearerGrant {
    fn decide(
        &self,
        host: &Host<'_>,
        request: &GrantRequest,
    ) -> Result<AuthorizedGrant, GrantResult> {
        // 1. One assertion. (The host refuses repeated parameters.)
        let assertion = match request.params.get("assertion") {
            Some(text) if !text.is_empty() => text,
            _ => {
                return Err(GrantResult::error(
                    "invalid_request",
                    "missing parameter: assertion",
                ))
            }
        };

        // 1-7. The assertion, from a trusted identity provider of this tenant.
        let validated = self.validator.validate(
            host,
            request,
            assertion,
            request.params.get("scope").map(String::as_str),
        )?;

        // 9 before 8: a request refused for its scopes must not use up its assertion.
        let granted = scopes::grant(
            validated.scopes.as_deref(),
            &request.client.allowed_scopes,
            validated.provider.allowed_scopes.as_deref(),
        )?;

        // Who acts for the subject, as the provider said (a chained token
        // exchange's): kept, and refused when malformed (a delegated token must never pass for
        // the subject's own), before the assertion is used up.
        let act = match validated.claims.get("act") {
            None => None,
            Some(act) => {
                grantor_sdk::act::check_act(act).map_err(|why| {
                    GrantResult::invalid_grant(format!("the assertion's act claim: {why}"))
                })?;
                Some(act.clone())
            }
        };

        // 8. One use per assertion, on every node.
        self.validator.record_use(host, &validated)?;

        // 10. The grant.
        Ok(AuthorizedGrant {
            subject: validated.subject,
            scopes: granted,
            claims: validated.claims,
            // Refreshing needs client credentials a service account's request did not give.
            refresh_token_allowed: request.client.authentication
                == ClientAuthentication::Credentials,
            // The provider whose keys verified the assertion: its refresh tokens stop with it.
            identity_provider: Some(validated.issuer),
            act,
            ..AuthorizedGrant::default()
        })
    }
}
