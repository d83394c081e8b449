//! `[server]` and `[server.tls]`: the listener clients use.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Check;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP listener binds, e.g. `127.0.0.1:9443`; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Base URL clients use to reach this server; issuer and audience values derive from it.
    pub public_base_url: String,
    /// Tenant answering `/oauth2/...` without `/t/{tenant}` or `tenantDomain`.
    pub default_tenant: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Token requests served at once; more wait up to `overload_wait_ms` for a place, then get
    /// `503 temporarily_unavailable` with `Retry-After` instead of a client time-out.
    pub max_in_flight: usize,
    /// How long a request beyond `max_in_flight` waits for a place, in milliseconds.
    pub overload_wait_ms: u64,
    /// Longest a token request may take once admitted, in milliseconds; past it the client gets
    /// `503 temporarily_unavailable` with `Retry-After` (a database that is down never makes a
    /// request hang).
    pub request_deadline_ms: u64,
    /// On SIGTERM or Ctrl-C, how long in-flight requests may take to finish, in milliseconds;
    /// then their connections are closed and the process exits.
    pub shutdown_grace_ms: u64,
    /// Longest a request's headers may take to arrive, in milliseconds, on every listener
    /// (server, admin, gateway); a keep-alive connection also waits at most this long, idle, for
    /// its next request. Then the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Longest a request body may take to arrive once its headers have, in milliseconds (server
    /// and admin listeners: then 408). The gateway, which streams bodies to the upstream, allows
    /// this long for each pause in a body instead.
    pub body_read_timeout_ms: u64,
    /// Connections the listener holds at once. At the cap, the connection idle longest (no
    /// request in flight) is closed to make room; when every one is busy, new ones are closed at
    /// once. Lowered at start to fit the open-file limit (raised to its hard limit first).
    pub max_connections: usize,
    /// Of those, most from one client address.
    pub max_connections_per_address: usize,
    /// Proxies (CIDR blocks, e.g. `10.0.0.0/8`) trusted to say who the client is in
    /// `X-Forwarded-For`: for a request that comes through one, sign-in attempts are counted
    /// under the client's address it names instead of the proxy's. Empty: the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// HTTPS on `bind` (`[server.tls]`).
    pub tls: TlsConfig,
}

impl ServerConfig {
    /// `shutdown_grace_ms` as a duration.
    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.shutdown_grace_ms)
    }

    pub(super) fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        let base = &self.public_base_url;
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.ends_with('/') {
            return invalid(
                "server.public_base_url",
                "must be an http(s) URL without a trailing slash",
            );
        }
        if self.tls.certificate.is_some() != self.tls.private_key.is_some() {
            return invalid(
                "server.tls",
                "give both certificate and private_key, or neither (a self-signed one is made)",
            );
        }
        if crate::tenancy::validate_tenant_domain(&self.default_tenant).is_err() {
            return invalid("server.default_tenant", "not a valid tenant domain");
        }
        if self.max_body_bytes < 1024 {
            return invalid("server.max_body_bytes", "must be at least 1024");
        }
        if self.header_read_timeout_ms == 0 || self.body_read_timeout_ms == 0 {
            return invalid(
                "server.header_read_timeout_ms",
                "header_read_timeout_ms and body_read_timeout_ms must be positive",
            );
        }
        if self.max_in_flight == 0 {
            return invalid("server.max_in_flight", "must be at least 1");
        }
        if self.request_deadline_ms == 0 {
            return invalid("server.request_deadline_ms", "must be positive");
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 9443)),
            public_base_url: "http://localhost:9443".to_owned(),
            default_tenant: "carbon.super".to_owned(),
            max_body_bytes: 64 * 1024,
            max_in_flight: 1024,
            overload_wait_ms: 100,
            request_deadline_ms: 10_000,
            shutdown_grace_ms: 15_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 5_000,
            max_connections: 4096,
            max_connections_per_address: 256,
            trusted_proxies: Vec::new(),
            tls: TlsConfig::default(),
        }
    }
}

/// `[server.tls]`: TLS 1.2 or later on the server's listener. Without `certificate` and
/// `private_key`, a self-signed certificate is made on first start in `database.data_dir`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub enabled: bool,
    /// PEM: the server's certificate, then any intermediates.
    pub certificate: Option<PathBuf>,
    /// PEM: its private key (owner-readable only, like any key).
    pub private_key: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;

    #[test]
    fn public_base_url_is_checked() {
        let err = load_toml("[server]\npublic_base_url = \"localhost/\"\n").unwrap_err();
        assert!(err.to_string().contains("server.public_base_url"), "{err}");
    }
}
