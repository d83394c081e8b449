//! OAuth clients: registered with a generated id and secret, listed, removed.

use super::redirect_uris::{check_consent, check_redirect_uris};
use super::{audited, ProvisioningError, Result};
use super::{check_jwks_uri, check_scopes, check_text, field, normalise_keys, normalise_list};
use crate::audit::{certificates_summary, Actor, Change};
use crate::config::OAuthConfig;
use crate::oauth::context::OAuthContext;
use crate::oauth::grants::BUILT_IN_GRANT_TYPES;
use crate::store::{Client, NewClient, TOKEN_FORMAT_JWT, TOKEN_FORMAT_OPAQUE};

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRegistration {
    pub name: String,
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Seconds (default: `[oauth.token]`).
    #[serde(default)]
    pub access_token_lifetime: Option<u32>,
    #[serde(default)]
    pub refresh_token_lifetime: Option<u32>,
    /// `opaque` (default) or `jwt`.
    #[serde(default)]
    pub token_format: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Verification keys for `private_key_jwt`: PEM text (certificates or public keys).
    #[serde(default)]
    pub certificates: Vec<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Where the authorization endpoint may send its users back, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where logout may send its users back, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `required` (default) or `skip`.
    #[serde(default)]
    pub consent: Option<String>,
}

/// A registered client, with its secret (shown once; none for a `private_key_jwt` client) and
/// warnings about what the server cannot honour now.
#[derive(Debug, Clone)]
pub struct Registered {
    pub client: Client,
    pub client_secret: Option<String>,
    pub warnings: Vec<String>,
}

/// `certificates` may also be DER: the command line reads files.
pub fn add(
    app: &OAuthContext,
    tenant: &str,
    new: ClientRegistration,
    keys: Vec<Vec<u8>>,
    now: i64,
    actor: &Actor,
) -> Result<Registered> {
    check_text(field::NAME, &new.name)?;
    let grant_types = normalise_list(new.grant_types);
    let warnings = check_grant_types(
        &grant_types,
        &registered_grant_types(&app.settings, app.plugins.grant_types()),
    )?;
    let scopes = normalise_list(new.scopes);
    check_scopes(field::SCOPES, &scopes)?;
    let audiences = normalise_list(new.audiences);
    if let Some(bad) = audiences.iter().find(|a| a.chars().any(char::is_control)) {
        return Err(ProvisioningError::invalid(
            field::AUDIENCES,
            format!(
                "'{}' must not contain control characters",
                bad.escape_default()
            ),
        ));
    }
    let token_format = new
        .token_format
        .unwrap_or_else(|| TOKEN_FORMAT_OPAQUE.into());
    if ![TOKEN_FORMAT_OPAQUE, TOKEN_FORMAT_JWT].contains(&token_format.as_str()) {
        return Err(ProvisioningError::invalid(
            field::TOKEN_FORMAT,
            format!("'{token_format}': use opaque or jwt"),
        ));
    }
    if let Some(uri) = &new.jwks_uri {
        check_jwks_uri(uri)?;
    }
    if new.jwks_uri.is_some() && !(new.certificates.is_empty() && keys.is_empty()) {
        return Err(ProvisioningError::invalid(
            field::JWKS_URI,
            "give certificates or a JWKS URI, not both",
        ));
    }
    let certificates = normalise_keys(new.certificates, keys)?;
    let redirect_uris = check_redirect_uris(field::REDIRECT_URIS, new.redirect_uris)?;
    let post_logout_redirect_uris = check_redirect_uris(
        field::POST_LOGOUT_REDIRECT_URIS,
        new.post_logout_redirect_uris,
    )?;
    let consent = check_consent(field::CONSENT, new.consent)?;
    let client_id = crate::secrets::generate_client_id().map_err(internal)?;
    let client_secret = crate::secrets::generate_client_secret().map_err(internal)?;
    let client = app.store.add_client(
        &NewClient {
            tenant_domain: tenant.to_owned(),
            name: new.name,
            client_id,
            secret_hash: crate::secrets::hash_secret(&client_secret),
            grant_types,
            scopes,
            access_token_lifetime: new.access_token_lifetime.map(i64::from),
            refresh_token_lifetime: new.refresh_token_lifetime.map(i64::from),
            token_format,
            audiences,
            certificates,
            jwks_uri: new.jwks_uri,
            redirect_uris,
            post_logout_redirect_uris,
            consent,
        },
        now,
    )?;
    let client_secret = (!client.uses_private_key_jwt()).then_some(client_secret);
    // The client exists and its secret is in this answer only: a failure to audit it is said
    // beside the secret, never an error that would lose the secret with the client kept.
    let mut warnings = warnings;
    if let Err(e) = audited(app, actor, added(&client), now) {
        tracing::error!("{e}");
        warnings.push(format!("{}; see the server log", e.for_command_line()));
    }
    Ok(Registered {
        client,
        client_secret,
        warnings,
    })
}

/// The audit entry of a registration: its settings, its keys summarised, never its secret.
fn added(client: &Client) -> Change {
    Change {
        action: "client.add",
        tenant: Some(client.tenant_domain.clone()),
        target: client.client_id.clone(),
        detail: serde_json::json!({
            "name": client.name,
            "authentication": if client.uses_private_key_jwt() {
                "private_key_jwt"
            } else {
                "client_secret"
            },
            "grant_types": client.grant_types,
            "scopes": client.scopes,
            "access_token_lifetime": client.access_token_lifetime,
            "refresh_token_lifetime": client.refresh_token_lifetime,
            "token_format": client.token_format,
            "audiences": client.audiences,
            "certificates": certificates_summary(&client.certificates),
            "jwks_uri": client.jwks_uri,
            "redirect_uris": client.redirect_uris,
            "post_logout_redirect_uris": client.post_logout_redirect_uris,
            "consent": client.consent,
        }),
    }
}

/// Removes the tenant's client with this client_id or name, with its tokens and consents.
pub fn remove(app: &OAuthContext, tenant: &str, id_or_name: &str, actor: &Actor) -> Result<()> {
    let client = find(app, tenant, id_or_name)?;
    app.store.remove_client(tenant, &client.client_id)?;
    audited(
        app,
        actor,
        Change {
            action: "client.remove",
            tenant: Some(tenant.to_owned()),
            target: client.client_id,
            detail: serde_json::json!({ "name": client.name }),
        },
        crate::clock::now_unix(),
    )
}

fn internal(e: impl std::fmt::Display) -> ProvisioningError {
    crate::store::StoreError::Config(format!("cannot generate client credentials: {e}")).into()
}

/// A tenant's clients (never their secrets); an unknown tenant is an error, not an empty list.
pub fn list(app: &OAuthContext, tenant: &str) -> Result<Vec<Client>> {
    super::tenants::find(app, tenant)?;
    Ok(app.store.list_clients(tenant)?)
}

/// The tenant's client with this client_id or name (as `remove` names one).
pub fn find(app: &OAuthContext, tenant: &str, id_or_name: &str) -> Result<Client> {
    list(app, tenant)?
        .into_iter()
        .find(|c| c.client_id == id_or_name || c.name == id_or_name)
        .ok_or_else(|| {
            crate::store::StoreError::from(crate::store::NotFound::Client {
                tenant_domain: tenant.to_owned(),
                client: id_or_name.to_owned(),
            })
            .into()
        })
}

/// Built-in grant types, those registered for plugins in the configuration, and those the
/// running server's plugins handle now (a reload may have added some).
pub fn registered_grant_types(settings: &OAuthConfig, loaded: Vec<String>) -> Vec<String> {
    BUILT_IN_GRANT_TYPES
        .iter()
        .map(|g| (*g).to_owned())
        .chain(settings.custom_grant_type.iter().map(|g| g.name.clone()))
        .chain(loaded)
        .collect()
}

/// Grant type names are checked for shape (RFC 6749: a name such as `client_credentials`, or an
/// absolute URI for extension grants). One this server does not handle now is accepted with a
/// warning: a plugin may be registered for it later.
fn check_grant_types(grant_types: &[String], handled: &[String]) -> Result<Vec<String>> {
    if grant_types.is_empty() {
        return Err(ProvisioningError::invalid(
            field::GRANT_TYPES,
            "needs at least one grant type",
        ));
    }
    let mut warnings = Vec::new();
    for g in grant_types {
        let is_name = g
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        let is_uri = g.contains(':') && g.bytes().all(|b| b.is_ascii_graphic());
        if !(is_name || is_uri) {
            return Err(ProvisioningError::invalid(
                field::GRANT_TYPES,
                format!(
                    "invalid grant type '{}': use a name like client_credentials or an absolute URI",
                    g.escape_default()
                ),
            ));
        }
        if !handled.contains(g) {
            warnings.push(format!(
                "grant type '{g}' is not handled by this server now (handled: {}); requests with \
                 it get unsupported_grant_type until a plugin handles it",
                handled.join(", ")
            ));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_types_are_checked() {
        let handled = registered_grant_types(&OAuthConfig::default(), Vec::new());
        let check = |g: &str| check_grant_types(&[g.to_owned()], &handled);
        assert!(check("client_credentials").unwrap().is_empty());
        assert!(check("password").unwrap().is_empty());
        // Not registered in the default configuration: accepted, with a warning.
        assert_eq!(check("urn:example:later").unwrap().len(), 1);
        let err = check("client credentials").unwrap_err();
        assert!(err.to_string().contains("invalid grant type"));
        assert!(check_grant_types(&[], &handled).is_err());
    }
}
