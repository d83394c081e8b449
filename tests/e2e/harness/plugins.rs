//! Grant plugins for the tests: the built fixture plugins (`grant_test` in its modes, the real
//! `grant_jwt_bearer`), their registrations, the gate through which a test holds and releases
//! plugin calls, and C plugins compiled at test time against the shipped header (or the frozen
//! ABI 1.0 one).

use super::{Backend, Deployment};

/// A `[[oauth.custom_grant_type]]` registration of `library` for `grant_type`, with properties
/// given as TOML lines.
pub fn registration(grant_type: &str, library: &str, properties: &str) -> String {
    format!(
        "[[oauth.custom_grant_type]]\nname = \"{grant_type}\"\nlibrary = \"{library}\"\n\
         [oauth.custom_grant_type.properties]\n{properties}\n"
    )
}

/// The `grant_test` plugin in echo mode (answers every request with a token).
pub const ECHO: &str = "urn:grantor:test:echo";

/// A deployment with the `grant_test` plugin dropped in and `extra` in its configuration.
pub fn fixture_deployment(backend: Backend, extra: &str) -> Deployment {
    let deployment = Deployment::with_extra_config(backend, extra);
    deployment.drop_plugin("grant_test");
    deployment
}

pub const GATE: &str = "urn:grantor:test:gate";

/// A directory through which a test watches and releases gate-mode plugin calls.
pub struct Gate {
    dir: tempfile::TempDir,
}

impl Gate {
    pub fn new() -> Gate {
        Gate {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn registration(&self, extra: &str) -> String {
        registration(
            GATE,
            "grant_test",
            &format!(
                "mode = \"gate\"\ngate_dir = \"{}\"\n{extra}",
                self.dir.path().display()
            ),
        )
    }

    /// Calls that have entered the plugin so far.
    pub fn entered(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("entered-")
            })
            .count()
    }

    /// Waits (with a deadline) until `n` calls are inside the plugin.
    pub fn wait_for_entered(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.entered() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} calls entered the plugin",
                self.entered()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    pub fn open(&self) {
        std::fs::write(self.dir.path().join("open"), "").unwrap();
    }
}

/// Compiles `tests/plugins/c-echo/c_echo.c` (or `source_text`) into the deployment's plugin
/// directory as `lib{stem}.so`, with the system C compiler, against the shipped header.
pub fn compile_c_plugin(
    deployment: &Deployment,
    stem: &str,
    defines: &[&str],
    source_text: Option<&str>,
) {
    compile_c_plugin_against("grants/sdk/include", deployment, stem, defines, source_text);
}

/// Compiles `tests/plugins/c-echo/c_echo.c` into the deployment's plugin directory as
/// `lib{stem}.so` against the frozen ABI 1.0 header (`tests/plugins/abi-1.0`), as a plugin built
/// before ABI 1.1 was: what a 1.x host must keep loading and serving unchanged.
pub fn compile_c_echo_against_abi_1_0(deployment: &Deployment, stem: &str) {
    compile_c_plugin_against(ABI_1_0_INCLUDE, deployment, stem, &[], None);
}

/// The directory of the frozen ABI 1.0 header, relative to the workspace root.
const ABI_1_0_INCLUDE: &str = "tests/plugins/abi-1.0";

/// Compiles `source_text` (or c-echo) with `-I {include}` (relative to the workspace root) and no
/// other include directory of ours, so the plugin sees that header and no other.
fn compile_c_plugin_against(
    include: &str,
    deployment: &Deployment,
    stem: &str,
    defines: &[&str],
    source_text: Option<&str>,
) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let source = match source_text {
        Some(text) => {
            let path = deployment.plugins_dir.join(format!("{stem}.c"));
            std::fs::write(&path, text).unwrap();
            path
        }
        None => root.join("tests/plugins/c-echo/c_echo.c"),
    };
    let output = deployment.plugins_dir.join(format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let result = std::process::Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-shared", "-fPIC", "-I"])
        .arg(root.join(include))
        .args(defines)
        .arg("-o")
        .arg(&output)
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

pub const C_ECHO: &str = "urn:grantor:test:c-echo";
