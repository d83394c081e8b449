//! The JSON documents that cross the plugin boundary. Field names are part of the ABI: add fields,
//! never rename or remove them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One token request as a plugin sees it. Client secrets never cross the boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRequest {
    pub tenant: String,
    pub grant_type: String,
    pub client: ClientInfo,
    /// The form parameters, minus client credentials. A parameter that may repeat (see
    /// `param_lists`) is here only when the request gives it once.
    pub params: BTreeMap<String, String>,
    pub metadata: RequestMetadata,
    /// ABI 1.1: every value, in order, of the parameters that may repeat (`audience`,
    /// `resource`: RFC 8693 2.1, RFC 8707 2), whenever the request gives them. Absent from a 1.0
    /// host's requests (read as empty).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub param_lists: BTreeMap<String, Vec<String>>,
}

impl GrantRequest {
    /// Every value of a parameter that may repeat (`audience`, `resource`), in order; also from a
    /// 1.0 host, which passed one value in `params`.
    pub fn param_list(&self, name: &str) -> Vec<String> {
        match self.param_lists.get(name) {
            Some(values) => values.clone(),
            None => self.params.get(name).cloned().into_iter().collect(),
        }
    }
}

/// The authenticated client (service provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub client_id: String,
    pub name: String,
    pub allowed_scopes: Vec<String>,
    pub allowed_grant_types: Vec<String>,
    /// How the host knows the client.
    #[serde(default)]
    pub authentication: ClientAuthentication,
    /// ABI 1.1: the other servers the client's users' identity may be presented at (`grantor
    /// client add --audience`): the extra audiences of its ID tokens, and the targets a token
    /// exchange may address for it. Empty from a 1.0 host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// How the client of a request was established.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthentication {
    /// Its credentials (HTTP Basic or the form), checked by the host.
    #[default]
    Credentials,
    /// None were given: the host took the client bound to the issuer of the request's
    /// `assertion` (a service-account style identity provider), unverified. The plugin must
    /// verify that assertion with that provider's keys and check the binding, or refuse with
    /// `invalid_client`.
    Assertion,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMetadata {
    /// Correlates the plugin's log lines with the host's.
    pub request_id: String,
    /// Unix seconds; plugins validate time against this, not their own clock.
    pub now: i64,
    /// The tenant's token endpoint URL (an audience value that names this server).
    pub token_endpoint: String,
    /// The tenant's issuer identifier (another audience value that names this server).
    #[serde(default)]
    pub issuer: String,
}

/// What a plugin decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GrantResult {
    Granted(AuthorizedGrant),
    Error(GrantError),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorizedGrant {
    pub subject: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Whether a refresh token may be issued (the host still requires the client to allow it).
    #[serde(default)]
    pub refresh_token_allowed: bool,
    /// The issuer of the identity provider whose assertion the grant relied on, if any: the
    /// refresh tokens of the grant stop working when that provider is removed, disabled or
    /// registered anew (or no longer bound to the client, when its service-account binding was
    /// the way in). A grant without one is bound to no provider. Absent from plugins built before
    /// it existed, which read as none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
    /// ABI 1.1: the issued token's audience (`aud`), instead of the client. A JWT access token
    /// carries it; a JWT authorization grant (`issued_token_type` jwt or id-jag) needs exactly
    /// one. An `aud` in `claims` never reaches a token: only this field sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Vec<String>>,
    /// ABI 1.1: what to issue (RFC 8693 3): [`token_types::ACCESS_TOKEN`] (the default, as the
    /// client's token format says), [`token_types::JWT`] (a JWT authorization grant for another
    /// domain, RFC 7523 2.1) or [`token_types::ID_JAG`] (an identity assertion JWT authorization
    /// grant). When set, the response says it as `issued_token_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
    /// ABI 1.1: unix seconds the issued token (and any refresh token) may not outlive, such as
    /// the expiry of the token it was exchanged for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_most: Option<i64>,
    /// ABI 1.1: the issued token's `act` claim (RFC 8693 4.1): `{"sub": ..., "iss"?: ...,
    /// "act"?: {...}}`, nested for a chain of actors. An `act` in `claims` never reaches a
    /// token: only this field sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

/// The token exchange grant type (RFC 8693 2.1).
pub const TOKEN_EXCHANGE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Token type identifiers (RFC 8693 3, and the ID-JAG draft).
pub mod token_types {
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
    pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
    pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
    /// draft-ietf-oauth-identity-assertion-authz-grant.
    pub const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
    /// An ID-JAG's JOSE `typ` (its media type, without `application/`): the host signs it, and
    /// the grants that read one bind it to its `client_id`.
    pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";
}

/// `host_validate_token`'s answer (ABI 1.1): a token of the request's tenant, as introspection
/// sees it. Everything but `active` is absent when it is false.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidatedToken {
    /// Issued by this tenant, unexpired and not revoked.
    pub active: bool,
    /// `"access_token"`, `"refresh_token"` or `"id_token"`.
    #[serde(default)]
    pub token_type: String,
    /// `"jwt"` or `"opaque"`.
    #[serde(default)]
    pub format: String,
    /// The client it was issued to.
    #[serde(default)]
    pub client_id: String,
    /// The resource owner, as the grant named them (`None`: the client acting for itself).
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub issued_at: i64,
    #[serde(default)]
    pub expires_at: i64,
    /// Its audience (`aud`).
    #[serde(default)]
    pub audience: Vec<String>,
    /// A JWT's claims; an opaque token's claims as stored with it (from its grant).
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// An OAuth error for this request (RFC 6749 5.2 code and description).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantError {
    pub error: String,
    pub error_description: String,
}

impl GrantResult {
    pub fn error(code: &str, description: impl Into<String>) -> GrantResult {
        GrantResult::Error(GrantError {
            error: code.to_owned(),
            error_description: description.into(),
        })
    }

    pub fn invalid_grant(description: impl Into<String>) -> GrantResult {
        Self::error("invalid_grant", description)
    }
}

/// `host_find_identity_provider`'s answer: a trusted token issuer of the request's tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProviderInfo {
    pub name: String,
    pub issuer: String,
    /// Audience values that name this server for this issuer.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub enabled: bool,
    /// Leeway for time claims, in seconds.
    pub clock_skew_seconds: i64,
    /// `None`: any subject.
    #[serde(default)]
    pub allowed_subjects: Option<Vec<String>>,
    /// `None`: no limit beyond the client's.
    #[serde(default)]
    pub allowed_scopes: Option<Vec<String>>,
    /// Where the keys come from: `"certificates"` or `"jwks_uri"`.
    pub key_source: String,
    /// Declarative claim renames, remote name -> local name, applied to the verified claims
    /// before anything else reads them.
    #[serde(default)]
    pub claim_mappings: std::collections::BTreeMap<String, String>,
    /// Whether a claim transformer is attached (`host_transform_claims` runs it).
    #[serde(default)]
    pub claim_transformer: bool,
    /// Service-account style: the `client_id` this issuer stands for. Its assertions are for
    /// that client only (and may arrive without client authentication); one without `sub` is for
    /// the client itself.
    #[serde(default)]
    pub service_account_client: Option<String>,
    /// A claim carrying the requested scopes (space-separated or a list of strings).
    #[serde(default)]
    pub scope_claim: Option<String>,
    /// The provider's keys as JWKs when they are certificates, which the host holds ready: a
    /// plugin may verify with them and skip `host_get_verification_keys`. Absent for a JWKS
    /// endpoint (the host fetches it and refetches on an unknown `kid`) and from hosts older
    /// than this field (added in ABI 1.x; plugins must then ask for the keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_keys: Option<Vec<serde_json::Value>>,
    /// Certificates of the provider past their `notAfter`, described for an error message
    /// ("certificate 'CN=idp' (SHA-256 ...) expired on ..."). The host leaves them out of
    /// `certificate_keys` and of `host_get_verification_keys`: they verify nothing. Added in
    /// ABI 1.x; empty from older hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired_certificates: Vec<String>,
}

/// The keys to try for a JWS whose header names `kid`: the one key with that `kid` when there is
/// one, else all of them (a certificate is trusted whatever `kid` the issuer gives it). One rule
/// for the host's `host_get_verification_keys` and for plugins reading `certificate_keys`.
/// The keys are JWKs, owned or shared (`Arc<Value>`).
pub fn keys_for_kid<K>(keys: Vec<K>, kid: Option<&str>) -> Vec<K>
where
    K: std::borrow::Borrow<serde_json::Value> + Clone,
{
    let Some(kid) = kid else {
        return keys;
    };
    let named: Vec<K> = keys
        .iter()
        .filter(|k| k.borrow()["kid"].as_str() == Some(kid))
        .cloned()
        .collect();
    if named.is_empty() {
        keys
    } else {
        named
    }
}

/// `host_transform_claims`' request: the verified, mapped claims of an assertion of `issuer`.
/// (The host knows the tenant and the client of the call.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimsTransformRequest {
    pub issuer: String,
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The request's scopes, for the transformer to see; empty when it names none.
    #[serde(default)]
    pub requested_scopes: Vec<String>,
}

/// `host_transform_claims`' answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformedClaims {
    /// The claims to use from now on (the validated ones unchanged).
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Set when the transformer chose the subject (`claims.sub` holds it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Set when the transformer chose the scopes: they replace the requested ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Set when the transformer refused the assertion: the `invalid_grant` description. The
    /// other fields are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

/// `host_get_verification_keys`' answer: public keys as JWKs (RFC 7517).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationKeys {
    pub keys: Vec<serde_json::Value>,
    /// Set when the keys could not be obtained (a JWKS endpoint down, slow or broken, and no
    /// recent key set cached); says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

#[cfg(test)]
mod keys_for_kid_tests {
    use super::keys_for_kid;
    use serde_json::json;

    #[test]
    fn a_kid_that_names_a_key_selects_it_else_every_key_is_tried() {
        let keys = vec![json!({"kid": "a", "n": 1}), json!({"kid": "b", "n": 2})];
        assert_eq!(keys_for_kid(keys.clone(), Some("b")), vec![keys[1].clone()]);
        assert_eq!(keys_for_kid(keys.clone(), Some("other")), keys);
        assert_eq!(keys_for_kid(keys.clone(), None), keys);
    }
}
