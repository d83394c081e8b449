//! Unmodified third-party clients, installed by the test setup, never by this repository's code:
//! Python with PyJWT, cryptography, requests and Authlib, Node.js with `openid-client` (v6), `jose`
//! and `playwright-core`, and a real browser, Debian's `chromium`, that `playwright-core` drives.
//! `.ci/run` installs them once and names them (`TEST_PYTHON`, `TEST_NODE_CLIENTS`); a local run
//! without those variables installs the Python and Node.js clients beside the test binary on first
//! use. The browser is a system package: a test that needs it fails, saying how to install it,
//! when it is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::harness::grantor_binary;

/// Pinned: the versions the tests were written against (`.ci/run` installs the same).
const PYTHON_PACKAGES: &[&str] = &[
    "pyjwt[crypto]==2.15.1",
    "cryptography==50.0.2",
    "authlib==1.9.10",
    "requests==2.34.2",
];
const NODE_PACKAGES: &[&str] = &[
    "openid-client@6.9.1",
    "jose@6.2.19",
    "playwright-core@1.65.2",
];

/// The Python that has the client libraries.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(python) = std::env::var_os("TEST_PYTHON") {
            return PathBuf::from(python);
        }
        let venv = grantor_binary().parent().unwrap().join("client-venv");
        let python = venv.join("bin/python");
        let installed_marker = venv.join("installed.txt");
        let wanted = PYTHON_PACKAGES.join(" ");
        if std::fs::read_to_string(&installed_marker).is_ok_and(|done| done == wanted) {
            return python;
        }
        if !python.is_file() {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 is needed to install the Python clients for these tests");
            assert!(made.success(), "python3 -m venv failed");
        }
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "-q"])
            .args(PYTHON_PACKAGES)
            .status()
            .unwrap();
        assert!(
            installed.success(),
            "pip install {PYTHON_PACKAGES:?} failed"
        );
        std::fs::write(&installed_marker, wanted).unwrap();
        python
    })
}

/// A directory whose `node_modules` has the Node.js clients; scripts run from it.
pub fn node_clients() -> &'static Path {
    static NODE: OnceLock<PathBuf> = OnceLock::new();
    NODE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("TEST_NODE_CLIENTS") {
            return PathBuf::from(dir);
        }
        let dir = grantor_binary().parent().unwrap().join("node-clients");
        std::fs::create_dir_all(&dir).unwrap();
        let installed_marker = dir.join("installed.txt");
        let wanted = NODE_PACKAGES.join(" ");
        if !std::fs::read_to_string(&installed_marker).is_ok_and(|done| done == wanted) {
            let installed = Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .args(NODE_PACKAGES)
                .status()
                .expect("npm is needed to install the Node.js clients for these tests");
            assert!(installed.success(), "npm install {NODE_PACKAGES:?} failed");
            std::fs::write(&installed_marker, wanted).unwrap();
        }
        dir
    })
}

/// Debian's `chromium` (or the browser `TEST_CHROMIUM` names), for `playwright-core` to drive.
/// Missing, the test fails and says how to install it: a browser test never passes by not running.
pub fn chromium() -> PathBuf {
    let browser = std::env::var_os("TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        browser.is_file(),
        "{} not found: the browser tests drive Debian's chromium (`apt-get install chromium`, as \
         .ci/run does), or set TEST_CHROMIUM to a Chromium binary",
        browser.display()
    );
    browser
}

/// Runs `source` (Python) with `args`.
pub fn run_python(source: &str, args: &[&str]) -> Output {
    Command::new(python())
        .args(["-c", source])
        .args(args)
        .output()
        .unwrap()
}

/// Runs `source`, an ES module, from the Node.js clients' directory (so its imports resolve),
/// with `args`.
pub fn run_node(name: &str, source: &str, args: &[&str]) -> Output {
    run_node_with_env(name, source, args, &[])
}

/// `run_node` with `env` added to the environment (`NODE_EXTRA_CA_CERTS`, say).
pub fn run_node_with_env(name: &str, source: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = node_clients();
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let script = dir.join(format!("{name}-{}-{n}.mjs", std::process::id()));
    std::fs::write(&script, source).unwrap();
    let out = Command::new("node")
        .arg(&script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&script);
    out
}

/// The output's stdout when it succeeded; the test fails with its stderr otherwise.
pub fn succeeded(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}
