//! The Grantor under test: a deployment the harness writes (temporary config, database, plugin
//! drop directory) and the `grantor serve` process it starts and kills on drop, or a running
//! server it attaches to. Provisioning goes through the real CLI, exactly as an operator types
//! it; nothing here touches the database directly.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::Method;
use serde_json::Value;
use tokio::time::Instant;

use crate::cli::{SigningAlg, TokenFormat};
use crate::codes;
use crate::load::{self, Endpoint};

/// The library the JWT bearer plugin is registered under.
const PLUGIN_LIBRARY: &str = "grant_jwt_bearer";
/// The library the token exchange plugin is registered under (token-exchange mode).
const EXCHANGE_PLUGIN_LIBRARY: &str = "grant_token_exchange";
/// How long `grantor serve` may take to print its address, and then to answer `/health`.
const START_DEADLINE: Duration = Duration::from_secs(30);
const HEALTH_DEADLINE: Duration = Duration::from_secs(30);

/// A file next to this executable (`target/release/grantor-bench` -> `target/release/NAME`).
pub fn beside_current_exe(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate this executable")?;
    let dir = exe
        .parent()
        .with_context(|| format!("{} has no parent directory", exe.display()))?;
    Ok(dir.join(name))
}

pub fn default_grantor_binary() -> anyhow::Result<PathBuf> {
    beside_current_exe(&format!("grantor{}", std::env::consts::EXE_SUFFIX))
}

pub fn default_plugin_library() -> anyhow::Result<PathBuf> {
    beside_current_exe(&plugin_file_name(PLUGIN_LIBRARY))
}

pub fn default_exchange_plugin_library() -> anyhow::Result<PathBuf> {
    beside_current_exe(&plugin_file_name(EXCHANGE_PLUGIN_LIBRARY))
}

fn plugin_file_name(library: &str) -> String {
    format!(
        "{}{library}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

fn require_file(path: &Path, what: &str) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!(
            "{}: {what} not found (build it: cargo build --release -p grantor -p grant-jwt-bearer \
             -p grant-token-exchange)",
            path.display()
        );
    }
    Ok(())
}

/// The `grantor` CLI bound to one configuration file.
pub struct GrantorCli {
    pub binary: PathBuf,
    pub config: PathBuf,
}

impl GrantorCli {
    pub fn new(binary: PathBuf, config: PathBuf) -> anyhow::Result<GrantorCli> {
        require_file(&binary, "the grantor binary")?;
        require_file(&config, "the configuration file")?;
        Ok(GrantorCli { binary, config })
    }

    /// Runs `grantor --config F ARGS...` and returns its stdout; its stderr on failure.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        self.run_with_input(args, None)
    }

    /// As `run`, with `input` on its standard input (a password, which never goes on a command
    /// line).
    pub fn run_with_input(&self, args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
        let mut child = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(input.as_bytes())
                .with_context(|| format!("cannot write to grantor {}", args.join(" ")))?;
        }
        let out = child
            .wait_with_output()
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        if !out.status.success() {
            bail!(
                "grantor {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8(out.stdout).context("grantor printed non-UTF-8 output")
    }
}

/// What provisioning registered.
pub struct Provisioned {
    pub client_id: String,
    pub client_secret: String,
}

/// What the bench client may do besides the jwt-bearer, refresh_token and client_credentials
/// grants (token-exchange mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct Exchange<'a> {
    /// Also the token exchange grant.
    pub grant: bool,
    /// A server it may address (`client add --audience`): the audience of the JWT authorization
    /// grants it asks for.
    pub audience: Option<&'a str>,
}

/// A tenant of its own, one client allowed all three grants (and the token exchange grant, as
/// `exchange` says) and `scope` and issued access tokens in `token_format`, and the identity
/// provider `issuer` trusting `certificate`. `alias` is an extra audience value naming the server
/// (attach mode, where the server's public base URL is not known here).
pub fn provision(
    cli: &GrantorCli,
    tenant: &str,
    scope: &str,
    token_format: TokenFormat,
    exchange: Exchange<'_>,
    identity_provider: (&str, &Path),
    alias: Option<&str>,
) -> anyhow::Result<Provisioned> {
    let (issuer, certificate) = identity_provider;
    cli.run(&["tenant", "add", tenant])?;
    let mut grant_types = format!(
        "{},refresh_token,client_credentials",
        load::JWT_BEARER_GRANT
    );
    if exchange.grant {
        grant_types.push(',');
        grant_types.push_str(load::TOKEN_EXCHANGE_GRANT);
    }
    let mut client = vec![
        "client",
        "add",
        "--tenant",
        tenant,
        "--name",
        "bench",
        "--grant-types",
        &grant_types,
        "--scopes",
        scope,
        "--json",
    ];
    // Opaque is the default; not naming it keeps older binaries (--grantor) usable.
    if token_format != TokenFormat::Opaque {
        client.extend(["--token-format", token_format.name()]);
    }
    if let Some(audience) = exchange.audience {
        client.extend(["--audience", audience]);
    }
    let client = registered_client(&cli.run(&client)?)?;
    let certificate = certificate
        .to_str()
        .with_context(|| format!("{}: not a UTF-8 path", certificate.display()))?;
    let mut idp = vec![
        "idp",
        "add",
        "--tenant",
        tenant,
        "--name",
        "bench-idp",
        "--issuer",
        issuer,
        "--certificate",
        certificate,
    ];
    if let Some(alias) = alias {
        idp.extend(["--alias", alias]);
    }
    cli.run(&idp)?;
    Ok(client)
}

/// What provisioning for `--mode authorization-code` registered: the client and its user.
pub struct ProvisionedSignIn {
    pub client: Provisioned,
    pub username: String,
    pub password: String,
}

/// A tenant of its own with one user (a random password, given on standard input as an operator
/// types it) and one client allowed `authorization_code` only, scope `openid`, the harness's
/// redirect URI, its users' consent skipped (a first-party app), access tokens in `token_format`.
pub fn provision_sign_in(
    cli: &GrantorCli,
    tenant: &str,
    token_format: TokenFormat,
) -> anyhow::Result<ProvisionedSignIn> {
    cli.run(&["tenant", "add", tenant])?;
    let username = "bench-user".to_owned();
    let password = crate::mint::random_hex(16)?;
    cli.run_with_input(
        &["user", "add", "--tenant", tenant, "--username", &username],
        Some(&format!("{password}\n")),
    )?;
    let mut client = vec![
        "client",
        "add",
        "--tenant",
        tenant,
        "--name",
        "bench",
        "--grant-types",
        "authorization_code",
        "--scopes",
        codes::SCOPE,
        "--redirect-uri",
        codes::REDIRECT_URI,
        "--consent",
        "skip",
        "--json",
    ];
    if token_format != TokenFormat::Opaque {
        client.extend(["--token-format", token_format.name()]);
    }
    let client = registered_client(&cli.run(&client)?)?;
    Ok(ProvisionedSignIn {
        client,
        username,
        password,
    })
}

/// The client_id and secret `grantor client add --json` printed.
fn registered_client(output: &str) -> anyhow::Result<Provisioned> {
    let client: Value =
        serde_json::from_str(output).context("grantor client add --json: not JSON")?;
    let field = |name: &str| -> anyhow::Result<String> {
        client[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("grantor client add --json: no {name} in {client}"))
    };
    Ok(Provisioned {
        client_id: field("client_id")?,
        client_secret: field("client_secret")?,
    })
}

/// A deployment directory the harness owns: config, SQLite file (unless PostgreSQL), plugins.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub base_url: String,
}

impl Deployment {
    /// Writes the configuration: a free loopback port (so `public_base_url`, from which audience
    /// values derive, names the real address), the database, the plugin copied into the drop
    /// directory and registered for the JWT bearer grant (and `exchange_plugin` for the token
    /// exchange grant, when given), `signing` as the tenants' key type when given
    /// (`[oauth.signing] algorithm`), and `code_lifetime` as the authorization codes' when given
    /// (`[oauth.sign_in] authorization_code_lifetime_seconds`), and room for `connections` from
    /// the harness's one address.
    pub fn write(
        connections: u32,
        database: Option<&str>,
        plugin: &Path,
        exchange_plugin: Option<&Path>,
        signing: Option<SigningAlg>,
        code_lifetime: Option<u64>,
    ) -> anyhow::Result<Deployment> {
        require_file(plugin, "the JWT bearer plugin")?;
        if let Some(exchange_plugin) = exchange_plugin {
            require_file(exchange_plugin, "the token exchange plugin")?;
        }
        let dir = tempfile::Builder::new()
            .prefix("grantor-bench-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins)?;
        std::fs::copy(plugin, plugins.join(plugin_file_name(PLUGIN_LIBRARY)))
            .with_context(|| format!("cannot copy {}", plugin.display()))?;
        if let Some(exchange_plugin) = exchange_plugin {
            std::fs::copy(
                exchange_plugin,
                plugins.join(plugin_file_name(EXCHANGE_PLUGIN_LIBRARY)),
            )
            .with_context(|| format!("cannot copy {}", exchange_plugin.display()))?;
        }
        let url = match database {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}", dir.path().join("grantor.db").display()),
        };
        // A database the runs share (`--database`) records the key-encryption key its keys are
        // sealed under, and refuses a server with another one: every run brings the same one.
        let kek = match database {
            Some(_) => {
                let path = dir.path().join("bench-key-encryption.key");
                std::fs::write(&path, SHARED_DATABASE_KEK)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
                Some(path.display().to_string())
            }
            None => None,
        };
        let port = free_loopback_port()?;
        let base_url = format!("http://127.0.0.1:{port}");
        let config = dir.path().join("deployment.toml");
        let text = config_text(
            connections,
            &format!("127.0.0.1:{port}"),
            &base_url,
            &url,
            &plugins.display().to_string(),
            exchange_plugin.is_some(),
            signing,
            code_lifetime,
            kek.as_deref(),
        );
        std::fs::write(&config, text)
            .with_context(|| format!("cannot write {}", config.display()))?;
        Ok(Deployment {
            dir,
            config,
            base_url,
        })
    }
}

/// The key-encryption key of the benchmark's runs on a shared database (`--database`): 32 bytes
/// in base64, fixed so that every run can open the keys the others sealed. Benchmark data only;
/// never a deployment's.
const SHARED_DATABASE_KEK: &str = "Z3JhbnRvci1iZW5jaC1zaGFyZWQtZGF0YWJhc2Uta2s=\n";

/// Connections the harness opens besides the load's own (`/health`, provisioning checks).
const HARNESS_OWN_CONNECTIONS: usize = 8;

/// `server.max_connections_per_address` when the configuration does not set it.
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;

/// The deployment's configuration file. The token exchange grant's registration (with its
/// defaults: no properties), `[oauth.signing]` and `[oauth.sign_in]` only when asked for, and
/// `[keys]` only on a shared database, so a run that issues no JWT and makes no code on its own
/// database works with binaries that predate those sections.
#[allow(clippy::too_many_arguments)]
fn config_text(
    connections: u32,
    bind: &str,
    base_url: &str,
    database_url: &str,
    plugins: &str,
    token_exchange: bool,
    signing: Option<SigningAlg>,
    code_lifetime: Option<u64>,
    kek_file: Option<&str>,
) -> String {
    let mut text = format!(
        "[server]\nbind = {}\npublic_base_url = {}\n\
         [database]\nurl = {}\n\
         [plugins]\ndirectory = {}\n\
         [[oauth.custom_grant_type]]\nname = {}\nlibrary = {}\n",
        toml_string(bind),
        toml_string(base_url),
        toml_string(database_url),
        toml_string(plugins),
        toml_string(load::JWT_BEARER_GRANT),
        toml_string(PLUGIN_LIBRARY),
    );
    // All the load comes from one loopback address, and the harness reads `/health` beside it:
    // at the server's per-address cap (256 by default) that read would close a load connection.
    let per_address = connections as usize + HARNESS_OWN_CONNECTIONS;
    if per_address > DEFAULT_MAX_CONNECTIONS_PER_ADDRESS {
        text = text.replacen(
            "[database]\n",
            &format!("max_connections_per_address = {per_address}\n[database]\n"),
            1,
        );
    }
    if token_exchange {
        text.push_str(&format!(
            "[[oauth.custom_grant_type]]\nname = {}\nlibrary = {}\n",
            toml_string(load::TOKEN_EXCHANGE_GRANT),
            toml_string(EXCHANGE_PLUGIN_LIBRARY),
        ));
    }
    if let Some(alg) = signing {
        text.push_str(&format!(
            "[oauth.signing]\nalgorithm = {}\n",
            toml_string(alg.name())
        ));
    }
    if let Some(seconds) = code_lifetime {
        text.push_str(&format!(
            "[oauth.sign_in]\nauthorization_code_lifetime_seconds = {seconds}\n"
        ));
    }
    if let Some(file) = kek_file {
        text.push_str(&format!(
            "[keys]\nencryption_key_file = {}\n",
            toml_string(file)
        ));
    }
    text
}

/// A TOML basic string (a JSON string literal is one).
pub fn toml_string(s: &str) -> String {
    Value::from(s).to_string()
}

/// A port that was free a moment ago. The server binds it shortly after; a collision fails the
/// start loudly.
pub fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// A running `grantor serve` (or `grantor gateway`), killed when dropped (also when the run
/// fails).
pub struct ServerProcess {
    child: Child,
    pub base_url: String,
    pub log_path: PathBuf,
}

impl ServerProcess {
    /// Starts `grantor --config F serve` with RUST_LOG=warn, its stderr to `log_path`, and waits
    /// for the address line on its stdout.
    pub fn start(binary: &Path, config: &Path, log_path: &Path) -> anyhow::Result<ServerProcess> {
        Self::start_command(binary, config, "serve", "grantor listening on ", log_path)
    }

    /// Starts `grantor --config F COMMAND` likewise; the first line of its stdout is `banner`
    /// followed by its base URL.
    pub fn start_command(
        binary: &Path,
        config: &Path,
        command: &str,
        banner: &str,
        log_path: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let log = std::fs::File::create(log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .arg(command)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut server = ServerProcess {
            child,
            base_url: String::new(),
            log_path: log_path.to_owned(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(first);
            // Keep draining, so a later line can never block the server on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(START_DEADLINE) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => bail!("cannot read the server's stdout: {e}"),
            Err(_) => bail!(
                "grantor {command} printed no address within {START_DEADLINE:?}; log: {}",
                server.log_tail()
            ),
        };
        server.base_url = line
            .trim()
            .strip_prefix(banner)
            .with_context(|| {
                format!(
                    "grantor {command} did not start (first line {line:?}); log: {}",
                    server.log_tail()
                )
            })?
            .to_owned();
        Ok(server)
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() {
            "(empty)".to_owned()
        } else {
            format!("\n{tail}")
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `GET {base}/health` until it answers 200.
pub async fn wait_for_health(base_url: &str) -> anyhow::Result<()> {
    let endpoint = Endpoint::parse(&format!("{base_url}/health")).await?;
    let deadline = Instant::now() + HEALTH_DEADLINE;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match load::send_once(&endpoint, Method::GET, None, None).await {
            Ok((status, _)) if status.is_success() => return Ok(()),
            Ok((status, body)) => last = load::error_sample(status, &body),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{base_url}/health did not answer 200 within {HEALTH_DEADLINE:?}: {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration with nothing optional asked for.
    fn plain_config(connections: u32) -> String {
        config_text(
            connections,
            "127.0.0.1:1",
            "http://127.0.0.1:1",
            "sqlite://x",
            "/p",
            false,
            None,
            None,
            None,
        )
    }

    #[test]
    fn config_quotes_paths_as_toml_strings() {
        assert_eq!(toml_string(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
    }

    #[test]
    fn config_names_the_signing_algorithm_only_when_asked() {
        let plain = plain_config(32);
        assert!(!plain.contains("[oauth.signing]"), "{plain}");
        assert!(!plain.contains("[oauth.sign_in]"), "{plain}");
        assert!(!plain.contains("[keys]"), "{plain}");
        let text = config_text(
            32,
            "127.0.0.1:1",
            "http://127.0.0.1:1",
            "sqlite://x",
            "/p",
            false,
            Some(SigningAlg::EdDSA),
            None,
            None,
        );
        // After the array of tables, a table of its own: [oauth.signing] algorithm = "EdDSA".
        assert!(
            text.ends_with(
                "library = \"grant_jwt_bearer\"\n[oauth.signing]\nalgorithm = \"EdDSA\"\n"
            ),
            "{text}"
        );
        let shared = config_text(
            32,
            "127.0.0.1:1",
            "http://127.0.0.1:1",
            "postgres://x",
            "/p",
            false,
            None,
            None,
            Some("/d/kek"),
        );
        assert!(
            shared.ends_with("[keys]\nencryption_key_file = \"/d/kek\"\n"),
            "{shared}"
        );
        let codes = config_text(
            32,
            "127.0.0.1:1",
            "http://127.0.0.1:1",
            "sqlite://x",
            "/p",
            false,
            Some(SigningAlg::RS256),
            Some(600),
            None,
        );
        assert!(
            codes.ends_with(
                "algorithm = \"RS256\"\n[oauth.sign_in]\nauthorization_code_lifetime_seconds = 600\n"
            ),
            "{codes}"
        );
    }

    #[test]
    fn config_registers_the_token_exchange_plugin_only_when_asked() {
        let plain = plain_config(32);
        assert!(!plain.contains("token-exchange"), "{plain}");
        let text = config_text(
            32,
            "127.0.0.1:1",
            "http://127.0.0.1:1",
            "sqlite://x",
            "/p",
            true,
            None,
            None,
            None,
        );
        assert!(
            text.ends_with(
                "library = \"grant_jwt_bearer\"\n[[oauth.custom_grant_type]]\n\
                 name = \"urn:ietf:params:oauth:grant-type:token-exchange\"\n\
                 library = \"grant_token_exchange\"\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn config_makes_room_for_the_loads_connections_from_one_address() {
        let text = plain_config;
        assert!(!text(32).contains("max_connections_per_address"));
        assert!(
            text(256).contains(
                "public_base_url = \"http://127.0.0.1:1\"\nmax_connections_per_address = 264\n\
                 [database]\n"
            ),
            "{}",
            text(256)
        );
    }
}
