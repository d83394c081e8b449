//! Grant plugins reloaded while the server runs (`grantor plugins reload`, SIGHUP): a library
//! replaced under load switches without a failed request, a call in flight finishes in the
//! instance it started in, and a broken replacement is refused while the old plugin serves on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{
    admin_listener, compile_c_plugin, free_port, registration, Backend, Credentials, Deployment,
    Gate, Server, C_ECHO, GATE,
};

const ADMIN_TOKEN_VARIABLE: &str = "RELOAD_TEST_ADMIN_TOKEN";
const ADMIN_TOKEN: &str = "admin-token-for-the-reload-test";

/// Builds c-echo with `defines` and moves it into place as an operator should: a new file
/// renamed over the old one.
fn install_c_echo(deployment: &Deployment, defines: &[&str]) {
    compile_c_plugin(deployment, "grant_c_echo_next", defines, None);
    let name = |stem: &str| {
        deployment.plugins_dir.join(format!(
            "{}{stem}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    };
    std::fs::rename(name("grant_c_echo_next"), name("grant_c_echo")).unwrap();
}

fn reload(deployment: &Deployment) -> std::process::Output {
    deployment.cli_with_env(
        &["plugins", "reload"],
        &[(ADMIN_TOKEN_VARIABLE, ADMIN_TOKEN)],
    )
}

/// The scope c-echo granted: which version answered.
fn c_echo_scope(server: &Server, client: &Credentials) -> String {
    let reply = server.token("/oauth2/token", client, &[("grant_type", C_ECHO)]);
    reply.assert_token()["scope"].as_str().unwrap().to_owned()
}

/// Polls (with a deadline) until c-echo answers with `scope`.
fn wait_for_scope(server: &Server, client: &Credentials, scope: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while c_echo_scope(server, client) != scope {
        assert!(Instant::now() < deadline, "c-echo never granted {scope}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the load threads and opens the gate when dropped, on success or failure.
struct Release<'a> {
    stop: &'a AtomicBool,
    gate: &'a Gate,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.gate.open();
    }
}

/// A running server with c-echo version 1 and the gate plugin (generation 1), and an admin
/// listener for `grantor plugins reload`.
struct Reloadable {
    gate: Gate,
    /// Holds the file the gate plugin writes when an instance is destroyed.
    _markers: tempfile::TempDir,
    destroyed_marker: std::path::PathBuf,
    admin_port: u16,
    deployment: Deployment,
    client: Credentials,
    server: Server,
}

fn start_reloadable() -> Reloadable {
    let gate = Gate::new();
    let markers = tempfile::tempdir().unwrap();
    let destroyed_marker = markers.path().join("destroyed");
    let admin_port = free_port();
    let deployment = Deployment::with_extra_config(
        Backend::Sqlite,
        &format!(
            "{}{}{}",
            registration(C_ECHO, "grant_c_echo", ""),
            gate.registration(&format!(
                "destroy_marker = \"{}\"\ngeneration = 1",
                destroyed_marker.display()
            )),
            admin_listener(admin_port, ADMIN_TOKEN_VARIABLE),
        ),
    );
    compile_c_plugin(&deployment, "grant_c_echo", &[], None);
    deployment.drop_plugin("grant_test");
    let client = deployment.add_client(
        "carbon.super",
        "app",
        &format!("{C_ECHO},{GATE}"),
        "read,write",
    );
    let server = deployment.start_with_env(&[(ADMIN_TOKEN_VARIABLE, ADMIN_TOKEN)]);
    assert_eq!(c_echo_scope(&server, &client), "read");
    Reloadable {
        gate,
        _markers: markers,
        destroyed_marker,
        admin_port,
        deployment,
        client,
        server,
    }
}

/// Version 2 of c-echo in place of version 1 and the gate registration reconfigured, reloaded:
/// where the reload under load leaves the server.
fn replace_c_echo_with_version_2(deployment: &Deployment) -> std::process::Output {
    install_c_echo(
        deployment,
        &["-DC_ECHO_VERSION=\"2.0.0\"", "-DC_ECHO_SCOPE=\"write\""],
    );
    let config = std::fs::read_to_string(&deployment.config_path).unwrap();
    std::fs::write(
        &deployment.config_path,
        config.replace("generation = 1", "generation = 2"),
    )
    .unwrap();
    reload(deployment)
}

#[test]
fn a_plugin_replaced_under_load_switches_without_a_failed_request_and_a_call_in_flight_finishes() {
    let Reloadable {
        gate,
        _markers,
        destroyed_marker,
        admin_port,
        deployment,
        client,
        server,
    } = start_reloadable();
    let destroyed = || std::fs::read_to_string(&destroyed_marker).unwrap_or_default();

    // The admin endpoint wants the admin token.
    let unauthorized = reqwest::blocking::Client::new()
        .post(format!(
            "http://127.0.0.1:{admin_port}/api/server/v1/plugins/reload"
        ))
        .send()
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    let stop = AtomicBool::new(false);
    let answered = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // A failed assertion below must end the threads, or the scope would wait for them forever.
        let _release = Release {
            stop: &stop,
            gate: &gate,
        };
        // A call held inside the gate plugin across the reload...
        let held = scope.spawn(|| server.token("/oauth2/token", &client, &[("grant_type", GATE)]));
        gate.wait_for_entered(1);
        // ...and requests to c-echo from two threads all along.
        let load: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut scopes = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        scopes.push(c_echo_scope(&server, &client));
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    scopes
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while answered.load(Ordering::SeqCst) < 10 {
            assert!(Instant::now() < deadline, "the load never got going");
            std::thread::sleep(Duration::from_millis(5));
        }

        // Version 2 of c-echo in place of version 1, and the gate registration reconfigured.
        let out = replace_c_echo_with_version_2(&deployment);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "reload failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("{C_ECHO}\treplaced\tc-echo 1.0.0 -> c-echo 2.0.0")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("{GATE}\treconfigured\t")),
            "{stdout}"
        );
        // Version 1 stays mapped (never unloaded), and the report counts it; the gate plugin's
        // library still serves.
        assert!(
            stdout.contains("1 replaced or removed libraries stay mapped"),
            "{stdout}"
        );
        // Once the reload has answered, every request gets version 2.
        let after_reload = answered.load(Ordering::SeqCst);
        assert_eq!(c_echo_scope(&server, &client), "write");
        while answered.load(Ordering::SeqCst) < after_reload + 10 {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::SeqCst);
        for thread in load {
            // Each thread saw version 1, then version 2, never back (no request failed: a
            // failure would have panicked the thread in `assert_token`).
            let scopes = thread.join().expect("a request failed during the reload");
            let switched = scopes.iter().position(|s| s == "write").unwrap();
            assert!(
                scopes[switched..].iter().all(|s| s == "write"),
                "{scopes:?}"
            );
            assert!(scopes[..switched].iter().all(|s| s == "read"), "{scopes:?}");
        }

        // The replaced gate instance lives until the call inside it has finished.
        assert_eq!(destroyed(), "", "destroyed with a call in it");
        gate.open();
        held.join().unwrap().assert_token();
        let deadline = Instant::now() + Duration::from_secs(10);
        while destroyed().is_empty() {
            assert!(
                Instant::now() < deadline,
                "the replaced instance was never destroyed"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(destroyed(), "destroyed gate\n");
    });
}

#[test]
fn a_broken_replacement_or_configuration_is_refused_and_sighup_reloads() {
    // Every field bound, so that none (the gate's directory, say) is dropped here.
    let Reloadable {
        gate: _gate,
        _markers,
        destroyed_marker: _destroyed_marker,
        admin_port,
        deployment,
        client,
        server,
    } = start_reloadable();
    let out = replace_c_echo_with_version_2(&deployment);
    assert!(
        out.status.success(),
        "reload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c_echo_scope(&server, &client), "write");

    // A broken replacement (another ABI major) is refused; version 2 keeps answering.
    install_c_echo(&deployment, &["-DGRANTOR_TEST_ABI_MAJOR=2"]);
    let out = reload(&deployment);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("ABI major 2, host supports 1") && stderr.contains("keep serving"),
        "{stderr}"
    );
    assert_eq!(c_echo_scope(&server, &client), "write");

    // So is a configuration that does not read (the server's answer to SIGHUP is in its log).
    let config = std::fs::read_to_string(&deployment.config_path).unwrap();
    std::fs::write(
        &deployment.config_path,
        format!("{config}\n[plugins.typo]\n"),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    let refusal = "grant plugins not reloaded, the loaded ones keep serving: \
                   the configuration cannot be read";
    assert!(
        server.log_containing(refusal).contains(refusal),
        "{}",
        server.log()
    );
    assert_eq!(c_echo_scope(&server, &client), "write");

    // SIGHUP reloads: version 1 is back.
    std::fs::write(&deployment.config_path, config).unwrap();
    install_c_echo(&deployment, &[]);
    server.signal(libc::SIGHUP);
    wait_for_scope(&server, &client, "read");
    // The listener's URL and the token's variable may be given on the command line.
    let out = deployment.cli_with_env(
        &[
            "plugins",
            "reload",
            "--admin",
            &format!("http://127.0.0.1:{admin_port}"),
            "--token-env",
            "OTHER_ADMIN_TOKEN_VARIABLE",
        ],
        &[("OTHER_ADMIN_TOKEN_VARIABLE", ADMIN_TOKEN)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{C_ECHO}\tunchanged\tc-echo 1.0.0")),
        "{stdout}"
    );
    // Version 1 serves again: version 2 is the one left mapped.
    assert!(
        stdout.contains("1 replaced or removed libraries stay mapped"),
        "{stdout}"
    );
    // Nothing is left behind in the plugin directory by the private copies loaded.
    let mut files: Vec<String> = std::fs::read_dir(&deployment.plugins_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".c"))
        .collect();
    files.sort();
    assert_eq!(files, ["libgrant_c_echo.so", "libgrant_test.so"]);
}
