//! Grantor: an OAuth 2.0 authorization server whose grant handlers are plugins.
//!
//! The binary (`main.rs`) is thin; everything lives here so tests can reach it.
//!
//! Dependencies point down, and nothing below imports from above:
//!
//! ```text
//! cli            parses arguments; `serve` is server::run, the rest are management commands
//!  |
//! server         run: plugins, then the application, then the listeners; housekeeping
//!  |
//! http           routes, forms, answers; the admin API and      gateway  (tokens from outside,
//!  |             the console (http/console)                              forwarded upstream; no
//! app            built once: the HTTP layer's settings and               database)
//!  |             admission around the OAuth context
//!  |
//! provisioning   validated changes to tenants, clients, identity providers, users, keys (the CLI,
//!  |             the admin API and the console), each recorded by `audit`
//! oauth          context.rs (what this layer and provisioning use); the token request as stages,
//!  |             token/: authenticate -> decide -> issue -> commit; client authentication, the
//!  |             built-in grants, introspection, discovery, the tenants' keys
//! trusted_issuers  identity providers and key sources, for plugins' callbacks and the host
//!  |
//! plugin_host, claims, keys, audit, store; metrics, overview_chart (read by the console)
//!  |
//! config, tenancy, clock, secrets, passwords, blocking (OnBlockingThread: who may block)
//!  |
//! grantor_jose   (grants/jose) every JWS read: private_key_jwt, the gateway, keys; shared with
//!                the grant plugins
//!
//! server, gateway -> connections (the accept loop, plain or TLS), connection_limits,
//!                    client_network, tls
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod app;
pub mod audit;
pub mod blocking;
pub mod claims;
pub mod cli;
pub mod client_network;
pub mod clock;
pub mod config;
pub mod connection_limits;
pub mod connections;
pub mod gateway;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod oauth;
pub mod overview_chart;
pub mod pages;
pub mod passwords;
pub mod plugin_host;
pub mod provisioning;
pub mod secrets;
pub mod server;
pub mod store;
pub mod tenancy;
pub mod tls;
pub mod token_ids;
pub mod trusted_issuers;
