//! A running `grantor serve` or `grantor gateway` process: started with its address read from its
//! first line of stdout, its log kept in a file (replayed when the test fails), killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::grantor_binary;

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

/// A running `grantor serve`, killed on drop. Its log (stderr, warnings and errors) goes to a
/// file beside the configuration, replayed to the test's output if the test fails.
pub struct Server {
    child: Child,
    log_path: PathBuf,
    pub base_url: String,
    pub http: reqwest::blocking::Client,
    pub(super) running: Option<Arc<Mutex<Vec<String>>>>,
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
    pub(super) fn start_command(
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

    pub(super) fn start_command_limited(
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

/// Polls until `check` holds, failing after `bound` plus a margin for a busy machine.
pub fn eventually(what: &str, bound: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits (with a deadline) until a listener started beside the server's (the admin one) accepts
/// connections on `127.0.0.1:port`.
pub fn wait_until_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the admin listener never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `id` has the shape of a request id in the server's log lines: the process's prefix
/// (eight base64url characters, drawn once), a dot, the request's number in hex.
pub fn is_request_id(id: &str) -> bool {
    id.split_once('.').is_some_and(|(prefix, number)| {
        prefix.len() == 8
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_hexdigit())
    })
}
