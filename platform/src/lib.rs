//! Grantor: an OAuth 2.0 authorization server whose grant handlers are plugins.
//!
//! The binary (`main.rs`) is thin; everything lives here so tests can reach it.
//!
//! Dependencies point down, and nothing below imports from above:
//!
//! ```text
//! cli, server -> http -> oauth -> app -> host_services -> plugin_host, claims, keys, store
//!                                                          -> config, tenancy, clock, secrets, passwords
//! server, gateway -> connections (the accept loop, plain or TLS; http reads its ClientAddr)
//!                   -> connection_limits (caps per listener and address), tls
//! oauth (private_key_jwt), gateway, keys -> grantor_jose (grants/jose: every JWS read, shared
//!                                           with the grant plugins)
//! ```
//!
//! `app` is the composition of the services a request uses; `host_services` answers the plugin
//! callbacks from the store, the JWKS cache and the claim transformers.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod app;
pub mod claims;
pub mod cli;
pub mod client_network;
pub mod clock;
pub mod config;
pub mod connection_limits;
pub mod connections;
pub mod gateway;
pub mod host_services;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod oauth;
pub mod passwords;
pub mod plugin_host;
pub mod provisioning;
pub mod secrets;
pub mod server;
pub mod store;
pub mod tenancy;
pub mod tls;
