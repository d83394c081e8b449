//! A real browser (Debian's chromium, driven by playwright-core) through the console: sign in,
//! add a tenant, an identity provider from an uploaded certificate file, an application allowed
//! the JWT bearer grant; a JWT bearer exchange with what it created; a broken certificate file
//! shown with the command line's message; plugins reloaded; a user added without JavaScript.
//! Screenshots of each step are saved under `target/console-screenshots/` for review.

use std::path::PathBuf;

use serde_json::json;

use super::{ConsoleSetup, TOKEN};
use crate::harness::{
    chromium, good_claims, on_each_backend, run_node, succeeded, Backend, IdpKey,
    DEFAULT_TOKEN_ENDPOINT, GRANT, IDP_ISSUER,
};

const SCRIPT: &str = include_str!("browser_console.mjs");

/// `target/console-screenshots/<backend>` of the workspace.
fn screenshot_dir(backend: Backend) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/console-screenshots")
        .join(format!("{backend:?}").to_lowercase());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn a_real_browser_provisions_through_the_console(backend: Backend) {
    let browser = chromium();
    let setup = ConsoleSetup::start(backend);
    let keys = tempfile::tempdir().unwrap();
    let key = IdpKey::rsa(keys.path(), "corp");
    let bad = keys.path().join("broken.cer");
    std::fs::write(&bad, b"not a certificate, just text").unwrap();
    let shots = screenshot_dir(backend);
    let token_endpoint = setup.server.url("/t/acme.example/oauth2/token");
    let assertion = key.assertion(&good_claims());
    let out = succeeded(
        "chromium through playwright-core",
        &run_node(
            "console",
            SCRIPT,
            &[
                browser.to_str().unwrap(),
                &setup.console,
                TOKEN,
                key.certificate_path.to_str().unwrap(),
                bad.to_str().unwrap(),
                shots.to_str().unwrap(),
                IDP_ISSUER,
                DEFAULT_TOKEN_ENDPOINT,
                GRANT,
                &token_endpoint,
                &assertion,
            ],
        ),
    );
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["signInTitle"], "Sign in to the console", "{seen}");
    assert_eq!(seen["tenantAdded"], "Tenant acme.example added.", "{seen}");
    assert!(
        seen["idpAdded"]
            .as_str()
            .unwrap()
            .starts_with("Identity provider corp added."),
        "{seen}"
    );
    assert!(
        super::shows_expiry(seen["certificates"][0].as_str().unwrap()),
        "{seen}"
    );

    // The broken file: the message the command line gives for it.
    let cli = setup.deployment.cli(&[
        "idp",
        "add",
        "--tenant",
        "acme.example",
        "--name",
        "corp2",
        "--issuer",
        "https://other.example",
        "--certificate",
        bad.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&cli.stderr).to_string();
    let cli_says = super::forms::cli_reason(&stderr, bad.to_str().unwrap());
    assert_eq!(
        seen["badCertificate"],
        json!(format!("certificates: broken.cer: {cli_says}")),
        "cli: {stderr}"
    );

    // What the console created serves a JWT bearer exchange.
    assert_eq!(seen["exchange"]["status"], 200, "{seen}");
    assert_eq!(seen["exchange"]["body"]["token_type"], "Bearer", "{seen}");
    assert_eq!(seen["copyButton"], true, "the script adds the copy button");
    assert!(
        seen["reload"].as_str().unwrap().contains("unchanged"),
        "{seen}"
    );
    assert_eq!(seen["chart"], 1, "{seen}");
    let actions = seen["auditActions"].as_array().unwrap();
    for action in [
        "tenant.add",
        "identity_provider.add",
        "client.add",
        "plugins.reload",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {seen}");
    }
    assert_eq!(seen["userAdded"], "User bob added.", "{seen}");
    // The cookies as the browser keeps them: out of reach of scripts, never sent cross-site.
    for cookie in seen["cookies"].as_array().unwrap() {
        assert_eq!(cookie["httpOnly"], true, "{cookie}");
        assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    }
    // The browser refused nothing (a CSP violation is a console error), with or without scripts.
    assert_eq!(seen["problems"], json!([]), "{seen}");
    assert_eq!(seen["problemsWithoutJavaScript"], json!([]), "{seen}");
    for step in [
        "01-sign-in",
        "04-identity-provider",
        "05-application-created",
        "07-overview",
    ] {
        assert!(shots.join(format!("{step}.png")).is_file(), "{step}");
    }
    let secret = seen["clientSecret"].as_str().unwrap();
    assert!(!setup.server.log().contains(secret));
}
on_each_backend!(a_real_browser_provisions_through_the_console);
