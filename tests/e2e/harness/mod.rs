//! Everything the end-to-end tests share, each helper in one place: the real `grantor` binary
//! started on port 0 with a temporary database (`deployment`, `server`), provisioning through its
//! CLI (`cli`), requests and their replies (`http`), a browser's sign-in as plain HTTP
//! (`browser_flow`), JWTs minted and verified (`jwt`), the two backends and the one way to run a
//! test on both (`backends`), and the set-ups and stand-ins that several areas use (the jwt-bearer
//! deployment, reference 000, plugins, a JWKS endpoint, an upstream for the gateway, Python
//! backends and third-party clients, a view of the database).
//!
//! Test files import from here (`use crate::harness::{...}`); the modules are re-exported flat.

mod backends;
mod browser_flow;
mod cli;
mod database;
mod deployment;
mod http;
mod jwks_server;
mod jwt;
mod jwt_bearer;
mod plugins;
mod python_backend;
mod reference_000;
mod server;
mod third_party;
mod upstream;

pub(crate) use backends::on_each_backend;
pub use backends::*;
pub use browser_flow::*;
pub use cli::*;
pub use database::*;
pub(crate) use database::{execute_on_database, query_database};
pub use deployment::*;
pub use http::*;
pub use jwks_server::*;
pub use jwt::*;
pub use jwt_bearer::*;
pub use plugins::*;
pub use python_backend::*;
pub use reference_000::*;
pub use server::*;
pub use third_party::*;
pub use upstream::*;
