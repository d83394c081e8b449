//! Compiled transformer scripts, one per file: compiled on first use, kept, and compiled again
//! when the file changes (its modification time or size), so an operator edits a script without a
//! restart. A script that no longer compiles fails its requests; the previous version is not
//! kept running (the edit may have been a tightening).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rhai::{Engine, AST};

/// The function every transformer defines: `fn transform(claims, context)`.
pub const ENTRY_FUNCTION: &str = "transform";
const ENTRY_PARAMETERS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path} is larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("{path} does not compile: {reason}")]
    DoesNotCompile { path: String, reason: String },
    #[error("{path} defines no function transform(claims, context)")]
    NoEntryFunction { path: String },
}

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    modified: Option<SystemTime>,
    len: u64,
}

struct Compiled {
    version: Version,
    ast: Arc<AST>,
}

/// Scripts kept compiled at once. Each identity provider names one, so this is far more than a
/// deployment uses; scripts of removed providers are dropped when it is reached.
const MAX_CACHED_SCRIPTS: usize = 1024;

pub struct ScriptCache {
    max_script_bytes: u64,
    compiled: RwLock<HashMap<PathBuf, Compiled>>,
}

impl ScriptCache {
    pub fn new(max_script_bytes: u64) -> ScriptCache {
        ScriptCache {
            max_script_bytes,
            compiled: RwLock::new(HashMap::new()),
        }
    }

    /// The current version of the script at `path`, compiled with `engine`.
    pub fn get(&self, engine: &Engine, path: &Path) -> Result<Arc<AST>, ScriptError> {
        let version = version_of(path)?;
        if let Some(hit) = self.read_cache(path, version) {
            return Ok(hit);
        }
        // Two requests may compile the same new version at once; both results are equal.
        let ast = Arc::new(compile(engine, path, self.max_script_bytes)?);
        let mut compiled = self
            .compiled
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if compiled.len() >= MAX_CACHED_SCRIPTS && !compiled.contains_key(path) {
            // Recompiling a script in use costs one compile on its next request.
            compiled.clear();
        }
        compiled.insert(
            path.to_owned(),
            Compiled {
                version,
                ast: ast.clone(),
            },
        );
        tracing::info!(script = %path.display(), "claim transformer compiled");
        Ok(ast)
    }

    fn read_cache(&self, path: &Path, version: Version) -> Option<Arc<AST>> {
        let compiled = self
            .compiled
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        compiled
            .get(path)
            .filter(|c| c.version == version)
            .map(|c| c.ast.clone())
    }
}

fn version_of(path: &Path) -> Result<Version, ScriptError> {
    let meta = std::fs::metadata(path).map_err(|e| unreadable(path, e))?;
    Ok(Version {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

/// Reads and compiles a script, and checks it defines the entry function.
pub fn compile(engine: &Engine, path: &Path, max_bytes: u64) -> Result<AST, ScriptError> {
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let mut text = String::new();
    file.take(max_bytes + 1)
        .read_to_string(&mut text)
        .map_err(|e| unreadable(path, e))?;
    if text.len() as u64 > max_bytes {
        return Err(ScriptError::TooLarge {
            path: path.display().to_string(),
            limit: max_bytes,
        });
    }
    let mut ast = engine
        .compile(&text)
        .map_err(|e| ScriptError::DoesNotCompile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    ast.set_source(path.display().to_string());
    let has_entry = ast
        .iter_functions()
        .any(|f| f.name == ENTRY_FUNCTION && f.params.len() == ENTRY_PARAMETERS);
    if !has_entry {
        return Err(ScriptError::NoEntryFunction {
            path: path.display().to_string(),
        });
    }
    Ok(ast)
}

fn unreadable(path: &Path, error: std::io::Error) -> ScriptError {
    ScriptError::Unreadable {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::sandbox::harden;
    use crate::config::ClaimTransformerConfig;

    fn engine() -> Engine {
        harden(
            &ClaimTransformerConfig::default(),
            crate::claims::ScriptOutput::quiet(),
        )
    }

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn compiled_once_and_again_when_the_file_changes() {
        let engine = engine();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.rhai");
        write(&path, "fn transform(claims, context) { 1 }");
        let cache = ScriptCache::new(1024);
        let first = cache.get(&engine, &path).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.get(&engine, &path).unwrap()));

        // Same instant, different size: still a new version.
        write(&path, "fn transform(claims, context) { 22 }");
        let second = cache.get(&engine, &path).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        let answer: i64 = engine
            .call_fn(
                &mut rhai::Scope::new(),
                &second,
                "transform",
                (1_i64, 2_i64),
            )
            .unwrap();
        assert_eq!(answer, 22);

        // A broken edit is an error, not the old script.
        write(&path, "fn transform(claims, context) { ");
        assert!(matches!(
            cache.get(&engine, &path),
            Err(ScriptError::DoesNotCompile { .. })
        ));
    }

    #[test]
    fn refusals() {
        let engine = engine();
        let dir = tempfile::tempdir().unwrap();
        let cache = ScriptCache::new(64);
        let path = dir.path().join("t.rhai");
        assert!(matches!(
            cache.get(&engine, &path),
            Err(ScriptError::Unreadable { .. })
        ));
        write(&path, "fn transform(claims) { claims }");
        assert!(matches!(
            cache.get(&engine, &path),
            Err(ScriptError::NoEntryFunction { .. })
        ));
        write(&path, &format!("// {}\n", "x".repeat(100)));
        assert!(matches!(
            cache.get(&engine, &path),
            Err(ScriptError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_cache_is_bounded() {
        let engine = engine();
        let dir = tempfile::tempdir().unwrap();
        let cache = ScriptCache::new(1024);
        for i in 0..MAX_CACHED_SCRIPTS + 10 {
            let path = dir.path().join(format!("s{i}.rhai"));
            write(&path, "fn transform(c, x) { #{ claims: c } }");
            cache.get(&engine, &path).unwrap();
            assert!(cache.compiled.read().unwrap().len() <= MAX_CACHED_SCRIPTS);
        }
    }
}
