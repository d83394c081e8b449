//! ABI 1.1's result fields (`audience`, `issued_token_type`, `expires_at_most`, `act`), checked by
//! name before a plugin's result is decoded: a malformed one refuses the whole result, and the
//! error names the field. What they mean for the tokens is decided by the token endpoint
//! (`oauth/token/plugin_call.rs`); here only their form.

use grantor_sdk::act::check_act;
use grantor_sdk::wire::token_types;
use serde_json::Value;

/// Most audiences one token may name.
pub const MAX_AUDIENCES: usize = 16;
/// Longest audience value, in bytes.
const MAX_AUDIENCE_BYTES: usize = 1024;

/// The token types a plugin may ask for.
const ISSUABLE: &[&str] = &[
    token_types::ACCESS_TOKEN,
    token_types::JWT,
    token_types::ID_JAG,
];

/// `Err("field 'x': why")` for the first malformed 1.1 field of a granted result.
pub fn check(result: &Value) -> Result<(), String> {
    if result.get("status").and_then(Value::as_str) != Some("granted") {
        return Ok(());
    }
    let field = |name: &str| result.get(name).filter(|v| !v.is_null());
    let named = |name: &str, why: String| format!("field '{name}': {why}");
    if let Some(audience) = field("audience") {
        check_audience(audience).map_err(|why| named("audience", why))?;
    }
    let issued = match field("issued_token_type") {
        None => None,
        Some(Value::String(t)) if ISSUABLE.contains(&t.as_str()) => Some(t.as_str()),
        Some(other) => {
            return Err(named(
                "issued_token_type",
                format!("{other} is not one of {}", ISSUABLE.join(", ")),
            ))
        }
    };
    if let Some(cap) = field("expires_at_most") {
        if cap.as_i64().is_none() {
            return Err(named(
                "expires_at_most",
                format!("{cap} is not an integer (unix seconds)"),
            ));
        }
    }
    if let Some(act) = field("act") {
        check_act(act).map_err(|why| named("act", why))?;
    }
    if matches!(issued, Some(t) if t != token_types::ACCESS_TOKEN) {
        let count = field("audience")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if count != 1 {
            return Err(named(
                "audience",
                format!("a JWT authorization grant names exactly one audience, not {count}"),
            ));
        }
    }
    Ok(())
}

fn check_audience(audience: &Value) -> Result<(), String> {
    let Value::Array(values) = audience else {
        return Err("not an array of strings".into());
    };
    if values.is_empty() || values.len() > MAX_AUDIENCES {
        return Err(format!(
            "{} values; between 1 and {MAX_AUDIENCES} are allowed",
            values.len()
        ));
    }
    for value in values {
        match value {
            Value::String(s)
                if !s.is_empty()
                    && s.len() <= MAX_AUDIENCE_BYTES
                    && !s.chars().any(char::is_control) => {}
            other => {
                return Err(format!(
                    "{} is not a non-empty string of at most {MAX_AUDIENCE_BYTES} bytes without \
                     control characters",
                    shown(other)
                ))
            }
        }
    }
    Ok(())
}

/// A value as an error may show it: bounded.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn granted(fields: Value) -> Value {
        let mut result = json!({"status": "granted", "subject": "alice"});
        for (k, v) in fields.as_object().unwrap() {
            result[k] = v.clone();
        }
        result
    }

    #[test]
    fn well_formed_fields_and_1_0_results_pass() {
        assert!(check(&granted(json!({}))).is_ok());
        assert!(check(&json!({"status": "error", "audience": 5})).is_ok());
        assert!(check(&granted(json!({
            "audience": ["https://apis.example/token"],
            "issued_token_type": token_types::ID_JAG,
            "expires_at_most": 1_900_000_000,
            "act": {"sub": "svc", "iss": "https://idp", "act": {"sub": "first"}}
        })))
        .is_ok());
    }

    #[test]
    fn each_malformed_field_is_named() {
        let refused = |fields: Value, field: &str| {
            let e = check(&granted(fields)).unwrap_err();
            assert!(e.starts_with(&format!("field '{field}'")), "{e}");
        };
        refused(json!({"audience": "x"}), "audience");
        refused(json!({"audience": []}), "audience");
        refused(json!({"audience": [""]}), "audience");
        refused(json!({"audience": ["a\nb"]}), "audience");
        refused(
            json!({"audience": vec!["a"; MAX_AUDIENCES + 1]}),
            "audience",
        );
        refused(json!({"issued_token_type": "bearer"}), "issued_token_type");
        refused(
            json!({"issued_token_type": token_types::REFRESH_TOKEN}),
            "issued_token_type",
        );
        refused(json!({"expires_at_most": "soon"}), "expires_at_most");
        refused(json!({"expires_at_most": 1.5}), "expires_at_most");
        refused(json!({"act": "svc"}), "act");
        refused(json!({"act": {"iss": "x"}}), "act");
        refused(json!({"act": {"sub": "a", "iss": 3}}), "act");
        refused(json!({"act": {"sub": "a", "act": {"sub": ""}}}), "act");
        let mut deep = json!({"sub": "last"});
        for i in 0..grantor_sdk::act::MAX_ACT_DEPTH {
            deep = json!({"sub": format!("a{i}"), "act": deep});
        }
        refused(json!({ "act": deep }), "act");
        refused(
            json!({"issued_token_type": token_types::JWT, "audience": ["a", "b"]}),
            "audience",
        );
        refused(json!({"issued_token_type": token_types::JWT}), "audience");
    }
}
