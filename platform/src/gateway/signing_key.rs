//! The key the gateway signs `X-JWT-Assertion` with, kept in a file (`gateway.signing_key_file`,
//! by default `gateway-signing-key.pem` in the data directory). Backends cache the gateway's JWKS,
//! so the key must outlive a restart, and several gateway nodes given the same file sign with the
//! same key. The file is made on first start (ES256: a signature costs tens of microseconds, not
//! RSA's hundreds), readable by its owner only; an operator may put an RSA, EC P-256 or Ed25519
//! key there instead.
//!
//! The key is kept sealed under the key-encryption key (`keys::sealed`), like the tenants' keys: a
//! copy of the file alone signs nothing. A key found in the clear (an operator's PEM, a file from
//! before sealing) is sealed in place at start, and the log says so.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::keys::encryption_key::KeyEncryptionKey;
use crate::keys::sealed::{self, SealedKeyOwner};
use crate::keys::signing::{from_private_pem, generate, GeneratedKey, SigningAlgorithm};

/// Where the gateway's key is kept.
pub fn configured_path(config: &Config) -> PathBuf {
    config
        .gateway
        .signing_key_file
        .clone()
        .unwrap_or_else(|| config.database.data_dir.join("gateway-signing-key.pem"))
}

/// A key as found in its file.
pub struct KeyFile {
    pub key: GeneratedKey,
    /// Stored in the clear (to be sealed).
    pub in_the_clear: bool,
}

/// The key in `path`, made there first if the file does not exist; sealed in place if it was in
/// the clear.
pub fn load_or_create(path: &Path, kek: &KeyEncryptionKey) -> anyhow::Result<GeneratedKey> {
    if let Some(found) = existing(path, Some(kek))? {
        if found.in_the_clear {
            let sealed = seal(&found.key, kek)?;
            match replace_file(path, &sealed) {
                Ok(()) => tracing::warn!(
                    path = %path.display(),
                    kek_id = kek.id(),
                    "the gateway's signing key was stored in the clear: sealed it in place under the key-encryption key"
                ),
                // A key the operator keeps on a read-only mount (a Kubernetes secret, say): it
                // still signs; keeping it safe there is the operator's choice.
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    "the gateway's signing key is in the clear and cannot be sealed in place ({e:#}): \
                     used as it is"
                ),
            }
        }
        return Ok(found.key);
    }
    let key = generate(SigningAlgorithm::ES256)?;
    let sealed = seal(&key, kek)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match crate::secrets::open_owner_only(path, false) {
        Ok(mut file) => {
            file.write_all(sealed.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), kid = %key.kid, "made the gateway's signing key");
            Ok(key)
        }
        // Another gateway node sharing the file made it first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(read(path, &text, Some(kek))?.key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The key in `path`, if the file exists; changes nothing (`grantor check` uses this). Without a
/// key-encryption key (none made yet), only a key in the clear can be read.
pub fn existing(path: &Path, kek: Option<&KeyEncryptionKey>) -> anyhow::Result<Option<KeyFile>> {
    match std::fs::read_to_string(path) {
        Ok(text) => read(path, &text, kek).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The key in `path` sealed under `new` instead of `old`, written beside the file; `install` puts
/// it in the file's place. `None` when there is no file.
pub fn prepare_rewrap(
    path: &Path,
    old: &KeyEncryptionKey,
    new: &KeyEncryptionKey,
) -> anyhow::Result<Option<RewrappedFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let kek = if sealed::sealed_with(&text) == Some(new.id()) {
        new
    } else {
        old
    };
    let found = read(path, &text, Some(kek))?;
    let staged = staging_path(path);
    let mut file = crate::secrets::open_owner_only(&staged, false)
        .with_context(|| format!("cannot create {}", staged.display()))?;
    file.write_all(seal(&found.key, new)?.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", staged.display()))?;
    Ok(Some(RewrappedFile {
        staged,
        path: path.to_owned(),
        installed: false,
    }))
}

/// A rewrapped key file waiting beside the one it replaces; removed if never installed.
pub struct RewrappedFile {
    staged: PathBuf,
    path: PathBuf,
    installed: bool,
}

impl RewrappedFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn install(mut self) -> anyhow::Result<()> {
        std::fs::rename(&self.staged, &self.path)
            .with_context(|| format!("cannot replace {}", self.path.display()))?;
        self.installed = true;
        Ok(())
    }
}

impl Drop for RewrappedFile {
    fn drop(&mut self) {
        if !self.installed {
            let _ = std::fs::remove_file(&self.staged);
        }
    }
}

fn read(path: &Path, text: &str, kek: Option<&KeyEncryptionKey>) -> anyhow::Result<KeyFile> {
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the gateway's signing key is readable by others than its owner (chmod 600)");
        }
    }
    if !sealed::is_sealed(text) {
        let key = from_private_pem(text).with_context(|| {
            format!(
                "{}: not a private key the gateway can sign with",
                path.display()
            )
        })?;
        return Ok(KeyFile {
            key,
            in_the_clear: true,
        });
    }
    let Some(kek) = kek else {
        anyhow::bail!(
            "{}: sealed under key-encryption key {}, but there is no key-encryption key \
             ([keys] encryption_key_file or encryption_key_env, or the one made in the data \
             directory)",
            path.display(),
            sealed::sealed_with(text).unwrap_or("(unknown)")
        );
    };
    let pem = sealed::open(kek, SealedKeyOwner::Gateway, text)
        .with_context(|| format!("{}: the gateway's signing key", path.display()))?;
    let key = std::str::from_utf8(&pem)
        .ok()
        .and_then(|pem| from_private_pem(pem).ok())
        .with_context(|| {
            format!(
                "{}: not a private key the gateway can sign with",
                path.display()
            )
        })?;
    Ok(KeyFile {
        key,
        in_the_clear: false,
    })
}

fn seal(key: &GeneratedKey, kek: &KeyEncryptionKey) -> anyhow::Result<String> {
    let mut sealed = sealed::seal(kek, SealedKeyOwner::Gateway, key.private_pem.as_bytes())?;
    sealed.push('\n');
    Ok(sealed)
}

/// A name beside `path` for the file that will replace it.
fn staging_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.new", std::process::id()))
}

/// Replaces `path` with `text` whole: written beside it, then renamed over it, so a reader never
/// sees half a file and the key in the clear is gone once this returns.
fn replace_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let staged = staging_path(path);
    let _ = std::fs::remove_file(&staged);
    let written = crate::secrets::open_owner_only(&staged, false)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&staged, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    written.with_context(|| format!("cannot replace {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::encryption_key::KEY_BYTES;

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes([byte; KEY_BYTES], format!("test key {byte}"))
    }

    #[test]
    fn the_key_is_made_once_sealed_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("gateway.pem");
        let made = load_or_create(&path, &kek(1)).unwrap();
        assert_eq!(made.algorithm, SigningAlgorithm::ES256);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(
            sealed::is_sealed(&stored) && !stored.contains("PRIVATE"),
            "{stored}"
        );
        let again = load_or_create(&path, &kek(1)).unwrap();
        assert_eq!(again.kid, made.kid);
        assert_eq!(again.public_jwk, made.public_jwk);
        // Another key-encryption key: refused, naming both.
        let error = format!("{:#}", load_or_create(&path, &kek(2)).unwrap_err());
        assert!(
            error.contains(kek(1).id()) && error.contains(kek(2).id()),
            "{error}"
        );
        let error = format!("{:#}", existing(&path, None).err().unwrap());
        assert!(error.contains(kek(1).id()), "{error}");
    }

    #[test]
    fn an_operator_key_in_the_clear_is_used_and_sealed_and_a_broken_file_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.pem");
        let rsa = generate(SigningAlgorithm::RS256).unwrap();
        std::fs::write(&path, rsa.private_pem.as_bytes()).unwrap();
        let found = existing(&path, None).unwrap().unwrap();
        assert!(found.in_the_clear);
        let read = load_or_create(&path, &kek(1)).unwrap();
        assert_eq!(read.algorithm, SigningAlgorithm::RS256);
        assert_eq!(read.kid, rsa.kid);
        // Sealed in place: no key in the clear is left.
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(
            sealed::is_sealed(&stored) && !stored.contains("PRIVATE"),
            "{stored}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(load_or_create(&path, &kek(1)).unwrap().kid, rsa.kid);
        std::fs::write(&path, "not a key").unwrap();
        let error = format!("{:#}", load_or_create(&path, &kek(1)).unwrap_err());
        assert!(error.contains("not a private key"), "{error}");
    }

    #[test]
    fn a_rewrapped_file_replaces_the_old_one_only_when_installed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.pem");
        let made = load_or_create(&path, &kek(1)).unwrap();
        // Not installed: the old file stays, nothing is left beside it.
        drop(prepare_rewrap(&path, &kek(1), &kek(2)).unwrap().unwrap());
        assert_eq!(load_or_create(&path, &kek(1)).unwrap().kid, made.kid);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        prepare_rewrap(&path, &kek(1), &kek(2))
            .unwrap()
            .unwrap()
            .install()
            .unwrap();
        assert_eq!(load_or_create(&path, &kek(2)).unwrap().kid, made.kid);
        assert!(load_or_create(&path, &kek(1)).is_err());
        // Run again: already under the new key, still fine.
        prepare_rewrap(&path, &kek(1), &kek(2))
            .unwrap()
            .unwrap()
            .install()
            .unwrap();
        assert_eq!(load_or_create(&path, &kek(2)).unwrap().kid, made.kid);
        assert!(
            prepare_rewrap(&dir.path().join("none.pem"), &kek(1), &kek(2))
                .unwrap()
                .is_none()
        );
    }
}
