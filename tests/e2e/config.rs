//! Configuration mistakes stop the server at start with a message naming the key and the file.

use std::process::Command;

use crate::harness::{grantor_binary, Backend, Deployment};

fn serve_fails_with(deployment: &Deployment, env: &[(&str, &str)]) -> String {
    let out = Command::new(grantor_binary())
        .arg("--config")
        .arg(&deployment.config_path)
        .arg("serve")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_key_is_a_startup_error_naming_key_and_file() {
    let deployment = Deployment::with_extra_config(Backend::Sqlite, "[oauth.tokn]\nx = 1\n");
    let stderr = serve_fails_with(&deployment, &[]);
    assert!(stderr.contains("tokn"), "{stderr}");
    assert!(stderr.contains("deployment.toml"), "{stderr}");
}

#[test]
fn bad_value_from_environment_names_the_variable() {
    let deployment = Deployment::new(Backend::Sqlite);
    let stderr = serve_fails_with(&deployment, &[("GRANTOR_SERVER__BIND", "not-an-address")]);
    assert!(stderr.to_lowercase().contains("server.bind"), "{stderr}");
    assert!(stderr.contains("GRANTOR_"), "{stderr}");
}

#[test]
fn missing_config_file_and_bad_database_url() {
    let out = Command::new(grantor_binary())
        .args(["--config", "/nonexistent/deployment.toml", "serve"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/deployment.toml"));

    let deployment = Deployment::new(Backend::Sqlite);
    let stderr = serve_fails_with(&deployment, &[("GRANTOR_DATABASE__URL", "mysql://x")]);
    assert!(
        stderr.contains("sqlite://") && stderr.contains("postgres://"),
        "{stderr}"
    );
}
