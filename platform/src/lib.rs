//! Grantor: an OAuth 2.0 authorization server whose grant handlers are plugins.
//!
//! The binary (`main.rs`) is thin; everything lives here so tests can reach it.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod app;
pub mod claims;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod keys;
pub mod oauth;
pub mod plugin_host;
pub mod secrets;
pub mod server;
pub mod store;
pub mod tenancy;
