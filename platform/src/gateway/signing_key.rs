//! The key the gateway signs `X-JWT-Assertion` with, kept in a PEM file (`gateway.signing_key_file`,
//! by default `gateway-signing-key.pem` in the data directory). Backends cache the gateway's JWKS,
//! so the key must outlive a restart, and several gateway nodes given the same file sign with the
//! same key. The file is made on first start (ES256: a signature costs tens of microseconds, not
//! RSA's hundreds), readable by its owner only; an operator may put an RSA, EC P-256 or Ed25519
//! key there instead.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::keys::signing::{from_private_pem, generate, GeneratedKey, SigningAlgorithm};

/// The key in `path`, made there first if the file does not exist.
pub fn load_or_create(path: &Path) -> anyhow::Result<GeneratedKey> {
    if let Some(key) = existing(path)? {
        return Ok(key);
    }
    let key = generate(SigningAlgorithm::ES256)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(key.private_pem.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), kid = %key.kid, "made the gateway's signing key");
            Ok(key)
        }
        // Another gateway node sharing the file made it first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            read(path, &pem)
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The key in `path`, if the file exists (made nothing otherwise: `grantor check` uses this).
pub fn existing(path: &Path) -> anyhow::Result<Option<GeneratedKey>> {
    match std::fs::read_to_string(path) {
        Ok(pem) => read(path, &pem).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn read(path: &Path, pem: &str) -> anyhow::Result<GeneratedKey> {
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the gateway's signing key is readable by others than its owner (chmod 600)");
        }
    }
    from_private_pem(pem).with_context(|| {
        format!(
            "{}: not a private key the gateway can sign with",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("gateway.pem");
        let made = load_or_create(&path).unwrap();
        assert_eq!(made.algorithm, SigningAlgorithm::ES256);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load_or_create(&path).unwrap();
        assert_eq!(again.kid, made.kid);
        assert_eq!(again.public_jwk, made.public_jwk);
    }

    #[test]
    fn an_operator_key_is_used_and_a_broken_file_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.pem");
        let rsa = generate(SigningAlgorithm::RS256).unwrap();
        std::fs::write(&path, &rsa.private_pem).unwrap();
        let read = load_or_create(&path).unwrap();
        assert_eq!(read.algorithm, SigningAlgorithm::RS256);
        assert_eq!(read.kid, rsa.kid);
        std::fs::write(&path, "not a key").unwrap();
        let error = format!("{:#}", load_or_create(&path).unwrap_err());
        assert!(error.contains("not a private key"), "{error}");
    }
}
