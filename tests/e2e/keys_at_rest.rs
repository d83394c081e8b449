//! Private keys at rest: tenants' signing keys in the database and the gateway's key file are
//! sealed under the key-encryption key, which never enters the database. Read here from the
//! database and the files directly: no key in the clear after serving, keys from before sealing
//! sealed at start, a server or gateway with another key-encryption key refused with both key ids,
//! `grantor keys rewrap` then a start with the new key, and a backup that holds no key in the
//! clear and restores only with its key-encryption key.
//!
//! The envelope is opened here with openssl directly (`sealed.v1.<kek id>.<nonce>.<ciphertext and
//! tag>`, AES-256-GCM, the owner as associated data), as an independent check of the format.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::json;

use crate::harness::{
    grantor_binary, insert_key_in_the_clear, jwt_client, on_each_backend, stored_private_keys,
    Backend, Credentials, Deployment, IdpKey, Server,
};

/// The file a deployment's key-encryption key is made in when none is configured.
fn generated_key_file(deployment: &Deployment) -> PathBuf {
    deployment.dir().join("key-encryption.key")
}

/// The key in a key-encryption key file.
fn read_kek(path: &Path) -> Vec<u8> {
    STANDARD
        .decode(std::fs::read_to_string(path).unwrap().trim())
        .unwrap()
}

/// Writes a new random key-encryption key to `path`, as `openssl rand -base64 32` would.
fn new_kek_file(path: &Path) -> Vec<u8> {
    let mut key = vec![0u8; 32];
    openssl::rand::rand_bytes(&mut key).unwrap();
    std::fs::write(path, format!("{}\n", STANDARD.encode(&key))).unwrap();
    key
}

/// The id a key-encryption key is named by: 16 hex digits of SHA-256 over a label and the key.
fn kek_id(key: &[u8]) -> String {
    let mut input = b"grantor key-encryption key id\0".to_vec();
    input.extend_from_slice(key);
    openssl::sha::sha256(&input)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Opens a tenant key's envelope; the private key's PEM.
fn open_tenant_key(kek: &[u8], tenant: &str, kid: &str, sealed: &str) -> String {
    let parts: Vec<&str> = sealed.split('.').collect();
    assert_eq!(
        &parts[..3],
        ["sealed", "v1", kek_id(kek).as_str()],
        "{sealed}"
    );
    let nonce = URL_SAFE_NO_PAD.decode(parts[3]).unwrap();
    let body = URL_SAFE_NO_PAD.decode(parts[4]).unwrap();
    let (ciphertext, tag) = body.split_at(body.len() - 16);
    let associated = format!(
        "grantor sealed v1\0{}\0tenant signing key\0{tenant}\0{kid}",
        kek_id(kek)
    );
    let pem = openssl::symm::decrypt_aead(
        openssl::symm::Cipher::aes_256_gcm(),
        kek,
        Some(&nonce),
        associated.as_bytes(),
        ciphertext,
        tag,
    )
    .unwrap();
    String::from_utf8(pem).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every stored key is sealed under `kek` and nothing stored reads as a private key.
fn assert_all_sealed(database_url: &str, kek: &[u8]) -> usize {
    let stored = stored_private_keys(database_url);
    for (tenant, kid, sealed) in &stored {
        assert!(
            sealed.starts_with(&format!("sealed.v1.{}.", kek_id(kek))),
            "{tenant} {kid}: {sealed}"
        );
        assert!(!sealed.contains("PRIVATE KEY"), "{tenant} {kid}: {sealed}");
        let pem = open_tenant_key(kek, tenant, kid, sealed);
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{tenant} {kid}"
        );
    }
    stored.len()
}

/// Rewrites the deployment's configuration with `[keys] encryption_key_file`, or without `[keys]`.
fn configure_kek(deployment: &Deployment, original: &str, key_file: Option<&Path>) {
    let keys = key_file
        .map(|path| format!("[keys]\nencryption_key_file = \"{}\"\n", path.display()))
        .unwrap_or_default();
    std::fs::write(&deployment.config_path, format!("{original}{keys}")).unwrap();
}

/// A JWT access token of `client`, verified against the tenant's JWKS; its kid.
fn verified_token_kid(server: &Server, tenant: &str, client: &Credentials) -> String {
    let prefix = if tenant == "carbon.super" {
        String::new()
    } else {
        format!("/t/{tenant}")
    };
    let token = crate::harness::access_token(&server.token(
        &format!("{prefix}/oauth2/token"),
        client,
        &[("grant_type", "client_credentials")],
    ));
    crate::harness::verified(
        server,
        &format!("{prefix}/oauth2/jwks"),
        &token,
        "at+jwt",
        &client.id,
    );
    jsonwebtoken::decode_header(&token).unwrap().kid.unwrap()
}

fn keys_are_sealed_at_rest_another_kek_refuses_to_start_and_rewrap_moves_them(backend: Backend) {
    let deployment = Deployment::new(backend);
    let original = std::fs::read_to_string(&deployment.config_path).unwrap();
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let client = jwt_client(&deployment, "acme");
    let server = deployment.start();
    let kid = verified_token_kid(&server, "acme", &client);
    assert_eq!(server.get("/oauth2/jwks").status, 200);

    // Made on first use in the data directory, owner-only; every stored key sealed under it.
    let kek_file = generated_key_file(&deployment);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kek_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let kek = read_kek(&kek_file);
    assert_eq!(assert_all_sealed(&deployment.database_url, &kek), 2);
    let log = server.log();
    assert!(!log.contains("PRIVATE KEY") && !log.contains(STANDARD.encode(&kek).as_str()));
    drop(server);

    // Another key-encryption key: the server refuses to start, naming both.
    let other_file = deployment.dir().join("other.key");
    let other = new_kek_file(&other_file);
    configure_kek(&deployment, &original, Some(&other_file));
    let refused = deployment.serve_fails();
    for needed in [
        kek_id(&kek),
        kek_id(&other),
        "cannot open".to_owned(),
        "grantor keys rewrap".to_owned(),
    ] {
        assert!(refused.contains(&needed), "{needed}: {refused}");
    }
    assert!(!refused.contains(STANDARD.encode(&other).as_str()));

    // Rewrap with the old key configured; then the old key no longer opens them.
    configure_kek(&deployment, &original, None);
    let moved = deployment.cli_ok(&[
        "keys",
        "rewrap",
        "--new-key-file",
        &other_file.display().to_string(),
    ]);
    assert!(moved.contains("moved 2 signing keys"), "{moved}");
    assert!(moved.contains(&kek_id(&other)), "{moved}");
    assert_eq!(assert_all_sealed(&deployment.database_url, &other), 2);
    assert!(deployment.serve_fails().contains(&kek_id(&other)));

    // With the new key configured, the same keys sign again.
    configure_kek(&deployment, &original, Some(&other_file));
    let server = deployment.start();
    assert_eq!(verified_token_kid(&server, "acme", &client), kid);
}
on_each_backend!(keys_are_sealed_at_rest_another_kek_refuses_to_start_and_rewrap_moves_them);

fn keys_stored_in_the_clear_before_sealing_are_sealed_at_start(backend: Backend) {
    let deployment = Deployment::new(backend);
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let client = jwt_client(&deployment, "acme");
    // A key stored the way versions before sealing stored it.
    let legacy = IdpKey::rsa(deployment.dir(), "legacy");
    let pem = String::from_utf8(legacy.private.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let mut jwk = legacy.jwk("legacy-key");
    jwk["alg"] = json!("RS256");
    insert_key_in_the_clear(&deployment, "acme", "legacy-key", &pem, &jwk);
    assert!(stored_private_keys(&deployment.database_url)[0]
        .2
        .contains("PRIVATE KEY"));

    let server = deployment.start();
    let log = server.log_containing("sealed now");
    assert!(
        log.contains("stored in the clear") && log.contains("sealed now"),
        "{log}"
    );
    let kek = read_kek(&generated_key_file(&deployment));
    assert_eq!(assert_all_sealed(&deployment.database_url, &kek), 1);
    let (tenant, kid, sealed) = &stored_private_keys(&deployment.database_url)[0];
    assert_eq!(open_tenant_key(&kek, tenant, kid, sealed), pem);
    // The same key signs, and its tokens verify.
    assert_eq!(verified_token_kid(&server, "acme", &client), "legacy-key");
    // Nor is the key left in the clear in the database's files (freed space, the log).
    if backend == Backend::Sqlite {
        // 48 characters of one line of the PEM, as they would lie in the file.
        let fragment = &pem.lines().nth(3).unwrap()[8..56];
        for suffix in ["", "-wal"] {
            let file = deployment.dir().join(format!("grantor.db{suffix}"));
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !contains(&bytes, fragment.as_bytes()),
                "{} holds the key in the clear",
                file.display()
            );
        }
    }
}
on_each_backend!(keys_stored_in_the_clear_before_sealing_are_sealed_at_start);

#[test]
fn a_backup_holds_no_key_in_the_clear_and_restores_only_with_its_kek() {
    let deployment = Deployment::new(Backend::Sqlite);
    let client = jwt_client(&deployment, "carbon.super");
    let server = deployment.start();
    let kid = verified_token_kid(&server, "carbon.super", &client);
    let copy = deployment.dir().join("backup.db");
    let said = deployment.cli_ok(&["backup", "--to", &copy.display().to_string()]);
    let kek = read_kek(&generated_key_file(&deployment));
    assert!(said.contains(&kek_id(&kek)), "{said}");
    drop(server);

    // Neither PEM nor the key itself (its DER, or its PEM body) is in the copy.
    let bytes = std::fs::read(&copy).unwrap();
    assert!(!contains(&bytes, b"PRIVATE KEY"));
    let copy_url = format!("sqlite://{}", copy.display());
    assert_eq!(assert_all_sealed(&copy_url, &kek), 1);
    let (tenant, stored_kid, sealed) = &stored_private_keys(&copy_url)[0];
    assert_eq!(stored_kid, &kid);
    let pem = open_tenant_key(&kek, tenant, stored_kid, sealed);
    let der = openssl::pkey::PKey::private_key_from_pem(pem.as_bytes())
        .unwrap()
        .private_key_to_der()
        .unwrap();
    assert!(!contains(&bytes, &der));
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!contains(&bytes, body_line.as_bytes()));

    // Restored elsewhere: refused with another key-encryption key, served with its own.
    let restored = Deployment::new(Backend::Sqlite);
    std::fs::copy(&copy, restored.dir().join("grantor.db")).unwrap();
    let refused = restored.serve_fails();
    assert!(refused.contains(&kek_id(&kek)), "{refused}");
    std::fs::write(
        generated_key_file(&restored),
        std::fs::read(generated_key_file(&deployment)).unwrap(),
    )
    .unwrap();
    let server = restored.start();
    assert_eq!(verified_token_kid(&server, "carbon.super", &client), kid);
}

/// `grantor gateway` (or `check`) with this configuration, expected to fail; its stderr.
fn gateway_fails(dir: &Path, config: &str, command: &str) -> String {
    let path = dir.join("refused.toml");
    std::fs::write(
        &path,
        format!("{config}\n[database]\ndata_dir = \"{}\"\n", dir.display()),
    )
    .unwrap();
    let out = Command::new(grantor_binary())
        .arg("--config")
        .arg(&path)
        .arg(command)
        .output()
        .unwrap();
    assert!(!out.status.success(), "grantor {command} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_gateway_key_file_is_sealed_and_opens_only_with_its_kek() {
    let dir = tempfile::tempdir().unwrap();
    // Enabled: `grantor check` checks the gateway's files too.
    let config = "[gateway]\nenabled = true\nbind = \"127.0.0.1:0\"\n";
    let key_file = dir.path().join("gateway-signing-key.pem");

    // Made sealed.
    let first = crate::harness::start_gateway_in(dir.path(), config);
    let published = first.get("/.well-known/jwks.json").json;
    assert!(first.terminate().success());
    let stored = std::fs::read_to_string(&key_file).unwrap();
    let kek = read_kek(&dir.path().join("key-encryption.key"));
    assert!(
        stored.starts_with(&format!("sealed.v1.{}.", kek_id(&kek))),
        "{stored}"
    );
    assert!(!stored.contains("PRIVATE KEY"));
    let again = crate::harness::start_gateway_in(dir.path(), config);
    assert_eq!(again.get("/.well-known/jwks.json").json, published);
    drop(again);

    // Another key-encryption key: the gateway and `grantor check` refuse, naming both keys.
    let other_file = dir.path().join("other.key");
    let other = new_kek_file(&other_file);
    let other_config = format!(
        "{config}[keys]\nencryption_key_file = \"{}\"\n",
        other_file.display()
    );
    for command in ["gateway", "check"] {
        let refused = gateway_fails(dir.path(), &other_config, command);
        assert!(
            refused.contains(&kek_id(&kek)) && refused.contains(&kek_id(&other)),
            "{command}: {refused}"
        );
    }

    // An operator's key in the clear is used, and sealed in place at start.
    let operator = IdpKey::rsa(dir.path(), "operator");
    std::fs::write(
        &key_file,
        operator.private.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    let gateway = crate::harness::start_gateway_in(dir.path(), config);
    let published = gateway.get("/.well-known/jwks.json").json;
    assert_eq!(published["keys"][0]["n"], operator.jwk("x")["n"]);
    let stored = std::fs::read_to_string(&key_file).unwrap();
    assert!(stored.starts_with("sealed.v1.") && !stored.contains("PRIVATE KEY"));
}

/// Two nodes on one database, given different key-encryption keys (each made its own on first
/// start, say), before any key exists: the second refuses to start rather than seal keys the
/// first cannot open.
fn a_node_with_another_kek_refuses_to_start_on_a_database_without_keys(backend: Backend) {
    let deployment = Deployment::new(backend);
    let original = std::fs::read_to_string(&deployment.config_path).unwrap();
    let first = deployment.start();
    let first_kek = read_kek(&generated_key_file(&deployment));
    let other_file = deployment.dir().join("second-node.key");
    let other = new_kek_file(&other_file);
    configure_kek(&deployment, &original, Some(&other_file));
    let refused = deployment.serve_fails();
    for needed in [kek_id(&first_kek), kek_id(&other)] {
        assert!(refused.contains(&needed), "{needed}: {refused}");
    }
    // The first node's keys are made, and open, as ever.
    assert_eq!(first.get("/oauth2/jwks").status, 200);
    configure_kek(&deployment, &original, None);
    assert_eq!(assert_all_sealed(&deployment.database_url, &first_kek), 1);
}
on_each_backend!(a_node_with_another_kek_refuses_to_start_on_a_database_without_keys);
