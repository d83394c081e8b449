//! `grantor tenant add|list|remove`.

use anyhow::bail;
use clap::Subcommand;

use crate::app::App;

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
    match command {
        TenantCommand::Add {
            domain,
            name,
            qualified_subjects,
            json,
        } => {
            let display_name = name.unwrap_or_else(|| domain.clone());
            let mut tenant = app.store.add_tenant(&domain, &display_name, now)?;
            if qualified_subjects {
                app.store.set_qualified_subjects(&domain, true)?;
                tenant.qualified_subjects = 1;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&tenant)?);
            } else {
                println!("tenant '{}' added", tenant.domain);
            }
        }
        TenantCommand::List { json } => {
            let tenants = app.store.list_tenants()?;
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
            app.store.set_qualified_subjects(&domain, on)?;
            println!(
                "tenant '{domain}': subjects are {}",
                if on { "tenant-qualified" } else { "as stored" }
            );
        }
        TenantCommand::Remove { domain } => {
            if domain == app.config.server.default_tenant {
                bail!("'{domain}' is the default tenant (server.default_tenant); it cannot be removed");
            }
            app.store.remove_tenant(&domain)?;
            println!("tenant '{domain}' removed");
        }
    }
    Ok(())
}
