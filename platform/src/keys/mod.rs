//! Keys and certificates, through openssl. Reading and verifying a JWS, and turning keys into
//! JWKs, is `grantor_jose`'s; here are the keys Grantor holds (signing, sealing, the key-encryption
//! key), stored certificates, and the cache of identity providers' published key sets
//! (`remote_jwks`).

pub mod certificates;
pub mod encryption_key;
pub mod remote_jwks;
pub mod sealed;
pub mod signing;
