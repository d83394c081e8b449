//! OAuth 2.0: the token endpoint, client authentication, grants and token issuance.

pub mod authorization_request;
pub mod client_auth;
pub mod context;
pub mod discovery;
pub mod end_session;
pub mod error;
pub mod grants;
pub mod id_token;
pub mod introspection;
pub mod own_jwt;
pub mod password_sign_in;
pub mod private_key_jwt;
pub mod scopes;
pub mod service_account;
pub mod sign_in;
pub mod sign_in_limits;
pub mod tenant_keys;
pub mod token;
pub mod token_validation;
pub mod userinfo;
pub mod wire;
