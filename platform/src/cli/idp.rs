//! `grantor idp add|list|show|remove`: identity providers (trusted token issuers) of a tenant.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{tenant_or_default, ForCommandLine, TenantArg};
use crate::app::App;
use crate::audit::Actor;
use crate::provisioning::identity_providers::{
    self, IdentityProviderChange, NewIdentityProvider, DEFAULT_CLOCK_SKEW_SECONDS,
};
use crate::store::IdentityProvider;

/// `grantor idp add`.
#[derive(Debug, Args)]
pub struct AddIdp {
    #[command(flatten)]
    pub tenant: TenantArg,
    /// Name, unique in the tenant.
    #[arg(long)]
    pub name: String,
    /// The `iss` of its assertions, unique in the tenant.
    #[arg(long)]
    pub issuer: String,
    /// Verification certificate or public key: PEM, or DER (.crt/.cer). Repeatable.
    #[arg(
        long = "certificate",
        value_name = "FILE",
        required_unless_present = "jwks_uri"
    )]
    pub certificates: Vec<PathBuf>,
    /// JWKS endpoint publishing its keys.
    #[arg(long, conflicts_with = "certificates")]
    pub jwks_uri: Option<String>,
    /// An audience value naming this server for this issuer. Repeatable.
    #[arg(long = "alias", value_name = "AUD")]
    pub aliases: Vec<String>,
    /// Allowed clock skew in seconds.
    #[arg(long, default_value_t = DEFAULT_CLOCK_SKEW_SECONDS)]
    pub clock_skew: u32,
    /// Only these subjects may be asserted (default: any). Repeatable.
    #[arg(long = "allowed-subject", value_name = "SUB")]
    pub allowed_subjects: Vec<String>,
    /// Only these scopes may be granted on its assertions (default: the client's). Repeatable.
    #[arg(long = "allowed-scope", value_name = "SCOPE")]
    pub allowed_scopes: Vec<String>,
    /// Rename a claim of its assertions, `REMOTE=LOCAL` (e.g. `upn=username`, `email=sub`),
    /// before anything reads them. Repeatable.
    #[arg(long = "claim-mapping", value_name = "REMOTE=LOCAL")]
    pub claim_mappings: Vec<String>,
    /// Rhai claim transformer run after the mappings (e.g. `scripts/subject_from_email.rhai`),
    /// resolved against the server's working directory. Must compile.
    #[arg(long, value_name = "SCRIPT")]
    pub transformer: Option<PathBuf>,
    /// Service-account style: the issuer stands for this client (its client_id) of the
    /// tenant. Its assertions are then accepted for that client only, and may be posted with
    /// no client authentication; an assertion without `sub` is for the client itself.
    #[arg(long, value_name = "CLIENT_ID")]
    pub service_account_client: Option<String>,
    /// A claim carrying the requested scopes (space-separated or a list), e.g. `scope`; a
    /// `scope` parameter may only narrow them.
    #[arg(long, value_name = "CLAIM")]
    pub scope_claim: Option<String>,
    /// Register it disabled.
    #[arg(long)]
    pub disabled: bool,
    #[arg(long)]
    pub json: bool,
}

/// `grantor idp update`: what is given is changed, the rest kept; a list given replaces the list.
#[derive(Debug, Args)]
pub struct UpdateIdp {
    #[command(flatten)]
    pub tenant: TenantArg,
    #[arg(long)]
    pub name: String,
    /// New verification keys in place of the old ones (and of a JWKS URI). Repeatable.
    #[arg(long = "certificate", value_name = "FILE")]
    pub certificates: Vec<PathBuf>,
    /// A JWKS endpoint in place of the certificates.
    #[arg(long, conflicts_with = "certificates")]
    pub jwks_uri: Option<String>,
    #[arg(long = "alias", value_name = "AUD")]
    pub aliases: Vec<String>,
    #[arg(long)]
    pub clock_skew: Option<u32>,
    #[arg(long = "allowed-subject", value_name = "SUB")]
    pub allowed_subjects: Vec<String>,
    /// Any subject may be asserted again.
    #[arg(long, conflicts_with = "allowed_subjects")]
    pub any_subject: bool,
    #[arg(long = "allowed-scope", value_name = "SCOPE")]
    pub allowed_scopes: Vec<String>,
    /// No limit on scopes beyond the client's.
    #[arg(long, conflicts_with = "allowed_scopes")]
    pub client_scopes: bool,
    /// The claim mappings, all of them, `REMOTE=LOCAL`. Repeatable.
    #[arg(long = "claim-mapping", value_name = "REMOTE=LOCAL")]
    pub claim_mappings: Vec<String>,
    #[arg(long, conflicts_with = "claim_mappings")]
    pub no_claim_mappings: bool,
    #[arg(long, value_name = "SCRIPT")]
    pub transformer: Option<PathBuf>,
    #[arg(long, conflicts_with = "transformer")]
    pub no_transformer: bool,
    #[arg(long, value_name = "CLIENT_ID")]
    pub service_account_client: Option<String>,
    #[arg(long, conflicts_with = "service_account_client")]
    pub no_service_account_client: bool,
    #[arg(long, value_name = "CLAIM")]
    pub scope_claim: Option<String>,
    #[arg(long, conflicts_with = "scope_claim")]
    pub no_scope_claim: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// Register an identity provider from certificates or a JWKS URI.
    Add(Box<AddIdp>),
    /// Change an identity provider in place (keys, aliases, limits, mappings, transformer,
    /// service-account binding, scope claim); its issuer stays.
    Update(Box<UpdateIdp>),
    /// List a tenant's identity providers.
    List {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        json: bool,
    },
    /// Show one identity provider, with its keys.
    Show {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove an identity provider.
    /// Remove an identity provider; refresh tokens its assertions led to stop working.
    Remove {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        name: String,
    },
    /// Stop accepting an identity provider's assertions; refresh tokens they led to are revoked.
    Disable {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        name: String,
    },
    /// Accept an identity provider's assertions again (revoked refresh tokens stay revoked).
    Enable {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        name: String,
    },
}

pub fn run_idp(app: App, command: IdpCommand) -> anyhow::Result<()> {
    let enable = matches!(command, IdpCommand::Enable { .. });
    let actor = Actor::command_line();
    match command {
        IdpCommand::Add(args) => {
            let AddIdp {
                tenant,
                name,
                issuer,
                certificates,
                jwks_uri,
                aliases,
                clock_skew,
                allowed_subjects,
                allowed_scopes,
                claim_mappings,
                transformer,
                service_account_client,
                scope_claim,
                disabled,
                json,
            } = *args;
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let new = NewIdentityProvider {
                name,
                issuer,
                certificates: Vec::new(),
                jwks_uri,
                aliases,
                clock_skew: Some(clock_skew),
                allowed_subjects: Some(allowed_subjects),
                allowed_scopes: Some(allowed_scopes),
                claim_mappings: identity_providers::parse_claim_mappings(&claim_mappings)
                    .for_cli()?,
                transformer: transformer.map(utf8_path).transpose()?,
                service_account_client,
                scope_claim,
                enabled: !disabled,
            };
            let keys = super::key_files::read_verification_keys(&certificates)?;
            let idp = identity_providers::add(
                &app.oauth,
                &tenant,
                new,
                keys,
                crate::clock::now_unix(),
                &actor,
            )
            .for_cli()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&idp)?);
            } else {
                println!(
                    "identity provider '{}' (issuer {}) added to tenant '{}'",
                    idp.name, idp.issuer, idp.tenant_domain
                );
            }
        }
        IdpCommand::Update(args) => {
            let UpdateIdp {
                tenant,
                name,
                certificates,
                jwks_uri,
                aliases,
                clock_skew,
                allowed_subjects,
                any_subject,
                allowed_scopes,
                client_scopes,
                claim_mappings,
                no_claim_mappings,
                transformer,
                no_transformer,
                service_account_client,
                no_service_account_client,
                scope_claim,
                no_scope_claim,
                json,
            } = *args;
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let replace = |values: Vec<String>, clear: bool| {
                if clear {
                    Some(None)
                } else {
                    (!values.is_empty()).then_some(Some(values))
                }
            };
            let set_or_clear = |value: Option<String>, clear: bool| {
                if clear {
                    Some(None)
                } else {
                    value.map(Some)
                }
            };
            let change = IdentityProviderChange {
                certificates: None,
                jwks_uri,
                aliases: (!aliases.is_empty()).then_some(aliases),
                clock_skew,
                allowed_subjects: replace(allowed_subjects, any_subject),
                allowed_scopes: replace(allowed_scopes, client_scopes),
                claim_mappings: if no_claim_mappings {
                    Some(Default::default())
                } else if claim_mappings.is_empty() {
                    None
                } else {
                    Some(identity_providers::parse_claim_mappings(&claim_mappings).for_cli()?)
                },
                transformer: set_or_clear(transformer.map(utf8_path).transpose()?, no_transformer),
                service_account_client: set_or_clear(
                    service_account_client,
                    no_service_account_client,
                ),
                scope_claim: set_or_clear(scope_claim, no_scope_claim),
                enabled: None,
            };
            let keys = super::key_files::read_verification_keys(&certificates)?;
            let (idp, _) = identity_providers::update(
                &app.oauth,
                &tenant,
                &name,
                change,
                keys,
                crate::clock::now_unix(),
                &actor,
            )
            .for_cli()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&idp)?);
            } else {
                println!("identity provider '{name}' of tenant '{tenant}' updated");
            }
        }
        IdpCommand::List { tenant, json } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let idps = identity_providers::list(&app.oauth, &tenant).for_cli()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&idps)?);
            } else {
                for idp in idps {
                    println!(
                        "{}\t{}\t{}\t{}",
                        idp.name,
                        idp.issuer,
                        if idp.enabled { "enabled" } else { "disabled" },
                        key_source(&idp)
                    );
                }
            }
        }
        IdpCommand::Show { tenant, name, json } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let idp = identity_providers::find(&app.oauth, &tenant, &name).for_cli()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&idp)?);
            } else {
                println!("name:        {}", idp.name);
                println!("issuer:      {}", idp.issuer);
                println!("enabled:     {}", idp.enabled);
                println!("aliases:     {}", idp.aliases.join(" "));
                println!("keys:        {}", key_source(&idp));
                println!("clock skew:  {} s", idp.clock_skew_seconds);
                println!("subjects:    {}", limit(&idp.allowed_subjects));
                println!("scopes:      {}", limit(&idp.allowed_scopes));
                let mappings: Vec<String> = idp
                    .claim_mappings
                    .iter()
                    .map(|(remote, local)| format!("{remote}={local}"))
                    .collect();
                println!("mappings:    {}", mappings.join(" "));
                println!(
                    "transformer: {}",
                    idp.claim_transformer.as_deref().unwrap_or("(none)")
                );
                println!(
                    "service account client: {}",
                    idp.service_account_client.as_deref().unwrap_or("(none)")
                );
                println!(
                    "scope claim: {}",
                    idp.scope_claim.as_deref().unwrap_or("(none)")
                );
                let now = crate::clock::now_unix();
                for pem in &idp.certificates {
                    if let Some(validity) = crate::keys::certificates::validity_of_pem(pem) {
                        println!("certificate: {}", validity.describe(now));
                    }
                    print!("{pem}");
                }
            }
        }
        IdpCommand::Remove { tenant, name } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let now = crate::clock::now_unix();
            let revoked =
                identity_providers::remove(&app.oauth, &tenant, &name, now, &actor).for_cli()?;
            println!(
                "identity provider '{name}' removed from tenant '{tenant}'; {revoked} refresh token \
                 families revoked"
            );
        }
        IdpCommand::Disable { tenant, name } | IdpCommand::Enable { tenant, name } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let now = crate::clock::now_unix();
            let revoked =
                identity_providers::set_enabled(&app.oauth, &tenant, &name, enable, now, &actor)
                    .for_cli()?;
            if enable {
                println!("identity provider '{name}' enabled in tenant '{tenant}'");
            } else {
                println!(
                    "identity provider '{name}' disabled in tenant '{tenant}'; {revoked} refresh \
                     token families revoked"
                );
            }
        }
    }
    Ok(())
}

fn key_source(idp: &IdentityProvider) -> String {
    match &idp.jwks_uri {
        Some(uri) => format!("jwks {uri}"),
        None => format!("{} certificate(s)", idp.certificates.len()),
    }
}

fn limit(values: &Option<Vec<String>>) -> String {
    values
        .as_ref()
        .map(|v| v.join(" "))
        .unwrap_or_else(|| "(no limit)".into())
}

fn utf8_path(path: PathBuf) -> anyhow::Result<String> {
    path.into_os_string()
        .into_string()
        .map_err(|p| anyhow::anyhow!("--transformer {}: not a UTF-8 path", p.to_string_lossy()))
}
