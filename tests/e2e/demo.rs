//! `grantor demo` on an empty data directory: it provisions reference 000, runs it, and prints a
//! bash snippet of curl commands that work when pasted while its server runs; a second run on
//! the same data refuses; SIGTERM to the demo stops its server too.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::harness::{grantor_binary, registration, Backend, Deployment, GRANT};

#[test]
fn the_demo_runs_reference_000_and_its_printed_commands_work() {
    let deployment = Deployment::with_extra_config(
        Backend::Sqlite,
        &registration(GRANT, "grant_jwt_bearer", ""),
    );
    deployment.drop_plugin("grant_jwt_bearer");
    let mut demo = Command::new(grantor_binary())
        .arg("--config")
        .arg(&deployment.config_path)
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let mut snippet = Vec::new();
    let mut inside = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push(line.clone());
        if line == "# --- end ---" {
            break;
        }
        if inside {
            snippet.push(line.clone());
        }
        if line.starts_with("# --- paste into bash") {
            inside = true;
        }
    }
    let printed = printed.join("\n");
    assert!(!snippet.is_empty(), "no snippet in:\n{printed}");
    assert!(
        printed.contains("$ grantor tenant add idp.example"),
        "{printed}"
    );
    assert!(printed.contains("the access token's claims:"), "{printed}");
    assert!(printed.contains(r#""roles":["sales"]"#), "{printed}");

    // Pasted into bash, while the demo's server runs: a fresh sign-in and exchange.
    let pasted = Command::new("bash")
        .arg("-c")
        .arg(snippet.join("\n"))
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&pasted.stdout);
    assert!(
        pasted.status.success(),
        "{answer}{}",
        String::from_utf8_lossy(&pasted.stderr)
    );
    let answer: serde_json::Value = serde_json::from_str(answer.trim()).unwrap();
    assert_eq!(answer["token_type"], "Bearer", "{answer}");
    assert_eq!(answer["scope"], "orders");

    // The same data again: refused, saying why.
    let again = deployment.cli_without_waiting(&["demo"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exist already"));

    // SIGTERM to the demo stops its server too, cleanly.
    let pid = libc::pid_t::try_from(demo.id()).unwrap();
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = demo.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let url = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("grantor listening on "))
        .unwrap()
        .to_owned();
    let address = url.strip_prefix("http://").unwrap();
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "the demo's server still listens"
    );
}
