//! Private keys sealed at rest: AES-256-GCM under the key-encryption key (`encryption_key`), with a
//! fresh random nonce per sealing and the key's identity as associated data, so a sealed key
//! moved to another tenant's row, or put in place of another key, does not open.
//!
//! The envelope is one line of text: `sealed.v1.<KEK id>.<nonce>.<ciphertext and tag>` (base64url).
//! The version says how to open it; the KEK id says which key-encryption key it needs, so a wrong
//! key is told apart from a damaged envelope, and `grantor keys rewrap` knows what to move.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use zeroize::Zeroizing;

use super::encryption_key::KeyEncryptionKey;

const MARK: &str = "sealed";
const VERSION: &str = "v1";
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

/// Whose key is sealed: bound into the envelope as associated data.
#[derive(Debug, Clone, Copy)]
pub enum SealedKeyOwner<'a> {
    /// A tenant's signing key, by tenant and `kid`.
    Tenant { tenant: &'a str, kid: &'a str },
    /// The gateway's `X-JWT-Assertion` key (its file).
    Gateway,
}

impl SealedKeyOwner<'_> {
    fn associated_data(&self, kek_id: &str) -> Vec<u8> {
        let mut data = format!("grantor sealed {VERSION}\0{kek_id}\0").into_bytes();
        match self {
            SealedKeyOwner::Tenant { tenant, kid } => {
                data.extend_from_slice(format!("tenant signing key\0{tenant}\0{kid}").as_bytes())
            }
            SealedKeyOwner::Gateway => data.extend_from_slice(b"gateway signing key"),
        }
        data
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "sealed under key-encryption key {sealed_with}, but the key-encryption key in use \
         (from {source_of_key}) is {in_use}"
    )]
    WrongKey {
        sealed_with: String,
        in_use: String,
        source_of_key: String,
    },
    #[error("does not open under key-encryption key {0}: the sealed key was altered or damaged")]
    Damaged(String),
    #[error("sealed in format {0}, which this version of Grantor does not read")]
    UnknownVersion(String),
    #[error("not a sealed key")]
    Malformed,
    #[error("cannot seal: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// Whether `text` is an envelope (of any version), rather than a key stored in the clear.
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(&format!("{MARK}."))
}

/// The id of the key-encryption key `text` was sealed under, if it is an envelope this version
/// reads.
pub fn sealed_with(text: &str) -> Option<&str> {
    let mut parts = text.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(MARK), Some(VERSION), Some(id)) => Some(id),
        _ => None,
    }
}

/// Seals `secret` (a private key's PEM) for `owner`.
pub fn seal(
    kek: &KeyEncryptionKey,
    owner: SealedKeyOwner<'_>,
    secret: &[u8],
) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_BYTES];
    openssl::rand::rand_bytes(&mut nonce)?;
    let mut tag = [0u8; TAG_BYTES];
    let mut sealed = encrypt_aead(
        Cipher::aes_256_gcm(),
        kek.bytes(),
        Some(&nonce),
        &owner.associated_data(kek.id()),
        secret,
        &mut tag,
    )?;
    sealed.extend_from_slice(&tag);
    Ok(format!(
        "{MARK}.{VERSION}.{}.{}.{}",
        kek.id(),
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(sealed)
    ))
}

/// The secret sealed in `text` for `owner`; an error says whether the key-encryption key is the
/// wrong one, or the envelope was altered (or belongs to another owner).
pub fn open(
    kek: &KeyEncryptionKey,
    owner: SealedKeyOwner<'_>,
    text: &str,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let parts: Vec<&str> = text.trim().split('.').collect();
    let [mark, version, kek_id, nonce, sealed] = parts.as_slice() else {
        return Err(match parts.as_slice() {
            [MARK, version, ..] if *version != VERSION => {
                SealError::UnknownVersion((*version).to_owned())
            }
            _ => SealError::Malformed,
        });
    };
    if *mark != MARK {
        return Err(SealError::Malformed);
    }
    if *version != VERSION {
        return Err(SealError::UnknownVersion((*version).to_owned()));
    }
    if *kek_id != kek.id() {
        return Err(SealError::WrongKey {
            sealed_with: (*kek_id).to_owned(),
            in_use: kek.id().to_owned(),
            source_of_key: kek.source().to_owned(),
        });
    }
    let nonce = URL_SAFE_NO_PAD
        .decode(nonce)
        .map_err(|_| SealError::Malformed)?;
    let sealed = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| SealError::Malformed)?;
    if nonce.len() != NONCE_BYTES || sealed.len() < TAG_BYTES {
        return Err(SealError::Malformed);
    }
    let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_BYTES);
    decrypt_aead(
        Cipher::aes_256_gcm(),
        kek.bytes(),
        Some(&nonce),
        &owner.associated_data(kek_id),
        ciphertext,
        tag,
    )
    .map(Zeroizing::new)
    .map_err(|_| SealError::Damaged(kek.id().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::encryption_key::KEY_BYTES;

    const PEM: &[u8] =
        b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI...\n-----END PRIVATE KEY-----\n";

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes([byte; KEY_BYTES], format!("test key {byte}"))
    }

    fn acme(kid: &str) -> SealedKeyOwner<'_> {
        SealedKeyOwner::Tenant {
            tenant: "acme",
            kid,
        }
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let kek = kek(1);
        let sealed = seal(&kek, acme("k1"), PEM).unwrap();
        assert!(is_sealed(&sealed));
        assert_eq!(sealed_with(&sealed), Some(kek.id()));
        assert!(!sealed.contains("PRIVATE"), "{sealed}");
        assert_eq!(open(&kek, acme("k1"), &sealed).unwrap().as_slice(), PEM);
        // The same key sealed twice: two different envelopes (a fresh nonce), both open.
        let again = seal(&kek, acme("k1"), PEM).unwrap();
        assert_ne!(again, sealed);
        assert_eq!(open(&kek, acme("k1"), &again).unwrap().as_slice(), PEM);
        let gateway = seal(&kek, SealedKeyOwner::Gateway, PEM).unwrap();
        assert_eq!(
            open(&kek, SealedKeyOwner::Gateway, &gateway)
                .unwrap()
                .as_slice(),
            PEM
        );
        assert!(!is_sealed(std::str::from_utf8(PEM).unwrap()));
    }

    #[test]
    fn a_wrong_key_encryption_key_is_named_with_both_ids() {
        let (right, wrong) = (kek(1), kek(2));
        let sealed = seal(&right, acme("k1"), PEM).unwrap();
        let error = open(&wrong, acme("k1"), &sealed).unwrap_err();
        assert!(matches!(error, SealError::WrongKey { .. }), "{error}");
        let message = error.to_string();
        assert!(
            message.contains(right.id()) && message.contains(wrong.id()),
            "{message}"
        );
        assert!(message.contains("test key 2"), "{message}");
        // A forged envelope that claims the wrong key's id still does not open.
        let relabelled = sealed.replacen(right.id(), wrong.id(), 1);
        assert!(matches!(
            open(&wrong, acme("k1"), &relabelled),
            Err(SealError::Damaged(_))
        ));
    }

    #[test]
    fn tampered_envelopes_do_not_open() {
        let kek = kek(1);
        let sealed = seal(&kek, acme("k1"), PEM).unwrap();
        let (head, body) = sealed.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        for position in [0, bytes.len() / 2, bytes.len() - 1] {
            bytes[position] ^= 0x01;
            let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(
                matches!(
                    open(&kek, acme("k1"), &tampered),
                    Err(SealError::Damaged(_))
                ),
                "byte {position}"
            );
            bytes[position] ^= 0x01;
        }
        let parts: Vec<&str> = sealed.split('.').collect();
        let mut nonce = URL_SAFE_NO_PAD.decode(parts[3]).unwrap();
        nonce[0] ^= 0x80;
        let other_nonce = format!(
            "{}.{}.{}.{}.{}",
            parts[0],
            parts[1],
            parts[2],
            URL_SAFE_NO_PAD.encode(nonce),
            parts[4]
        );
        assert!(matches!(
            open(&kek, acme("k1"), &other_nonce),
            Err(SealError::Damaged(_))
        ));
        assert!(matches!(
            open(&kek, acme("k1"), "sealed.v1.x"),
            Err(SealError::Malformed)
        ));
        assert!(matches!(
            open(&kek, acme("k1"), "-----BEGIN PRIVATE KEY-----"),
            Err(SealError::Malformed)
        ));
        let future = sealed.replacen("sealed.v1.", "sealed.v9.", 1);
        assert!(matches!(
            open(&kek, acme("k1"), &future),
            Err(SealError::UnknownVersion(v)) if v == "v9"
        ));
    }

    #[test]
    fn a_sealed_key_opens_only_for_its_owner() {
        let kek = kek(1);
        let sealed = seal(&kek, acme("k1"), PEM).unwrap();
        for other in [
            acme("k2"),
            SealedKeyOwner::Tenant {
                tenant: "globex",
                kid: "k1",
            },
            SealedKeyOwner::Gateway,
        ] {
            assert!(
                matches!(open(&kek, other, &sealed), Err(SealError::Damaged(_))),
                "{other:?}"
            );
        }
        // Tenant and kid are kept apart: tenant "a" with kid "b.c" is not tenant "a.b" with kid "c".
        let split = seal(
            &kek,
            SealedKeyOwner::Tenant {
                tenant: "a",
                kid: "b.c",
            },
            PEM,
        )
        .unwrap();
        assert!(open(
            &kek,
            SealedKeyOwner::Tenant {
                tenant: "a.b",
                kid: "c",
            },
            &split
        )
        .is_err());
    }
}
