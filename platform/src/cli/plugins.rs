//! `grantor plugins list`: each registration's status and reason. `grantor plugins reload`: a
//! running server reloads its grant plugins (through the admin API) and says what changed.

use clap::Subcommand;

use crate::config::Config;
use crate::oauth::grants::BUILT_IN_GRANT_TYPES;
use crate::plugin_host::{PluginHost, ReloadReport};

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Show each registered grant plugin: loaded, or why not.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Make the running server read its registrations again and load new or changed plugin
    /// libraries; a broken one is refused and the loaded ones keep serving. Needs the admin
    /// listener (`[admin] bind`) and its token. (SIGHUP to the server does the same, with the
    /// answer in its log.)
    Reload {
        /// The admin listener's URL (default: http:// and `admin.bind`).
        #[arg(long, value_name = "URL")]
        admin: Option<String>,
        /// The environment variable that holds the admin token (default: `admin.token_env`).
        #[arg(long, value_name = "VARIABLE")]
        token_env: Option<String>,
    },
}

pub(super) fn reload_plugins(
    config: &Config,
    admin: Option<&str>,
    token_env: Option<&str>,
) -> anyhow::Result<()> {
    let base = match (admin, config.admin.bind) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(bind)) => {
            // A listener on every address is reached on loopback from here.
            let host = match bind.ip() {
                ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
                ip if ip.is_unspecified() => "[::1]".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            format!("http://{host}:{}", bind.port())
        }
        (None, None) => anyhow::bail!(
            "no admin listener is configured ([admin] bind) and no --admin URL was given; \
             or send SIGHUP to the server, which logs the outcome"
        ),
    };
    let Some(variable) = token_env.or(config.admin.token_env.as_deref()) else {
        anyhow::bail!(
            "say which environment variable holds the admin token: --token-env VARIABLE \
             (or set admin.token_env)"
        );
    };
    let token = std::env::var(variable)
        .map_err(|_| anyhow::anyhow!("the admin token is not set: put it in {variable}"))?;
    let url = format!("{base}{}", crate::http::admin::PLUGINS_RELOAD);
    let reply = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?
        .post(&url)
        .bearer_auth(token)
        .send()
        .map_err(|e| anyhow::anyhow!("cannot reach the admin listener at {base}: {e}"))?;
    let status = reply.status();
    let body: serde_json::Value = reply
        .json()
        .map_err(|e| anyhow::anyhow!("{url} answered {status} without JSON: {e}"))?;
    if !status.is_success() {
        anyhow::bail!(
            "{}",
            body["message"]
                .as_str()
                .map_or_else(|| format!("{url} answered {status}"), str::to_owned)
        );
    }
    let report: ReloadReport = serde_json::from_value(body)?;
    for change in &report.changes {
        println!(
            "{}\t{}\t{}",
            change.grant_type,
            change.change.as_str(),
            change.plugins().as_deref().unwrap_or("-")
        );
    }
    if report.changes.is_empty() {
        println!("no grant plugins registered ([[oauth.custom_grant_type]])");
    }
    if report.retired_libraries > 0 {
        println!(
            "{} replaced or removed libraries stay mapped ({} KiB) until the server restarts",
            report.retired_libraries,
            report.retired_library_bytes / 1024
        );
    }
    Ok(())
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
