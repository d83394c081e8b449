//! `grantor idp add|list|show|remove`: identity providers (trusted token issuers) of a tenant.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::{tenant_or_default, TenantArg};
use crate::app::App;
use crate::store::IdentityProvider;

/// Default allowed clock skew for a new provider, in seconds.
const DEFAULT_CLOCK_SKEW_SECONDS: u32 = 60;
/// Largest clock skew accepted: more would make `exp` meaningless.
use grantor_sdk::jwt_bearer::MAX_CLOCK_SKEW_SECONDS;

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

#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// Register an identity provider from certificates or a JWKS URI.
    Add(Box<AddIdp>),
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
            if let Some(claim) = &scope_claim {
                if claim.trim().is_empty()
                    || grantor_sdk::wire::UNMAPPABLE_CLAIMS.contains(&claim.as_str())
                {
                    bail!("--scope-claim '{claim}': name a claim other than iss, aud, exp, nbf, iat, jti");
                }
            }
            let claim_mappings = parse_claim_mappings(&claim_mappings)?;
            if let Some(script) = &transformer {
                app.claim_transformers
                    .check(script)
                    .with_context(|| "--transformer".to_owned())?;
            }
            let claim_transformer = transformer
                .map(|p| {
                    p.to_str().map(str::to_owned).ok_or_else(|| {
                        anyhow::anyhow!("--transformer {}: not a UTF-8 path", p.display())
                    })
                })
                .transpose()?;
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            if name.trim().is_empty() || issuer.trim().is_empty() {
                bail!("--name and --issuer must not be empty");
            }
            if i64::from(clock_skew) > MAX_CLOCK_SKEW_SECONDS {
                bail!("--clock-skew {clock_skew}: at most {MAX_CLOCK_SKEW_SECONDS} seconds");
            }
            if let Some(uri) = &jwks_uri {
                if let Err(reason) = crate::keys::jwks::check_jwks_uri(uri) {
                    bail!("--jwks-uri {uri}: {reason}");
                }
            }
            let pems = super::key_files::read_verification_keys(&certificates)?;
            if !allowed_scopes.is_empty() {
                crate::oauth::scopes::parse_scope(&allowed_scopes.join(" "))
                    .map_err(|e| anyhow::anyhow!("--allowed-scope: {}", e.description))?;
            }
            let idp = IdentityProvider {
                tenant_domain: tenant,
                name,
                issuer,
                aliases,
                certificates: pems,
                jwks_uri,
                enabled: !disabled,
                clock_skew_seconds: i64::from(clock_skew),
                allowed_subjects: (!allowed_subjects.is_empty()).then_some(allowed_subjects),
                allowed_scopes: (!allowed_scopes.is_empty()).then_some(allowed_scopes),
                created_at: crate::clock::now_unix(),
                claim_mappings,
                claim_transformer,
                service_account_client,
                scope_claim,
            };
            app.store.add_identity_provider(&idp)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&idp)?);
            } else {
                println!(
                    "identity provider '{}' (issuer {}) added to tenant '{}'",
                    idp.name, idp.issuer, idp.tenant_domain
                );
            }
        }
        IdpCommand::List { tenant, json } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            let idps = app.store.list_identity_providers(&tenant)?;
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
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            let Some(idp) = app.store.find_identity_provider_by_name(&tenant, &name)? else {
                bail!("identity provider '{name}' not found in tenant '{tenant}'");
            };
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
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            let now = crate::clock::now_unix();
            let revoked = app.store.remove_identity_provider(&tenant, &name, now)?;
            println!(
                "identity provider '{name}' removed from tenant '{tenant}'; {revoked} refresh token \
                 families revoked"
            );
        }
        IdpCommand::Disable { tenant, name } | IdpCommand::Enable { tenant, name } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            let now = crate::clock::now_unix();
            let revoked = app
                .store
                .set_identity_provider_enabled(&tenant, &name, enable, now)?;
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

/// `REMOTE=LOCAL` pairs; each remote claim mapped once, no validated claim on either side.
fn parse_claim_mappings(
    pairs: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut mappings = std::collections::BTreeMap::new();
    for pair in pairs {
        let Some((remote, local)) = pair.split_once('=') else {
            bail!("--claim-mapping '{pair}': expected REMOTE=LOCAL");
        };
        let (remote, local) = (remote.trim(), local.trim());
        if remote.is_empty() || local.is_empty() {
            bail!("--claim-mapping '{pair}': both names are required");
        }
        for name in [remote, local] {
            if grantor_sdk::wire::UNMAPPABLE_CLAIMS.contains(&name) {
                bail!("--claim-mapping '{pair}': '{name}' is validated by the grant and cannot be mapped");
            }
        }
        if mappings
            .insert(remote.to_owned(), local.to_owned())
            .is_some()
        {
            bail!("--claim-mapping: '{remote}' is mapped twice");
        }
    }
    Ok(mappings)
}
