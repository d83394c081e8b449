//! Grantor's JWT bearer grant (RFC 7523 2.1, 3; RFC 8725): a client presents a JWT signed by an
//! identity provider its tenant trusts, and obtains an access token for the JWT's subject.
//!
//! The checks run in the order of the grant's numbered rules (see `grants/README.md`), with one
//! deliberate exception: `exp` is checked before the signature, since it is cheap and does not
//! depend on keys (an expired assertion is refused whoever signed it). Every refusal is
//! `invalid_grant` with a precise description that never repeats the assertion itself.

mod assertion;
mod audience;
mod claim_mappings;
mod claims;
mod header;
mod scopes;
mod settings;
mod transformer;
mod validity;
mod verify;

use grantor_sdk::{
    AuthorizedGrant, ClientAuthentication, ClientInfo, GrantHandler, GrantRequest, GrantResult,
    Host, HostReply, IdentityProviderInfo,
};

use settings::Settings;
use validity::TimeClaims;

use grantor_jose::{PreparedKeys, MAX_JTI_LEN};
/// Longest clock skew honoured, whatever an identity provider is configured with.
use grantor_sdk::jwt_bearer::{
    replayed_assertion, DIGEST_REPLAY_KEY_PREFIX, MAX_CLOCK_SKEW_SECONDS,
};

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

fn invalid_grant(description: impl Into<String>) -> GrantResult {
    GrantResult::invalid_grant(description)
}

fn server_error(description: impl Into<String>) -> GrantResult {
    GrantResult::error("server_error", description)
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
        self.record_use(
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
            ..AuthorizedGrant::default()
        })
    }

    fn record_use(
        &self,
        host: &Host<'_>,
        issuer: &str,
        jti: Option<&str>,
        assertion: &str,
        keep_until: i64,
    ) -> Result<(), GrantResult> {
        let digest;
        let jti = match jti {
            Some(jti) => jti,
            None if self.settings.require_jti => {
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
}

/// The replay key of an assertion without `jti`: a digest of the whole signed assertion, in a
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

fn find_provider(host: &Host<'_>, issuer: &str) -> Result<IdentityProviderInfo, GrantResult> {
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
pub(crate) fn shown(value: &str) -> String {
    const MAX_SHOWN_CHARS: usize = 200;
    let escaped: String = value.escape_default().collect();
    if escaped.chars().count() > MAX_SHOWN_CHARS {
        let cut: String = escaped.chars().take(MAX_SHOWN_CHARS).collect();
        format!("{cut}...")
    } else {
        escaped
    }
}
