//! Keys and certificates, through openssl.

pub mod certificates;
