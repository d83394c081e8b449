//! `grantor serve`: plugins loaded first (a broken registration stops the start before anything
//! else happens), then the store, then the listener.

use anyhow::Context;

use super::open;
use crate::config::Config;
use crate::oauth::grants::BUILT_IN_GRANT_TYPES;
use crate::plugin_host::PluginHost;

pub(super) fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let bind = config.server.bind;
    // Plugins first: a broken registration stops the start before anything else happens.
    let plugins = PluginHost::load(&config.plugins, &config.oauth, BUILT_IN_GRANT_TYPES)?;
    let gateway = if config.gateway.enabled {
        Some(crate::gateway::Gateway::new(&config)?)
    } else {
        None
    };
    let gateway_config = config.clone();
    let mut app = open(config)?;
    app.plugins = plugins;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot bind {bind}"))?;
        let local = listener.local_addr()?;
        tracing::info!(
            database = app.store.backend().name(),
            default_tenant = %app.config.server.default_tenant,
            plugin_grant_types = %app.plugins.grant_types().join(" "),
            "grantor listening on http://{local}"
        );
        // A machine-readable line on stdout: scripts and tests learn the port from it.
        println!("grantor listening on http://{local}");
        // After the server's own line, which is what scripts and tests read first.
        if let Some(gateway) = gateway {
            let listener = super::gateway::bind(&gateway_config).await?;
            tokio::spawn(async move {
                let served = crate::gateway::workers::serve(
                    gateway,
                    listener,
                    crate::server::shutdown_signal(),
                )
                .await;
                if let Err(e) = served {
                    tracing::error!("the gateway stopped: {e:#}");
                }
            });
        }
        crate::server::serve(app, listener, crate::server::shutdown_signal()).await;
        Ok(())
    })
}
