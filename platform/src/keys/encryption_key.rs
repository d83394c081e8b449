//! The key-encryption key (KEK): 256 random bits that seal every private key Grantor keeps at rest
//! (tenants' signing keys in the database, the gateway's key file; `keys::sealed`). It never enters
//! the database, so a dump or a `grantor backup` copy alone cannot forge tokens.
//!
//! Where it comes from (`[keys]`): the file `encryption_key_file` names, or the environment
//! variable `encryption_key_env` names, each holding the key as base64 (`openssl rand -base64 32`).
//! With neither, a key is made on first use in `<data_dir>/key-encryption.key`, readable by its
//! owner only (like the TLS pair made there), so a server starts with nothing configured.
//!
//! The key is known by its id, a short digest that names it in sealed keys and messages. The key
//! itself is never logged, printed or put in an error message.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

use crate::config::Config;

/// Bytes of key material: AES-256.
pub const KEY_BYTES: usize = 32;

/// The file made in the data directory when nothing is configured.
pub const GENERATED_FILE: &str = "key-encryption.key";

/// What an operator is told a key file or variable must hold.
const EXPECTED: &str = "must hold a 256-bit key as base64 (openssl rand -base64 32)";

pub struct KeyEncryptionKey {
    key: Zeroizing<[u8; KEY_BYTES]>,
    id: String,
    source: String,
}

/// Only the id and where the key came from: never the key.
impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl KeyEncryptionKey {
    /// A key from its bytes; `source` says where it came from, for messages.
    pub fn from_bytes(key: [u8; KEY_BYTES], source: impl Into<String>) -> KeyEncryptionKey {
        KeyEncryptionKey::new(Zeroizing::new(key), source.into())
    }

    fn new(key: Zeroizing<[u8; KEY_BYTES]>, source: String) -> KeyEncryptionKey {
        KeyEncryptionKey {
            id: key_id(&key),
            key,
            source,
        }
    }

    /// A new random key.
    pub fn generate(
        source: impl Into<String>,
    ) -> Result<KeyEncryptionKey, openssl::error::ErrorStack> {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        openssl::rand::rand_bytes(key.as_mut())?;
        Ok(KeyEncryptionKey::new(key, source.into()))
    }

    /// The key in its written form (base64, as `openssl rand -base64 32` prints it). Secret.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.key.as_ref()))
    }

    /// The key from its written form; surrounding whitespace is ignored. The error never repeats
    /// the text.
    fn from_base64(text: &str, source: String) -> Result<KeyEncryptionKey, String> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| format!("{source} {EXPECTED}"))?,
        );
        if decoded.len() != KEY_BYTES {
            return Err(format!("{source} {EXPECTED}"));
        }
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        key.copy_from_slice(&decoded);
        Ok(KeyEncryptionKey::new(key, source))
    }

    /// Names the key in sealed keys and messages: 16 hex digits of a digest of it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the key came from (a file, a variable), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.key
    }

    /// The key `[keys]` names; with nothing configured, the one in the data directory, made now
    /// if it does not exist yet.
    pub fn load_or_create(config: &Config) -> anyhow::Result<KeyEncryptionKey> {
        if let Some(key) = configured(config)? {
            return Ok(key);
        }
        let path = generated_path(config);
        if let Some(key) = read_file(&path, "made on first start")? {
            return Ok(key);
        }
        create_file(&path)
    }

    /// The key `load_or_create` would use, without making one (`grantor check`): `None` when it
    /// would be made now.
    pub fn existing(config: &Config) -> anyhow::Result<Option<KeyEncryptionKey>> {
        if let Some(key) = configured(config)? {
            return Ok(Some(key));
        }
        read_file(&generated_path(config), "made on first start")
    }

    /// A key given on the command line (`grantor keys rewrap --new-key-file/--new-key-env`).
    pub fn from_file(path: &Path) -> anyhow::Result<KeyEncryptionKey> {
        read_file(path, "")?.with_context(|| format!("{} does not exist", path.display()))
    }

    pub fn from_env(variable: &str) -> anyhow::Result<KeyEncryptionKey> {
        let value = Zeroizing::new(
            std::env::var(variable)
                .map_err(|_| anyhow::anyhow!("the environment variable {variable} is not set"))?,
        );
        KeyEncryptionKey::from_base64(&value, format!("environment variable {variable}"))
            .map_err(anyhow::Error::msg)
    }
}

/// Where the key is made when `[keys]` names none.
pub fn generated_path(config: &Config) -> PathBuf {
    config.database.data_dir.join(GENERATED_FILE)
}

/// The key `[keys]` names, if it names one.
fn configured(config: &Config) -> anyhow::Result<Option<KeyEncryptionKey>> {
    let keys = &config.keys;
    if let Some(path) = &keys.encryption_key_file {
        return KeyEncryptionKey::from_file(path)
            .context("keys.encryption_key_file")
            .map(Some);
    }
    if let Some(variable) = &keys.encryption_key_env {
        return KeyEncryptionKey::from_env(variable)
            .context("keys.encryption_key_env")
            .map(Some);
    }
    Ok(None)
}

/// The key in `path`; `None` if the file does not exist. `note` is added to its source.
fn read_file(path: &Path, note: &str) -> anyhow::Result<Option<KeyEncryptionKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the key-encryption key is readable by others than its owner (chmod 600)");
        }
    }
    let source = if note.is_empty() {
        format!("file {}", path.display())
    } else {
        format!("file {} ({note})", path.display())
    };
    KeyEncryptionKey::from_base64(&text, source)
        .map(Some)
        .map_err(anyhow::Error::msg)
}

/// Makes a key in `path`, owner-readable only. Another process making it at the same moment
/// wins: its key is read and used.
fn create_file(path: &Path) -> anyhow::Result<KeyEncryptionKey> {
    let key = KeyEncryptionKey::generate(format!(
        "file {} (made just now: none was configured or found there)",
        path.display()
    ))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // Written whole under a name of its own, then linked into place: nodes starting together on
    // one data directory never read a key half written, and the first link wins (a link never
    // replaces a file).
    let unique = crate::secrets::random_token(9).context("cannot name a temporary file")?;
    let file_name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let staged = path.with_file_name(format!(".{file_name}.{unique}.tmp"));
    let written = crate::secrets::open_owner_only(&staged, false).and_then(|mut file| {
        let mut line = key.to_base64();
        line.push('\n');
        file.write_all(line.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&staged, path));
    let _ = std::fs::remove_file(&staged);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                // The new name durable too, not only the file's bytes.
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
            tracing::warn!(
                path = %path.display(),
                kek_id = key.id(),
                "made a key-encryption key: private keys are sealed with it; keep a copy apart from \
                 the database (without it, the keys in the database and its backups cannot be used), \
                 and give every node the same one ([keys] encryption_key_file or encryption_key_env)"
            );
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_file(path, "made on first start")?
                .with_context(|| format!("{} vanished as it was made", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// 16 hex digits of SHA-256 over a label and the key: enough to tell keys apart, nothing to
/// learn the key from.
fn key_id(key: &[u8; KEY_BYTES]) -> String {
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(b"grantor key-encryption key id\0");
    hasher.update(key);
    hasher.finish()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        let mut config = Config::default();
        config.database.data_dir = dir.to_owned();
        config
    }

    #[test]
    fn nodes_starting_together_all_read_the_one_key_made() {
        // A race: rounds enough that the old way (a key file written in place) fails.
        for _ in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let config = config_in(&dir.path().join("data"));
            let ids: Vec<String> = std::thread::scope(|s| {
                let starts: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| KeyEncryptionKey::load_or_create(&config)))
                    .collect();
                starts
                    .into_iter()
                    .map(|start| start.join().unwrap().unwrap().id().to_owned())
                    .collect()
            });
            assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
            let left: Vec<_> = std::fs::read_dir(dir.path().join("data"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left.len(), 1, "only the key file is left: {left:?}");
        }
    }

    #[test]
    fn made_once_in_the_data_directory_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(&dir.path().join("data"));
        assert!(KeyEncryptionKey::existing(&config).unwrap().is_none());
        let made = KeyEncryptionKey::load_or_create(&config).unwrap();
        let path = generated_path(&config);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = KeyEncryptionKey::load_or_create(&config).unwrap();
        assert_eq!(again.id(), made.id());
        assert_eq!(again.bytes(), made.bytes());
        assert_eq!(made.id().len(), 16);
        assert!(made.source().contains(GENERATED_FILE), "{}", made.source());
        let existing = KeyEncryptionKey::existing(&config).unwrap().unwrap();
        assert_eq!(existing.id(), made.id());
    }

    #[test]
    fn a_configured_file_or_variable_wins_and_bad_ones_are_refused_without_showing_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kek");
        let key = KeyEncryptionKey::generate("test").unwrap();
        std::fs::write(&file, format!("{}\n", key.to_base64().as_str())).unwrap();
        let mut config = config_in(dir.path());
        config.keys.encryption_key_file = Some(file.clone());
        let loaded = KeyEncryptionKey::load_or_create(&config).unwrap();
        assert_eq!(loaded.id(), key.id());
        // Nothing made in the data directory.
        assert!(!generated_path(&config).exists());

        let variable = "ENCRYPTION_KEY_UNIT_TEST_VARIABLE";
        std::env::set_var(variable, key.to_base64().as_str());
        let from_env = KeyEncryptionKey::from_env(variable).unwrap();
        assert_eq!(from_env.id(), key.id());
        std::env::remove_var(variable);
        let unset = format!("{:#}", KeyEncryptionKey::from_env(variable).unwrap_err());
        assert!(unset.contains("is not set"), "{unset}");

        // A short key, and text that is not base64: refused, and the text is not repeated.
        for bad in ["c2hvcnQ=", "not base64 at all, secret-looking-value"] {
            std::fs::write(&file, bad).unwrap();
            let error = format!(
                "{:#}",
                KeyEncryptionKey::load_or_create(&config).unwrap_err()
            );
            assert!(error.contains("256-bit key as base64"), "{error}");
            assert!(!error.contains(bad), "{error}");
        }
        let debug = format!("{key:?}");
        assert!(debug.contains(key.id()) && !debug.contains(key.to_base64().as_str()));
    }

    #[test]
    fn ids_tell_keys_apart() {
        let a = KeyEncryptionKey::from_bytes([1; KEY_BYTES], "a");
        let b = KeyEncryptionKey::from_bytes([2; KEY_BYTES], "b");
        assert_ne!(a.id(), b.id());
        assert_eq!(
            a.id(),
            KeyEncryptionKey::from_bytes([1; KEY_BYTES], "c").id()
        );
    }
}
