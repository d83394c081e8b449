//! `grantor tenant add|list|remove`.

use anyhow::bail;
use clap::Subcommand;

use super::ForCommandLine;
use crate::app::App;
use crate::audit::Actor;
use crate::provisioning::tenants::{self, NewTenant, TenantChange};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a tenant.
    Add {
        /// Tenant domain, e.g. `acme.com` (lowercase letters, digits, '-', '.').
        domain: String,
        /// Display name (default: the domain).
        #[arg(long)]
        name: Option<String>,
        /// Write users' subjects tenant-qualified (`alice@DOMAIN`) in JWT access tokens, ID
        /// tokens and introspection answers.
        #[arg(long)]
        qualified_subjects: bool,
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant's settings.
    Update {
        domain: String,
        /// Write users' subjects tenant-qualified (`alice@DOMAIN`), or not.
        #[arg(long, value_name = "true|false")]
        qualified_subjects: Option<bool>,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a tenant with all its clients and tokens.
    Remove { domain: String },
}

pub(super) fn run_tenant(app: App, command: TenantCommand) -> anyhow::Result<()> {
    let now = crate::clock::now_unix();
    let actor = Actor::command_line();
    match command {
        TenantCommand::Add {
            domain,
            name,
            qualified_subjects,
            json,
        } => {
            let tenant = tenants::add(
                &app.oauth,
                NewTenant {
                    domain,
                    name,
                    qualified_subjects,
                },
                now,
                &actor,
            )
            .for_cli()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tenant)?);
            } else {
                println!("tenant '{}' added", tenant.domain);
            }
        }
        TenantCommand::List { json } => {
            let tenants = app.oauth.store.list_tenants()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tenants)?);
            } else {
                for t in tenants {
                    println!("{}\t{}\t{}", t.domain, t.status, t.display_name);
                }
            }
        }
        TenantCommand::Update {
            domain,
            qualified_subjects,
        } => {
            let Some(on) = qualified_subjects else {
                bail!("nothing to change: give --qualified-subjects true|false");
            };
            tenants::update(
                &app.oauth,
                &domain,
                TenantChange {
                    qualified_subjects: Some(on),
                },
                &actor,
            )
            .for_cli()?;
            println!(
                "tenant '{domain}': subjects are {}",
                if on { "tenant-qualified" } else { "as stored" }
            );
        }
        TenantCommand::Remove { domain } => {
            tenants::remove(&app.oauth, &domain, &actor).for_cli()?;
            println!("tenant '{domain}' removed");
        }
    }
    Ok(())
}
