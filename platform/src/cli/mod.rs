//! The operator's command line: `serve`, and `tenant` / `client` management against the same
//! database a running server uses (servers poll the database's change counter, so a change takes
//! effect without a restart, within `database.cache_refresh_interval_ms`).

mod assertion;
mod idp;

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::config::Config;
use crate::oauth::grants::BUILT_IN_GRANT_TYPES;
use crate::plugin_host::PluginHost;
use crate::store::NewServiceProvider;

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
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage service providers (OAuth clients).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage identity providers (trusted token issuers).
    #[command(subcommand)]
    Idp(idp::IdpCommand),
    /// Inspect grant plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Mint test assertions for the JWT bearer grant.
    #[command(subcommand)]
    Assertion(assertion::AssertionCommand),
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Show each registered grant plugin: loaded, or why not.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a tenant.
    Add {
        /// Tenant domain, e.g. `acme.com` (lowercase letters, digits, '-', '.').
        domain: String,
        /// Display name (default: the domain).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a tenant with all its clients and tokens.
    Remove { domain: String },
}

#[derive(Debug, Args)]
pub struct TenantArg {
    /// Tenant domain (default: the configured default tenant).
    #[arg(long)]
    pub tenant: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and client_secret once.
    Add {
        #[command(flatten)]
        tenant: TenantArg,
        /// Client name, unique in the tenant.
        #[arg(long)]
        name: String,
        /// Allowed grant types, comma separated.
        #[arg(long, value_delimiter = ',', required = true)]
        grant_types: Vec<String>,
        /// Allowed scopes, comma separated.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Access token lifetime in seconds (default: `[oauth.token]`).
        #[arg(long)]
        access_token_lifetime: Option<u32>,
        /// Refresh token lifetime in seconds (default: `[oauth.token]`).
        #[arg(long)]
        refresh_token_lifetime: Option<u32>,
        #[arg(long)]
        json: bool,
    },
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

/// Structured logs to stderr; `RUST_LOG` chooses the level (default `info`). Lines are written by
/// a background thread, off the request path; keep the returned guard alive until exit, since
/// dropping it flushes what is still queued. The queue never drops a line: when it is full (a
/// stalled stderr), logging waits.
pub fn init_tracing() -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("grantor-log")
        .finish(std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer)
        .try_init();
    guard
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    // jsonwebtoken 11 panics on first use unless exactly one crypto provider is installed.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(config),
        Command::Tenant(command) => run_tenant(open_for_command(config)?, command),
        Command::Client(command) => run_client(open_for_command(config)?, command),
        Command::Idp(command) => idp::run_idp(open_for_command(config)?, command),
        Command::Plugins(PluginsCommand::List { json }) => list_plugins(&config, json),
        Command::Assertion(command) => assertion::run_assertion(command),
    }
}

fn open(config: Config) -> anyhow::Result<App> {
    let url_kind = if config.database.url.is_empty() {
        "default SQLite database"
    } else {
        "configured database"
    };
    App::open(config).with_context(|| format!("cannot open the {url_kind}"))
}

/// A one-shot command needs one connection. A larger pool would keep opening connections on
/// background threads, and a process exiting while libpq sets up TLS on one of them crashes.
fn open_for_command(mut config: Config) -> anyhow::Result<App> {
    config.database.pool_size = 1;
    open(config)
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let bind = config.server.bind;
    // Plugins first: a broken registration stops the start before anything else happens.
    let plugins = PluginHost::load(&config.plugins, &config.oauth)?;
    let mut app = open(config)?;
    app.plugins = plugins;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot bind {bind}"))?;
        let local = listener.local_addr()?;
        tracing::info!(
            database = app.store.backend().name(),
            default_tenant = %app.config.server.default_tenant,
            plugin_grant_types = %app.plugins.grant_types().join(" "),
            "grantor listening on http://{local}"
        );
        // A machine-readable line on stdout: scripts and tests learn the port from it.
        println!("grantor listening on http://{local}");
        crate::server::serve(app, listener, crate::server::shutdown_signal()).await;
        Ok(())
    })
}

fn tenant_or_default<'a>(app: &'a App, tenant: &'a TenantArg) -> &'a str {
    tenant
        .tenant
        .as_deref()
        .unwrap_or(&app.config.server.default_tenant)
}

fn run_tenant(app: App, command: TenantCommand) -> anyhow::Result<()> {
    let now = crate::clock::now_unix();
    match command {
        TenantCommand::Add { domain, name, json } => {
            let display_name = name.unwrap_or_else(|| domain.clone());
            let tenant = app.store.add_tenant(&domain, &display_name, now)?;
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

fn run_client(app: App, command: ClientCommand) -> anyhow::Result<()> {
    let now = crate::clock::now_unix();
    match command {
        ClientCommand::Add {
            tenant,
            name,
            grant_types,
            scopes,
            access_token_lifetime,
            refresh_token_lifetime,
            json,
        } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            let grant_types = normalise_list(grant_types);
            validate_grant_types(&grant_types, &registered_grant_types(&app.config))?;
            let scopes = normalise_list(scopes);
            crate::oauth::scopes::parse_scope(&scopes.join(" "))
                .map_err(|e| anyhow::anyhow!("--scopes: {}", e.description))?;
            if name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let client_id = crate::secrets::generate_client_id()?;
            let client_secret = crate::secrets::generate_client_secret()?;
            let client = app.store.add_client(
                &NewServiceProvider {
                    tenant_domain: tenant,
                    name,
                    client_id,
                    secret_hash: crate::secrets::hash_secret(&client_secret),
                    grant_types,
                    scopes,
                    access_token_lifetime: access_token_lifetime.map(i64::from),
                    refresh_token_lifetime: refresh_token_lifetime.map(i64::from),
                },
                now,
            )?;
            if json {
                let mut value = serde_json::to_value(&client)?;
                value["client_secret"] = serde_json::Value::String(client_secret);
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!(
                    "client '{}' added to tenant '{}'",
                    client.name, client.tenant_domain
                );
                println!("client_id:     {}", client.client_id);
                println!("client_secret: {client_secret}");
                println!("(the secret is shown only now; only its hash is stored)");
            }
        }
        ClientCommand::List { tenant, json } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            if app.store.find_active_tenant(&tenant)?.is_none() {
                bail!("tenant '{tenant}' not found");
            }
            let clients = app.store.list_clients(&tenant)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&clients)?);
            } else {
                for c in clients {
                    println!(
                        "{}\t{}\tgrants={}\tscopes={}",
                        c.client_id,
                        c.name,
                        c.grant_types.join(","),
                        c.scopes.join(",")
                    );
                }
            }
        }
        ClientCommand::Remove { tenant, name } => {
            let tenant = tenant_or_default(&app, &tenant).to_owned();
            app.store.remove_client(&tenant, &name)?;
            println!("client '{name}' removed from tenant '{tenant}'");
        }
    }
    Ok(())
}

/// Built-in grant types plus those registered for plugins in the configuration.
fn registered_grant_types(config: &Config) -> Vec<String> {
    BUILT_IN_GRANT_TYPES
        .iter()
        .map(|g| (*g).to_owned())
        .chain(
            config
                .oauth
                .custom_grant_type
                .iter()
                .map(|g| g.name.clone()),
        )
        .collect()
}

fn list_plugins(config: &Config, json: bool) -> anyhow::Result<()> {
    let statuses = PluginHost::inspect(&config.plugins, &config.oauth);
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

/// Trims, drops empties and duplicates, keeps order.
fn normalise_list(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values.iter().flat_map(|v| v.split_whitespace()) {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    out
}

/// Grant type names are checked for shape (RFC 6749: a name such as `client_credentials`, or an
/// absolute URI for extension grants). One this server does not handle now is accepted with a
/// warning: a plugin may be registered for it later.
fn validate_grant_types(grant_types: &[String], handled: &[String]) -> anyhow::Result<()> {
    if grant_types.is_empty() {
        bail!("--grant-types needs at least one grant type");
    }
    for g in grant_types {
        let is_name = g
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        let is_uri = g.contains(':') && g.bytes().all(|b| b.is_ascii_graphic());
        if !(is_name || is_uri) {
            bail!(
                "invalid grant type '{}': use a name like client_credentials or an absolute URI",
                g.escape_default()
            );
        }
        if !handled.contains(g) {
            eprintln!(
                "warning: grant type '{g}' is not handled by this server now (handled: {}); \
                 requests with it get unsupported_grant_type until a plugin handles it",
                handled.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_normalised() {
        assert_eq!(
            normalise_list(vec!["a".into(), " b ".into(), "a".into(), "".into()]),
            ["a", "b"]
        );
    }

    #[test]
    fn grant_types_are_checked() {
        let handled = registered_grant_types(&Config::default());
        let check = |g: &str| validate_grant_types(&[g.to_owned()], &handled);
        assert!(check("client_credentials").is_ok());
        assert!(check("password").is_ok());
        assert!(check("urn:ietf:params:oauth:grant-type:jwt-bearer").is_ok());
        let err = check("client credentials").unwrap_err();
        assert!(err.to_string().contains("invalid grant type"));
        assert!(validate_grant_types(&[], &handled).is_err());
    }

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
