//! Keys and certificates, through openssl.

pub mod certificates;
pub mod jwk;
pub mod jwks;
pub mod signing;
