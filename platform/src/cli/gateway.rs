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
        let listener = crate::gateway::bind(&config).await?;
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
