//! The one encoding of the lists and maps a row stores in a text column: a JSON array of strings
//! (a JSON object of strings for a map). JSON, not OAuth's space-separated syntax, because some
//! values have spaces in them (PEM certificates). Reading refuses anything else with the table,
//! column and row it came from (`CorruptValue`), never a guess: an unreadable list of keys read
//! as "no keys" would let a client that must sign assertions authenticate with its secret.

use std::collections::BTreeMap;

use serde_json::Value;

use super::CorruptValue;

/// A list as stored. `Value`'s `Display` cannot fail, unlike `serde_json::to_string`.
pub(super) fn encode_list(values: &[String]) -> String {
    Value::Array(values.iter().cloned().map(Value::String).collect()).to_string()
}

/// A map as stored, keys in order.
pub(super) fn encode_map(map: &BTreeMap<String, String>) -> String {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
    .to_string()
}

/// Where a stored value comes from, for the error that refuses it.
#[derive(Debug, Clone, Copy)]
pub(super) struct StoredIn<'a> {
    pub table: &'static str,
    /// The row's key, as `tenant/name` for a two-part key.
    pub row: &'a str,
}

impl StoredIn<'_> {
    pub fn list(&self, column: &'static str, text: &str) -> Result<Vec<String>, CorruptValue> {
        serde_json::from_str(text)
            .map_err(|e| self.corrupt(column, format!("not a JSON array of strings: {e}")))
    }

    pub fn optional_list(
        &self,
        column: &'static str,
        text: Option<&str>,
    ) -> Result<Option<Vec<String>>, CorruptValue> {
        text.map(|text| self.list(column, text)).transpose()
    }

    pub fn map(
        &self,
        column: &'static str,
        text: &str,
    ) -> Result<BTreeMap<String, String>, CorruptValue> {
        serde_json::from_str(text)
            .map_err(|e| self.corrupt(column, format!("not a JSON object of strings: {e}")))
    }

    fn corrupt(&self, column: &'static str, reason: String) -> CorruptValue {
        CorruptValue {
            table: self.table,
            column,
            row: self.row.to_owned(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: StoredIn<'static> = StoredIn {
        table: "service_providers",
        row: "id-1",
    };

    #[test]
    fn lists_and_maps_round_trip() {
        let list = vec!["a b".to_owned(), "\"quoted\"".to_owned(), String::new()];
        assert_eq!(IN.list("scopes", &encode_list(&list)).unwrap(), list);
        assert_eq!(encode_list(&[]), "[]");
        let map = BTreeMap::from([("upn".to_owned(), "username".to_owned())]);
        assert_eq!(IN.map("claim_mappings", &encode_map(&map)).unwrap(), map);
    }

    #[test]
    fn anything_else_is_refused_naming_table_column_and_row() {
        for text in ["read write", "", "[1]", "{\"a\":\"b\"}", "[\"a\""] {
            let e = IN.list("scopes", text).unwrap_err();
            assert_eq!((e.table, e.column, e.row.as_str()), IN_SCOPES, "{text}");
            assert!(
                e.to_string()
                    .starts_with("stored service_providers.scopes of row 'id-1' is corrupt: "),
                "{e}"
            );
        }
        assert!(IN.map("claim_mappings", "[]").is_err());
    }

    const IN_SCOPES: (&str, &str, &str) = ("service_providers", "scopes", "id-1");
}
