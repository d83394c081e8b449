//! Configuration mistakes stop the server at start with a message naming the key and the file.

use std::process::Command;

use crate::harness::{grantor_binary, Backend, Deployment};

#[test]
fn unknown_key_is_a_startup_error_naming_key_and_file() {
    let deployment = Deployment::with_extra_config(Backend::Sqlite, "[oauth.tokn]\nx = 1\n");
    let stderr = deployment.serve_fails_with_env(&[]);
    assert!(stderr.contains("tokn"), "{stderr}");
    assert!(stderr.contains("deployment.toml"), "{stderr}");
}

#[test]
fn bad_value_from_environment_names_the_variable() {
    let deployment = Deployment::new(Backend::Sqlite);
    let stderr = deployment.serve_fails_with_env(&[("GRANTOR_SERVER__BIND", "not-an-address")]);
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
    let stderr = deployment.serve_fails_with_env(&[("GRANTOR_DATABASE__URL", "mysql://x")]);
    assert!(
        stderr.contains("sqlite://") && stderr.contains("postgres://"),
        "{stderr}"
    );
}

/// `grantor check` passes a sound deployment (the real plugin loaded, scripts compiled, the
/// database untouched), and fails, naming the reason, on a broken script, a plugin that is not in
/// the drop directory, a broken TLS pair and an unknown key.
#[test]
fn check_finds_what_serve_would_refuse_without_serving() {
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let deployment = Deployment::with_extra_config(
        Backend::Sqlite,
        &crate::harness::registration(grant, "grant_jwt_bearer", ""),
    );
    deployment.drop_plugin("grant_jwt_bearer");
    let scripts = deployment.dir().join("scripts");
    std::fs::create_dir(&scripts).unwrap();
    std::fs::write(
        scripts.join("ok.rhai"),
        "fn transform(claims, context) { claims }\n",
    )
    .unwrap();
    let scripts_arg = scripts.display().to_string();
    let check = |deployment: &Deployment| {
        deployment.cli_without_waiting(&["check", "--scripts", &scripts_arg])
    };
    let out = check(&deployment);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("plugin\tok\t{grant}")), "{stdout}");
    assert!(
        stdout.contains("script\tok\t") && stdout.contains("ok.rhai"),
        "{stdout}"
    );
    assert!(
        !deployment.dir().join("grantor.db").exists(),
        "check created the database"
    );

    // A script that does not compile.
    std::fs::write(
        scripts.join("broken.rhai"),
        "fn transform(claims, context) {\n",
    )
    .unwrap();
    let out = check(&deployment);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.rhai"), "{stderr}");
    std::fs::remove_file(scripts.join("broken.rhai")).unwrap();

    // A registered plugin missing from the drop directory.
    let missing = Deployment::with_extra_config(
        Backend::Sqlite,
        &crate::harness::registration(grant, "grant_nowhere", ""),
    );
    let out = check(&missing);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(grant) && stderr.contains("not loaded"),
        "{stderr}"
    );

    // A TLS certificate that is not there.
    let tls = Deployment::with_extra_config(
        Backend::Sqlite,
        "[server.tls]\nenabled = true\ncertificate = \"/nonexistent/server.crt\"\n\
         private_key = \"/nonexistent/server.key\"\n",
    );
    let out = check(&tls);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/server.crt"), "{stderr}");

    // An unknown key.
    let typo = Deployment::with_extra_config(Backend::Sqlite, "[oauth.tokn]\nx = 1\n");
    let out = check(&typo);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokn"));
}
