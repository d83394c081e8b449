//! Provisioning through the CLI, as an operator would: `grantor --config <deployment> ...`. Once
//! a change succeeded, every running server of the deployment has it in effect.

use std::process::{Command, Output};

use serde_json::Value;

use super::{grantor_binary, wait_until_changes_are_seen, Deployment};

#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: String,
    pub secret: String,
}

impl Deployment {
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
}

/// A client of `tenant` that gets JWT access tokens.
pub fn jwt_client(deployment: &Deployment, tenant: &str) -> Credentials {
    deployment.add_client_with(
        tenant,
        "machine",
        "client_credentials",
        "read",
        &["--token-format", "jwt"],
    )
}
