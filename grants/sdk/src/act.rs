//! The `act` claim's form (RFC 8693 4.1), one rule for both sides: the host refuses a plugin
//! result whose `act` breaks it, and a plugin passing on an actor it was given checks it first.

use serde_json::Value;

/// Deepest chain of actors (`act` within `act`) a token may carry.
pub const MAX_ACT_DEPTH: usize = 8;
/// Largest `act` claim, as JSON.
pub const MAX_ACT_BYTES: usize = 8 * 1024;

/// `Ok` for `{"sub": "...", "iss"?: "...", "act"?: {...}}` (other members allowed), nested at
/// most [`MAX_ACT_DEPTH`] deep and at most [`MAX_ACT_BYTES`] long; else why not.
pub fn check_act(act: &Value) -> Result<(), String> {
    check_level(act, 1)?;
    if act.to_string().len() > MAX_ACT_BYTES {
        return Err(format!("larger than {MAX_ACT_BYTES} bytes"));
    }
    Ok(())
}

fn check_level(act: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_ACT_DEPTH {
        return Err(format!("actors nested deeper than {MAX_ACT_DEPTH}"));
    }
    let Value::Object(members) = act else {
        return Err("an actor that is not an object".into());
    };
    match members.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => {}
        _ => return Err("an actor without a non-empty string sub".into()),
    }
    if let Some(iss) = members.get("iss") {
        if !matches!(iss, Value::String(s) if !s.is_empty()) {
            return Err("an actor's iss is not a non-empty string".into());
        }
    }
    match members.get("act") {
        None => Ok(()),
        Some(inner) => check_level(inner, depth + 1),
    }
}

/// How many actors an `act` claim chains (0 for none).
pub fn act_depth(act: Option<&Value>) -> usize {
    match act.filter(|a| a.is_object()) {
        None => 0,
        Some(act) => 1 + act_depth(act.get("act")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn form_and_depth() {
        assert!(check_act(&json!({"sub": "a", "iss": "i", "act": {"sub": "b"}})).is_ok());
        assert!(check_act(&json!("a")).is_err());
        assert!(check_act(&json!({"iss": "i"})).is_err());
        assert!(check_act(&json!({"sub": "a", "iss": 1})).is_err());
        assert!(check_act(&json!({"sub": "a", "act": {"sub": ""}})).is_err());
        let mut deep = json!({"sub": "last"});
        for _ in 1..MAX_ACT_DEPTH {
            deep = json!({"sub": "a", "act": deep});
        }
        assert!(check_act(&deep).is_ok());
        assert_eq!(act_depth(Some(&deep)), MAX_ACT_DEPTH);
        assert!(check_act(&json!({"sub": "x", "act": deep})).is_err());
        assert_eq!(act_depth(None), 0);
    }
}
