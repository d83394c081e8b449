//! Grant plugins loaded by the real binary from a plugin directory: dispatch on every tenant,
//! the client's grant types, panics, slow handlers, and every broken registration.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::harness::{backends, registration, Backend, Deployment};

const ECHO: &str = "urn:grantor:test:echo";

fn fixture_deployment(backend: Backend, extra: &str) -> Deployment {
    let deployment = Deployment::with_extra_config(backend, extra);
    deployment.drop_plugin("grant_test");
    deployment
}

#[test]
fn a_plugin_handles_its_grant_type_on_every_tenant() {
    for backend in backends() {
        let deployment = fixture_deployment(
            backend,
            &registration(ECHO, "grant_test", "mode = \"echo\""),
        );
        deployment.cli_ok(&["tenant", "add", "acme"]);
        let home = deployment.add_client(
            "carbon.super",
            "app",
            &format!("{ECHO},refresh_token"),
            "read,write",
        );
        let acme = deployment.add_client("acme", "app", ECHO, "read");
        let server = deployment.start();

        let form = [
            ("grant_type", ECHO),
            ("subject", "alice"),
            ("scope", "read admin"),
        ];
        let reply = server.token("/oauth2/token", &home, &form);
        let token = reply.assert_token();
        assert_eq!(token["scope"], "read", "scopes narrowed to the client's");
        assert!(
            token["refresh_token"].is_string(),
            "client allows refresh_token"
        );

        let reply = server.token("/t/acme/oauth2/token", &acme, &form);
        assert!(reply.assert_token().get("refresh_token").is_none());

        // Form authentication: the secret is not passed on to the plugin (it would refuse).
        let reply = server.post_form(
            "/t/acme/oauth2/token",
            None,
            &[
                ("grant_type", ECHO),
                ("client_id", &acme.id),
                ("client_secret", &acme.secret),
                ("scope", "read"),
            ],
        );
        reply.assert_token();
    }
}

#[test]
fn the_client_must_be_allowed_the_plugin_grant_type() {
    let deployment = fixture_deployment(
        Backend::Sqlite,
        &registration(ECHO, "grant_test", "mode = \"echo\""),
    );
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
    let server = deployment.start();
    let reply = server.token("/oauth2/token", &client, &[("grant_type", ECHO)]);
    assert!(reply
        .assert_error(400, "unauthorized_client")
        .contains(ECHO));
}

#[test]
fn plugin_errors_and_panics_are_contained() {
    let deny = "urn:grantor:test:deny";
    let panic = "urn:grantor:test:panic";
    let deployment = fixture_deployment(
        Backend::Sqlite,
        &format!(
            "{}{}{}",
            registration(ECHO, "grant_test", "mode = \"echo\""),
            registration(deny, "grant_test", "mode = \"deny\""),
            registration(panic, "grant_test", "mode = \"panic\""),
        ),
    );
    let client = deployment.add_client(
        "carbon.super",
        "app",
        &format!("{ECHO},{deny},{panic}"),
        "read",
    );
    let server = deployment.start();

    let denied = server.token("/oauth2/token", &client, &[("grant_type", deny)]);
    assert!(denied.assert_error(400, "invalid_grant").contains("denies"));

    for _ in 0..3 {
        let reply = server.token("/oauth2/token", &client, &[("grant_type", panic)]);
        let description = reply.assert_error(500, "server_error");
        assert!(
            !description.contains("panics on purpose"),
            "details stay in the log"
        );
        // The server keeps serving, the same plugin included.
        server
            .token("/oauth2/token", &client, &[("grant_type", ECHO)])
            .assert_token();
    }
}

#[test]
fn a_slow_plugin_does_not_stall_other_requests() {
    let slow = "urn:grantor:test:slow";
    let deployment = fixture_deployment(
        Backend::Sqlite,
        &registration(slow, "grant_test", "mode = \"slow\"\ndelay_ms = 3000"),
    );
    let client = deployment.add_client(
        "carbon.super",
        "app",
        &format!("{slow},client_credentials"),
        "read",
    );
    let server = deployment.start();
    let slow_done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Several slow requests occupy blocking threads...
        let slow_requests: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let reply = server.token("/oauth2/token", &client, &[("grant_type", slow)]);
                    slow_done.store(true, Ordering::SeqCst);
                    reply
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        // ...while other requests are answered before any slow one completes.
        for _ in 0..20 {
            server
                .token(
                    "/oauth2/token",
                    &client,
                    &[("grant_type", "client_credentials")],
                )
                .assert_token();
        }
        assert!(
            !slow_done.load(Ordering::SeqCst),
            "fast requests waited for the slow plugin"
        );
        for request in slow_requests {
            request.join().unwrap().assert_token();
        }
    });
}

#[test]
fn a_plugin_past_its_deadline_gets_temporarily_unavailable() {
    let slow = "urn:grantor:test:slow";
    let deployment = fixture_deployment(
        Backend::Sqlite,
        &format!(
            "handler_timeout_ms = 300\n{}",
            registration(slow, "grant_test", "mode = \"slow\"\ndelay_ms = 5000")
        ),
    );
    let client = deployment.add_client("carbon.super", "app", slow, "read");
    let server = deployment.start();
    let started = std::time::Instant::now();
    let reply = server.token("/oauth2/token", &client, &[("grant_type", slow)]);
    reply.assert_error(503, "temporarily_unavailable");
    assert!(started.elapsed() < std::time::Duration::from_millis(4000));
}

/// Each broken registration stops the start, naming the file and the reason; `plugins list`
/// shows the same reason.
#[test]
fn broken_registrations_stop_the_start_with_a_clear_error() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "missing file",
            &registration(ECHO, "grant_absent", ""),
            "file not found",
        ),
        (
            "built-in grant type",
            &registration("client_credentials", "grant_test", ""),
            "built-in grant type",
        ),
        (
            "two plugins claim one grant type",
            &format!(
                "{}{}",
                registration(ECHO, "grant_test", ""),
                registration(ECHO, "grant_test", "")
            ),
            "registered twice",
        ),
        (
            "grant type the plugin does not declare",
            &registration("urn:other", "grant_test", ""),
            "does not handle this grant type",
        ),
        (
            "plugin refuses its properties",
            &registration(ECHO, "grant_test", "fail_create = true"),
            "fail_create is set",
        ),
    ];
    for (what, config, reason) in cases {
        let deployment = fixture_deployment(Backend::Sqlite, config);
        let stderr = deployment.serve_fails();
        assert!(stderr.contains(reason), "{what}: {stderr}");
        assert!(
            stderr.contains(".so") || stderr.contains(".dylib"),
            "{what}: names the file: {stderr}"
        );
        let listing = deployment.cli_ok(&["plugins", "list"]);
        assert!(
            listing.contains("NOT LOADED") && listing.contains(reason),
            "{what}: {listing}"
        );
    }

    let deployment = fixture_deployment(Backend::Sqlite, &registration(ECHO, "grant_text", ""));
    std::fs::write(
        deployment.plugins_dir.join(format!(
            "{}grant_text{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )),
        "this is not a shared library",
    )
    .unwrap();
    let stderr = deployment.serve_fails();
    assert!(
        stderr.contains("not a loadable library") && stderr.contains("grant_text"),
        "{stderr}"
    );
}

#[test]
fn plugins_list_shows_what_is_loaded() {
    let deployment = fixture_deployment(
        Backend::Sqlite,
        &registration(ECHO, "grant_test", "mode = \"echo\""),
    );
    let listing = deployment.cli_ok(&["plugins", "list", "--json"]);
    let statuses: serde_json::Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(statuses[0]["grant_type"], ECHO);
    assert_eq!(statuses[0]["loaded"], true);
    assert!(statuses[0]["plugin"]
        .as_str()
        .unwrap()
        .starts_with("grant-test "));
}

/// Compiles `tests/plugins/c-echo/c_echo.c` (or `source_text`) into the deployment's plugin
/// directory as `lib{stem}.so`, with the system C compiler, against the shipped header.
fn compile_c_plugin(
    deployment: &Deployment,
    stem: &str,
    defines: &[&str],
    source_text: Option<&str>,
) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let source = match source_text {
        Some(text) => {
            let path = deployment.plugins_dir.join(format!("{stem}.c"));
            std::fs::write(&path, text).unwrap();
            path
        }
        None => root.join("tests/plugins/c-echo/c_echo.c"),
    };
    let output = deployment.plugins_dir.join(format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let result = std::process::Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-shared", "-fPIC", "-I"])
        .arg(root.join("grants/sdk/include"))
        .args(defines)
        .arg("-o")
        .arg(&output)
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

const C_ECHO: &str = "urn:grantor:test:c-echo";

#[test]
fn a_plugin_written_in_c_works() {
    for backend in backends() {
        let deployment =
            Deployment::with_extra_config(backend, &registration(C_ECHO, "grant_c_echo", ""));
        compile_c_plugin(&deployment, "grant_c_echo", &[], None);
        deployment.cli_ok(&["tenant", "add", "acme"]);
        let client = deployment.add_client("acme", "app", C_ECHO, "read,write");
        let server = deployment.start();
        let reply = server.token(
            "/t/acme/oauth2/token",
            &client,
            &[("grant_type", C_ECHO), ("subject", "bob")],
        );
        assert_eq!(reply.assert_token()["scope"], "read");
        let listing = deployment.cli_ok(&["plugins", "list"]);
        assert!(listing.contains("c-echo 1.0.0"), "{listing}");
    }
}

#[test]
fn foreign_libraries_and_other_abi_versions_are_refused() {
    let deployment =
        Deployment::with_extra_config(Backend::Sqlite, &registration(C_ECHO, "grant_c_echo", ""));
    compile_c_plugin(
        &deployment,
        "grant_c_echo",
        &["-DGRANTOR_TEST_ABI_MAJOR=2"],
        None,
    );
    let stderr = deployment.serve_fails();
    assert!(
        stderr.contains("libgrant_c_echo") && stderr.contains("ABI major 2, host supports 1"),
        "{stderr}"
    );

    // A descriptor with a NULL entry point is refused at load, by the server and by the listing,
    // naming the field (the first request would otherwise jump to address zero).
    let deployment =
        Deployment::with_extra_config(Backend::Sqlite, &registration(C_ECHO, "grant_c_echo", ""));
    compile_c_plugin(
        &deployment,
        "grant_c_echo",
        &["-DGRANTOR_TEST_NULL_ON_HANDLE"],
        None,
    );
    let stderr = deployment.serve_fails();
    assert!(
        stderr.contains("libgrant_c_echo") && stderr.contains("descriptor field on_handle is NULL"),
        "{stderr}"
    );
    let listing: serde_json::Value =
        serde_json::from_str(&deployment.cli_ok(&["plugins", "list", "--json"])).unwrap();
    assert_eq!(listing[0]["loaded"], false, "{listing}");
    assert!(
        listing[0]["detail"]
            .as_str()
            .unwrap()
            .contains("descriptor field on_handle is NULL"),
        "{listing}"
    );

    let deployment =
        Deployment::with_extra_config(Backend::Sqlite, &registration(C_ECHO, "grant_plain", ""));
    compile_c_plugin(
        &deployment,
        "grant_plain",
        &[],
        Some("int grantor_something_else(void) { return 1; }\n"),
    );
    let stderr = deployment.serve_fails();
    assert!(
        stderr.contains("libgrant_plain") && stderr.contains("no grantor_grant_plugin_v1 symbol"),
        "{stderr}"
    );
}
