//! Identity providers (trusted token issuers): registered, changed in place, listed, removed,
//! enabled and disabled.

use std::collections::BTreeMap;

use grantor_sdk::jwt_bearer::MAX_CLOCK_SKEW_SECONDS;

use super::{audited, ProvisioningError, Result};
use super::{check_jwks_uri, check_scopes, check_text, field, normalise_keys};
use crate::audit::{certificates_summary, Actor, Change};
use crate::oauth::context::OAuthContext;
use crate::store::{IdentityProvider, NotFound, StoreError};

/// Allowed clock skew of a new provider, in seconds.
pub const DEFAULT_CLOCK_SKEW_SECONDS: u32 = 60;

/// Claim mappings given as `REMOTE=LOCAL` pairs (the command line's flags, the console's lines),
/// each remote claim mapped once; what may be mapped is checked when the provider is.
pub fn parse_claim_mappings(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let invalid = |message: String| ProvisioningError::invalid(field::CLAIM_MAPPINGS, message);
    let mut mappings = BTreeMap::new();
    for pair in pairs {
        let Some((remote, local)) = pair.split_once('=') else {
            return Err(invalid(format!("'{pair}': expected REMOTE=LOCAL")));
        };
        let (remote, local) = (remote.trim(), local.trim());
        if remote.is_empty() || local.is_empty() {
            return Err(invalid(format!("'{pair}': both names are required")));
        }
        if mappings
            .insert(remote.to_owned(), local.to_owned())
            .is_some()
        {
            return Err(invalid(format!("'{remote}' is mapped twice")));
        }
    }
    Ok(mappings)
}

/// A provider to register. Certificates are PEM text (the command line also hands over DER).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIdentityProvider {
    pub name: String,
    pub issuer: String,
    #[serde(default)]
    pub certificates: Vec<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub clock_skew: Option<u32>,
    /// None: any subject.
    #[serde(default)]
    pub allowed_subjects: Option<Vec<String>>,
    /// None: the client's scopes.
    #[serde(default)]
    pub allowed_scopes: Option<Vec<String>>,
    /// Remote claim name -> local claim name.
    #[serde(default)]
    pub claim_mappings: BTreeMap<String, String>,
    /// Path of a Rhai claim transformer (resolved against the server's working directory).
    #[serde(default)]
    pub transformer: Option<String>,
    #[serde(default)]
    pub service_account_client: Option<String>,
    #[serde(default)]
    pub scope_claim: Option<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// What a change sets; a field left out is left as it is. For the optional settings, `null`
/// clears them (`"transformer": null` removes the transformer). The issuer is not among them:
/// refresh tokens are tied to it, so another issuer is another provider (remove, then add).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderChange {
    /// New keys: replace the certificates (and drop a JWKS URI).
    #[serde(default, deserialize_with = "not_null")]
    pub certificates: Option<Vec<String>>,
    /// A JWKS URI in place of the certificates.
    #[serde(default, deserialize_with = "not_null")]
    pub jwks_uri: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub aliases: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    pub clock_skew: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    pub allowed_subjects: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub allowed_scopes: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "not_null")]
    pub claim_mappings: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    pub transformer: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub service_account_client: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub scope_claim: Option<Option<String>>,
    /// Disabling revokes the refresh token families its assertions started.
    #[serde(default, deserialize_with = "not_null")]
    pub enabled: Option<bool>,
}

/// A field that may be left out but not given as `null` (nothing to clear): `null` is refused.
fn not_null<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A field given (even as `null`) is `Some`: `null` is `Some(None)`.
fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

impl IdentityProviderChange {
    fn is_empty(&self) -> bool {
        self.certificates.is_none()
            && self.jwks_uri.is_none()
            && self.aliases.is_none()
            && self.clock_skew.is_none()
            && self.allowed_subjects.is_none()
            && self.allowed_scopes.is_none()
            && self.claim_mappings.is_none()
            && self.transformer.is_none()
            && self.service_account_client.is_none()
            && self.scope_claim.is_none()
            && self.enabled.is_none()
    }

    /// The names of the settings this change sets (`field` names, and `enabled`); new keys set
    /// both `certificates` and `jwks_uri`, since each clears the other.
    fn fields_given(&self, new_keys: bool) -> Vec<&'static str> {
        let keys = self.certificates.is_some() || self.jwks_uri.is_some() || new_keys;
        [
            (keys, field::CERTIFICATES.name),
            (keys, field::JWKS_URI.name),
            (self.aliases.is_some(), field::ALIASES.name),
            (self.clock_skew.is_some(), field::CLOCK_SKEW.name),
            (
                self.allowed_subjects.is_some(),
                field::ALLOWED_SUBJECTS.name,
            ),
            (self.allowed_scopes.is_some(), field::ALLOWED_SCOPES.name),
            (self.claim_mappings.is_some(), field::CLAIM_MAPPINGS.name),
            (self.transformer.is_some(), field::TRANSFORMER.name),
            (
                self.service_account_client.is_some(),
                field::SERVICE_ACCOUNT_CLIENT.name,
            ),
            (self.scope_claim.is_some(), field::SCOPE_CLAIM.name),
            (self.enabled.is_some(), ENABLED),
        ]
        .into_iter()
        .filter_map(|(given, name)| given.then_some(name))
        .collect()
    }
}

/// How the admin API names a provider's state.
const ENABLED: &str = "enabled";

/// A provider's settings as its audit entries show them, by the names `field` gives them; its
/// keys summarised (`certificates_summary`).
fn audited_settings(idp: &IdentityProvider) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    [
        (field::ISSUER.name, json!(idp.issuer)),
        (
            field::CERTIFICATES.name,
            certificates_summary(&idp.certificates),
        ),
        (field::JWKS_URI.name, json!(idp.jwks_uri)),
        (field::ALIASES.name, json!(idp.aliases)),
        (field::CLOCK_SKEW.name, json!(idp.clock_skew_seconds)),
        (field::ALLOWED_SUBJECTS.name, json!(idp.allowed_subjects)),
        (field::ALLOWED_SCOPES.name, json!(idp.allowed_scopes)),
        (field::CLAIM_MAPPINGS.name, json!(idp.claim_mappings)),
        (field::TRANSFORMER.name, json!(idp.claim_transformer)),
        (
            field::SERVICE_ACCOUNT_CLIENT.name,
            json!(idp.service_account_client),
        ),
        (field::SCOPE_CLAIM.name, json!(idp.scope_claim)),
        (ENABLED, json!(idp.enabled)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// `keys` are more verification keys (PEM or DER) beside `new.certificates`.
pub fn add(
    app: &OAuthContext,
    tenant: &str,
    new: NewIdentityProvider,
    keys: Vec<Vec<u8>>,
    now: i64,
    actor: &Actor,
) -> Result<IdentityProvider> {
    check_text(field::NAME, &new.name)?;
    check_text(field::ISSUER, &new.issuer)?;
    super::tenants::find(app, tenant)?;
    if let Some(client) = &new.service_account_client {
        check_client(app, tenant, client)?;
    }
    let idp = IdentityProvider {
        tenant_domain: tenant.to_owned(),
        name: new.name,
        issuer: new.issuer,
        aliases: new.aliases,
        certificates: normalise_keys(new.certificates, keys)?,
        jwks_uri: new.jwks_uri,
        enabled: new.enabled,
        clock_skew_seconds: i64::from(new.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS)),
        allowed_subjects: new.allowed_subjects.filter(|s| !s.is_empty()),
        allowed_scopes: new.allowed_scopes.filter(|s| !s.is_empty()),
        created_at: now,
        claim_mappings: new.claim_mappings,
        claim_transformer: new.transformer,
        service_account_client: new.service_account_client,
        scope_claim: new.scope_claim,
    };
    check(app, &idp)?;
    app.store.add_identity_provider(&idp)?;
    audited(
        app,
        actor,
        Change {
            action: "identity_provider.add",
            tenant: Some(tenant.to_owned()),
            target: idp.name.clone(),
            detail: serde_json::Value::Object(audited_settings(&idp)),
        },
        now,
    )?;
    Ok(idp)
}

/// Applies `change` to the named provider in place, with the same checks as `add`: the
/// settings in one write, then enabling or disabling (which revokes in its own transaction).
/// Returns the provider as it is now and the refresh token families revoked (by disabling).
pub fn update(
    app: &OAuthContext,
    tenant: &str,
    name: &str,
    change: IdentityProviderChange,
    keys: Vec<Vec<u8>>,
    now: i64,
    actor: &Actor,
) -> Result<(IdentityProvider, usize)> {
    if change.is_empty() && keys.is_empty() {
        return Err(ProvisioningError::invalid(
            field::CHANGES,
            "nothing to change",
        ));
    }
    if change.jwks_uri.is_some() && (change.certificates.is_some() || !keys.is_empty()) {
        return Err(ProvisioningError::invalid(
            field::JWKS_URI,
            "give certificates or a JWKS URI, not both",
        ));
    }
    let given = change.fields_given(!keys.is_empty());
    let certificates = match change.certificates {
        Some(texts) => Some(normalise_keys(texts, keys)?),
        None if !keys.is_empty() => Some(normalise_keys(Vec::new(), keys)?),
        None => None,
    };
    if let Some(Some(client)) = &change.service_account_client {
        check_client(app, tenant, client)?;
    }
    let mut idp =
        app.store
            .change_identity_provider_settings(tenant, name, |mut idp| -> Result<_> {
                if let Some(certificates) = certificates {
                    idp.certificates = certificates;
                    idp.jwks_uri = None;
                }
                if let Some(uri) = change.jwks_uri {
                    idp.jwks_uri = Some(uri);
                    idp.certificates.clear();
                }
                if let Some(aliases) = change.aliases {
                    idp.aliases = aliases;
                }
                if let Some(skew) = change.clock_skew {
                    idp.clock_skew_seconds = i64::from(skew);
                }
                if let Some(subjects) = change.allowed_subjects {
                    idp.allowed_subjects = subjects.filter(|s| !s.is_empty());
                }
                if let Some(scopes) = change.allowed_scopes {
                    idp.allowed_scopes = scopes.filter(|s| !s.is_empty());
                }
                if let Some(mappings) = change.claim_mappings {
                    idp.claim_mappings = mappings;
                }
                if let Some(transformer) = change.transformer {
                    idp.claim_transformer = transformer;
                }
                if let Some(client) = change.service_account_client {
                    idp.service_account_client = client;
                }
                if let Some(claim) = change.scope_claim {
                    idp.scope_claim = claim;
                }
                check(app, &idp)?;
                Ok(idp)
            })?;
    let revoked = match change.enabled {
        Some(enabled) if enabled != idp.enabled => {
            idp.enabled = enabled;
            app.store
                .set_identity_provider_enabled(tenant, name, enabled, now)?
        }
        _ => 0,
    };
    let mut detail = audited_settings(&idp);
    detail.retain(|name, _| given.contains(&name.as_str()));
    if given.contains(&ENABLED) {
        detail.insert("refresh_token_families_revoked".to_owned(), revoked.into());
    }
    audited(
        app,
        actor,
        Change {
            action: "identity_provider.update",
            tenant: Some(tenant.to_owned()),
            target: name.to_owned(),
            detail: serde_json::Value::Object(detail),
        },
        now,
    )?;
    Ok((idp, revoked))
}

/// Enables or disables the named provider; disabling revokes the refresh token families its
/// assertions started. Returns how many. Recorded as `identity_provider.update` of `enabled`,
/// as the same change through `update` is.
pub fn set_enabled(
    app: &OAuthContext,
    tenant: &str,
    name: &str,
    enabled: bool,
    now: i64,
    actor: &Actor,
) -> Result<usize> {
    let revoked = app
        .store
        .set_identity_provider_enabled(tenant, name, enabled, now)?;
    audited(
        app,
        actor,
        Change {
            action: "identity_provider.update",
            tenant: Some(tenant.to_owned()),
            target: name.to_owned(),
            detail: serde_json::json!({
                ENABLED: enabled,
                "refresh_token_families_revoked": revoked,
            }),
        },
        now,
    )?;
    Ok(revoked)
}

/// Removes the named provider; every refresh token family its assertions started is revoked
/// with it. Returns how many.
pub fn remove(
    app: &OAuthContext,
    tenant: &str,
    name: &str,
    now: i64,
    actor: &Actor,
) -> Result<usize> {
    let idp = find(app, tenant, name)?;
    let revoked = app.store.remove_identity_provider(tenant, name, now)?;
    audited(
        app,
        actor,
        Change {
            action: "identity_provider.remove",
            tenant: Some(tenant.to_owned()),
            target: name.to_owned(),
            detail: serde_json::json!({
                "issuer": idp.issuer,
                "refresh_token_families_revoked": revoked,
            }),
        },
        now,
    )?;
    Ok(revoked)
}

/// A service-account binding names a client of the tenant: a wrong one is the caller's mistake.
fn check_client(app: &OAuthContext, tenant: &str, client_id: &str) -> Result<()> {
    if app.store.find_client(tenant, client_id)?.is_none() {
        return Err(ProvisioningError::invalid(
            field::SERVICE_ACCOUNT_CLIENT,
            format!("client '{client_id}' not found in tenant '{tenant}'"),
        ));
    }
    Ok(())
}

pub fn find(app: &OAuthContext, tenant: &str, name: &str) -> Result<IdentityProvider> {
    app.store
        .find_identity_provider_by_name(tenant, name)?
        .ok_or_else(|| {
            StoreError::from(NotFound::IdentityProvider {
                tenant_domain: tenant.to_owned(),
                name: name.to_owned(),
            })
            .into()
        })
}

pub fn list(app: &OAuthContext, tenant: &str) -> Result<Vec<IdentityProvider>> {
    super::tenants::find(app, tenant)?;
    Ok(app.store.list_identity_providers(tenant)?)
}

/// Everything about a provider that can be checked before it is stored.
fn check(app: &OAuthContext, idp: &IdentityProvider) -> Result<()> {
    if idp.certificates.is_empty() && idp.jwks_uri.is_none() {
        return Err(ProvisioningError::invalid(
            field::CERTIFICATES,
            "an identity provider needs at least one certificate or a JWKS URI",
        ));
    }
    if let Some(uri) = &idp.jwks_uri {
        check_jwks_uri(uri)?;
    }
    if idp.clock_skew_seconds > MAX_CLOCK_SKEW_SECONDS {
        return Err(ProvisioningError::invalid(
            field::CLOCK_SKEW,
            format!(
                "{}: at most {MAX_CLOCK_SKEW_SECONDS} seconds",
                idp.clock_skew_seconds
            ),
        ));
    }
    if let Some(scopes) = &idp.allowed_scopes {
        check_scopes(field::ALLOWED_SCOPES, scopes)?;
    }
    for alias in &idp.aliases {
        check_text(field::ALIASES, alias)?;
    }
    for subject in idp.allowed_subjects.iter().flatten() {
        check_text(field::ALLOWED_SUBJECTS, subject)?;
    }
    for (remote, local) in &idp.claim_mappings {
        check_text(field::CLAIM_MAPPINGS, remote)?;
        check_text(field::CLAIM_MAPPINGS, local)?;
        for name in [remote, local] {
            if grantor_jose::VALIDATED_CLAIMS.contains(&name.as_str()) {
                return Err(ProvisioningError::invalid(
                    field::CLAIM_MAPPINGS,
                    format!("'{name}' is validated by the grant and cannot be mapped"),
                ));
            }
        }
    }
    if let Some(claim) = &idp.scope_claim {
        check_text(field::SCOPE_CLAIM, claim)?;
        if grantor_jose::VALIDATED_CLAIMS.contains(&claim.as_str()) {
            return Err(ProvisioningError::invalid(
                field::SCOPE_CLAIM,
                format!("'{claim}': name a claim other than iss, aud, exp, nbf, iat, jti"),
            ));
        }
    }
    if let Some(script) = &idp.claim_transformer {
        app.claim_transformers
            .check(std::path::Path::new(script))
            .map_err(|e| ProvisioningError::invalid(field::TRANSFORMER, e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_mappings_are_pairs_each_remote_claim_once() {
        let pairs = |list: &[&str]| list.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        let parsed = parse_claim_mappings(&pairs(&[" upn = username", "email=sub"])).unwrap();
        assert_eq!(parsed.get("upn").map(String::as_str), Some("username"));
        assert_eq!(parsed.len(), 2);
        for (bad, why) in [
            (&["upn"][..], "'upn': expected REMOTE=LOCAL"),
            (&["=sub"][..], "'=sub': both names are required"),
            (&["a=b", "a=c"][..], "'a' is mapped twice"),
        ] {
            let e = parse_claim_mappings(&pairs(bad)).unwrap_err();
            assert_eq!(e.to_string(), format!("claim_mappings: {why}"));
        }
    }
}
