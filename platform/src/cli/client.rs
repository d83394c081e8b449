//! `grantor client add|list|remove`: OAuth clients (WSO2 calls them service providers, or applications).

use clap::{Args, Subcommand};

use super::{tenant_or_default, ForCommandLine, TenantArg};
use crate::app::App;
use crate::audit::Actor;
use crate::provisioning::clients::{self, ClientRegistration, Registered};

/// `grantor client add`.
#[derive(Debug, Args)]
pub struct AddClient {
    #[command(flatten)]
    pub tenant: TenantArg,
    /// Client name, unique in the tenant.
    #[arg(long)]
    pub name: String,
    /// Allowed grant types, comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub grant_types: Vec<String>,
    /// Allowed scopes, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Access token lifetime in seconds (default: `[oauth.token]`).
    #[arg(long)]
    pub access_token_lifetime: Option<u32>,
    /// Refresh token lifetime in seconds (default: `[oauth.token]`).
    #[arg(long)]
    pub refresh_token_lifetime: Option<u32>,
    /// Access tokens as `opaque` random strings, or as `jwt` (RFC 9068) signed with the
    /// tenant's key, which gateways verify alone.
    #[arg(long, value_parser = ["opaque", "jwt"], default_value = "opaque")]
    pub token_format: String,
    /// Another server the client's users' identity may be presented at (repeatable): its
    /// token endpoint or issuer, which the client's ID tokens carry as an audience besides its
    /// client_id (reference 000) and its token exchanges may address (RFC 8693 `audience`).
    #[arg(long = "audience", value_name = "AUD")]
    pub audiences: Vec<String>,
    /// A certificate or public key (PEM, or DER .crt/.cer) the client signs its assertions
    /// with (repeatable): it then authenticates with `private_key_jwt` only, and gets no
    /// secret.
    #[arg(long = "certificate", value_name = "FILE")]
    pub certificates: Vec<std::path::PathBuf>,
    /// The client's JWKS endpoint, for `private_key_jwt` (instead of --certificate).
    #[arg(long, conflicts_with = "certificates")]
    pub jwks_uri: Option<String>,
    /// A URI the authorization code flow may send its users back to (repeatable), matched
    /// exactly: https, http only to 127.0.0.1, [::1] or localhost, or a native app's
    /// private-use scheme such as com.example.app:/cb; no fragment.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A URI logout may send its users back to (repeatable), matched exactly; the same
    /// rules as --redirect-uri.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Whether its users are asked to consent to the scopes it requests (`skip` for a
    /// first-party app).
    #[arg(long, value_name = "required|skip", default_value = "required")]
    pub consent: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and client_secret once.
    Add(Box<AddClient>),
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

/// Why a client registered with the password grant should move off it (issue 23, item 9). The
/// grant keeps working for the clients that ask for it, so this is a warning, not a refusal.
fn password_grant_warning(grant_types: &[String]) -> Option<String> {
    grant_types.iter().any(|g| g == "password").then(|| {
        "grant type 'password' (resource owner password credentials) is legacy: RFC 9700 \
         (OAuth 2.0 Security Best Current Practice) section 2.4 says it MUST NOT be used, and \
         OAuth 2.1 leaves it out. It keeps working for clients registered with it, like this \
         one; the authorization code flow with PKCE (grant type authorization_code) replaces it."
            .to_owned()
    })
}

pub(super) fn run_client(app: App, command: ClientCommand) -> anyhow::Result<()> {
    let now = crate::clock::now_unix();
    let actor = Actor::command_line();
    match command {
        ClientCommand::Add(args) => {
            let AddClient {
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
                redirect_uris,
                post_logout_redirect_uris,
                consent,
                json,
            } = *args;
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let keys = super::key_files::read_verification_keys(&certificates)?;
            let Registered {
                client,
                client_secret,
                warnings,
            } = clients::add(
                &app.oauth,
                &tenant,
                ClientRegistration {
                    name,
                    grant_types,
                    scopes,
                    access_token_lifetime,
                    refresh_token_lifetime,
                    token_format: Some(token_format),
                    audiences,
                    certificates: Vec::new(),
                    jwks_uri,
                    redirect_uris,
                    post_logout_redirect_uris,
                    consent: Some(consent),
                },
                keys,
                now,
                &actor,
            )
            .for_cli()?;
            for warning in warnings
                .into_iter()
                .chain(password_grant_warning(&client.grant_types))
            {
                eprintln!("warning: {warning}");
            }
            if json {
                let mut value = serde_json::to_value(&client)?;
                if let Some(secret) = &client_secret {
                    value["client_secret"] = serde_json::Value::String(secret.clone());
                }
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!(
                    "client '{}' added to tenant '{}'",
                    client.name, client.tenant_domain
                );
                println!("client_id:     {}", client.client_id);
                match &client_secret {
                    None => println!(
                        "(authenticates with private_key_jwt: a client assertion signed with its key)"
                    ),
                    Some(secret) => {
                        println!("client_secret: {secret}");
                        println!("(the secret is shown only now; only its hash is stored)");
                    }
                }
            }
        }
        ClientCommand::List { tenant, json } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let clients = clients::list(&app.oauth, &tenant).for_cli()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&clients)?);
            } else {
                for c in clients {
                    // URIs may hold commas but never white space (provisioning refuses it).
                    println!(
                        "{}\t{}\tgrants={}\tscopes={}\tconsent={}\tredirect_uris={}\tpost_logout_redirect_uris={}",
                        c.client_id,
                        c.name,
                        c.grant_types.join(","),
                        c.scopes.join(","),
                        c.consent,
                        c.redirect_uris.join(" "),
                        c.post_logout_redirect_uris.join(" ")
                    );
                }
            }
        }
        ClientCommand::Remove { tenant, name } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            clients::remove(&app.oauth, &tenant, &name, &actor).for_cli()?;
            println!("client '{name}' removed from tenant '{tenant}'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_grant_is_warned_about_and_no_other() {
        let grants =
            |list: &[&str]| -> Vec<String> { list.iter().map(|g| (*g).to_owned()).collect() };
        let warning = password_grant_warning(&grants(&["refresh_token", "password"])).unwrap();
        assert!(warning.contains("RFC 9700"), "{warning}");
        assert!(warning.contains("MUST NOT be used"), "{warning}");
        assert!(warning.contains("keeps working"), "{warning}");
        assert!(warning.contains("authorization_code"), "{warning}");
        for other in [
            &["client_credentials"][..],
            &["authorization_code", "refresh_token"],
            &["urn:ietf:params:oauth:grant-type:jwt-bearer"],
            &["password_reset"],
        ] {
            assert_eq!(password_grant_warning(&grants(other)), None, "{other:?}");
        }
    }
}
