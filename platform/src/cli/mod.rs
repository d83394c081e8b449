//! The operator's command line: the argument definitions and the dispatch; each command group
//! lives in its own file (`serve`, `check`, `tenant`, `client`, `user`, `idp`, `plugins`, `assertion`, `audit`). Management
//! commands work against the same database a running server uses (servers poll the database's change counter, so a change takes
//! effect without a restart, within `database.cache_refresh_interval_ms`).

mod assertion;
mod audit;
mod check;
mod client;
pub mod demo;
mod gateway;
mod idp;
mod key_files;
mod keys;
mod plugins;
mod tenant;
mod user;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::config::Config;
use client::ClientCommand;
use plugins::PluginsCommand;
use tenant::TenantCommand;

#[derive(Debug, Parser)]
#[command(
    name = "grantor",
    version,
    about = "OAuth 2.0 authorization server with grant plugins"
)]
pub struct Cli {
    /// Configuration file (default: conf/deployment.toml, optional).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Run the API gateway alone (`[gateway]`; `gateway.enabled` runs it inside `serve` too).
    Gateway,
    /// Check the configuration, plugins, scripts and TLS and gateway files without serving;
    /// exits non-zero with the reason at the first problem.
    Check {
        /// Directories whose `.rhai` claim transformers must compile.
        #[arg(long = "scripts", value_name = "DIR", default_value = "scripts")]
        scripts: Vec<PathBuf>,
    },
    /// Reference 000 on an empty data directory: starts the server, provisions two tenants, a
    /// user, clients and a trusted issuer, runs the flow, and prints it as curl commands.
    Demo,
    /// Copy the SQLite database to a new file while servers keep running (restore: stop the
    /// server, put the copy in the database's place, start it).
    Backup {
        /// The copy to make; must not exist.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage OAuth clients (WSO2's service providers, or applications).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage a tenant's users and what they consented to.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage identity providers (trusted token issuers).
    #[command(subcommand)]
    Idp(idp::IdpCommand),
    /// Manage tenants' signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Inspect grant plugins, or reload a running server's.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Mint test assertions for the JWT bearer grant.
    #[command(subcommand)]
    Assertion(assertion::AssertionCommand),
    /// Print the audit log, newest first: every change made through the console, the admin API
    /// or these commands (who, via, from where, what; never a secret).
    Audit(audit::AuditArgs),
}

#[derive(Debug, Args)]
pub struct TenantArg {
    /// Tenant domain (default: the configured default tenant).
    #[arg(long)]
    pub tenant: Option<String>,
}

/// Structured logs to stderr; `RUST_LOG` chooses the level (default `info`). Lines are written by
/// a background thread, off the request path; keep the returned guard alive until exit, since
/// dropping it flushes what is still queued. The queue never drops a line: when it is full (a
/// stalled stderr), logging waits.
pub fn init_tracing(
    format: crate::config::LogFormat,
) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("grantor-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        crate::config::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // The request's span fields (request_id, tenant, client_id, grant_type) beside the
        // event's own, in one object per line.
        crate::config::LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    guard
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    // jsonwebtoken 11 panics on first use unless exactly one crypto provider is installed.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let config = Config::load(cli.config.as_deref())?;
    // After the configuration, which names the format; its own errors are printed by `main`.
    let _log_flush = init_tracing(config.log.format);
    let source = cli.config.as_deref().map_or_else(
        || "conf/deployment.toml (if present) and the environment".to_owned(),
        |path| path.display().to_string(),
    );
    match cli.command {
        Command::Check { scripts } => check::check(&config, &source, &scripts),
        Command::Backup { to } => backup(open_for_command(config)?, &to),
        Command::Demo => demo::demo(cli.config.as_deref(), &config),
        Command::Serve => crate::server::run(config, cli.config.as_deref()),
        Command::Gateway => gateway::gateway(config),
        Command::Tenant(command) => tenant::run_tenant(open_for_command(config)?, command),
        Command::Client(command) => client::run_client(open_for_command(config)?, command),
        Command::User(command) => user::run_user(open_for_command(config)?, command),
        Command::Idp(command) => idp::run_idp(open_for_command(config)?, command),
        Command::Keys(command) => keys::run_keys(open_for_command(config)?, command),
        Command::Plugins(PluginsCommand::List { json }) => plugins::list_plugins(&config, json),
        Command::Plugins(PluginsCommand::Reload { admin, token_env }) => {
            plugins::reload_plugins(&config, admin.as_deref(), token_env.as_deref())
        }
        Command::Assertion(command) => assertion::run_assertion(command),
        Command::Audit(args) => audit::run_audit(open_for_command(config)?, args),
    }
}

/// The application as the management commands use it: no grant plugins loaded.
pub(super) fn open(config: Config) -> anyhow::Result<App> {
    App::open(config, Default::default())
}

/// A one-shot command needs one connection. A larger pool would keep opening connections on
/// background threads, and a process exiting while libpq sets up TLS on one of them crashes.
fn open_for_command(mut config: Config) -> anyhow::Result<App> {
    config.database.pool_size = 1;
    open(config)
}

/// `grantor backup --to FILE`: says what it copied, how large the copy is and how long it took.
fn backup(app: App, to: &std::path::Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    app.oauth.store.backup_to(to)?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} to {} ({bytes} bytes) in {} ms",
        app.config.database_url(),
        to.display(),
        started.elapsed().as_millis()
    );
    println!("{}", describe_sealing(&app)?);
    Ok(())
}

/// Which key-encryption keys the database's signing keys (and so a copy of it) need: a copy
/// without that key signs nothing, and a restore needs it.
fn describe_sealing(app: &App) -> anyhow::Result<String> {
    let keys = app.oauth.store.all_signing_keys()?;
    let mut needed: Vec<&str> = keys
        .iter()
        .filter_map(|k| crate::keys::sealed::sealed_with(&k.sealed_private_key))
        .collect();
    needed.sort_unstable();
    needed.dedup();
    let in_the_clear = keys
        .iter()
        .filter(|k| !crate::keys::sealed::is_sealed(&k.sealed_private_key))
        .count();
    let mut text = if keys.is_empty() {
        "it holds no signing keys yet".to_owned()
    } else {
        let named: Vec<String> = needed
            .iter()
            .map(|id| {
                if *id == app.oauth.kek.id() {
                    format!("{id} (from {})", app.oauth.kek.source())
                } else {
                    (*id).to_owned()
                }
            })
            .collect();
        format!(
            "its signing keys are sealed under key-encryption key {}: keep a copy of that key \
             apart from the backup; a server restored from it needs the same key",
            named.join(" and ")
        )
    };
    if in_the_clear > 0 {
        text.push_str(&format!(
            "\nwarning: {in_the_clear} signing keys in it are in the clear (stored before keys \
             were sealed; a server seals them at its next start): guard this copy like the keys"
        ));
    }
    Ok(text)
}

/// Provisioning's errors worded for the command line: flags, not the admin API's field names.
trait ForCommandLine<T> {
    fn for_cli(self) -> anyhow::Result<T>;
}

impl<T> ForCommandLine<T> for crate::provisioning::Result<T> {
    fn for_cli(self) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::msg(e.for_command_line()))
    }
}

pub(super) fn tenant_or_default<'a>(
    ctx: &'a crate::oauth::context::OAuthContext,
    tenant: &'a TenantArg,
) -> &'a str {
    tenant.tenant.as_deref().unwrap_or(&ctx.urls.default_tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "grantor",
            "client",
            "add",
            "--tenant",
            "acme",
            "--name",
            "app",
            "--grant-types",
            "client_credentials",
            "--scopes",
            "read,write",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Client(ClientCommand::Add { .. })
        ));
    }
}
