//! `grantor gateway`: the API gateway alone, on `gateway.bind` (no database needed).

use anyhow::Context;

use crate::config::Config;
use crate::gateway::Gateway;

pub(super) fn gateway(config: Config) -> anyhow::Result<()> {
    // The listener, signals and start-up only: the requests run on the gateway's own workers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let gateway = Gateway::new(&config)?;
    runtime.block_on(async move {
        let listener = bind(&config).await?;
        let grace = config.server.shutdown_grace();
        let limits = crate::connections::plan_listeners(&config, false, false, true)
            .gateway
            .context("no limits planned for the gateway")?;
        crate::gateway::workers::serve(
            gateway,
            listener,
            limits,
            crate::server::shutdown_signal(),
            grace,
        )
        .await
    })
}

/// Binds `gateway.bind` and says where, on stdout (tests read it) and in the log.
pub(super) async fn bind(config: &Config) -> anyhow::Result<tokio::net::TcpListener> {
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
