//! Every console form: refused without the session's CSRF token (nothing changes), and each
//! one's validation, with the message the command line and the REST API give for the same value
//! (they all go through `provisioning`).

use super::{text, ConsoleSetup};
use crate::harness::{on_each_backend, Backend, IdpKey, IDP_ISSUER};

/// Every form the console has, as (path, fields): what a forged post would aim at.
const FORMS: &[(&str, &[(&str, &str)])] = &[
    ("/tenants", &[("domain", "forged.example")]),
    (
        "/tenants/carbon.super/qualified-subjects",
        &[("qualified_subjects", "on")],
    ),
    ("/tenants/carbon.super/remove", &[]),
    (
        "/tenants/carbon.super/identity-providers",
        &[("name", "forged"), ("issuer", "https://forged.example")],
    ),
    (
        "/tenants/carbon.super/identity-providers/corp",
        &[("aliases", "forged")],
    ),
    (
        "/tenants/carbon.super/identity-providers/corp/enabled",
        &[("enabled", "false")],
    ),
    ("/tenants/carbon.super/identity-providers/corp/remove", &[]),
    (
        "/tenants/carbon.super/applications",
        &[("name", "forged"), ("grant_types", "client_credentials")],
    ),
    ("/tenants/carbon.super/applications/x/remove", &[]),
    (
        "/tenants/carbon.super/users",
        &[
            ("username", "forged"),
            ("password", "pw-forged-1"),
            ("password_again", "pw-forged-1"),
        ],
    ),
    ("/tenants/carbon.super/users/alice/remove", &[]),
    (
        "/tenants/carbon.super/keys/rotate",
        &[("immediate", "true")],
    ),
    ("/plugins/reload", &[]),
    ("/sign-out", &[]),
];

fn every_form_refuses_a_post_without_the_sessions_csrf_token(backend: Backend) {
    let setup = ConsoleSetup::start(backend);
    let mut browser = setup.signed_in();
    let mut other = setup.signed_in();
    let others_token = setup.csrf(&mut other);
    for (path, fields) in FORMS {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let none = browser.post_form(&setup.url(path), &fields);
        assert_eq!(none.status, 403, "{path} without a token: {}", none.body);
        assert!(text(&none).contains("CSRF token"), "{path}: {}", none.body);
        let mut with_others = fields.clone();
        with_others.push(("csrf_token".into(), others_token.clone()));
        let forged = browser.post_form(&setup.url(path), &with_others);
        assert_eq!(forged.status, 403, "{path} with another session's token");
    }
    // Nothing changed, and the session is still signed in (the sign-out was refused too).
    let tenants = browser.get(&setup.url("/tenants"));
    assert_eq!(tenants.status, 200);
    assert!(!tenants.body.contains("forged.example"));
    let users = browser.get(&setup.url("/tenants/carbon.super/users"));
    assert!(!users.body.contains("forged"), "{}", users.body);
    let keys = browser.get(&setup.url("/tenants/carbon.super/keys"));
    assert!(!keys.body.contains("next"), "{}", keys.body);
    // A console post that is not form data at all is refused as such.
    let csrf = setup.csrf(&mut browser);
    let json = reqwest::blocking::Client::new()
        .post(setup.url("/tenants"))
        .header(
            "cookie",
            format!(
                "grantor-console={}",
                browser.cookie("grantor-console").unwrap()
            ),
        )
        .header("content-type", "application/json")
        .body(format!(
            "{{\"csrf_token\":\"{csrf}\",\"domain\":\"json.example\"}}"
        ))
        .send()
        .unwrap();
    assert_eq!(json.status().as_u16(), 400);
}
on_each_backend!(every_form_refuses_a_post_without_the_sessions_csrf_token);

/// What the command line says of a key file it cannot use: `PATH: reason`, the reason.
pub fn cli_reason(stderr: &str, path: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains(path))
        .unwrap_or_else(|| panic!("no {path} in: {stderr}"));
    line[line.find(path).unwrap() + path.len()..]
        .trim_start_matches(':')
        .trim()
        .to_owned()
}

fn tenant_and_user_forms_refuse_what_provisioning_refuses(backend: Backend) {
    let setup = ConsoleSetup::start(backend);
    let mut browser = setup.signed_in();

    let bad = setup.post(
        &mut browser,
        "/tenants",
        &[("domain", "Not Valid"), ("name", "Kept name")],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let shown = text(&bad);
    assert!(shown.contains("invalid tenant domain"), "{shown}");
    assert!(
        bad.body.contains("value=\"Kept name\""),
        "the form keeps what was typed"
    );
    let cli = setup.deployment.cli(&["tenant", "add", "Not Valid"]);
    let cli_error = String::from_utf8_lossy(&cli.stderr).to_string();
    let reason = cli_error
        .lines()
        .find(|l| l.contains("invalid tenant domain"))
        .unwrap();
    let reason = &reason[reason.find("invalid tenant domain").unwrap()..];
    assert!(
        shown.contains(reason.trim()),
        "console: {shown}\ncli: {cli_error}"
    );

    let added = setup.post(
        &mut browser,
        "/tenants",
        &[("domain", "acme.example"), ("name", "Acme")],
    );
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(text(&added).contains("Tenant acme.example added."));
    let again = setup.post(&mut browser, "/tenants", &[("domain", "acme.example")]);
    assert_eq!(again.status, 409, "{}", again.body);

    let users = "/tenants/acme.example/users";
    let differ = setup.post(
        &mut browser,
        users,
        &[
            ("username", "alice"),
            ("password", "first-password-1"),
            ("password_again", "second-password-2"),
        ],
    );
    assert_eq!(differ.status, 400);
    assert!(
        text(&differ).contains("password: the two passwords differ"),
        "{}",
        differ.body
    );
    assert!(
        !differ.body.contains("first-password-1"),
        "a password is never shown again"
    );
    assert!(differ.body.contains("value=\"alice\""));
    let reserved = setup.post(
        &mut browser,
        users,
        &[
            ("username", "alice"),
            ("password", "pw-alice-12345"),
            ("password_again", "pw-alice-12345"),
            ("claims", "sub=root"),
        ],
    );
    assert_eq!(reserved.status, 400);
    assert!(
        text(&reserved).contains("claims: 'sub' is set by the server on every token"),
        "{}",
        reserved.body
    );
    let spaces = setup.post(
        &mut browser,
        users,
        &[
            ("username", "al ice"),
            ("password", "pw-alice-12345"),
            ("password_again", "pw-alice-12345"),
        ],
    );
    assert_eq!(spaces.status, 400);
    assert!(text(&spaces).contains("username: must not contain spaces"));
    let empty = setup.post(
        &mut browser,
        users,
        &[
            ("username", "alice"),
            ("password", ""),
            ("password_again", ""),
        ],
    );
    assert_eq!(empty.status, 400);
    assert!(
        text(&empty).contains("password: must not be empty"),
        "{}",
        empty.body
    );
    let user = setup.post(
        &mut browser,
        users,
        &[
            ("username", "alice"),
            ("password", "pw-alice-12345"),
            ("password_again", "pw-alice-12345"),
            ("claims", "email=alice@acme.example\ngiven_name=Alice"),
        ],
    );
    assert_eq!(user.status, 200, "{}", user.body);
    assert!(text(&user).contains("email=alice@acme.example"));
    let duplicate = setup.post(
        &mut browser,
        users,
        &[
            ("username", "alice"),
            ("password", "pw-alice-12345"),
            ("password_again", "pw-alice-12345"),
        ],
    );
    assert_eq!(duplicate.status, 409);
    assert!(
        !setup.server.log().contains("pw-alice-12345"),
        "a password is never logged"
    );

    // The tenant's removal names what goes with it.
    let confirm = browser.get(&setup.url("/tenants/acme.example/remove"));
    assert_eq!(confirm.status, 200);
    let shown = text(&confirm);
    assert!(
        shown.contains("1 user") && shown.contains("0 applications"),
        "{shown}"
    );
    let removed = setup.post(&mut browser, "/tenants/acme.example/remove", &[]);
    assert_eq!(removed.status, 200);
    assert!(!browser
        .get(&setup.url("/tenants"))
        .body
        .contains("acme.example"));
    let gone = browser.get(&setup.url("/tenants/acme.example"));
    assert_eq!(gone.status, 404);
    // The default tenant cannot be removed.
    let default = setup.post(&mut browser, "/tenants/carbon.super/remove", &[]);
    assert_eq!(default.status, 400);
    assert!(text(&default).contains("is the default tenant"));
}
on_each_backend!(tenant_and_user_forms_refuse_what_provisioning_refuses);

fn identity_provider_and_application_forms_refuse_what_provisioning_refuses(backend: Backend) {
    let setup = ConsoleSetup::start(backend);
    let mut browser = setup.signed_in();
    let dir = tempfile::tempdir().unwrap();
    let idps = "/tenants/carbon.super/identity-providers";

    // A certificate file that is none: the message the command line gives for the same file.
    let bad_file = dir.path().join("broken.crt");
    std::fs::write(&bad_file, b"this is not a certificate").unwrap();
    let bad = setup.post_files(
        &mut browser,
        idps,
        &[
            ("name", "corp"),
            ("issuer", IDP_ISSUER),
            ("clock_skew", "60"),
        ],
        &[(
            "certificate_files",
            "broken.crt",
            b"this is not a certificate",
        )],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let cli = setup.deployment.cli(&[
        "idp",
        "add",
        "--name",
        "corp",
        "--issuer",
        IDP_ISSUER,
        "--certificate",
        bad_file.to_str().unwrap(),
    ]);
    assert!(!cli.status.success());
    let cli_says = cli_reason(
        &String::from_utf8_lossy(&cli.stderr),
        bad_file.to_str().unwrap(),
    );
    assert!(
        text(&bad).contains(&format!("certificates: broken.crt: {cli_says}")),
        "console: {}\ncli: {cli_says}",
        text(&bad)
    );
    assert!(
        text(&bad).contains(&format!("value=\"{IDP_ISSUER}\"")),
        "the form keeps the issuer"
    );

    let none = setup.post_files(
        &mut browser,
        idps,
        &[("name", "corp"), ("issuer", IDP_ISSUER)],
        &[],
    );
    assert_eq!(none.status, 400);
    assert!(
        text(&none).contains("an identity provider needs at least one certificate or a JWKS URI")
    );
    let key = IdpKey::rsa(dir.path(), "corp");
    let pem = std::fs::read(&key.certificate_path).unwrap();
    let mapping = setup.post_files(
        &mut browser,
        idps,
        &[
            ("name", "corp"),
            ("issuer", IDP_ISSUER),
            ("claim_mappings", "upn"),
        ],
        &[("certificate_files", "corp.pem", &pem)],
    );
    assert_eq!(mapping.status, 400);
    assert!(
        text(&mapping).contains("claim_mappings: 'upn': expected REMOTE=LOCAL"),
        "{}",
        mapping.body
    );
    let skew = setup.post_files(
        &mut browser,
        idps,
        &[
            ("name", "corp"),
            ("issuer", IDP_ISSUER),
            ("clock_skew", "soon"),
        ],
        &[("certificate_files", "corp.pem", &pem)],
    );
    assert_eq!(skew.status, 400);
    assert!(text(&skew).contains("clock_skew: 'soon'"));
    let missing_script = setup.post_files(
        &mut browser,
        idps,
        &[
            ("name", "corp"),
            ("issuer", IDP_ISSUER),
            ("transformer", "scripts/none.rhai"),
        ],
        &[("certificate_files", "corp.pem", &pem)],
    );
    assert_eq!(missing_script.status, 400, "{}", missing_script.body);
    assert!(
        text(&missing_script).contains("transformer"),
        "{}",
        missing_script.body
    );
    let added = setup.post_files(
        &mut browser,
        idps,
        &[("name", "corp"), ("issuer", IDP_ISSUER), ("enabled", "on")],
        &[("certificate_files", "corp.pem", &pem)],
    );
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(text(&added).contains("Identity provider corp added."));
    assert!(
        super::shows_expiry(&text(&added)),
        "each certificate's expiry: {}",
        added.body
    );
    let duplicate = setup.post_files(
        &mut browser,
        idps,
        &[("name", "corp2"), ("issuer", IDP_ISSUER), ("enabled", "on")],
        &[("certificate_files", "corp.pem", &pem)],
    );
    assert_eq!(duplicate.status, 409);
    // Edited: both keys and a JWKS URI is refused.
    let edit = format!("{idps}/corp");
    let both = setup.post_files(
        &mut browser,
        &edit,
        &[("jwks_uri", "https://idp.example.com/jwks")],
        &[("certificate_files", "corp.pem", &pem)],
    );
    assert_eq!(both.status, 400);
    assert!(text(&both).contains("give certificates or a JWKS URI, not both"));
    // The form saved as it was shown changes nothing.
    let unchanged = setup.post_files(
        &mut browser,
        &edit,
        &[("aliases", ""), ("clock_skew", "60")],
        &[],
    );
    assert_eq!(unchanged.status, 200, "{}", unchanged.body);
    assert!(
        text(&unchanged).contains("Nothing changed."),
        "{}",
        unchanged.body
    );
    // A subject with spaces (a DN) is one subject: one per line.
    let subjects = ("allowed_subjects", "CN=Alice Smith,OU=Staff\nbob");
    let saved = setup.post_files(&mut browser, &edit, &[("clock_skew", "60"), subjects], &[]);
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(text(&saved).contains("Identity provider corp saved."));
    let stored = setup.deployment.cli_ok(&["idp", "show", "--name", "corp"]);
    assert!(stored.contains("CN=Alice Smith,OU=Staff"), "{stored}");
    // A successor added beside the stored certificate, then a JWKS URI alone replaces both.
    let successor = IdpKey::rsa(dir.path(), "corp-next");
    let next_pem = std::fs::read(&successor.certificate_path).unwrap();
    let kept = setup.post_files(
        &mut browser,
        &edit,
        &[("clock_skew", "60"), subjects, ("keep_certificates", "on")],
        &[("certificate_files", "corp-next.pem", &next_pem)],
    );
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert_eq!(
        kept.body.matches("SHA-256 ").count(),
        2,
        "both certificates: {}",
        kept.body
    );
    let jwks = setup.post_files(
        &mut browser,
        &edit,
        &[
            ("clock_skew", "60"),
            subjects,
            ("jwks_uri", "https://idp.example.com/jwks"),
        ],
        &[],
    );
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    assert_eq!(jwks.body.matches("SHA-256 ").count(), 0, "{}", jwks.body);
    assert!(text(&jwks).contains("value=\"https://idp.example.com/jwks\""));
    // The audit log names what each save changed, and only that (newest first).
    let printed = setup
        .deployment
        .cli_ok(&["audit", "--json", "--limit", "3"]);
    let details: Vec<serde_json::Value> = printed
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["detail"].clone())
        .collect();
    let named = |i: usize, key: &str| details[i].get(key).is_some();
    assert!(
        named(0, "jwks_uri") && !named(0, "allowed_subjects"),
        "{printed}"
    );
    assert!(
        named(1, "certificates") && !named(1, "clock_skew"),
        "{printed}"
    );
    assert!(
        named(2, "allowed_subjects") && !named(2, "clock_skew"),
        "{printed}"
    );

    let apps = "/tenants/carbon.super/applications";
    let no_grants = setup.post_files(&mut browser, apps, &[("name", "web")], &[]);
    assert_eq!(no_grants.status, 400);
    assert!(text(&no_grants).contains("grant_types: needs at least one grant type"));
    let format = setup.post_files(
        &mut browser,
        apps,
        &[
            ("name", "web"),
            ("grant_types", "client_credentials"),
            ("token_format", "xml"),
        ],
        &[],
    );
    assert_eq!(format.status, 400);
    assert!(text(&format).contains("token_format: 'xml': use opaque or jwt"));
    let redirect = setup.post_files(
        &mut browser,
        apps,
        &[
            ("name", "web"),
            ("grant_types", "authorization_code"),
            ("redirect_uris", "not a uri"),
        ],
        &[],
    );
    assert_eq!(redirect.status, 400);
    assert!(
        text(&redirect).contains("redirect_uris:"),
        "{}",
        redirect.body
    );
    let broken_key = setup.post_files(
        &mut browser,
        apps,
        &[("name", "web"), ("grant_types", "client_credentials")],
        &[(
            "certificate_files",
            "key.pem",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )],
    );
    assert_eq!(broken_key.status, 400);
    assert!(
        text(&broken_key).contains("certificates: key.pem: "),
        "{}",
        broken_key.body
    );
    // The form lists the built-in grants and the plugins' grant types.
    let form = browser.get(&setup.url(apps));
    assert!(form.body.contains("value=\"client_credentials\""));
    assert!(form
        .body
        .contains(&format!("value=\"{}\"", crate::harness::GRANT)));
}
on_each_backend!(identity_provider_and_application_forms_refuse_what_provisioning_refuses);
