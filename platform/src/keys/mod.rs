//! Keys and certificates, through openssl.

pub mod certificates;
pub mod encryption_key;
pub mod jwk;
pub mod jwks;
pub mod jwt_keys;
pub mod sealed;
pub mod signing;
pub mod verifying;
