//! Generated credentials and how they are kept: client ids, client secrets and opaque tokens are
//! random, and only their SHA-256 digests are stored.
//!
//! Why SHA-256 and not a password hash (argon2): these values are 256-bit random strings we
//! generate, never human-chosen, so there is nothing to brute-force and a slow hash would only
//! slow down every token request. Comparison is constant-time. Never log what this module returns.

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

pub fn generate_client_id() -> Result<String, openssl::error::ErrorStack> {
    random_token(18)
}

pub fn generate_client_secret() -> Result<String, openssl::error::ErrorStack> {
    random_token(32)
}

pub fn generate_opaque_token() -> Result<String, openssl::error::ErrorStack> {
    random_token(32)
}

/// The stored form of a secret or token.
pub fn hash_secret(secret: &str) -> String {
    let digest = openssl::sha::sha256(secret.as_bytes());
    let mut out = String::with_capacity(HASH_SCHEME.len() + 64);
    out.push_str(HASH_SCHEME);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Whether `presented` matches `stored`, compared in constant time. An unknown scheme never matches.
pub fn verify_secret(presented: &str, stored: &str) -> bool {
    let computed = hash_secret(presented);
    stored.starts_with(HASH_SCHEME)
        && computed.len() == stored.len()
        && openssl::memcmp::eq(computed.as_bytes(), stored.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
