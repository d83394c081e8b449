//! `[oauth]`: the token service's sections (each in its own file) and the grant plugins
//! registered with `[[oauth.custom_grant_type]]`.

use serde::{Deserialize, Serialize};

use super::{
    GrantTypeSettings, JwksEndpointConfig, PasswordGrantConfig, SignInConfig, SigningConfig,
    TokenConfig,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    pub token: TokenConfig,
    pub custom_grant_type: Vec<CustomGrantType>,
    pub grant_type: GrantTypeSettings,
    pub jwks_endpoint: JwksEndpointConfig,
    pub signing: SigningConfig,
    pub password_grant: PasswordGrantConfig,
    pub sign_in: SignInConfig,
}

/// One `[[oauth.custom_grant_type]]` registration: a grant type handled by a plugin library.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomGrantType {
    /// The grant type, e.g. `urn:ietf:params:oauth:grant-type:jwt-bearer`.
    pub name: String,
    /// Library name without platform prefix/suffix (`grant_jwt_bearer` ->
    /// `libgrant_jwt_bearer.so`), or a file name, resolved in `[plugins] directory`.
    pub library: String,
    /// Free-form, passed to the plugin as its JSON configuration.
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;

    #[test]
    fn custom_grant_registrations() {
        let config = load_toml(
            "[[oauth.custom_grant_type]]\nname = \"urn:x\"\nlibrary = \"grant_x\"\n\
             [oauth.custom_grant_type.properties]\nmode = \"echo\"\nnested = { a = 1 }\n",
        )
        .unwrap();
        let grant = &config.oauth.custom_grant_type[0];
        assert_eq!(grant.library, "grant_x");
        assert_eq!(grant.properties["nested"]["a"], 1);
        let err = load_toml("[[oauth.custom_grant_type]]\nname = \"urn:x\"\n").unwrap_err();
        assert!(err.to_string().contains("library"), "{err}");
    }
}
