//! The gateway's listener, bound where `gateway.bind` says, announced on stdout.

use anyhow::Context;

/// Binds `gateway.bind` and says where, on stdout (tests read it) and in the log.
pub async fn bind(config: &crate::config::Config) -> anyhow::Result<tokio::net::TcpListener> {
    let bind = config.gateway.bind;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot bind the gateway to {bind}"))?;
    let local = listener.local_addr()?;
    tracing::info!(
        apis = config.gateway.api.len(),
        issuers = config.gateway.jwt_issuer.len(),
        "grantor gateway listening on http://{local}"
    );
    // A reader of stdout that stopped after the server's own line must not take the server down.
    use std::io::Write;
    let _ = writeln!(
        std::io::stdout(),
        "grantor gateway listening on http://{local}"
    );
    Ok(listener)
}
