//! The plugin's configuration: its registration's properties (`issue_refresh_token`, and per
//! client `clients."<tenant>/<client name>"`: more targets it may address, whether it may
//! impersonate, the client ids an ID-JAG names at other domains), plus the host's `[oauth.grant_type.jwt]`
//! settings, which validate the JWTs of trusted identity providers as the JWT bearer grant does.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The registration's own properties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Issue a refresh token with an exchanged access token (never with a narrowed audience or a
    /// JWT grant; the client must also be allowed the refresh_token grant). Off by default: an
    /// exchanged token should end with the token it came from.
    pub issue_refresh_token: bool,
    /// Per client, as `"<tenant>/<client name>"` (names an operator chooses, unlike client ids):
    /// what it may do beyond delegation.
    pub clients: BTreeMap<String, ClientPolicy>,
}

/// What one client may do with token exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientPolicy {
    /// Targets (`audience` and `resource` values) it may address besides itself and its
    /// registered audiences (`grantor client add --audience`).
    pub audiences: Vec<String>,
    /// It may impersonate (a token for the subject with no `act`) without the subject token's
    /// `may_act` naming it.
    pub impersonation: bool,
    /// For an ID-JAG: the client id it has at each audience's authorization server (default:
    /// its own client id).
    pub id_jag_client_ids: BTreeMap<String, String>,
}

/// The keys of the registration's properties this plugin reads; the rest are the JWT settings.
const OWN_KEYS: &[&str] = &["issue_refresh_token", "clients"];

impl Settings {
    /// Splits the configuration into the plugin's settings and the JWT validation settings.
    pub fn split(config: serde_json::Value) -> Result<(Settings, serde_json::Value), String> {
        let serde_json::Value::Object(mut all) = config else {
            return Err("the configuration is not a JSON object".into());
        };
        let mut own = serde_json::Map::new();
        for key in OWN_KEYS {
            if let Some(value) = all.remove(*key) {
                own.insert((*key).to_owned(), value);
            }
        }
        let settings: Settings = serde_json::from_value(serde_json::Value::Object(own))
            .map_err(|e| format!("invalid configuration: {e}"))?;
        Ok((settings, serde_json::Value::Object(all)))
    }

    /// The policy of client `name` of `tenant`; none (the default) when it has none.
    pub fn policy(&self, tenant: &str, name: &str) -> ClientPolicy {
        self.clients
            .get(&format!("{tenant}/{name}"))
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn own_keys_are_read_and_the_rest_left_for_jwt_validation() {
        let (settings, rest) = Settings::split(json!({
            "issue_refresh_token": true,
            "clients": {"acme/web": {"audiences": ["https://b"], "impersonation": true}},
            "require_jti": true
        }))
        .unwrap();
        assert!(settings.issue_refresh_token);
        assert_eq!(settings.policy("acme", "web").audiences, ["https://b"]);
        assert!(settings.policy("acme", "web").impersonation);
        assert_eq!(settings.policy("other", "web"), ClientPolicy::default());
        assert_eq!(rest, json!({"require_jti": true}));
        let e = Settings::split(json!({"clients": {"acme/web": {"audience": []}}})).unwrap_err();
        assert!(e.contains("audience"), "{e}");
    }
}
