//! Opaque tokens that name their own row: `<id>.<secret>`, where the id is 32 lowercase hex
//! digits (the issue time in milliseconds, 48 bits, then 80 random bits) and the secret 32 random
//! bytes in base64url. The store finds a token by its id and checks the hash of the whole token
//! against the row, so no index is keyed by a random hash: the ids of one moment's tokens sort
//! together, and a batch of new tokens lands on the same few index pages (a random key dirties a
//! page of its own per token, each a page SQLite writes to its log and syncs at every commit).
//!
//! The id reveals when the token was issued (to the millisecond), which its holder is told anyway
//! (`expires_in`, a JWT's `iat`), and nothing of how many tokens were issued: the 80 random bits
//! after the time leave tokens of the same millisecond in no order and without a count.
//!
//! A grant's access and refresh tokens carry the same id, each with a secret of its own: they
//! share a row (`paired_opaque_token`, `store/tokens.rs`).
//!
//! Every other token keeps the key it had: tokens issued before this format (43 base64url
//! characters), and JWT access tokens, are found by the hash of the whole token, which is the id
//! of their row.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::secrets::{hash_secret, push_hex};

/// Hex digits of a token id: 12 of the time, 20 random.
const ID_DIGITS: usize = 32;
const TIME_DIGITS: usize = 12;
/// Random bytes of an id (its hex digits after the time).
const ID_RANDOM_BYTES: usize = (ID_DIGITS - TIME_DIGITS) / 2;
/// The secret's random bytes, and its base64url characters.
const SECRET_BYTES: usize = 32;
const SECRET_CHARS: usize = 43;

/// How a token is found in the store: its row's id, and the hash the row must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    pub id: String,
    pub hash: String,
}

impl TokenKey {
    /// The key of a presented token, whatever its format.
    pub fn of(token: &str) -> TokenKey {
        let hash = hash_secret(token);
        let id = match carried_id(token) {
            Some(id) => id.to_owned(),
            None => hash.clone(),
        };
        TokenKey { id, hash }
    }

    /// The key of a token stored by its hash alone (a JWT access token).
    pub fn hashed(token: &str) -> TokenKey {
        let hash = hash_secret(token);
        TokenKey {
            id: hash.clone(),
            hash,
        }
    }
}

/// The id a token of this format carries, `None` for any other token.
fn carried_id(token: &str) -> Option<&str> {
    let (id, secret) = token.split_once('.')?;
    let well_formed = id.len() == ID_DIGITS
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && secret.len() == SECRET_CHARS
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some(id)
}

/// Random bytes an opaque token takes: its id's random bits, then its secret.
pub const TOKEN_RANDOM_BYTES: usize = ID_RANDOM_BYTES + SECRET_BYTES;

/// A new opaque token issued at `now_ms` (Unix milliseconds), with its key.
pub fn new_opaque_token(now_ms: i64) -> Result<(String, TokenKey), openssl::error::ErrorStack> {
    let mut random = [0u8; TOKEN_RANDOM_BYTES];
    openssl::rand::rand_bytes(&mut random)?;
    Ok(opaque_token_from(now_ms, &random))
}

/// The opaque token issued at `now_ms` with these random bytes, which must come from OpenSSL's
/// generator and serve this token alone. A caller that needs several draws them in one call:
/// each call into the generator takes its lock, checks for a fork and sets up its cipher again
/// (about a microsecond, 3 % of a token request's CPU with one call per part). The id's random
/// bits and the secret are disjoint bytes of `random`.
pub fn opaque_token_from(now_ms: i64, random: &[u8; TOKEN_RANDOM_BYTES]) -> (String, TokenKey) {
    let (id_random, secret) = random.split_at(ID_RANDOM_BYTES);
    let time = u64::try_from(now_ms).unwrap_or(0) & 0xffff_ffff_ffff;
    let mut id = String::with_capacity(ID_DIGITS);
    push_hex(&mut id, &time.to_be_bytes()[8 - TIME_DIGITS / 2..]);
    push_hex(&mut id, id_random);
    token_with(id, secret)
}

/// A second token of the row `first` names (a grant's refresh token beside its access token:
/// `store/tokens.rs`): the same id, and a secret of its own, the secret bytes of `random` (its
/// id bytes go unused).
pub fn paired_opaque_token(
    first: &TokenKey,
    random: &[u8; TOKEN_RANDOM_BYTES],
) -> (String, TokenKey) {
    token_with(first.id.clone(), &random[ID_RANDOM_BYTES..])
}

fn token_with(id: String, secret: &[u8]) -> (String, TokenKey) {
    let token = format!("{id}.{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = hash_secret(&token);
    (token, TokenKey { id, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_carries_its_id_and_is_found_by_it() {
        let (token, key) = new_opaque_token(1_764_835_200_123).unwrap();
        assert_eq!(token.len(), ID_DIGITS + 1 + SECRET_CHARS);
        assert!(token.starts_with(&format!("{:012x}", 1_764_835_200_123u64)));
        assert_eq!(TokenKey::of(&token), key);
        assert_eq!(key.hash, hash_secret(&token));
        assert_ne!(key.id, key.hash);
    }

    #[test]
    fn ids_sort_by_time_and_tokens_of_one_millisecond_differ() {
        let (_, a) = new_opaque_token(1_000).unwrap();
        let (_, b) = new_opaque_token(1_000).unwrap();
        let (_, later) = new_opaque_token(1_001).unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.id < later.id && b.id < later.id);
        // The random part follows the time: no counter to read a volume from.
        assert_ne!(a.id[TIME_DIGITS..], b.id[TIME_DIGITS..]);
    }

    #[test]
    fn the_secret_and_the_ids_random_bits_are_different_bytes() {
        for _ in 0..64 {
            let (token, key) = new_opaque_token(7).unwrap();
            let id_random = &key.id[TIME_DIGITS..];
            let secret = URL_SAFE_NO_PAD.decode(&token[ID_DIGITS + 1..]).unwrap();
            assert_eq!(secret.len(), SECRET_BYTES);
            let mut secret_hex = String::new();
            push_hex(&mut secret_hex, &secret);
            // 80 random bits found again in the secret: the same bytes were used twice.
            assert!(!secret_hex.contains(id_random), "{token}");
        }
    }

    #[test]
    fn a_paired_token_shares_its_id_and_nothing_else() {
        let (first, first_key) = new_opaque_token(5_000).unwrap();
        let mut random = [0u8; TOKEN_RANDOM_BYTES];
        openssl::rand::rand_bytes(&mut random).unwrap();
        let (second, second_key) = paired_opaque_token(&first_key, &random);
        assert_eq!(TokenKey::of(&second), second_key);
        assert_eq!(second_key.id, first_key.id);
        assert_ne!(second_key.hash, first_key.hash);
        assert_ne!(first[ID_DIGITS..], second[ID_DIGITS..]);
        let secret = URL_SAFE_NO_PAD.decode(&second[ID_DIGITS + 1..]).unwrap();
        assert_eq!(secret, random[ID_RANDOM_BYTES..]);
    }

    #[test]
    fn other_tokens_are_found_by_their_hash() {
        let legacy = crate::secrets::random_token(32).unwrap();
        assert_eq!(TokenKey::of(&legacy).id, hash_secret(&legacy));
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
        assert_eq!(TokenKey::of(jwt), TokenKey::hashed(jwt));
        // Almost the format is not the format: each is looked up by its hash, which no row of
        // the new format has as its id.
        let (token, _) = new_opaque_token(5).unwrap();
        for near in [
            token.to_uppercase(),
            format!("{token}x"),
            token.replacen('.', "_", 1),
            format!("{}.{}", &token[..ID_DIGITS], "!".repeat(SECRET_CHARS)),
        ] {
            assert_eq!(TokenKey::of(&near).id, hash_secret(&near), "{near}");
        }
    }
}
