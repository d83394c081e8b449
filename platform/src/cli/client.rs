//! `grantor client add|list|remove`: service providers (OAuth clients).

use anyhow::bail;
use clap::Subcommand;

use super::{tenant_or_default, TenantArg};
use crate::app::App;
use crate::config::Config;
use crate::oauth::grants::BUILT_IN_GRANT_TYPES;
use crate::store::NewServiceProvider;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and client_secret once.
    Add {
        #[command(flatten)]
        tenant: TenantArg,
        /// Client name, unique in the tenant.
        #[arg(long)]
        name: String,
        /// Allowed grant types, comma separated.
        #[arg(long, value_delimiter = ',', required = true)]
        grant_types: Vec<String>,
        /// Allowed scopes, comma separated.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Access token lifetime in seconds (default: `[oauth.token]`).
        #[arg(long)]
        access_token_lifetime: Option<u32>,
        /// Refresh token lifetime in seconds (default: `[oauth.token]`).
        #[arg(long)]
        refresh_token_lifetime: Option<u32>,
        /// Access tokens as `opaque` random strings, or as `jwt` (RFC 9068) signed with the
        /// tenant's key, which gateways verify alone.
        #[arg(long, value_parser = ["opaque", "jwt"], default_value = "opaque")]
        token_format: String,
        /// An audience the client's ID tokens carry besides its client_id (repeatable): the
        /// token endpoint or issuer of a server that will exchange them (reference 000).
        #[arg(long = "audience", value_name = "AUD")]
        audiences: Vec<String>,
        /// A certificate or public key (PEM, or DER .crt/.cer) the client signs its assertions
        /// with (repeatable): it then authenticates with `private_key_jwt` only, and gets no
        /// secret.
        #[arg(long = "certificate", value_name = "FILE")]
        certificates: Vec<std::path::PathBuf>,
        /// The client's JWKS endpoint, for `private_key_jwt` (instead of --certificate).
        #[arg(long, conflicts_with = "certificates")]
        jwks_uri: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's clients (never their secrets).
    List {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        json: bool,
    },
    /// Remove a client by name or client_id, with its tokens.
    Remove {
        #[command(flatten)]
        tenant: TenantArg,
        /// Client name or client_id.
        #[arg(long)]
        name: String,
    },
}

pub(super) fn run_client(app: App, command: ClientCommand) -> anyhow::Result<()> {
    let now = crate::clock::now_unix();
    match command {
        ClientCommand::Add {
            tenant,
            name,
            grant_types,
            scopes,
            access_token_lifetime,
            refresh_token_lifetime,
            token_format,
            audiences,
            certificates,
            jwks_uri,
            json,
        } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            let grant_types = normalise_list(grant_types);
            validate_grant_types(&grant_types, &registered_grant_types(&app.config))?;
            let scopes = normalise_list(scopes);
            crate::oauth::scopes::parse_scope(&scopes.join(" "))
                .map_err(|e| anyhow::anyhow!("--scopes: {}", e.description))?;
            if name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let audiences = normalise_list(audiences);
            if let Some(bad) = audiences
                .iter()
                .find(|a| a.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                bail!(
                    "--audience '{}' must not contain spaces",
                    bad.escape_default()
                );
            }
            if let Some(uri) = &jwks_uri {
                if let Err(reason) = crate::keys::jwks::check_jwks_uri(uri) {
                    bail!("--jwks-uri {uri}: {reason}");
                }
            }
            let certificates = super::key_files::read_verification_keys(&certificates)?;
            let client_id = crate::secrets::generate_client_id()?;
            let client_secret = crate::secrets::generate_client_secret()?;
            let client = app.store.add_client(
                &NewServiceProvider {
                    tenant_domain: tenant,
                    name,
                    client_id,
                    secret_hash: crate::secrets::hash_secret(&client_secret),
                    grant_types,
                    scopes,
                    access_token_lifetime: access_token_lifetime.map(i64::from),
                    refresh_token_lifetime: refresh_token_lifetime.map(i64::from),
                    token_format,
                    audiences,
                    certificates,
                    jwks_uri,
                },
                now,
            )?;
            let private_key_jwt = client.uses_private_key_jwt();
            if json {
                let mut value = serde_json::to_value(&client)?;
                if !private_key_jwt {
                    value["client_secret"] = serde_json::Value::String(client_secret);
                }
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!(
                    "client '{}' added to tenant '{}'",
                    client.name, client.tenant_domain
                );
                println!("client_id:     {}", client.client_id);
                if private_key_jwt {
                    println!(
                        "(authenticates with private_key_jwt: a client assertion signed with its key)"
                    );
                } else {
                    println!("client_secret: {client_secret}");
                    println!("(the secret is shown only now; only its hash is stored)");
                }
            }
        }
        ClientCommand::List { tenant, json } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            if app.store.find_active_tenant(&tenant)?.is_none() {
                bail!("tenant '{tenant}' not found");
            }
            let clients = app.store.list_clients(&tenant)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&clients)?);
            } else {
                for c in clients {
                    println!(
                        "{}\t{}\tgrants={}\tscopes={}",
                        c.client_id,
                        c.name,
                        c.grant_types.join(","),
                        c.scopes.join(",")
                    );
                }
            }
        }
        ClientCommand::Remove { tenant, name } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            app.store.remove_client(&tenant, &name)?;
            println!("client '{name}' removed from tenant '{tenant}'");
        }
    }
    Ok(())
}

/// Built-in grant types plus those registered for plugins in the configuration.
fn registered_grant_types(config: &Config) -> Vec<String> {
    BUILT_IN_GRANT_TYPES
        .iter()
        .map(|g| (*g).to_owned())
        .chain(
            config
                .oauth
                .custom_grant_type
                .iter()
                .map(|g| g.name.clone()),
        )
        .collect()
}

/// Trims, drops empties and duplicates, keeps order.
fn normalise_list(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values.iter().flat_map(|v| v.split_whitespace()) {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    out
}

/// Grant type names are checked for shape (RFC 6749: a name such as `client_credentials`, or an
/// absolute URI for extension grants). One this server does not handle now is accepted with a
/// warning: a plugin may be registered for it later.
fn validate_grant_types(grant_types: &[String], handled: &[String]) -> anyhow::Result<()> {
    if grant_types.is_empty() {
        bail!("--grant-types needs at least one grant type");
    }
    for g in grant_types {
        let is_name = g
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        let is_uri = g.contains(':') && g.bytes().all(|b| b.is_ascii_graphic());
        if !(is_name || is_uri) {
            bail!(
                "invalid grant type '{}': use a name like client_credentials or an absolute URI",
                g.escape_default()
            );
        }
        if !handled.contains(g) {
            eprintln!(
                "warning: grant type '{g}' is not handled by this server now (handled: {}); \
                 requests with it get unsupported_grant_type until a plugin handles it",
                handled.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_normalised() {
        assert_eq!(
            normalise_list(vec!["a".into(), " b ".into(), "a".into(), "".into()]),
            ["a", "b"]
        );
    }

    #[test]
    fn grant_types_are_checked() {
        let handled = registered_grant_types(&Config::default());
        let check = |g: &str| validate_grant_types(&[g.to_owned()], &handled);
        assert!(check("client_credentials").is_ok());
        assert!(check("password").is_ok());
        assert!(check("urn:ietf:params:oauth:grant-type:jwt-bearer").is_ok());
        let err = check("client credentials").unwrap_err();
        assert!(err.to_string().contains("invalid grant type"));
        assert!(validate_grant_types(&[], &handled).is_err());
    }
}
