//! Starting the real binary: temporary config and database, port 0, the address read from the
//! server's stdout, the process killed when the test ends.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use grantor_scratch_postgres::ScratchPostgres;
pub use grantor_scratch_postgres::POSTGRES_URL_VAR;

/// How often test servers poll for configuration changes (`database.cache_refresh_interval_ms`):
/// shorter than the default, so waiting for a CLI change to take effect costs little.
pub const CACHE_REFRESH_MS: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL when asked for (then it must work).
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if std::env::var_os(POSTGRES_URL_VAR).is_some() {
        all.push(Backend::Postgres);
    }
    all
}

/// The `grantor` binary next to this test binary (`target/<profile>/deps/e2e-*` ->
/// `target/<profile>/grantor`). `CARGO_BIN_EXE_*` exists only inside the binary's own package.
pub fn grantor_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir.join(format!("grantor{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} not found: build the workspace first (cargo build --workspace)",
        binary.display()
    );
    binary
}

/// A library the workspace built (e.g. `grant_test` -> `target/debug/libgrant_test.so`).
pub fn built_library(name: &str) -> PathBuf {
    let binary = grantor_binary();
    let path = binary.parent().unwrap().join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        path.is_file(),
        "{} not found: build the workspace first",
        path.display()
    );
    path
}

/// A loopback port free now (for a listener the test configures, such as the admin one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `[[oauth.custom_grant_type]]` registration of `library` for `grant_type`, with properties
/// given as TOML lines.
pub fn registration(grant_type: &str, library: &str, properties: &str) -> String {
    format!(
        "[[oauth.custom_grant_type]]\nname = \"{grant_type}\"\nlibrary = \"{library}\"\n\
         [oauth.custom_grant_type.properties]\n{properties}\n"
    )
}

/// A database and configuration for one test; the server and the CLI share them.
pub struct Deployment {
    _dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// This deployment's drop directory (`[plugins] directory`).
    pub plugins_dir: PathBuf,
    _postgres: Option<ScratchPostgres>,
    /// Base URLs of this deployment's running servers: after a CLI change, the harness waits
    /// until each has it in effect (servers follow changes within their refresh interval).
    running: Arc<Mutex<Vec<String>>>,
    /// `sqlite://FILE` or `postgres://...`: tests that look at what was stored read it here.
    pub database_url: String,
}

impl Deployment {
    /// The deployment's temporary directory, also its `database.data_dir`.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    pub fn new(backend: Backend) -> Deployment {
        Self::with_extra_config(backend, "")
    }

    pub fn with_extra_config(backend: Backend, extra: &str) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let (url, postgres) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("grantor.db").display()),
                None,
            ),
            Backend::Postgres => {
                let db = ScratchPostgres::create("grantor_e2e");
                (db.url.clone(), Some(db))
            }
        };
        let config_path = dir.path().join("deployment.toml");
        let plugins_dir = dir.path().join("plugins");
        std::fs::create_dir(&plugins_dir).unwrap();
        std::fs::write(
            &config_path,
            format!(
                "[server]\nbind = \"127.0.0.1:0\"\n\
                 [database]\nurl = \"{url}\"\ndata_dir = \"{}\"\npool_size = 8\ncache_refresh_interval_ms = {CACHE_REFRESH_MS}\n\
                 [plugins]\ndirectory = \"{}\"\n{extra}",
                dir.path().display(),
                plugins_dir.display()
            ),
        )
        .unwrap();
        Deployment {
            _dir: dir,
            config_path,
            plugins_dir,
            _postgres: postgres,
            running: Arc::default(),
            database_url: url,
        }
    }

    /// Runs `grantor --config <this deployment> ARGS...`; once it succeeded, every running server
    /// of the deployment has its change in effect.
    pub fn cli(&self, args: &[&str]) -> Output {
        let out = self.cli_without_waiting(args);
        if out.status.success() {
            let running = self.running.lock().unwrap().clone();
            for base_url in running {
                wait_until_changes_are_seen(&base_url);
            }
        }
        out
    }

    /// `cli` with `stdin` written to the command's standard input (a password, say).
    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(grantor_binary())
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            let running = self.running.lock().unwrap().clone();
            for base_url in running {
                wait_until_changes_are_seen(&base_url);
            }
        }
        out
    }

    /// Adds a user with `password` given on stdin, as an operator would pipe it.
    pub fn add_user(&self, tenant: &str, username: &str, password: &str, extra: &[&str]) {
        let mut args = vec!["user", "add", "--tenant", tenant, "--username", username];
        args.extend_from_slice(extra);
        let out = self.cli_with_stdin(&args, &format!("{password}\n"));
        assert!(
            out.status.success(),
            "grantor {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the CLI and returns at once: running servers may not see its change yet.
    pub fn cli_without_waiting(&self, args: &[&str]) -> Output {
        self.cli_with_env(args, &[])
    }

    /// Runs the CLI with `env` added to its environment and returns at once.
    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(grantor_binary())
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs the CLI and returns its stdout, failing the test with stderr if it failed.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "grantor {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Registers a client through the CLI; returns (client_id, client_secret).
    pub fn add_client(&self, tenant: &str, name: &str, grants: &str, scopes: &str) -> Credentials {
        self.add_client_with(tenant, name, grants, scopes, &[])
    }

    /// `add_client` with more `client add` arguments (`--token-format jwt`, ...).
    pub fn add_client_with(
        &self,
        tenant: &str,
        name: &str,
        grants: &str,
        scopes: &str,
        extra: &[&str],
    ) -> Credentials {
        let mut args = vec![
            "client",
            "add",
            "--tenant",
            tenant,
            "--name",
            name,
            "--grant-types",
            grants,
            "--json",
        ];
        if !scopes.is_empty() {
            args.extend(["--scopes", scopes]);
        }
        args.extend_from_slice(extra);
        let json: Value = serde_json::from_str(&self.cli_ok(&args)).unwrap();
        Credentials {
            id: json["client_id"].as_str().unwrap().to_owned(),
            secret: json["client_secret"].as_str().unwrap().to_owned(),
        }
    }

    pub fn start(&self) -> Server {
        self.start_with_env(&[])
    }

    /// Starts `grantor serve` with the gateway inside (`gateway.enabled` in its configuration).
    pub fn start_with_gateway(&self) -> Server {
        let mut server = Server::start_command(
            &self.config_path,
            &[],
            "serve",
            "grantor listening on ",
            Some("grantor gateway listening on "),
        );
        self.running.lock().unwrap().push(server.base_url.clone());
        server.running = Some(self.running.clone());
        server
    }

    /// Starts a server with `GRANTOR_*` overrides in its environment.
    pub fn start_with_env(&self, env: &[(&str, &str)]) -> Server {
        self.start_limited(env, ProcessLimits::default())
    }

    /// Starts a server under `limits` (resource limits of its process).
    pub fn start_limited(&self, env: &[(&str, &str)], limits: ProcessLimits) -> Server {
        let mut server = Server::start_command_limited(
            &self.config_path,
            env,
            "serve",
            "grantor listening on ",
            None,
            limits,
        );
        self.running.lock().unwrap().push(server.base_url.clone());
        server.running = Some(self.running.clone());
        server
    }

    /// Drops a built library into this deployment's plugin directory, as an operator would.
    pub fn drop_plugin(&self, name: &str) {
        let source = built_library(name);
        std::fs::copy(&source, self.plugins_dir.join(source.file_name().unwrap())).unwrap();
    }

    /// `grantor serve` that must refuse to start; returns its stderr. A server that starts
    /// instead fails the test (killed once it says it listens), rather than running on.
    pub fn serve_fails(&self) -> String {
        let mut child = Command::new(grantor_binary())
            .arg("--config")
            .arg(&self.config_path)
            .arg("serve")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        if first_line.starts_with("grantor listening on ") {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success() && first_line.is_empty(),
            "the server started: {first_line}{stderr}"
        );
        stderr
    }
}

/// Resource limits for a server process (soft and hard alike), for tests of running out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessLimits {
    /// `RLIMIT_NOFILE`: descriptors.
    pub open_files: Option<u64>,
    /// `RLIMIT_FSIZE`: the largest file the process may write, in bytes. A write past it fails
    /// with `EFBIG` (`SIGXFSZ` is ignored), as writes fail on a full disk.
    pub file_size: Option<u64>,
}

impl ProcessLimits {
    /// Runs in the child before exec.
    fn apply(self) -> std::io::Result<()> {
        let set = |resource, value: u64| {
            let limit = libc::rlimit {
                rlim_cur: value as libc::rlim_t,
                rlim_max: value as libc::rlim_t,
            };
            // SAFETY: see the caller; the struct lives on this stack frame.
            if unsafe { libc::setrlimit(resource, &limit) } == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        };
        if let Some(n) = self.open_files {
            set(libc::RLIMIT_NOFILE, n)?;
        }
        if let Some(n) = self.file_size {
            set(libc::RLIMIT_FSIZE, n)?;
            // SAFETY: an ignored signal stays ignored across exec; nothing else is touched.
            unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: String,
    pub secret: String,
}

/// A running `grantor serve`, killed on drop. Its log (stderr, warnings and errors) goes to a
/// file beside the configuration, replayed to the test's output if the test fails.
pub struct Server {
    child: Child,
    log_path: PathBuf,
    pub base_url: String,
    pub http: reqwest::blocking::Client,
    running: Option<Arc<Mutex<Vec<String>>>>,
    /// The gateway's base URL, when `grantor serve` runs one (`gateway.enabled`).
    pub gateway_url: Option<String>,
}

/// Polls `/health` until the server's read cache has caught up with the database's change counter
/// as it stood when the poll began.
pub fn wait_until_changes_are_seen(base_url: &str) {
    let http = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut target = None;
    loop {
        let health: Value = http
            .get(format!("{base_url}/health"))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        let database = health["database_generation"].as_i64();
        let target = *target.get_or_insert(database);
        if let (Some(cached), Some(wanted)) = (health["cache_generation"].as_i64(), target) {
            if cached >= wanted {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{base_url} did not take up the configuration change: {health}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `grantor gateway` with a configuration of its own (it needs no database).
pub struct Gateway {
    pub server: Server,
    _dir: tempfile::TempDir,
}

/// Starts `grantor gateway` with `config` (its `[gateway]` section and anything else).
pub fn start_gateway(config: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let server = start_gateway_in(dir.path(), config);
    Gateway { server, _dir: dir }
}

/// Starts `grantor gateway` with `config` written into `dir`, which is also its data directory
/// (where it keeps its signing key).
pub fn start_gateway_in(dir: &Path, config: &str) -> Server {
    let config_path = dir.join("gateway.toml");
    std::fs::write(
        &config_path,
        format!("{config}\n[database]\ndata_dir = \"{}\"\n", dir.display()),
    )
    .unwrap();
    Server::start_command(
        &config_path,
        &[],
        "gateway",
        "grantor gateway listening on ",
        None,
    )
}

impl Server {
    /// Runs `grantor COMMAND`, whose first line of stdout is `BANNER` and its base URL.
    fn start_command(
        config_path: &Path,
        env: &[(&str, &str)],
        command: &str,
        banner: &str,
        second_banner: Option<&str>,
    ) -> Server {
        Self::start_command_limited(
            config_path,
            env,
            command,
            banner,
            second_banner,
            ProcessLimits::default(),
        )
    }

    fn start_command_limited(
        config_path: &Path,
        env: &[(&str, &str)],
        command: &str,
        banner: &str,
        second_banner: Option<&str>,
        limits: ProcessLimits,
    ) -> Server {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let log_path = config_path.with_file_name(format!(
            "server-{}.log",
            STARTED.fetch_add(1, Ordering::SeqCst)
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command_line = Command::new(grantor_binary());
        command_line
            .arg("--config")
            .arg(config_path)
            .arg(command)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log);
        if limits != ProcessLimits::default() {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit and signal are async-signal-safe; they run in the child between
            // fork and exec and touch nothing else.
            unsafe {
                command_line.pre_exec(move || limits.apply());
            }
        }
        let mut child = command_line.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).unwrap();
        let second_url = second_banner.map(|second| {
            let mut next = String::new();
            reader.read_line(&mut next).unwrap();
            next.trim()
                .strip_prefix(second)
                .unwrap_or_else(|| panic!("expected {second:?}, got {next:?}"))
                .to_owned()
        });
        let base_url = line
            .trim()
            .strip_prefix(banner)
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("server did not start; first line: {line:?}; its log:\n{log}")
            })
            .to_owned();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Server {
            child,
            log_path,
            base_url,
            http,
            running: None,
            gateway_url: second_url,
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The log once it contains `needle` (lines are written by a background thread, so one may
    /// land just after the response it belongs to); the log as it is if that never happens.
    pub fn log_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with SIGTERM, as an operator would, and waits for it to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        self.child.wait().unwrap()
    }

    /// Sends `signal` (e.g. `libc::SIGHUP`) to the server.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Stops the server with SIGKILL: no shutdown, no flushing, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// GETs `path`.
    pub fn get(&self, path: &str) -> Reply {
        Reply::from(self.http.get(self.url(path)).send().unwrap())
    }

    /// POSTs a form to `path` with optional Basic credentials.
    pub fn post_form(
        &self,
        path: &str,
        basic: Option<&Credentials>,
        form: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some(c) = basic {
            request = request.basic_auth(&c.id, Some(&c.secret));
        }
        Reply::from(request.send().unwrap())
    }

    pub fn token(&self, path: &str, client: &Credentials, form: &[(&str, &str)]) -> Reply {
        self.post_form(path, Some(client), form)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.lock().unwrap().retain(|url| *url != self.base_url);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- server log ({}) ---\n{}",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

/// A response read whole, for assertions.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl From<reqwest::blocking::Response> for Reply {
    fn from(response: reqwest::blocking::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
        Reply {
            status,
            headers,
            json,
        }
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 6749 error response and returns its description.
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.json["error"], code, "{}", self.json);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        self.json["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn assert_token(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.json);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.json["token_type"], "Bearer");
        assert!(self.json["access_token"].as_str().unwrap().len() >= 32);
        &self.json
    }
}
