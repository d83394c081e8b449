//! `grantor keys list|rotate`: a tenant's signing keys. Private keys are never printed.

use clap::Subcommand;

use super::{tenant_or_default, ForCommandLine, TenantArg};
use crate::app::App;
use crate::provisioning::keys;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List a tenant's signing keys: the current one and those still published.
    List {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        json: bool,
    },
    /// Make a new key current; the old one stays published until the tokens it signed expire.
    Rotate {
        #[command(flatten)]
        tenant: TenantArg,
    },
}

pub(super) fn run_keys(app: App, command: KeysCommand) -> anyhow::Result<()> {
    let now = crate::clock::now_unix();
    match command {
        KeysCommand::List { tenant, json } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            let rows = keys::list(&app, &tenant, now).for_cli()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("tenant '{tenant}' has no signing key yet (one is made on first use)");
            } else {
                for row in rows {
                    println!(
                        "{}\t{}\t{}\t{}",
                        row.kid, row.algorithm, row.created_at, row.status
                    );
                }
            }
        }
        KeysCommand::Rotate { tenant } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            let kid = keys::rotate(&app, &tenant, now).for_cli()?;
            println!(
                "tenant '{tenant}' signs with key {kid} now; the previous key stays published"
            );
        }
    }
    Ok(())
}
