//! `grantor keys list|rotate`: a tenant's signing keys. Private keys are never printed.

use clap::Subcommand;

use super::{tenant_or_default, TenantArg};
use crate::app::App;
use crate::oauth::tenant_keys::rotate;

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
            if app.store.find_active_tenant(&tenant)?.is_none() {
                anyhow::bail!("tenant '{tenant}' not found");
            }
            let keys = app.store.signing_keys(&tenant)?;
            let rows: Vec<serde_json::Value> = keys
                .iter()
                .map(|k| {
                    let status = if k.is_current() {
                        "current".to_owned()
                    } else if k.is_published(now) {
                        format!("published until {}", k.publish_until.unwrap_or_default())
                    } else {
                        "retired".to_owned()
                    };
                    serde_json::json!({
                        "kid": k.kid,
                        "algorithm": k.algorithm,
                        "created_at": k.created_at,
                        "status": status,
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("tenant '{tenant}' has no signing key yet (one is made on first use)");
            } else {
                for row in rows {
                    println!(
                        "{}\t{}\t{}\t{}",
                        row["kid"].as_str().unwrap_or_default(),
                        row["algorithm"].as_str().unwrap_or_default(),
                        row["created_at"],
                        row["status"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        KeysCommand::Rotate { tenant } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            let kid = rotate(&app.store, &app.config, &tenant, now)?;
            println!(
                "tenant '{tenant}' signs with key {kid} now; the previous key stays published"
            );
        }
    }
    Ok(())
}
