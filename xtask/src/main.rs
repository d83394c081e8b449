//! `cargo serve` / `cargo demo` / `cargo plugins`: what an operator does by hand, done for a fresh
//! clone. Builds the workspace in release mode, copies every grant plugin under `grants/` (the
//! cdylib targets) into `plugins/`, the drop directory, and for `serve` and `demo` starts
//! `grantor serve` or `grantor demo` with the remaining arguments. Test fixtures under `tests/`
//! are never dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let root = workspace_root()?;
    match task.as_str() {
        "plugins" => {
            drop_plugins(&root)?;
            Ok(ExitCode::SUCCESS)
        }
        command @ ("serve" | "demo") => {
            drop_plugins(&root)?;
            let binary = root
                .join("target/release")
                .join(format!("grantor{}", std::env::consts::EXE_SUFFIX));
            let status = Command::new(&binary)
                .current_dir(&root)
                .arg(command)
                .args(args)
                .status()
                .with_context(|| format!("cannot run {}", binary.display()))?;
            Ok(if status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        other => {
            bail!("unknown task '{other}'; use `cargo serve`, `cargo demo` or `cargo plugins`")
        }
    }
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(manifest_dir
        .parent()
        .context("xtask has no parent directory")?
        .to_path_buf())
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds the workspace (release) and copies the grant plugins into `plugins/`.
fn drop_plugins(root: &Path) -> anyhow::Result<()> {
    let status = cargo()
        .current_dir(root)
        .args(["build", "--release", "--workspace"])
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let plugins_dir = root.join("plugins");
    std::fs::create_dir_all(&plugins_dir)?;
    for lib_name in grant_plugin_libraries(root)? {
        let file = format!(
            "{}{lib_name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let source = root.join("target/release").join(&file);
        let target = plugins_dir.join(&file);
        // Replace, don't overwrite in place: a running server has the old file mapped.
        let staging = plugins_dir.join(format!(".{file}.new"));
        std::fs::copy(&source, &staging)
            .with_context(|| format!("cannot copy {}", source.display()))?;
        std::fs::rename(&staging, &target)?;
        eprintln!("xtask: dropped {}", target.display());
    }
    Ok(())
}

/// The cdylib targets of packages under `grants/`, from `cargo metadata`.
fn grant_plugin_libraries(root: &Path) -> anyhow::Result<Vec<String>> {
    let output = cargo()
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let grants_dir = root.join("grants");
    let mut names = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let manifest = Path::new(package["manifest_path"].as_str().unwrap_or_default());
        if !manifest.starts_with(&grants_dir) {
            continue;
        }
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_cdylib = target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
            if let (true, Some(name)) = (is_cdylib, target["name"].as_str()) {
                names.push(name.replace('-', "_"));
            }
        }
    }
    Ok(names)
}
