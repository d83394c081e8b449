//! `[admin]`: the operator's listener.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{is_configuration_variable, Check};

/// `[admin]`: the operator's listener, apart from the one clients use. It serves `/metrics`
/// (Prometheus text format) to requests with the admin bearer token; off unless `bind` is set,
/// and it does not start without credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub bind: Option<SocketAddr>,
    /// The admin token's SHA-256, 64 hex digits (`printf %s TOKEN | sha256sum`).
    pub token_sha256: Option<String>,
    /// Or: the environment variable that holds the token itself.
    pub token_env: Option<String>,
    /// Connections the admin listener holds at once (per address too); as `server.max_connections`.
    pub max_connections: usize,
    /// `[admin.console]`: how operators sign in to the console besides the admin token.
    pub console: ConsoleConfig,
}

/// `[admin.console]`: operators may sign in to the console as users of a tenant of this server
/// (an OpenID client of it, as Keycloak's console is of its master realm), each then named in the
/// audit log; the admin token still signs in. Off unless `openid_tenant` is set, and then every
/// key is needed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// The tenant whose users may sign in to the console (a tenant of operators).
    pub openid_tenant: Option<String>,
    /// The console's application in that tenant: allowed `authorization_code`, with the redirect
    /// URI `<public_url>/console/callback`.
    pub openid_client_id: Option<String>,
    /// The environment variable that holds that application's secret.
    pub openid_client_secret_env: Option<String>,
    /// Where browsers reach the admin listener (`https://admin.example.net`), for the redirect
    /// URI.
    pub public_url: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            bind: None,
            token_sha256: None,
            token_env: None,
            max_connections: 64,
            console: ConsoleConfig::default(),
        }
    }
}

impl AdminConfig {
    pub(super) fn validate(&self) -> Check {
        if self
            .token_env
            .as_deref()
            .is_some_and(is_configuration_variable)
        {
            return Err((
                "admin.token_env",
                "must not start with GRANTOR_: those variables are read as configuration keys",
            ));
        }
        self.console.validate()
    }
}

impl ConsoleConfig {
    fn validate(&self) -> Check {
        let set = [
            self.openid_tenant.is_some(),
            self.openid_client_id.is_some(),
            self.openid_client_secret_env.is_some(),
            self.public_url.is_some(),
        ];
        if set.iter().any(|s| *s) && !set.iter().all(|s| *s) {
            return Err((
                "admin.console",
                "give openid_tenant, openid_client_id, openid_client_secret_env and public_url together",
            ));
        }
        if self
            .openid_client_secret_env
            .as_deref()
            .is_some_and(is_configuration_variable)
        {
            return Err((
                "admin.console.openid_client_secret_env",
                "must not start with GRANTOR_: those variables are read as configuration keys",
            ));
        }
        if let Some(url) = &self.public_url {
            let plain = url::Url::parse(url).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
            });
            if plain.is_none() {
                return Err((
                    "admin.console.public_url",
                    "an http(s) origin such as https://admin.example.net, without a path or credentials",
                ));
            }
        }
        Ok(())
    }

    /// The console's redirect URI, when OpenID sign-in is configured.
    pub fn redirect_uri(&self) -> Option<String> {
        self.public_url
            .as_ref()
            .map(|url| format!("{}/console/callback", url.trim_end_matches('/')))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;

    #[test]
    fn token_env_is_not_a_configuration_variable() {
        // A GRANTOR_ variable would also be read as a configuration key, and refused as unknown.
        let err = load_toml("[admin]\ntoken_env = \"GRANTOR_ADMIN_TOKEN\"\n").unwrap_err();
        assert!(err.to_string().contains("admin.token_env"), "{err}");
        assert!(load_toml("[admin]\ntoken_env = \"ADMIN_TOKEN\"\n").is_ok());
    }

    #[test]
    fn the_consoles_openid_sign_in_takes_all_its_keys_or_none() {
        let full = "[admin.console]\nopenid_tenant = \"operators\"\nopenid_client_id = \"c\"\n\
            openid_client_secret_env = \"CONSOLE_SECRET\"\npublic_url = \"https://admin.example.net\"\n";
        let config = load_toml(full).unwrap();
        assert_eq!(
            config.admin.console.redirect_uri().as_deref(),
            Some("https://admin.example.net/console/callback")
        );
        let partial = load_toml("[admin.console]\nopenid_tenant = \"operators\"\n").unwrap_err();
        assert!(partial.to_string().contains("admin.console"), "{partial}");
        let with_path = full.replace("admin.example.net", "admin.example.net/x");
        let refused = load_toml(&with_path).unwrap_err();
        assert!(
            refused.to_string().contains("admin.console.public_url"),
            "{refused}"
        );
        let grantor = full.replace("CONSOLE_SECRET", "GRANTOR_CONSOLE_SECRET");
        assert!(load_toml(&grantor).is_err());
    }
}
