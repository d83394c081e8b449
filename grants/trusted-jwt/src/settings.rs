//! The plugin's configuration: the host's `[oauth.grant_type.jwt]` settings merged into the
//! registration's properties. Defined, with its defaults and checks, once for host and plugin in
//! `grantor_sdk::jwt_bearer`.

pub use grantor_sdk::jwt_bearer::JwtBearerSettings as Settings;
