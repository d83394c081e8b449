//! OAuth 2.0: the token endpoint, client authentication, grants and token issuance.

pub mod assertion_client;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod grants;
pub mod id_token;
pub mod introspection;
pub mod issuance;
pub mod private_key_jwt;
pub mod request_services;
pub mod scopes;
pub mod sign_in_limits;
pub mod tenant_keys;
pub mod token_endpoint;
pub mod wire;
