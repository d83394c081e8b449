//! Running an identity provider's claim transformer: `fn transform(claims, context)` gets the
//! verified, mapped claims and a read-only context, and returns
//! `#{ claims: #{...}, subject: "...", scopes: [...] }` (`subject` and `scopes` optional), or
//! `throw`s a message that refuses the assertion. Whatever the script does, the claims the grant
//! validated keep their values, and a failure (an error, a limit reached) fails the one request.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, Scope};
use serde::{Deserialize, Serialize};

use super::sandbox::{harden, with_deadline, DEADLINE_PASSED};
use super::script_output::ScriptOutput;
use super::scripts::{ScriptCache, ScriptError, ENTRY_FUNCTION};
use crate::clock::SystemMonotonic;
use crate::config::ClaimTransformerConfig;

/// Longest refusal message passed on to the client.
const MAX_REJECTION_CHARS: usize = 300;

pub type Claims = serde_json::Map<String, serde_json::Value>;

/// The script's `context` argument; it gets its own copy, so nothing it does reaches the host.
#[derive(Debug, Clone, Serialize)]
pub struct TransformContext {
    pub tenant: String,
    pub provider: ProviderContext,
    pub client: ClientContext,
    /// The request's `scope`, split; empty when it names none.
    pub requested_scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderContext {
    pub name: String,
    pub issuer: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientContext {
    pub client_id: String,
    pub name: String,
}

/// A transformer's decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Transformed {
    Accepted {
        claims: Claims,
        /// Set when the script chose the subject; `claims.sub` then holds it too.
        subject: Option<String>,
        /// Set when the script chose the scopes (they replace the requested ones).
        scopes: Option<Vec<String>>,
    },
    /// The script threw: the assertion is refused with this message.
    Rejected(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error("it exceeded its {0}")]
    Limit(&'static str),
    #[error("it failed: {0}")]
    Failed(String),
    #[error("it returned {0}")]
    BadResult(String),
}

impl TransformError {
    /// The part a client may read: what went wrong, without file paths or script text.
    pub fn public_description(&self) -> String {
        match self {
            TransformError::Script(ScriptError::Unreadable { .. }) => {
                "its script cannot be read".into()
            }
            TransformError::Script(ScriptError::TooLarge { .. }) => {
                "its script is too large".into()
            }
            TransformError::Script(ScriptError::DoesNotCompile { .. }) => {
                "its script does not compile".into()
            }
            TransformError::Script(ScriptError::NoEntryFunction { .. }) => {
                "its script defines no transform(claims, context) function".into()
            }
            TransformError::Limit(limit) => format!("it exceeded its {limit}"),
            TransformError::Failed(_) => "it stopped with an error".into(),
            TransformError::BadResult(_) => "it returned an unusable result".into(),
        }
    }
}

pub struct ClaimTransformers {
    engine: Engine,
    scripts: ScriptCache,
    timeout: Duration,
    sizes: Sizes,
    output: Arc<ScriptOutput>,
}

/// The largest containers a result may hold (Rhai misses some growth paths, see `sandbox`), and
/// how deeply they may nest.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    map_entries: usize,
    array_items: usize,
    depth: usize,
}

impl ClaimTransformers {
    pub fn new(limits: &ClaimTransformerConfig) -> ClaimTransformers {
        let output = Arc::new(ScriptOutput::new(
            limits.log_output,
            limits.max_log_lines_per_second,
            Arc::new(SystemMonotonic),
        ));
        ClaimTransformers {
            engine: harden(limits, output.clone()),
            scripts: ScriptCache::new(limits.max_script_bytes),
            timeout: Duration::from_millis(limits.timeout_ms),
            sizes: Sizes {
                map_entries: limits.max_map_entries,
                array_items: limits.max_array_items,
                depth: limits.max_result_depth,
            },
            output,
        }
    }

    /// Lines of script output logged and dropped since start.
    pub fn output_counts(&self) -> (u64, u64) {
        self.output.counts()
    }

    /// Whether the script at `path` compiles and defines its entry function (for registration).
    pub fn check(&self, path: &Path) -> Result<(), ScriptError> {
        self.scripts.get(&self.engine, path).map(|_| ())
    }

    /// Runs the transformer at `path` on `claims`. `validated` names the claims the grant has
    /// checked: they keep their values (dropping one restores it; changing one is an error).
    pub fn run(
        &self,
        path: &Path,
        claims: Claims,
        context: &TransformContext,
        validated: &[&str],
    ) -> Result<Transformed, TransformError> {
        let ast = self.scripts.get(&self.engine, path)?;
        let kept: Vec<(&str, serde_json::Value)> = validated
            .iter()
            .filter_map(|name| claims.get(*name).map(|v| (*name, v.clone())))
            .collect();
        let input = rhai::serde::to_dynamic(&claims)
            .map_err(|e| TransformError::Failed(format!("claims not representable: {e}")))?;
        let context = rhai::serde::to_dynamic(context)
            .map_err(|e| TransformError::Failed(format!("context not representable: {e}")))?;
        let outcome = with_deadline(self.timeout, || {
            self.engine.call_fn_with_options::<Dynamic>(
                CallFnOptions::new(),
                &mut Scope::new(),
                &ast,
                ENTRY_FUNCTION,
                (input, context),
            )
        });
        let returned = match outcome {
            Ok(value) => value,
            Err(error) => return classify(*error),
        };
        interpret(returned, &kept, validated, self.sizes)
    }
}

/// A thrown value is the script's refusal; anything else that stopped it is a failure.
fn classify(error: EvalAltResult) -> Result<Transformed, TransformError> {
    match error.unwrap_inner() {
        EvalAltResult::ErrorRuntime(value, _) => Ok(Transformed::Rejected(bounded(
            &value
                .clone()
                .into_string()
                .unwrap_or_else(|_| value.to_string()),
        ))),
        EvalAltResult::ErrorTooManyOperations(_) => Err(TransformError::Limit("operation limit")),
        EvalAltResult::ErrorTerminated(value, _) if value.to_string() == DEADLINE_PASSED => {
            Err(TransformError::Limit("time limit"))
        }
        EvalAltResult::ErrorStackOverflow(_) => Err(TransformError::Limit("call depth limit")),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            Err(TransformError::Limit(match what.to_ascii_lowercase() {
                w if w.contains("string") => "string size limit",
                w if w.contains("array") => "array size limit",
                w if w.contains("map") => "map size limit",
                _ => "data size limit",
            }))
        }
        EvalAltResult::ErrorTooManyVariables(_) | EvalAltResult::ErrorTooManyModules(_) => {
            Err(TransformError::Limit("variable limit"))
        }
        _ => Err(TransformError::Failed(error.to_string())),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptResult {
    claims: Claims,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    scopes: Option<ScopesValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScopesValue {
    List(Vec<String>),
    Text(String),
}

fn interpret(
    returned: Dynamic,
    kept: &[(&str, serde_json::Value)],
    validated: &[&str],
    sizes: Sizes,
) -> Result<Transformed, TransformError> {
    const EXPECTED: &str = "expected #{ claims: #{...}, subject: \"...\", scopes: [...] }";
    if !returned.is_map() {
        return Err(TransformError::BadResult(format!(
            "a value of type {}; {EXPECTED}",
            returned.type_name()
        )));
    }
    if !nesting_within(&returned, sizes.depth) {
        return Err(TransformError::Limit("result nesting depth limit"));
    }
    let value: serde_json::Value = rhai::serde::from_dynamic(&returned)
        .map_err(|e| TransformError::BadResult(format!("a value JSON cannot hold: {e}")))?;
    check_sizes(&value, sizes)?;
    let result: ScriptResult = serde_json::from_value(value)
        .map_err(|e| TransformError::BadResult(format!("{e}; {EXPECTED}")))?;
    let mut claims = result.claims;
    for name in validated {
        let before = kept.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        match (before, claims.get(*name)) {
            (Some(before), Some(after)) if before == after => {}
            (None, None) => {}
            (Some(before), None) => {
                claims.insert((*name).to_owned(), before.clone());
            }
            _ => {
                return Err(TransformError::BadResult(format!(
                "a changed '{name}' claim, which the grant validated and no transformer may change"
            )))
            }
        }
    }
    if let Some(subject) = &result.subject {
        if subject.is_empty() {
            return Err(TransformError::BadResult("an empty subject".into()));
        }
        claims.insert("sub".into(), serde_json::Value::String(subject.clone()));
    }
    let scopes = match result.scopes {
        None => None,
        Some(ScopesValue::Text(text)) => Some(parse_scopes(&text)?),
        Some(ScopesValue::List(list)) => Some(
            grantor_sdk::scope::parse_scope_list(list.iter().map(String::as_str))
                .map_err(TransformError::BadResult)?,
        ),
    };
    Ok(Transformed::Accepted {
        claims,
        subject: result.subject,
        scopes,
    })
}

/// Whether arrays and maps in `value` nest at most `levels` deep. The walk stops at the limit, so
/// it never recurses deeper than that itself.
fn nesting_within(value: &Dynamic, levels: usize) -> bool {
    if let Ok(items) = value.as_array_ref() {
        levels > 0 && items.iter().all(|v| nesting_within(v, levels - 1))
    } else if let Ok(map) = value.as_map_ref() {
        levels > 0 && map.values().all(|v| nesting_within(v, levels - 1))
    } else {
        true
    }
}

fn check_sizes(value: &serde_json::Value, sizes: Sizes) -> Result<(), TransformError> {
    match value {
        serde_json::Value::Object(map) if map.len() > sizes.map_entries => {
            Err(TransformError::Limit("map size limit"))
        }
        serde_json::Value::Array(items) if items.len() > sizes.array_items => {
            Err(TransformError::Limit("array size limit"))
        }
        serde_json::Value::Object(map) => map.values().try_for_each(|v| check_sizes(v, sizes)),
        serde_json::Value::Array(items) => items.iter().try_for_each(|v| check_sizes(v, sizes)),
        _ => Ok(()),
    }
}

fn parse_scopes(text: &str) -> Result<Vec<String>, TransformError> {
    grantor_sdk::scope::parse_scope(text).map_err(TransformError::BadResult)
}

/// A refusal as a client may read it: one line, bounded.
fn bounded(message: &str) -> String {
    let line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.trim();
    if line.is_empty() {
        return "refused by the identity provider's claim transformer".into();
    }
    if line.chars().count() > MAX_REJECTION_CHARS {
        let cut: String = line.chars().take(MAX_REJECTION_CHARS).collect();
        format!("{cut}...")
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    const VALIDATED: &[&str] = grantor_jose::VALIDATED_CLAIMS;

    fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts")
            .join(name)
    }

    fn context(requested: &[&str]) -> TransformContext {
        TransformContext {
            tenant: "acme".into(),
            provider: ProviderContext {
                name: "corp".into(),
                issuer: "https://idp.example".into(),
            },
            client: ClientContext {
                client_id: "c1".into(),
                name: "Portal".into(),
            },
            requested_scopes: requested.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn claims(value: serde_json::Value) -> Claims {
        match value {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn base() -> serde_json::Value {
        json!({"iss": "https://idp.example", "aud": "x", "exp": 2000, "sub": "u-1"})
    }

    fn run_example(
        name: &str,
        extra: serde_json::Value,
        requested: &[&str],
    ) -> Result<Transformed, TransformError> {
        let mut input = claims(base());
        input.extend(claims(extra));
        ClaimTransformers::new(&ClaimTransformerConfig::default()).run(
            &example(name),
            input,
            &context(requested),
            VALIDATED,
        )
    }

    fn run_script(text: &str) -> Result<Transformed, TransformError> {
        run_script_with(text, &ClaimTransformerConfig::default())
    }

    fn run_script_with(
        text: &str,
        limits: &ClaimTransformerConfig,
    ) -> Result<Transformed, TransformError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.rhai");
        std::fs::write(&path, text).unwrap();
        ClaimTransformers::new(limits).run(&path, claims(base()), &context(&[]), VALIDATED)
    }

    fn accepted(t: Transformed) -> (Claims, Option<String>, Option<Vec<String>>) {
        match t {
            Transformed::Accepted {
                claims,
                subject,
                scopes,
            } => (claims, subject, scopes),
            other => panic!("not accepted: {other:?}"),
        }
    }

    #[test]
    fn every_example_compiles() {
        let transformers = ClaimTransformers::new(&ClaimTransformerConfig::default());
        for name in [
            "rename_claims.rhai",
            "groups_to_scopes.rhai",
            "reject_by_domain.rhai",
            "subject_from_email.rhai",
        ] {
            transformers.check(&example(name)).unwrap();
        }
    }

    #[test]
    fn rename_claims_example() {
        let (out, subject, scopes) = accepted(
            run_example(
                "rename_claims.rhai",
                json!({"preferred_username": "ann", "nonce": "n", "given_name": "Ann"}),
                &[],
            )
            .unwrap(),
        );
        assert_eq!(out["username"], "ann");
        assert_eq!(out["first_name"], "Ann");
        assert!(!out.contains_key("preferred_username") && !out.contains_key("nonce"));
        assert_eq!(out["sub"], "u-1");
        assert_eq!((subject, scopes), (None, None));
    }

    #[test]
    fn groups_to_scopes_example() {
        let groups = json!({"groups": ["engineering", "everyone", "unknown"]});
        let (_, _, scopes) =
            accepted(run_example("groups_to_scopes.rhai", groups.clone(), &[]).unwrap());
        assert_eq!(
            scopes.unwrap(),
            ["repo:read", "repo:write", "profile"].map(String::from)
        );
        let (_, _, scopes) = accepted(
            run_example("groups_to_scopes.rhai", groups.clone(), &["profile", "x"]).unwrap(),
        );
        assert_eq!(scopes.unwrap(), ["profile"]);
        assert!(matches!(
            run_example("groups_to_scopes.rhai", groups, &["tickets:read"]).unwrap(),
            Transformed::Rejected(m) if m.contains("none of the user's groups")
        ));
        assert!(matches!(
            run_example("groups_to_scopes.rhai", json!({"groups": "engineering"}), &[]).unwrap(),
            Transformed::Rejected(m) if m.contains("not a list")
        ));
    }

    #[test]
    fn reject_by_domain_example() {
        let ok = json!({"email": "Ann@Example.COM", "email_verified": true});
        accepted(run_example("reject_by_domain.rhai", ok, &[]).unwrap());
        for (claims, expected) in [
            (
                json!({"email": "eve@evil.example", "email_verified": true}),
                "users of evil.example may not sign in to Portal",
            ),
            (
                json!({"email": "ann@example.com"}),
                "the email address is not verified",
            ),
            (json!({}), "the assertion has no email claim"),
        ] {
            assert_eq!(
                run_example("reject_by_domain.rhai", claims, &[]).unwrap(),
                Transformed::Rejected(expected.into())
            );
        }
    }

    #[test]
    fn subject_from_email_example() {
        let (out, subject, _) = accepted(
            run_example(
                "subject_from_email.rhai",
                json!({"email": "Ann@Example.com", "email_verified": true}),
                &[],
            )
            .unwrap(),
        );
        assert_eq!(subject.as_deref(), Some("ann@example.com"));
        assert_eq!(out["sub"], "ann@example.com");
        assert_eq!(out["idp_subject"], "u-1");
        assert!(matches!(
            run_example("subject_from_email.rhai", json!({"email": "a@b"}), &[]).unwrap(),
            Transformed::Rejected(_)
        ));
    }

    #[test]
    fn hostile_scripts_fail_within_their_limits() {
        for (script, expected) in [
            (
                "fn transform(c, x) { loop { } }",
                TransformError::Limit("operation limit"),
            ),
            (
                "fn f(n) { f(n + 1) } fn transform(c, x) { f(0) }",
                TransformError::Limit("call depth limit"),
            ),
            (
                r#"fn transform(c, x) { let s = "x"; loop { s += s; } }"#,
                TransformError::Limit("string size limit"),
            ),
            (
                "fn transform(c, x) { let a = []; loop { a.push(a.len()); } }",
                TransformError::Limit("array size limit"),
            ),
            (
                // Grown by index, which Rhai does not check: caught in the result.
                "fn transform(c, x) { for i in 0..300 { let k = `k${i}`; c[k] = i; } #{ claims: c } }",
                TransformError::Limit("map size limit"),
            ),
        ] {
            // No time limit a busy machine could reach first: each script meets its own limit.
            let limits = ClaimTransformerConfig {
                timeout_ms: 60_000,
                ..ClaimTransformerConfig::default()
            };
            assert_eq!(
                run_script_with(script, &limits).unwrap_err(),
                expected,
                "{script}"
            );
        }
        assert!(matches!(
            run_script("fn transform(c, x) { c.nope.call() }").unwrap_err(),
            TransformError::Failed(_)
        ));
    }

    #[test]
    fn a_throw_is_a_bounded_one_line_refusal() {
        assert_eq!(
            run_script(r#"fn transform(c, x) { throw "no\nway" }"#).unwrap(),
            Transformed::Rejected("no way".into())
        );
        let Transformed::Rejected(long) =
            run_script(r#"fn transform(c, x) { let s = "y"; s.pad(5000, 'y'); throw s }"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(long.chars().count(), MAX_REJECTION_CHARS + 3);
    }

    #[test]
    fn results_are_checked() {
        for script in [
            "fn transform(c, x) { c }",
            "fn transform(c, x) { #{ claims: c, subjet: \"typo\" } }",
            "fn transform(c, x) { #{ claims: c, subject: \"\" } }",
            "fn transform(c, x) { #{ claims: c, scopes: [\"a b\"] } }",
            "fn transform(c, x) { c.aud = \"elsewhere\"; #{ claims: c } }",
            "fn transform(c, x) { c.jti = \"new\"; #{ claims: c } }",
            "fn transform(c, x) { }",
        ] {
            assert!(
                matches!(run_script(script), Err(TransformError::BadResult(_))),
                "{script}"
            );
        }
        // Dropped validated claims come back; the context is the script's own copy.
        let (out, _, scopes) = accepted(
            run_script(
                "fn transform(c, x) { x.tenant = \"other\"; \
                 #{ claims: #{ sub: c.sub, t: x.tenant }, scopes: \"a b a\" } }",
            )
            .unwrap(),
        );
        assert_eq!(
            serde_json::Value::Object(out),
            json!({"iss": "https://idp.example", "aud": "x", "exp": 2000, "sub": "u-1", "t": "other"})
        );
        assert_eq!(scopes.unwrap(), ["a", "b"]);
    }

    #[test]
    fn a_result_nested_too_deeply_is_refused_before_conversion() {
        // 30 or 31 levels of arrays inside the claims map, inside the result map. No time limit
        // that a busy machine could reach first: only the depth decides.
        let limits = ClaimTransformerConfig {
            timeout_ms: 60_000,
            ..ClaimTransformerConfig::default()
        };
        let nested = |levels: usize| {
            let script = format!(
                "fn transform(c, x) {{ let v = 1; for i in 0..{levels} {{ v = [v]; }} \
                 c.deep = v; #{{ claims: c }} }}"
            );
            run_script_with(&script, &limits)
        };
        assert!(nested(30).is_ok());
        for levels in [31, 200] {
            assert_eq!(
                nested(levels).unwrap_err(),
                TransformError::Limit("result nesting depth limit")
            );
        }
    }
}
