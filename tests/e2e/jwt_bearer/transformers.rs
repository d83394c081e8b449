//! Rhai claim transformers (`grantor idp add --transformer SCRIPT`): the shipped examples in
//! `scripts/` shape real grants; hostile scripts fail their one request within the sandbox's
//! limits while the server keeps serving; an edited script takes effect without a restart.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::harness::{good_claims, on_each_backend, with, Backend, JwtSetup, GRANT};

/// A shipped example script, by absolute path (the server resolves relative paths against its
/// working directory, which is not the repository's here).
fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
        .canonicalize()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

impl JwtSetup {
    /// Registers identity provider `name` (issuer `https://NAME.example`), signing with the
    /// setup's key, with extra `idp add` arguments.
    fn add_scripted_idp(&self, name: &str, extra: &[&str]) {
        let issuer = format!("https://{name}.example");
        let certificate = self.idp.certificate_path.to_str().unwrap().to_owned();
        let mut args = vec![
            "--name",
            name,
            "--issuer",
            &issuer,
            "--certificate",
            &certificate,
        ];
        args.extend_from_slice(extra);
        self.add_idp(&args);
    }

    fn assertion_from(&self, name: &str, claims: Value) -> String {
        let issuer = format!("https://{name}.example");
        self.idp
            .assertion(&with(good_claims(), with(json!({"iss": issuer}), claims)))
    }
}

fn the_example_scripts_shape_real_grants(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let email_subject = example("subject_from_email.rhai");
    let domains = example("reject_by_domain.rhai");
    let groups = example("groups_to_scopes.rhai");
    let renames = example("rename_claims.rhai");
    setup.add_scripted_idp(
        "by-email",
        &[
            "--transformer",
            &email_subject,
            "--allowed-subject",
            "ann@example.com",
        ],
    );
    setup.add_scripted_idp("by-domain", &["--transformer", &domains]);
    setup.add_scripted_idp("by-group", &["--transformer", &groups]);
    setup.add_scripted_idp(
        "renamed",
        &[
            "--transformer",
            &renames,
            "--claim-mapping",
            "upn=preferred_username",
        ],
    );

    // The subject becomes the verified email, which the allow-list then admits ...
    setup
        .exchange(&setup.assertion_from(
            "by-email",
            json!({"sub": "00u1", "email": "Ann@Example.com", "email_verified": true}),
        ))
        .assert_token();
    // ... and the script's refusal is the description the client reads.
    let description = setup.refused(&setup.assertion_from(
        "by-email",
        json!({"sub": "00u1", "email": "ann@example.com"}),
    ));
    assert_eq!(description, "the email address is not verified");

    setup
        .exchange(&setup.assertion_from(
            "by-domain",
            json!({"email": "bob@example.org", "email_verified": true}),
        ))
        .assert_token();
    let description = setup.refused(&setup.assertion_from(
        "by-domain",
        json!({"email": "eve@evil.example", "email_verified": true}),
    ));
    // The context names the client the host authenticated.
    assert_eq!(description, "users of evil.example may not sign in to app");

    // Scopes from groups, still limited by the client's.
    let scoped = setup.deployment.add_client(
        "carbon.super",
        "scoped",
        GRANT,
        "repo:read,profile,tickets:read",
    );
    let member = json!({"groups": ["engineering", "everyone"]});
    let reply = setup.server.token(
        "/oauth2/token",
        &scoped,
        &[
            ("grant_type", GRANT),
            (
                "assertion",
                &setup.assertion_from("by-group", member.clone()),
            ),
        ],
    );
    assert_eq!(reply.assert_token()["scope"], "repo:read profile");
    let reply = setup.server.token(
        "/oauth2/token",
        &scoped,
        &[
            ("grant_type", GRANT),
            ("assertion", &setup.assertion_from("by-group", member)),
            ("scope", "tickets:read"),
        ],
    );
    assert_eq!(
        reply.assert_error(400, "invalid_grant"),
        "none of the user's groups grants the requested scopes"
    );

    // Mappings run first, then the script: upn -> preferred_username -> username, and the
    // issuer-internal nonce is gone from what the tokens were issued for.
    let reply =
        setup.exchange(&setup.assertion_from("renamed", json!({"upn": "ann@corp", "nonce": "n"})));
    let token = reply.assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (subject, claims) = crate::harness::token_grant(&setup.deployment, &token);
    assert_eq!(subject.as_deref(), Some("alice"));
    assert_eq!(claims["username"], "ann@corp", "{claims}");
    for gone in ["upn", "preferred_username", "nonce"] {
        assert!(claims.get(gone).is_none(), "{gone} in {claims}");
    }
    // By email: the verified email became the subject.
    let reply = setup.exchange(&setup.assertion_from(
        "by-email",
        json!({"sub": "00u1", "email": "Ann@Example.com", "email_verified": true}),
    ));
    let token = reply.assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (subject, _) = crate::harness::token_grant(&setup.deployment, &token);
    assert_eq!(subject.as_deref(), Some("ann@example.com"));

    let show = setup
        .deployment
        .cli_ok(&["idp", "show", "--name", "by-email"]);
    assert!(show.contains("subject_from_email.rhai"), "{show}");
}
on_each_backend!(the_example_scripts_shape_real_grants);

/// Writes `text` as a script and registers identity provider `name` with it.
fn scripted(setup: &JwtSetup, name: &str, text: &str) -> PathBuf {
    let path = setup.keys_dir.path().join(format!("{name}.rhai"));
    std::fs::write(&path, text).unwrap();
    setup.add_scripted_idp(name, &["--transformer", path.to_str().unwrap()]);
    path
}

fn hostile_scripts_fail_their_request_within_the_limits(backend: Backend) {
    // A tight operation limit, so that even a debug build reaches it quickly, and a time limit no
    // busy machine reaches first.
    let setup = JwtSetup::start_with(
        backend,
        "[claim_transformer]\nmax_operations = 20000\ntimeout_ms = 10000\n",
        &[],
    );
    let cases = [
        (
            "forever",
            "fn transform(claims, context) { loop { } }",
            "it exceeded its operation limit",
        ),
        (
            "recursive",
            "fn deeper(n) { deeper(n + 1) } fn transform(claims, context) { deeper(0) }",
            "it exceeded its call depth limit",
        ),
        (
            "huge",
            r#"fn transform(claims, context) { let s = "x"; loop { s += s; } }"#,
            "it exceeded its string size limit",
        ),
        (
            "crashing",
            "fn transform(claims, context) { claims.sub.no_such_method() }",
            "it stopped with an error",
        ),
        (
            "careless",
            "fn transform(claims, context) { claims }",
            "it returned an unusable result",
        ),
        (
            "tampering",
            r#"fn transform(claims, context) { claims.aud = "elsewhere"; #{ claims: claims } }"#,
            "it returned an unusable result",
        ),
        (
            "nested",
            "fn transform(claims, context) { let v = 1; for i in 0..100 { v = [v]; } \
         claims.deep = v; #{ claims: claims } }",
            "it exceeded its result nesting depth limit",
        ),
    ];
    for (name, script, _) in &cases {
        scripted(&setup, name, script);
    }
    for (name, _, why) in &cases {
        let reply = setup.exchange(&setup.assertion_from(name, json!({})));
        reply.assert_error(500, "server_error");
        let expected = format!("the claim transformer of identity provider '{name}' failed: {why}");
        let log = setup.server.log_containing(&expected);
        assert!(
            log.contains(&expected),
            "{name}: no '{expected}' in the log:\n{log}"
        );
        // The server keeps serving.
        setup
            .exchange(&setup.idp.assertion(&good_claims()))
            .assert_token();
    }

    // A script that throws refuses, with its message; its jti stays unused.
    scripted(
        &setup,
        "thrower",
        r#"fn transform(claims, context) { throw `no access for ${claims.sub}` }"#,
    );
    let description = setup.refused(&setup.assertion_from("thrower", json!({})));
    assert_eq!(description, "no access for alice");
}
on_each_backend!(hostile_scripts_fail_their_request_within_the_limits);

fn a_slow_script_stops_at_its_deadline(backend: Backend) {
    // Operations unbounded in practice: only the wall clock stops this one.
    let setup = JwtSetup::start_with(
        backend,
        "[claim_transformer]\nmax_operations = 1000000000000\ntimeout_ms = 100\n",
        &[],
    );
    scripted(&setup, "slow", "fn transform(claims, context) { loop { } }");
    setup
        .exchange(&setup.assertion_from("slow", json!({})))
        .assert_error(500, "server_error");
    // The time limit, not the operation limit, stopped it (the log says which).
    let log = setup.server.log_containing("it exceeded its time limit");
    assert!(log.contains("it exceeded its time limit"), "{log}");
    setup
        .exchange(&setup.idp.assertion(&good_claims()))
        .assert_token();
}
on_each_backend!(a_slow_script_stops_at_its_deadline);

fn an_edited_script_takes_effect_without_a_restart(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let script = scripted(
        &setup,
        "editable",
        r#"fn transform(claims, context) { #{ claims: claims, scopes: ["read"] } }"#,
    );
    let exchange = || setup.exchange(&setup.assertion_from("editable", json!({})));
    assert_eq!(exchange().assert_token()["scope"], "read");

    std::fs::write(
        &script,
        r#"fn transform(claims, context) { #{ claims: claims, scopes: "read write" } }"#,
    )
    .unwrap();
    assert_eq!(exchange().assert_token()["scope"], "read write");

    // A broken edit fails the requests (the old version does not run on) until it is fixed.
    std::fs::write(&script, "fn transform(claims, context) { ").unwrap();
    exchange().assert_error(500, "server_error");
    let log = setup.server.log_containing("does not compile");
    assert!(log.contains("does not compile"), "{log}");
    std::fs::write(
        &script,
        r#"fn transform(claims, context) { throw "closed" }"#,
    )
    .unwrap();
    assert_eq!(exchange().assert_error(400, "invalid_grant"), "closed");
}
on_each_backend!(an_edited_script_takes_effect_without_a_restart);

#[test]
fn idp_add_refuses_a_script_that_cannot_run() {
    let setup = JwtSetup::start(Backend::Sqlite);
    let certificate = setup.idp.certificate_path.to_str().unwrap().to_owned();
    let dir = setup.keys_dir.path();
    let broken = dir.join("broken.rhai");
    std::fs::write(&broken, "fn transform(claims, context) {").unwrap();
    let entryless = dir.join("entryless.rhai");
    std::fs::write(&entryless, "fn transmogrify(claims, context) { claims }").unwrap();
    let missing = dir.join("missing.rhai");
    for (script, expected) in [
        (&broken, "does not compile"),
        (&entryless, "defines no function transform(claims, context)"),
        (&missing, "cannot read"),
    ] {
        let out = setup.deployment.cli(&[
            "idp",
            "add",
            "--name",
            "scripted",
            "--issuer",
            "https://scripted.example",
            "--certificate",
            &certificate,
            "--transformer",
            script.to_str().unwrap(),
        ]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}
