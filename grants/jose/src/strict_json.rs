//! JSON for JOSE headers and claim sets, parsed strictly: duplicate member names are refused
//! (RFC 7515 4 and RFC 7519 4 allow "last one wins" instead; two parsers disagreeing on which
//! `sub` counts is how claims get smuggled) and nesting is bounded, so a hostile assertion cannot
//! make the parser recurse deeply.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses a JSON object whose containers nest at most `max_depth` levels (the object itself is
/// level 1) and whose objects have no repeated member name.
pub fn parse_object(bytes: &[u8], max_depth: usize) -> Result<Map<String, Value>, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { depth: max_depth }
        .deserialize(&mut deserializer)
        .map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err("not a JSON object".into()),
    }
}

struct Strict {
    /// Container levels still allowed below this point.
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Strict {
    fn nested<E: serde::de::Error>(&self) -> Result<Strict, E> {
        if self.depth == 0 {
            return Err(E::custom("JSON nested too deeply"));
        }
        Ok(Strict {
            depth: self.depth - 1,
        })
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict { depth: inner.depth })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "duplicate member name '{}'",
                    key.escape_default()
                )));
            }
            let value = map.next_value_seed(Strict { depth: inner.depth })?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse() {
        let map = parse_object(br#"{"a":1,"b":[true,null,"x",1.5],"c":{"d":-2}}"#, 4).unwrap();
        assert_eq!(map["b"][3], 1.5);
        assert_eq!(map["c"]["d"], -2);
    }

    #[test]
    fn duplicates_are_refused_at_any_level() {
        assert!(parse_object(br#"{"sub":"a","sub":"b"}"#, 4)
            .unwrap_err()
            .contains("duplicate member name 'sub'"));
        assert!(parse_object(br#"{"x":{"k":1,"k":2}}"#, 4).is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        assert!(parse_object(br#"{"a":{"b":[1]}}"#, 3).is_ok());
        let err = parse_object(br#"{"a":{"b":[[1]]}}"#, 3).unwrap_err();
        assert!(err.contains("nested too deeply"), "{err}");
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_object(deep.as_bytes(), 16).is_err());
    }

    #[test]
    fn non_objects_and_trailing_data_are_refused() {
        assert!(parse_object(b"[1]", 4).is_err());
        assert!(parse_object(b"{} x", 4).is_err());
        assert!(parse_object(b"", 4).is_err());
    }
}
