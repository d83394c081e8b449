//! Grantor's JWT bearer grant (RFC 7523 2.1, 3; RFC 8725): a client presents a JWT signed by an
//! identity provider its tenant trusts, and obtains an access token for the JWT's subject.
//!
//! The checks run in the order of the grant's numbered rules (see `grants/README.md`), with one
//! deliberate exception: `exp` is checked before the signature, since it is cheap and does not
//! depend on keys (an expired assertion is refused whoever signed it). Every refusal is
//! `invalid_grant` with a precise description that never repeats the assertion itself.

use grantor_sdk::{
    AuthorizedGrant, ClientAuthentication, GrantHandler, GrantRequest, GrantResult, Host,
};

use grantor_trusted_jwt::settings::Settings;
use grantor_trusted_jwt::validity::{self, TimeClaims};
use grantor_trusted_jwt::{
    assertion, audience, check_binding, claim_mappings, claims, find_provider, header,
    invalid_grant, scopes, subject_of, transformer, verify,
};

use grantor_jose::PreparedKeys;
/// Longest clock skew honoured, whatever an identity provider is configured with.
use grantor_sdk::jwt_bearer::MAX_CLOCK_SKEW_SECONDS;

pub struct JwtBearerGrant {
    settings: Settings,
    /// The identity providers' keys, each parsed once.
    prepared_keys: PreparedKeys,
}

impl GrantHandler for JwtBearerGrant {
    fn create(config: serde_json::Value) -> Result<Self, String> {
        Ok(JwtBearerGrant {
            settings: Settings::from_json(config)?,
            prepared_keys: PreparedKeys::default(),
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
        let now = request.metadata.now;

        // 1. One assertion, bounded, a compact JWS. (The host refuses repeated parameters.)
        let text = match request.params.get("assertion") {
            Some(text) if !text.is_empty() => text,
            _ => {
                return Err(GrantResult::error(
                    "invalid_request",
                    "missing parameter: assertion",
                ))
            }
        };
        let parsed =
            assertion::parse(text, self.settings.max_assertion_bytes).map_err(invalid_grant)?;

        // 2. An asymmetric algorithm, no critical extensions; key pointers ignored.
        let header = header::check_header(&parsed.header).map_err(invalid_grant)?;
        if !header.ignored_key_pointers.is_empty() {
            host.log_debug(&format!(
                "ignored key-pointing header parameters: {}",
                header.ignored_key_pointers.join(", ")
            ));
        }
        let registered = claims::read(&parsed.claims).map_err(invalid_grant)?;

        // 3. The issuer is a trusted identity provider of this tenant, and enabled.
        let issuer = registered
            .iss
            .as_deref()
            .ok_or_else(|| invalid_grant("the assertion has no iss claim"))?;
        let provider = find_provider(host, issuer)?;
        check_binding(&provider, &request.client)?;
        let skew = provider.clock_skew_seconds.clamp(0, MAX_CLOCK_SKEW_SECONDS);

        // 6 (first part, see the crate comment). Expired assertions go no further.
        validity::check_expiry(registered.exp, now, skew).map_err(invalid_grant)?;

        // 4. The signature, with the provider's keys.
        verify::verify_signature(host, &self.prepared_keys, &provider, &header, &parsed)?;

        // The provider's claim mappings, on verified claims, before anything reads them.
        let mut claims = claim_mappings::apply(parsed.claims, &provider.claim_mappings);

        // 5. Subject and audience. A service account's assertion without `sub` is for the
        // client it stands for.
        if !claims.contains_key("sub") {
            if let Some(bound) = &provider.service_account_client {
                claims.insert("sub".into(), serde_json::Value::String(bound.clone()));
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
        let exp = registered.exp.unwrap_or(now);

        // 7. The provider's claim transformer, on an assertion that passed every check so far.
        let requested = scopes::requested(request.params.get("scope").map(String::as_str))?;
        let asserted = match &provider.scope_claim {
            Some(claim) => scopes::from_claim(&claims, claim)?,
            None => None,
        };
        let requested = scopes::within_assertion(requested, asserted)?;
        let transformed = transformer::apply(host, &provider, claims, requested.as_deref())?;
        let claims = transformed.claims;
        let subject = subject_of(&claims, &provider)?;

        // 9 before 8: a request refused for its scopes must not use up its assertion. The
        // transformer's scopes, when it chose some, stand for the request's.
        let granted = scopes::grant(
            transformed.scopes.as_deref().or(requested.as_deref()),
            &request.client.allowed_scopes,
            provider.allowed_scopes.as_deref(),
        )?;

        // 8. One use per assertion, on every node: its jti, or a digest of the signed assertion
        // when it has none (for an assertion-only request the assertion is the only credential).
        grantor_trusted_jwt::record_use(
            &self.settings,
            host,
            issuer,
            registered.jti.as_deref(),
            text,
            exp.saturating_add(skew),
        )?;

        // 10. The grant.
        Ok(AuthorizedGrant {
            subject,
            scopes: granted,
            claims,
            // Refreshing needs client credentials a service account's request did not give.
            refresh_token_allowed: request.client.authentication
                == ClientAuthentication::Credentials,
            // The provider whose keys verified the assertion: its refresh tokens stop with it.
            identity_provider: Some(issuer.to_owned()),
        })
    }
}
