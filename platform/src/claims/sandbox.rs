//! The one place a Rhai engine is built. Every limit is explicit (Rhai's defaults leave
//! operations, sizes and time unlimited, and differ between debug and release builds), `import`
//! resolves nothing, `eval` is gone, undeclared variables are compile errors, and `print`/`debug`
//! go to `ScriptOutput` (dropped unless enabled, then rate-limited). Rhai's standard library has no file, process or network access; nothing here
//! may add any.
//!
//! One gap is Rhai's: assigning a new key by index (`m[k] = v`) does not check the map size
//! limit. The operation limit still bounds what a run can build, and the caller checks the sizes
//! of what a script returns.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::module_resolvers::DummyModuleResolver;
use rhai::{Dynamic, Engine};

use super::script_output::ScriptOutput;
use crate::config::ClaimTransformerConfig;

/// How many operations pass between two looks at the clock (reading it costs more than an
/// operation).
const CLOCK_CHECK_INTERVAL: u64 = 256;

/// What `on_progress` answers when a run passes its deadline; recognised in the error.
pub const DEADLINE_PASSED: &str = "grantor: deadline passed";

thread_local! {
    /// The deadline of the run on this thread. A run is synchronous on its thread, so a
    /// thread-local is exactly "the current run".
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// An engine with every limit of `limits`, shared by all transformers (`Engine` is `Sync` with
/// the `sync` feature; per-run state lives in the call, not the engine).
pub fn harden(limits: &ClaimTransformerConfig, output: Arc<ScriptOutput>) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_module_resolver(DummyModuleResolver::new())
        .set_max_modules(0)
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_depth)
        .set_max_expr_depths(limits.max_expression_depth, limits.max_expression_depth)
        .set_max_string_size(limits.max_string_bytes)
        .set_max_array_size(limits.max_array_items)
        .set_max_map_size(limits.max_map_entries)
        .set_strict_variables(true)
        .disable_symbol("eval");
    let printed = output.clone();
    engine.on_print(move |text| printed.write("print", text));
    engine.on_debug(move |text, _source, position| {
        output.write("debug", &format!("{position}: {text}"))
    });
    engine.on_progress(|operations| {
        if operations % CLOCK_CHECK_INTERVAL != 0 {
            return None;
        }
        let passed = DEADLINE.with(|d| d.get().is_some_and(|at| Instant::now() >= at));
        passed.then(|| Dynamic::from(DEADLINE_PASSED))
    });
    engine
}

/// Runs `work` with a deadline `timeout` from now for the engine's progress check on this thread.
pub fn with_deadline<T>(timeout: Duration, work: impl FnOnce() -> T) -> T {
    struct Reset(Option<Instant>);
    impl Drop for Reset {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(DEADLINE.with(|d| d.replace(Some(Instant::now() + timeout))));
    work()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhai::EvalAltResult;

    fn engine() -> Engine {
        harden(&ClaimTransformerConfig::default(), ScriptOutput::quiet())
    }

    fn run(script: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        // A deadline no busy machine reaches first: each test meets the limit it is about.
        with_deadline(Duration::from_secs(60), || engine().eval::<Dynamic>(script))
    }

    #[test]
    fn an_endless_loop_stops_at_the_operation_limit() {
        let err = run("let x = 0; loop { x += 1; }").unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorTooManyOperations(_)),
            "{err}"
        );
    }

    #[test]
    fn a_slow_script_stops_at_the_deadline() {
        let engine = harden(
            &ClaimTransformerConfig {
                max_operations: u64::MAX,
                ..Default::default()
            },
            ScriptOutput::quiet(),
        );
        let err = with_deadline(Duration::from_millis(50), || {
            engine.eval::<Dynamic>("loop { }")
        })
        .unwrap_err();
        assert!(
            matches!(&*err, EvalAltResult::ErrorTerminated(v, _) if v.to_string() == DEADLINE_PASSED),
            "{err}"
        );
        // The deadline belongs to that run only.
        assert!(DEADLINE.with(|d| d.get()).is_none());
    }

    #[test]
    fn recursion_stops_at_the_call_depth() {
        let err = run("fn f(n) { f(n + 1) } f(0)").unwrap_err();
        assert!(
            matches!(err.unwrap_inner(), EvalAltResult::ErrorStackOverflow(_)),
            "{err}"
        );
    }

    #[test]
    fn data_sizes_are_bounded() {
        for script in [
            r#"let s = "x"; loop { s += s; }"#,
            "let a = []; loop { a.push(1); }",
            "let m = #{}; let i = 0; loop { m += #{}; m.set(`k${i}`, i); i += 1; }",
        ] {
            let err = run(script).unwrap_err();
            assert!(
                matches!(*err, EvalAltResult::ErrorDataTooLarge(..)),
                "{script}: {err}"
            );
        }
    }

    #[test]
    fn print_and_debug_reach_the_output_and_its_limit() {
        let clock = Arc::new(crate::clock::ManualClock::default());
        let output = Arc::new(ScriptOutput::new(true, 5, clock));
        let engine = harden(&ClaimTransformerConfig::default(), output.clone());
        with_deadline(Duration::from_secs(1), || {
            engine.run("for i in 0..100 { print(i); debug(i); }")
        })
        .unwrap();
        assert_eq!(output.counts(), (5, 195));
    }

    #[test]
    fn no_eval_no_import_no_undeclared_variables() {
        assert!(engine().compile("eval(\"1\")").is_err());
        assert!(run("import \"x\" as x; 1").is_err());
        assert!(engine().compile("fn f() { y } f()").is_err());
    }
}
