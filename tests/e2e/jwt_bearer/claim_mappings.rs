//! Declarative claim mappings per identity provider (`--claim-mapping REMOTE=LOCAL`), applied to
//! the verified claims before the grant reads them: here `email=sub` makes the email the subject,
//! which the provider's subject allow-list then sees.

use serde_json::json;

use crate::harness::{good_claims, on_each_backend, with, Backend, IdpKey, JwtSetup};

fn a_mapping_renames_claims_before_the_grant_reads_them(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let key = IdpKey::rsa(setup.keys_dir.path(), "mapped");
    setup.add_idp(&[
        "--name",
        "mapped",
        "--issuer",
        "https://mapped.example",
        "--certificate",
        key.certificate_path.to_str().unwrap(),
        "--claim-mapping",
        "email=sub",
        "--allowed-subject",
        "alice@example.com",
    ]);
    let claims = |email: serde_json::Value| {
        with(
            good_claims(),
            json!({"iss": "https://mapped.example", "sub": "00u1", "email": email}),
        )
    };
    // The subject is the email, so the allow-list admits it ...
    setup
        .exchange(&key.assertion(&claims(json!("alice@example.com"))))
        .assert_token();
    // ... and refuses another email, whatever the original sub.
    let description = setup.refused(&key.assertion(&claims(json!("mallory@example.com"))));
    assert!(
        description.contains("subject 'mallory@example.com' is not allowed"),
        "{description}"
    );
    // A mapped value that is no subject is refused clearly.
    let description = setup.refused(&key.assertion(&claims(json!(42))));
    assert!(
        description.contains("leave no usable sub claim"),
        "{description}"
    );

    let show = setup
        .deployment
        .cli_ok(&["idp", "show", "--name", "mapped"]);
    assert!(show.contains("email=sub"), "{show}");
}
on_each_backend!(a_mapping_renames_claims_before_the_grant_reads_them);

fn validated_claims_cannot_be_mapped(backend: Backend) {
    let setup = JwtSetup::start(backend);
    let certificate = setup.idp.certificate_path.to_str().unwrap().to_owned();
    for mapping in ["aud=x", "groups=aud", "exp=expires", "noequals"] {
        let out = setup.deployment.cli(&[
            "idp",
            "add",
            "--name",
            "bad",
            "--issuer",
            "https://bad.example",
            "--certificate",
            &certificate,
            "--claim-mapping",
            mapping,
        ]);
        assert!(!out.status.success(), "{mapping} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--claim-mapping"), "{stderr}");
    }
}
on_each_backend!(validated_claims_cannot_be_mapped);
