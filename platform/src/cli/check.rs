//! `grantor check`: what `serve` and `gateway` would refuse at start, found without serving or
//! changing anything. It reads the configuration, loads every registered plugin (the version
//! handshake included), compiles every claim transformer script, and reads the key-encryption
//! key, the TLS and the gateway files (the gateway's key opened with that key). It prints one line per part and exits non-zero with the reason at the first problem.
//! The database is not opened: opening it migrates it (so the tenants' keys are checked by `serve`).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::oauth::grants::BUILT_IN_GRANT_TYPES;
use crate::plugin_host::PluginHost;

pub(super) fn check(config: &Config, source: &str, scripts: &[PathBuf]) -> anyhow::Result<()> {
    println!("configuration\tok\t{source}");

    let statuses = PluginHost::inspect(&config.plugins, &config.oauth, BUILT_IN_GRANT_TYPES);
    for status in &statuses {
        if !status.loaded {
            anyhow::bail!(
                "plugin for {}: not loaded: {}",
                status.grant_type,
                status.detail
            );
        }
        println!(
            "plugin\tok\t{}\t{}",
            status.grant_type,
            status.path.display()
        );
    }

    let transformers = crate::claims::ClaimTransformers::new(&config.claim_transformer);
    let mut checked = 0;
    for dir in scripts {
        for script in rhai_files(dir)? {
            transformers
                .check(&script)
                .with_context(|| format!("script {}", script.display()))?;
            println!("script\tok\t{}", script.display());
            checked += 1;
        }
    }
    if checked == 0 {
        println!("script\tnone\t(no .rhai files in {})", describe(scripts));
    }

    if config.server.tls.enabled {
        println!("tls\tok\t{}", crate::tls::check(config)?);
    } else {
        println!("tls\toff\tplain HTTP on {}", config.server.bind);
    }

    let theme = crate::pages::Theme::load(config.oauth.sign_in.theme_dir.as_deref())?;
    match &config.oauth.sign_in.theme_dir {
        Some(dir) if theme.replaced().is_empty() => println!(
            "theme	ok	{} replaces no page: the built-in theme is used",
            dir.display()
        ),
        Some(dir) => println!(
            "theme	ok	{} replaces {}",
            dir.display(),
            theme.replaced().join(", ")
        ),
        None => println!("theme	built-in	the sign-in pages of platform/themes/default"),
    }
    crate::http::console::ConsoleTheme::load(config.oauth.sign_in.theme_dir.as_deref())?;
    match config.admin.bind {
        Some(bind) => {
            crate::http::admin::AdminCredentials::from_config(&config.admin)
                .map_err(anyhow::Error::msg)?;
            println!("admin\tok\t{bind}, bearer token configured");
        }
        None => println!("admin\toff\t(no admin.bind)"),
    }
    match crate::keys::encryption_key::KeyEncryptionKey::existing(config)? {
        Some(kek) => println!(
            "keys\tok\tkey-encryption key {} from {}",
            kek.id(),
            kek.source()
        ),
        None => println!(
            "keys\tnone\ta key-encryption key is made on first start in {}",
            crate::keys::encryption_key::generated_path(config).display()
        ),
    }
    if config.gateway.enabled || !config.gateway.api.is_empty() {
        println!("gateway\tok\t{}", crate::gateway::Gateway::check(config)?);
    }
    println!("database\tnot opened\t(opening it migrates it; `serve` does)");
    Ok(())
}

/// The `.rhai` files directly in `dir`, sorted; a missing directory has none.
fn rhai_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "rhai") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn describe(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
