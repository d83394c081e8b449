//! Running the server (`grantor serve`): plugins loaded first (a broken registration stops the
//! start before anything else happens), then the store, then the listeners (the server's, the
//! gateway's and the admin listener, as configured); until a shutdown signal.

use anyhow::Context;

use crate::app::App;
use crate::config::Config;
use crate::oauth::grants::BUILT_IN_GRANT_TYPES;
use crate::plugin_host::{PluginHost, PluginReloader};

/// `config_path` is the file given with `--config`: a plugin reload reads the same sources again.
pub fn run(config: Config, config_path: Option<&std::path::Path>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let bind = config.server.bind;
    // Plugins first: a broken registration stops the start before anything else happens.
    let plugins = std::sync::Arc::new(PluginHost::load(
        &config.plugins,
        &config.oauth,
        BUILT_IN_GRANT_TYPES,
    )?);
    let reloader = PluginReloader::new(plugins.clone(), config_path.map(Into::into));
    let gateway = if config.gateway.enabled {
        Some(crate::gateway::Gateway::new(&config)?)
    } else {
        None
    };
    let tls = if config.server.tls.enabled {
        if config.server.public_base_url.starts_with("http://") {
            tracing::warn!(
                public_base_url = %config.server.public_base_url,
                "TLS is on but server.public_base_url is http://: issuers and discovery will say http"
            );
        }
        Some(std::sync::Arc::new(crate::tls::ServerTls::load(&config)?))
    } else {
        None
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Before anything listens: an admin listener without credentials is a start-up error.
    let admin = match config.admin.bind {
        Some(bind) => Some((
            bind,
            crate::http::admin::AdminCredentials::from_config(&config.admin)
                .map_err(anyhow::Error::msg)?,
        )),
        None => None,
    };
    let gateway_config = config.clone();
    let grace = config.server.shutdown_grace();
    let limits =
        crate::connections::plan_listeners(&config, true, admin.is_some(), gateway.is_some());
    let app = App::open(config, plugins)?;
    // Before anything serves: keys from before sealing are sealed now, and a database whose keys
    // this key-encryption key cannot open stops the start here, not at the first token request.
    let sealed_now =
        crate::oauth::tenant_keys::seal_and_check_stored_keys(&app.oauth.store, &app.oauth.kek)?;
    if sealed_now > 0 {
        tracing::warn!(
            keys = sealed_now,
            kek_id = app.oauth.kek.id(),
            "signing keys stored in the clear (a database from before keys were sealed) are sealed \
             now; backups and dumps made before still hold them in the clear"
        );
    }
    let app = std::sync::Arc::new(app);
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot bind {bind}"))?;
        let local = listener.local_addr()?;
        let tenants = app
            .oauth.store
            .list_tenants()
            .map(|tenants| tenants.len().to_string())
            .unwrap_or_else(|e| format!("unknown ({e})"));
        tracing::info!(
            database = %database_shown(&app.config.database_url()),
            tenants = %tenants,
            default_tenant = %app.config.server.default_tenant,
            plugin_grant_types = %app.oauth.plugins.grant_types().join(" "),
            public_base_url = %app.config.server.public_base_url,
            tls = tls.as_ref().map_or_else(|| "off".to_owned(), |t| format!("sha256 {}", t.fingerprint())),
            key_encryption_key = %format!("{} ({})", app.oauth.kek.id(), app.oauth.kek.source()),
            "grantor listening on {scheme}://{local}"
        );
        // A machine-readable line on stdout: scripts and tests learn the port from it.
        println!("grantor listening on {scheme}://{local}");
        tokio::spawn(reload_on_sighup(tls.clone(), reloader.clone()));
        // After the server's own line, which is what scripts and tests read first.
        if let (Some(gateway), Some(gateway_limits)) = (gateway, limits.gateway) {
            let listener = crate::gateway::bind(&gateway_config).await?;
            tokio::spawn(async move {
                let served = crate::gateway::workers::serve(
                    gateway,
                    listener,
                    gateway_limits,
                    super::shutdown_signal(),
                    grace,
                )
                .await;
                if let Err(e) = served {
                    tracing::error!("the gateway stopped: {e:#}");
                }
            });
        }
        if let (Some((admin_bind, credentials)), Some(admin_limits)) = (admin, limits.admin) {
            let console_theme = std::sync::Arc::new(
                crate::http::console::ConsoleTheme::load(
                    app.config.oauth.sign_in.theme_dir.as_deref(),
                )
                .context("oauth.sign_in.theme_dir: the console's templates")?,
            );
            let console_openid =
                crate::http::console::openid::OpenIdSignIn::from_config(&app.config.admin.console)
                    .map_err(anyhow::Error::msg)?;
            if app
                .config
                .admin
                .console
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https:"))
                && app.config.server.trusted_proxies.is_empty()
            {
                tracing::warn!(
                    "admin.console.public_url is https, but no proxy is trusted to say a browser \
                     came over HTTPS (server.trusted_proxies): the console's cookies go without \
                     Secure and the __Host- prefix"
                );
            }
            let admin = tokio::net::TcpListener::bind(admin_bind)
                .await
                .with_context(|| format!("cannot bind the admin listener to {admin_bind}"))?;
            let local = admin.local_addr()?;
            tracing::info!("grantor admin (/metrics, /api/server/v1/, /console/) listening on http://{local}");
            tokio::spawn(crate::connections::serve(
                admin,
                None,
                crate::http::admin::routes(
                    credentials,
                    Some(crate::http::admin::Served {
                        app: app.clone(),
                        plugins: reloader,
                        console_theme,
                        console_openid,
                    }),
                ),
                admin_limits,
                super::shutdown_signal(),
                grace,
            ));
        }
        let server_limits = limits
            .server
            .context("no limits planned for the server")?;
        super::serve(
            app,
            listener,
            tls,
            server_limits,
            super::shutdown_signal(),
        )
        .await;
        Ok(())
    });
    // A plugin call still running past the grace period (on a blocking thread) must not keep
    // the process alive: the runtime is left behind after a moment.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

/// The database URL as the start-up line shows it: a password never appears.
fn database_shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// SIGHUP reads the TLS certificate and key again (a pair that does not load leaves the old one),
/// then reloads the grant plugins (a refused reload leaves the old ones).
async fn reload_on_sighup(
    tls: Option<std::sync::Arc<crate::tls::ServerTls>>,
    plugins: PluginReloader,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!("cannot listen for SIGHUP (no reload of TLS or plugins): {e}");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            match tls.as_ref().map(|tls| tls.reload()) {
                Some(Ok(fingerprint)) => {
                    tracing::info!(sha256 = %fingerprint, "TLS certificate reloaded")
                }
                Some(Err(e)) => tracing::error!(
                    "TLS certificate not reloaded, the old one keeps serving: {e:#}"
                ),
                None => {}
            }
            // The outcome is logged by the reload.
            let _ = plugins.reload().await;
        }
    }
    #[cfg(not(unix))]
    let _ = (tls, plugins);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_start_up_line_never_shows_a_database_password() {
        assert_eq!(
            super::database_shown("postgres://grantor:s3cret@db.example/grantor"),
            "postgres://grantor:***@db.example/grantor"
        );
        assert_eq!(
            super::database_shown("sqlite://data/grantor.db"),
            "sqlite://data/grantor.db"
        );
    }
}
