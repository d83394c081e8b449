//! Verification keys handed over as files (an identity provider's, a `private_key_jwt` client's):
//! each read, normalised to PEM, and described on stderr with its fingerprint and expiry.

use std::path::PathBuf;

use anyhow::Context;

use crate::keys::certificates::normalise_verification_key;

/// The keys as PEM, in order.
pub(super) fn read_verification_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut pems = Vec::new();
    for path in paths {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let key =
            normalise_verification_key(&bytes).with_context(|| format!("{}", path.display()))?;
        eprintln!(
            "{}: {} (SHA-256 {})",
            path.display(),
            key.description,
            key.fingerprint
        );
        if let Some(validity) = &key.validity {
            let now = crate::clock::now_unix();
            let warn = if validity.expired_at(now) {
                "warning: "
            } else {
                ""
            };
            eprintln!("{}: {warn}{}", path.display(), validity.describe(now));
        }
        pems.push(key.pem.into_bytes());
    }
    Ok(pems)
}
