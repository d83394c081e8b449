//! `grantor plugins list`: each registration's status and reason.

use clap::Subcommand;

use crate::config::Config;
use crate::oauth::grants::BUILT_IN_GRANT_TYPES;
use crate::plugin_host::PluginHost;

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Show each registered grant plugin: loaded, or why not.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn list_plugins(config: &Config, json: bool) -> anyhow::Result<()> {
    let statuses = PluginHost::inspect(&config.plugins, &config.oauth, BUILT_IN_GRANT_TYPES);
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
        return Ok(());
    }
    if statuses.is_empty() {
        println!(
            "no grant plugins registered ([[oauth.custom_grant_type]]); directory: {}",
            config.plugins.directory.display()
        );
    }
    for s in &statuses {
        let state = if s.loaded { "loaded" } else { "NOT LOADED" };
        println!(
            "{}\t{state}\t{}\t{}",
            s.grant_type,
            s.plugin.as_deref().unwrap_or("-"),
            if s.loaded {
                s.path.display().to_string()
            } else {
                s.detail.clone()
            }
        );
    }
    Ok(())
}
