//! One test's deployment: a temporary directory with its configuration, database (a SQLite file,
//! or a scratch PostgreSQL database) and plugin directory, and the `grantor serve` processes
//! started on it. The built binary and libraries are found next to the test binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use grantor_scratch_postgres::ScratchPostgres;

use super::{Backend, ProcessLimits, Server};

/// How often test servers poll for configuration changes (`database.cache_refresh_interval_ms`):
/// shorter than the default, so waiting for a CLI change to take effect costs little.
pub const CACHE_REFRESH_MS: u64 = 100;

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

/// A database and configuration for one test; the server and the CLI share them.
pub struct Deployment {
    _dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// This deployment's drop directory (`[plugins] directory`).
    pub plugins_dir: PathBuf,
    _postgres: Option<ScratchPostgres>,
    /// Base URLs of this deployment's running servers: after a CLI change, the harness waits
    /// until each has it in effect (servers follow changes within their refresh interval).
    pub(super) running: Arc<Mutex<Vec<String>>>,
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
        self.serve_fails_with_env(&[])
    }

    /// `serve_fails` with `env` added to the server's environment (`GRANTOR_*` overrides).
    pub fn serve_fails_with_env(&self, env: &[(&str, &str)]) -> String {
        let mut child = Command::new(grantor_binary())
            .arg("--config")
            .arg(&self.config_path)
            .arg("serve")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
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

/// An `[admin]` section: the admin listener on `127.0.0.1:port`, its token read from the
/// variable `token_env`.
pub fn admin_listener(port: u16, token_env: &str) -> String {
    format!("[admin]\nbind = \"127.0.0.1:{port}\"\ntoken_env = \"{token_env}\"\n")
}
