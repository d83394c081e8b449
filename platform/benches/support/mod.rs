//! What the benchmarks share: finding a release-built plugin and timing a closure.

use std::path::PathBuf;
use std::time::Instant;

use grantor::config::{CustomGrantType, OAuthConfig, PluginsConfig};
use grantor::plugin_host::PluginHost;

/// Loads a release-built plugin for one grant type from a fresh drop directory (kept alive by the
/// returned guard).
pub fn load_release_plugin(
    library: &str,
    crate_name: &str,
    grant_type: &str,
    properties: serde_json::Map<String, serde_json::Value>,
) -> (tempfile::TempDir, PluginHost) {
    let plugins = release_plugin_dir(library, crate_name);
    let host = PluginHost::load(
        &PluginsConfig {
            directory: plugins.path().to_path_buf(),
            ..PluginsConfig::default()
        },
        &OAuthConfig {
            custom_grant_type: vec![CustomGrantType {
                name: grant_type.into(),
                library: library.into(),
                properties,
            }],
            ..OAuthConfig::default()
        },
        &[],
    )
    .expect("load the plugin");
    (plugins, host)
}

/// Copies `target/release/<lib name>` into a fresh drop directory; panics with the build command
/// when the library has not been built.
fn release_plugin_dir(name: &str, crate_name: &str) -> tempfile::TempDir {
    let release_dir: PathBuf = std::env::current_exe()
        .expect("bench path")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/release")
        .to_path_buf();
    let library = release_dir.join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        library.is_file(),
        "{} missing: run `cargo build --release -p {crate_name}` first",
        library.display()
    );
    let plugins = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        &library,
        plugins.path().join(library.file_name().expect("name")),
    )
    .expect("copy");
    plugins
}

/// Mean nanoseconds per call after a warm-up of a tenth of the calls, printed.
pub fn measure(label: &str, iterations: u32, mut f: impl FnMut() -> usize) -> f64 {
    let mut sink = 0usize;
    for _ in 0..iterations / 10 {
        sink = sink.wrapping_add(f());
    }
    let started = Instant::now();
    for _ in 0..iterations {
        sink = sink.wrapping_add(f());
    }
    let per_call = started.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!(
        "{label}: {:.2} us/call over {iterations} calls (sink {})",
        per_call / 1000.0,
        sink % 10
    );
    per_call
}
