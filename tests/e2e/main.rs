//! End-to-end tests: one test binary (one link) with a module per area. Each test starts the real
//! `grantor` binary on a free loopback port with its own temporary database. A test that runs on
//! both backends is written once, `fn name(backend: Backend)`, and declared with
//! `on_each_backend!(name)`: `name::sqlite` always, `name::postgres` when `TEST_POSTGRES_URL` is
//! set (always in CI). Everything the tests share is in `harness/`.

mod admin_api;
mod audit;
mod cli;
mod client_redirect_uris;
mod config;
mod console;
mod database_outage;
mod demo;
mod discovery;
mod gateway;
mod gateway_headers;
mod gateway_issuers;
mod gateway_paths;
mod harness;
mod https;
mod identity_chaining;
mod idp;
mod independent_jose;
mod introspection;
mod jwt_access_tokens;
mod jwt_bearer;
mod key_rotation;
mod keys_at_rest;
mod logs;
mod metrics;
mod oidc_clients;
mod oidc_sign_in;
mod password_grant;
mod plugin_abi_compat;
mod plugin_identity_provider;
mod plugin_reload;
mod plugins;
mod private_key_jwt;
mod reference_000;
mod refresh_families;
mod sign_in_theme;
mod slow_clients;
mod tenant_keys;
mod token_endpoint;
mod token_exchange;
mod user_consents;
mod write_path;
