//! Grant plugins loaded by the real binary from a plugin directory: dispatch on every tenant,
//! the client's grant types, panics, slow handlers, and every broken registration.

use crate::harness::{
    compile_c_plugin, fixture_deployment, on_each_backend, registration, Backend, Deployment, Gate,
    C_ECHO, ECHO, GATE,
};

fn a_plugin_handles_its_grant_type_on_every_tenant(backend: Backend) {
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
on_each_backend!(a_plugin_handles_its_grant_type_on_every_tenant);

fn the_client_must_be_allowed_the_plugin_grant_type(backend: Backend) {
    let deployment = fixture_deployment(
        backend,
        &registration(ECHO, "grant_test", "mode = \"echo\""),
    );
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
    let server = deployment.start();
    let reply = server.token("/oauth2/token", &client, &[("grant_type", ECHO)]);
    assert!(reply
        .assert_error(400, "unauthorized_client")
        .contains(ECHO));
}
on_each_backend!(the_client_must_be_allowed_the_plugin_grant_type);

fn plugin_errors_and_panics_are_contained(backend: Backend) {
    let deny = "urn:grantor:test:deny";
    let panic = "urn:grantor:test:panic";
    let deployment = fixture_deployment(
        backend,
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
on_each_backend!(plugin_errors_and_panics_are_contained);

fn a_slow_plugin_does_not_stall_other_requests(backend: Backend) {
    let gate = Gate::new();
    let deployment = fixture_deployment(backend, &gate.registration(""));
    let client = deployment.add_client(
        "carbon.super",
        "app",
        &format!("{GATE},client_credentials"),
        "read",
    );
    let server = deployment.start();
    std::thread::scope(|scope| {
        // Four calls held inside the plugin occupy four blocking threads...
        let held: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| server.token("/oauth2/token", &client, &[("grant_type", GATE)]))
            })
            .collect();
        gate.wait_for_entered(4);
        // ...while other requests are answered.
        for _ in 0..20 {
            server
                .token(
                    "/oauth2/token",
                    &client,
                    &[("grant_type", "client_credentials")],
                )
                .assert_token();
        }
        assert!(held.iter().all(|h| !h.is_finished()));
        gate.open();
        for request in held {
            request.join().unwrap().assert_token();
        }
    });
}
on_each_backend!(a_slow_plugin_does_not_stall_other_requests);

fn one_tenant_cannot_take_every_plugin_slot(backend: Backend) {
    let gate = Gate::new();
    let deployment = fixture_deployment(
        backend,
        &format!(
            "max_concurrency = 4\nmax_concurrency_per_tenant = 2\nhandler_timeout_ms = 3000\n{}",
            gate.registration("")
        ),
    );
    deployment.cli_ok(&["tenant", "add", "other.example"]);
    let busy = deployment.add_client("carbon.super", "busy", GATE, "read");
    let other = deployment.add_client("other.example", "other", GATE, "read");
    let server = deployment.start();
    std::thread::scope(|scope| {
        let held: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| server.token("/oauth2/token", &busy, &[("grant_type", GATE)])))
            .collect();
        gate.wait_for_entered(2);
        // The busy tenant's share is used up: a third call waits for a slot until its deadline
        // and never enters the plugin, though the plugin has two slots free...
        server
            .token("/oauth2/token", &busy, &[("grant_type", GATE)])
            .assert_error(503, "temporarily_unavailable");
        assert_eq!(gate.entered(), 2);
        // ...which another tenant's call gets.
        let other_call = scope.spawn(|| {
            server.token(
                "/t/other.example/oauth2/token",
                &other,
                &[("grant_type", GATE)],
            )
        });
        gate.wait_for_entered(3);
        gate.open();
        other_call.join().unwrap().assert_token();
        // The held calls outlived their own deadline or not, depending on the machine; either
        // way they are answered, and they kept their slots until they returned.
        for request in held {
            let status = request.join().unwrap().status;
            assert!(status == 200 || status == 503, "{status}");
        }
    });
}
on_each_backend!(one_tenant_cannot_take_every_plugin_slot);

fn a_plugin_past_its_deadline_gets_temporarily_unavailable(backend: Backend) {
    let gate = Gate::new();
    let deployment = fixture_deployment(
        backend,
        &format!("handler_timeout_ms = 300\n{}", gate.registration("")),
    );
    let client = deployment.add_client("carbon.super", "app", GATE, "read");
    let server = deployment.start();
    // The call is held inside the plugin until the test opens the gate, so only the deadline
    // can have answered it.
    let reply = server.token("/oauth2/token", &client, &[("grant_type", GATE)]);
    reply.assert_error(503, "temporarily_unavailable");
    assert_eq!(gate.entered(), 1);
    gate.open();
}
on_each_backend!(a_plugin_past_its_deadline_gets_temporarily_unavailable);

fn every_instance_the_host_creates_is_destroyed(backend: Backend) {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("destroyed");
    let destroyed = || {
        std::fs::read_to_string(&marker)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let properties = format!("destroy_marker = \"{}\"", marker.display());
    let deployment = fixture_deployment(
        backend,
        &format!(
            "{}{}",
            registration(ECHO, "grant_test", &properties),
            registration("urn:grantor:test:deny", "grant_test", &properties)
        ),
    );
    // Inspection creates an instance per registration and destroys each.
    deployment.cli_ok(&["plugins", "list"]);
    assert_eq!(destroyed(), 2);
    // A server destroys its instances when it shuts down.
    let client = deployment.add_client("carbon.super", "app", ECHO, "read");
    let server = deployment.start();
    server
        .token("/oauth2/token", &client, &[("grant_type", ECHO)])
        .assert_token();
    assert_eq!(destroyed(), 2, "destroyed while serving");
    assert!(server.terminate().success());
    assert_eq!(destroyed(), 4);
}
on_each_backend!(every_instance_the_host_creates_is_destroyed);

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
fn each_registration_gets_its_own_status_and_serve_names_every_broken_one() {
    let config = [
        registration(ECHO, "grant_test", ""),
        registration("urn:grantor:test:deny", "grant_absent", ""),
        registration("client_credentials", "grant_test", ""),
        registration("urn:grantor:test:slow", "grant_test", "fail_create = true"),
    ]
    .concat();
    let deployment = fixture_deployment(Backend::Sqlite, &config);
    let listing = deployment.cli_ok(&["plugins", "list", "--json"]);
    let statuses: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let status = |i: usize| {
        (
            statuses[i]["loaded"].as_bool().unwrap(),
            statuses[i]["detail"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(status(0), (true, "loaded".to_owned()));
    let (loaded, detail) = status(1);
    assert!(
        !loaded && detail.contains("grant_absent") && detail.contains("file not found"),
        "{detail}"
    );
    let (loaded, detail) = status(2);
    assert!(
        !loaded && detail.contains("built-in grant type"),
        "{detail}"
    );
    let (loaded, detail) = status(3);
    assert!(!loaded && detail.contains("fail_create is set"), "{detail}");

    let stderr = deployment.serve_fails();
    assert!(
        stderr.contains("3 of 4 grant plugin registrations cannot be honoured")
            && stderr.contains("file not found")
            && stderr.contains("built-in grant type")
            && stderr.contains("fail_create is set"),
        "{stderr}"
    );
}

fn plugins_list_shows_what_is_loaded(backend: Backend) {
    let deployment = fixture_deployment(
        backend,
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
on_each_backend!(plugins_list_shows_what_is_loaded);

fn a_plugin_written_in_c_works(backend: Backend) {
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
on_each_backend!(a_plugin_written_in_c_works);

fn foreign_libraries_and_other_abi_versions_are_refused(backend: Backend) {
    let deployment =
        Deployment::with_extra_config(backend, &registration(C_ECHO, "grant_c_echo", ""));
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
        Deployment::with_extra_config(backend, &registration(C_ECHO, "grant_c_echo", ""));
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
        Deployment::with_extra_config(backend, &registration(C_ECHO, "grant_plain", ""));
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
on_each_backend!(foreign_libraries_and_other_abi_versions_are_refused);

/// SIGTERM with a token request inside the plugin: the server stops accepting connections, lets
/// the request finish (its token is issued), and exits cleanly.
#[test]
fn shutdown_lets_a_request_in_flight_finish() {
    let gate = Gate::new();
    let deployment = fixture_deployment(Backend::Sqlite, &gate.registration(""));
    let client = deployment.add_client("carbon.super", "app", GATE, "read");
    let server = deployment.start();
    let address = server.base_url.strip_prefix("http://").unwrap().to_owned();
    std::thread::scope(|scope| {
        let held = scope.spawn(|| server.token("/oauth2/token", &client, &[("grant_type", GATE)]));
        gate.wait_for_entered(1);
        server.signal(libc::SIGTERM);
        // The listener closes: new connections are refused while the request is still held.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(&address).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "still accepting after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        gate.open();
        held.join().unwrap().assert_token();
    });
    assert!(server.terminate().success());
}

/// A request that does not finish within `server.shutdown_grace_ms` does not keep the process
/// alive: its connection is closed and the server exits.
#[test]
fn shutdown_waits_for_a_stuck_request_only_as_long_as_the_grace() {
    let gate = Gate::new();
    let deployment = fixture_deployment(Backend::Sqlite, &gate.registration(""));
    let client = deployment.add_client("carbon.super", "app", GATE, "read");
    let server = deployment.start_with_env(&[("GRANTOR_SERVER__SHUTDOWN_GRACE_MS", "300")]);
    let url = server.url("/oauth2/token");
    let (id, secret) = (client.id.clone(), client.secret.clone());
    let held = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", GATE)])
            .send()
    });
    gate.wait_for_entered(1);
    // The gate stays shut: the plugin call outlives the grace period.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        held.join().unwrap().is_err(),
        "the stuck request was answered"
    );
    gate.open();
}
