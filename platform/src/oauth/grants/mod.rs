//! The built-in grants, one file each, called by the token request's decide stage
//! (`oauth/token/decide.rs`). Plugins register further grant types beside them.

pub mod authorization_code;
pub mod client_credentials;
pub mod password;
pub mod refresh_token;

pub use refresh_token::invalid_token as invalid_refresh_token;

pub const CLIENT_CREDENTIALS: &str = "client_credentials";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const PASSWORD: &str = "password";
pub const AUTHORIZATION_CODE: &str = "authorization_code";

/// Grant types the host implements itself.
pub const BUILT_IN_GRANT_TYPES: &[&str] = &[
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    PASSWORD,
];

pub fn is_built_in_grant_type(grant_type: &str) -> bool {
    BUILT_IN_GRANT_TYPES.contains(&grant_type)
}
