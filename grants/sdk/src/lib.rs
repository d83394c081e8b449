//! `grantor-sdk`: the grant plugin ABI shared by the Grantor host and its plugins.
//!
//! - [`abi`]: the `#[repr(C)]` types, version constants and status codes (mirrored for C in
//!   `include/grantor_plugin.h`).
//! - [`wire`]: the JSON documents that cross the boundary (request, result).
//! - [`plugin`] and [`export_grant_plugin!`]: the safe Rust side for plugin authors.
//! - [`host`]: the plugin's view of the host callbacks.
//! - [`jwt_bearer`]: the JWT bearer grant type's settings, shared by the host and the plugin.
//! - [`scope`]: OAuth scope syntax and rules, shared by the host and plugins.
//! - [`act`]: the `act` claim's form (RFC 8693 4.1), shared by the host and plugins.
//!
//! Plugins are trusted in-process code: the ABI guards against mistakes (version mismatch, panics,
//! buffer ownership), not against malice.

pub mod abi;
pub mod act;
pub mod host;
pub mod jwt_bearer;
pub mod plugin;
pub mod scope;
pub mod wire;

pub use host::{Host, HostReply};
pub use plugin::GrantHandler;
pub use wire::{
    AuthorizedGrant, ClaimsTransformRequest, ClientAuthentication, ClientInfo, GrantError,
    GrantRequest, GrantResult, IdentityProviderInfo, RequestMetadata, TransformedClaims,
    ValidatedToken, VerificationKeys,
};

#[cfg(test)]
mod header_sync;
