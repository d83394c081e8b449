//! `[claim_transformer]`: the sandbox of the identity providers' Rhai claim transformers.

use serde::{Deserialize, Serialize};

use super::Check;

/// `[claim_transformer]`: the sandbox every identity provider's Rhai claim transformer runs in.
/// A script that reaches a limit fails its request, never the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimTransformerConfig {
    /// Operations one run may take (a loop iteration, a call, an expression each count).
    pub max_operations: u64,
    /// Longest one run may take, in milliseconds (wall clock, checked as it runs).
    pub timeout_ms: u64,
    /// Deepest nesting of function calls (recursion included).
    pub max_call_depth: usize,
    /// Deepest nesting of expressions, at the top level and inside functions.
    pub max_expression_depth: usize,
    /// Longest string a script may build, in bytes.
    pub max_string_bytes: usize,
    /// Most items in one array.
    pub max_array_items: usize,
    /// Most entries in one object map.
    pub max_map_entries: usize,
    /// Largest script file accepted, in bytes.
    pub max_script_bytes: u64,
    /// Deepest nesting of arrays and maps in what a script returns (checked before it is
    /// converted, so conversion never recurses deeper).
    pub max_result_depth: usize,
    /// Whether a script's `print` and `debug` reach the log (off: they are dropped).
    pub log_output: bool,
    /// With `log_output`, most lines of script output logged per second; the rest are counted.
    pub max_log_lines_per_second: u64,
}

impl Default for ClaimTransformerConfig {
    fn default() -> Self {
        ClaimTransformerConfig {
            max_operations: 100_000,
            timeout_ms: 100,
            max_call_depth: 16,
            max_expression_depth: 64,
            max_string_bytes: 16 * 1024,
            max_array_items: 1024,
            max_map_entries: 256,
            max_script_bytes: 256 * 1024,
            max_result_depth: 32,
            log_output: false,
            max_log_lines_per_second: 10,
        }
    }
}

impl ClaimTransformerConfig {
    pub(super) fn validate(&self) -> Check {
        if self.max_operations == 0
            || self.timeout_ms == 0
            || self.max_call_depth == 0
            || self.max_expression_depth == 0
            || self.max_result_depth == 0
            || self.max_string_bytes == 0
            || self.max_array_items == 0
            || self.max_map_entries == 0
            || self.max_script_bytes == 0
        {
            // Zero means "unlimited" to the script engine: never let it through.
            return Err((
                "claim_transformer",
                "every limit must be positive (zero would mean no limit)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;

    #[test]
    fn claim_transformer_limits_are_never_unlimited() {
        let config = load_toml("[claim_transformer]\nmax_operations = 5000\n").unwrap();
        assert_eq!(config.claim_transformer.max_operations, 5000);
        assert_eq!(config.claim_transformer.timeout_ms, 100);
        let err = load_toml("[claim_transformer]\nmax_map_entries = 0\n").unwrap_err();
        assert!(err.to_string().contains("claim_transformer"), "{err}");
        let err = load_toml("[claim_transformer]\nmax_ops = 1\n").unwrap_err();
        assert!(err.to_string().contains("max_ops"), "{err}");
    }
}
