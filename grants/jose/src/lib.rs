//! `grantor-jose`: the one place where Grantor reads a JWS (RFC 7515, 7518, 7519, 8037; the
//! advice of RFC 8725). The API gateway, `private_key_jwt` client authentication and the JWT
//! bearer grant plugin all validate through it; a new grant that reads a JWT does too.
//!
//! - [`compact`]: a compact JWS split and decoded, strictly (three unpadded base64url parts, JSON
//!   objects without duplicate members, bounded size and depth); a JWE is told apart.
//! - [`header`]: one header policy: the algorithm allow-list, `crit` (no extension is
//!   understood), `typ` when the caller asks, key pointers (`jku`, `x5u`, `jwk`, `x5c`) never used.
//! - [`algorithm`]: the asymmetric algorithms and which JWK fits which (`kty`, `crv`, `use`,
//!   `alg`).
//! - [`key`]: public keys from JWKs and PEM, signature verification through openssl, and a cache
//!   of keys parsed once.
//! - [`time`]: `exp`, `nbf` and `iat` with a leeway, as data.
//!
//! What it never does: fetch a key, trust a key the token names, or word a refusal for a client.
//! Errors are typed; each caller keeps its own policy (as data) and its own refusal wording.

pub mod algorithm;
pub mod compact;
pub mod header;
pub mod key;
mod strict_json;
pub mod time;

pub use algorithm::{key_fits, Algorithm};
pub use compact::{Jws, ParseError, PartError};
pub use header::{CheckedHeader, HeaderError, HeaderPolicy, TypRule};
pub use key::{verify_with_any, KeyError, PreparedKeys, Verification, VerificationKey};
pub use time::{TimeClaims, TimeError, TimePolicy};

/// The longest `jti` a replay cache keeps, for every issuer of assertions (host and plugins).
pub const MAX_JTI_LEN: usize = 256;

/// Claims whose checking vouches for the token: a claim mapping may neither read nor write them,
/// and a claim transformer gets them back unchanged, so nothing can change what was checked.
pub const VALIDATED_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti"];
