//! Verifying a JWT with one of several candidate keys (JWKs), as `private_key_jwt` does: a key
//! whose signature does not match is skipped; the first that matches decides, with its claim
//! checks. (The gateway's hot path checks signatures with keys parsed once: `keys::verifying`.)

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde::de::DeserializeOwned;

/// The claims, from the first of `keys` that verifies `token`'s signature; otherwise why that key
/// refused the claims, or `InvalidSignature` when no key matched.
pub fn decode_with_any<T: DeserializeOwned>(
    token: &str,
    keys: &[serde_json::Value],
    validation: &Validation,
) -> Result<T, ErrorKind> {
    for jwk in keys {
        let Ok(jwk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone()) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        match jsonwebtoken::decode::<T>(token, &key, validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => match e.into_kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => continue,
                other => return Err(other),
            },
        }
    }
    Err(ErrorKind::InvalidSignature)
}
