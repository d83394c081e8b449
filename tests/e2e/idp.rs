//! `grantor idp`: identity providers from PEM and DER certificates or a JWKS URI, per tenant.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{on_each_backend, Backend, Deployment, IdpKey};

/// A fresh self-signed RSA certificate, PEM and DER; keys are made at test time, never committed.
fn make_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let key = IdpKey::rsa(dir, "idp");
    let der = key.certificate_path.with_extension("cer");
    (key.certificate_path, der)
}

fn identity_providers_from_certificates_and_jwks(backend: Backend) {
    let deployment = Deployment::new(backend);
    let keys = tempfile::tempdir().unwrap();
    let (pem, der) = make_certificate(keys.path());
    deployment.cli_ok(&["tenant", "add", "acme"]);

    let added = deployment.cli_ok(&[
        "idp",
        "add",
        "--tenant",
        "acme",
        "--name",
        "corp",
        "--issuer",
        "https://idp.corp",
        "--certificate",
        pem.to_str().unwrap(),
        "--certificate",
        der.to_str().unwrap(),
        "--alias",
        "https://gw.corp/token",
        "--allowed-scope",
        "read",
        "--json",
    ]);
    let idp: Value = serde_json::from_str(&added).unwrap();
    let certificates = idp["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 2);
    assert_eq!(
        certificates[0], certificates[1],
        "DER converted to the same PEM"
    );
    assert!(certificates[0]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(idp["aliases"][0], "https://gw.corp/token");
    assert_eq!(idp["enabled"], true);

    deployment.cli_ok(&[
        "idp",
        "add",
        "--tenant",
        "acme",
        "--name",
        "google",
        "--issuer",
        "https://accounts.google.com",
        "--jwks-uri",
        "https://www.googleapis.com/oauth2/v3/certs",
    ]);
    let listed = deployment.cli_ok(&["idp", "list", "--tenant", "acme"]);
    assert!(
        listed.contains("corp") && listed.contains("jwks https://www.googleapis.com"),
        "{listed}"
    );
    let shown = deployment.cli_ok(&["idp", "show", "--tenant", "acme", "--name", "corp"]);
    assert!(shown.contains("https://idp.corp") && shown.contains("BEGIN CERTIFICATE"));

    // Issuer unique per tenant; another tenant is separate.
    let dup = deployment.cli(&[
        "idp",
        "add",
        "--tenant",
        "acme",
        "--name",
        "corp2",
        "--issuer",
        "https://idp.corp",
        "--certificate",
        pem.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    assert!(deployment.cli_ok(&["idp", "list"]).trim().is_empty());

    deployment.cli_ok(&["idp", "remove", "--tenant", "acme", "--name", "corp"]);
    let gone = deployment.cli(&["idp", "show", "--tenant", "acme", "--name", "corp"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"));
}
on_each_backend!(identity_providers_from_certificates_and_jwks);

#[test]
fn bad_identity_provider_input_is_refused_clearly() {
    let deployment = Deployment::new(crate::harness::Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.crt");
    std::fs::write(&junk, "not a certificate").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "idp",
                "add",
                "--name",
                "x",
                "--issuer",
                "https://x",
                "--certificate",
                junk.to_str().unwrap(),
            ],
            "junk.crt",
        ),
        (
            vec!["idp", "add", "--name", "x", "--issuer", "https://x"],
            "--certificate",
        ),
        (
            vec![
                "idp",
                "add",
                "--name",
                "x",
                "--issuer",
                "https://x",
                "--jwks-uri",
                "ftp://x",
            ],
            "must be an https URL, not ftp:",
        ),
        (
            vec![
                "idp",
                "add",
                "--name",
                "x",
                "--issuer",
                "https://x",
                "--jwks-uri",
                "http://idp.example/jwks",
            ],
            "plain http is accepted only for loopback addresses",
        ),
        (
            vec![
                "idp",
                "add",
                "--name",
                "x",
                "--issuer",
                "https://x",
                "--jwks-uri",
                "https://x/j",
                "--clock-skew",
                "9999",
            ],
            "at most",
        ),
    ];
    for (args, expected) in cases {
        let out = deployment.cli(&args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// `grantor idp update` changes what it is given and keeps the rest; it refuses what `add` would.
#[test]
fn an_identity_provider_changes_in_place() {
    let deployment = Deployment::new(crate::harness::Backend::Sqlite);
    let keys = tempfile::tempdir().unwrap();
    let (pem, _) = make_certificate(keys.path());
    let other_keys = tempfile::tempdir().unwrap();
    let (other_pem, _) = make_certificate(other_keys.path());
    deployment.cli_ok(&[
        "idp",
        "add",
        "--name",
        "corp",
        "--issuer",
        "https://idp.corp",
        "--certificate",
        pem.to_str().unwrap(),
        "--allowed-subject",
        "alice",
        "--claim-mapping",
        "upn=username",
    ]);
    let show = || -> Value {
        serde_json::from_str(&deployment.cli_ok(&["idp", "show", "--name", "corp", "--json"]))
            .unwrap()
    };
    let before = show();
    let updated: Value = serde_json::from_str(&deployment.cli_ok(&[
        "idp",
        "update",
        "--name",
        "corp",
        "--any-subject",
        "--scope-claim",
        "scp",
        "--json",
    ]))
    .unwrap();
    assert_eq!(updated["allowed_subjects"], Value::Null);
    assert_eq!(updated["scope_claim"], "scp");
    let after = show();
    assert_eq!(after, updated);
    assert_eq!(after["claim_mappings"], before["claim_mappings"], "kept");
    assert_eq!(after["certificates"], before["certificates"], "kept");

    deployment.cli_ok(&[
        "idp",
        "update",
        "--name",
        "corp",
        "--certificate",
        other_pem.to_str().unwrap(),
        "--no-claim-mappings",
    ]);
    let replaced = show();
    assert_ne!(replaced["certificates"], before["certificates"]);
    assert_eq!(replaced["claim_mappings"], serde_json::json!({}));

    for (args, expected) in [
        (vec!["--claim-mapping", "aud=x"], "--claim-mapping"),
        (vec!["--clock-skew", "99999"], "at most"),
        (
            vec!["--transformer", "scripts/does-not-exist.rhai"],
            "--transformer",
        ),
        (vec![], "nothing to change"),
    ] {
        let mut command = vec!["idp", "update", "--name", "corp"];
        command.extend(args);
        let out = deployment.cli(&command);
        assert!(!out.status.success(), "{command:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{command:?}: {stderr}");
    }
    assert_eq!(show(), replaced, "refused changes changed nothing");
    let out = deployment.cli(&["idp", "update", "--name", "ghost", "--any-subject"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
