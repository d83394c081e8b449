//! A backend written in Python and run by the system's `python3` (a real HTTP stack that reads
//! requests its own way: `http.server`, `wsgiref`), on a free loopback port, killed on drop.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct PythonBackend {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl PythonBackend {
    /// Runs `python3 -u ARGS PATHS`; the first line it prints must name its port as
    /// `... port N ...` (as `http.server` does). Its stderr goes to `log` when given.
    pub fn start(args: &[&str], paths: &[&OsStr], log: Option<&Path>) -> PythonBackend {
        let stderr = match log {
            Some(log) => Stdio::from(std::fs::File::create(log).unwrap()),
            None => Stdio::null(),
        };
        let mut child = Command::new("python3")
            .arg("-u")
            .args(args)
            .args(paths)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("python3 is needed for the gateway's backend tests");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .unwrap_or_else(|| panic!("the backend did not say its port: {line:?}"));
        PythonBackend {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for PythonBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
