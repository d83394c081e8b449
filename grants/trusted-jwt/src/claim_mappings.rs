//! The identity provider's declarative claim mappings (remote name -> local name), applied to the
//! verified claims before anything reads them. Renames happen at once (`a=b` with `b=a` swaps),
//! a renamed claim replaces a claim already under the local name, and the claims the grant
//! validates are never read or written by a mapping.

use std::collections::BTreeMap;

use grantor_jose::VALIDATED_CLAIMS;
use serde_json::{Map, Value};

pub fn apply(
    mut claims: Map<String, Value>,
    mappings: &BTreeMap<String, String>,
) -> Map<String, Value> {
    let protected = |name: &str| VALIDATED_CLAIMS.contains(&name);
    let usable: Vec<(&String, &String)> = mappings
        .iter()
        .filter(|(remote, local)| !protected(remote) && !protected(local))
        .collect();
    let moved: Vec<(String, Value)> = usable
        .iter()
        .filter_map(|(remote, local)| claims.get(*remote).map(|v| ((*local).clone(), v.clone())))
        .collect();
    for (remote, _) in &usable {
        claims.remove(*remote);
    }
    claims.extend(moved);
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn renames_replace_and_swap() {
        let out = apply(
            claims(json!({"upn": "alice@corp", "sub": "123", "a": 1, "b": 2})),
            &map(&[("upn", "sub"), ("a", "b"), ("b", "a"), ("missing", "x")]),
        );
        assert_eq!(out, claims(json!({"sub": "alice@corp", "a": 2, "b": 1})));
    }

    #[test]
    fn validated_claims_are_never_touched() {
        let input = claims(json!({"aud": "x", "foo": "y", "exp": 1}));
        let out = apply(input.clone(), &map(&[("foo", "aud"), ("exp", "bar")]));
        assert_eq!(out, input);
    }
}
