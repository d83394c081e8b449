//! Generated credentials and how they are kept: client ids, client secrets and opaque tokens are
//! random, and only their SHA-256 digests are stored.
//!
//! Why SHA-256 and not a password hash (argon2): these values are 256-bit random strings we
//! generate, never human-chosen, so there is nothing to brute-force and a slow hash would only
//! slow down every token request. Comparison is constant-time. Never log what this module returns.
//! Files that hold a secret are opened through `open_owner_only`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Prefix naming the digest scheme, so a stored hash says how to verify it.
const HASH_SCHEME: &str = "sha256:";

/// `bytes` random bytes from OpenSSL's CSPRNG, base64url-encoded without padding.
pub fn random_token(bytes: usize) -> Result<String, openssl::error::ErrorStack> {
    let mut buf = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// Letters and digits only: a client id is typed on command lines (`grantor client remove ID`),
/// and a base64url id that starts with `-` reads as an option there.
const CLIENT_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const CLIENT_ID_LEN: usize = 24;

/// 24 characters of 62 (about 143 bits), drawn without bias: a byte at or past the largest
/// multiple of 62 is thrown away rather than folded onto the first characters.
pub fn generate_client_id() -> Result<String, openssl::error::ErrorStack> {
    let alphabet = CLIENT_ID_ALPHABET.len();
    let unbiased_below = 256 - 256 % alphabet;
    let mut id = String::with_capacity(CLIENT_ID_LEN);
    let mut buf = [0u8; 32];
    while id.len() < CLIENT_ID_LEN {
        openssl::rand::rand_bytes(&mut buf)?;
        for &byte in buf.iter().filter(|&&b| usize::from(b) < unbiased_below) {
            if id.len() == CLIENT_ID_LEN {
                break;
            }
            id.push(char::from(CLIENT_ID_ALPHABET[usize::from(byte) % alphabet]));
        }
    }
    Ok(id)
}

pub fn generate_client_secret() -> Result<String, openssl::error::ErrorStack> {
    random_token(32)
}

/// The stored form of a secret or token.
pub fn hash_secret(secret: &str) -> String {
    // SHA-256's own functions, not the one-shot `sha256()`: OpenSSL 3 answers that through
    // `EVP_Q_digest`, which looks the algorithm up by name in its provider tables at every call
    // (`EVP_MD_fetch`: longer than hashing a token itself; a token request hashes three).
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(secret.as_bytes());
    let digest = hasher.finish();
    let mut out = String::with_capacity(HASH_SCHEME.len() + 64);
    out.push_str(HASH_SCHEME);
    push_hex(&mut out, &digest);
    out
}

/// Appends `bytes` in lowercase hex. On the token path several times a request: a `format!`
/// per byte was 2-3 % of the workers' time (perf).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// Whether `presented` matches `stored`, compared in constant time. An unknown scheme never matches.
pub fn verify_secret(presented: &str, stored: &str) -> bool {
    let computed = hash_secret(presented);
    stored.starts_with(HASH_SCHEME)
        && computed.len() == stored.len()
        && openssl::memcmp::eq(computed.as_bytes(), stored.as_bytes())
}

/// Opens `path` for writing, readable and writable by the owner only (0600 on Unix), for a file
/// that holds a secret (a private key, a key-encryption key, a plugin's private copy).
/// `replace`: an existing file is truncated; otherwise the file must not exist yet.
pub fn open_owner_only(path: &std::path::Path, replace: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_in_lowercase_hex() {
        // FIPS 180-2's example.
        assert_eq!(
            hash_secret("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut out = String::new();
        push_hex(&mut out, &[0x00, 0x0f, 0xa0, 0xff]);
        assert_eq!(out, "000fa0ff");
    }

    #[test]
    fn secrets_round_trip() {
        let secret = generate_client_secret().unwrap();
        assert_eq!(secret.len(), 43);
        let stored = hash_secret(&secret);
        assert!(stored.starts_with("sha256:"));
        assert!(!stored.contains(&secret));
        assert!(verify_secret(&secret, &stored));
        assert!(!verify_secret("wrong", &stored));
        assert!(!verify_secret(&secret, &stored.replace("sha256:", "md5:")));
        assert!(!verify_secret(&secret, ""));
    }

    #[test]
    fn ids_are_unique() {
        let a = generate_client_id().unwrap();
        let b = generate_client_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
    }

    #[test]
    fn client_ids_are_letters_and_digits_so_a_command_line_never_reads_one_as_an_option() {
        // With base64url, 1,000 ids of 24 characters all avoiding `-` and `_` has odds of e^-750.
        for _ in 0..1000 {
            let id = generate_client_id().unwrap();
            assert_eq!(id.len(), 24);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
    }
}
