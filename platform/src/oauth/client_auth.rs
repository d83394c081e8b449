//! Client authentication (RFC 6749 2.3.1): HTTP Basic or `client_id`/`client_secret` in the form,
//! or a signed client assertion (`private_key_jwt`, `private_key_jwt.rs`); exactly one of them. The client is looked up in the request's tenant only; a client of another tenant is
//! simply not found. Failures are indistinguishable to the caller (no client enumeration) and take
//! the same work (a hash comparison happens even for an unknown client).

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::error::OAuthError;
use super::private_key_jwt::{authenticate_by_assertion, CLIENT_ASSERTION_TYPE};
use super::wire::TokenRequest;
use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::secrets::{hash_secret, verify_secret};
use crate::store::{Client, ReplayKey, Store};

pub const AUTHENTICATION_FAILED: &str = "client authentication failed";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Post,
}

#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub method: AuthMethod,
}

// Secrets never reach a log through Debug.
impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// A client that authenticated, and what its authentication writes with the request (a client
/// assertion's replay key).
pub struct AuthenticatedClient {
    pub client: Arc<Client>,
    pub replay_key: Option<ReplayKey>,
}

/// Authenticates the request's client by whichever method it used; `Ok(None)` when it presented
/// no client authentication at all.
pub fn authenticate(
    app: &OAuthContext,
    on: OnBlockingThread,
    request: &TokenRequest,
    now: i64,
) -> Result<Option<AuthenticatedClient>, OAuthError> {
    let assertion_type = request.param("client_assertion_type");
    let assertion = request.param("client_assertion");
    if assertion_type.is_none() && assertion.is_none() {
        let Some(credentials) = extract_client_credentials(request)? else {
            return Ok(None);
        };
        let client = authenticate_client(&app.store, &request.tenant_domain, &credentials)?;
        return Ok(Some(AuthenticatedClient {
            client,
            replay_key: None,
        }));
    }
    if request.authorization.is_some() || request.param("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "more than one client authentication method; use one",
        ));
    }
    match (assertion_type, assertion) {
        (Some(CLIENT_ASSERTION_TYPE), Some(assertion)) => {
            let asserted = authenticate_by_assertion(
                app,
                on,
                &request.tenant_domain,
                request.endpoint,
                assertion,
                request.param("client_id"),
                now,
            )?;
            Ok(Some(AuthenticatedClient {
                client: asserted.client,
                replay_key: Some(asserted.replay_key),
            }))
        }
        (Some(CLIENT_ASSERTION_TYPE), None) => Err(OAuthError::invalid_request(
            "missing parameter: client_assertion",
        )),
        (None, _) => Err(OAuthError::invalid_request(
            "missing parameter: client_assertion_type",
        )),
        (Some(other), _) => Err(OAuthError::invalid_client(format!(
            "unsupported client_assertion_type '{}'; use {CLIENT_ASSERTION_TYPE}",
            other.escape_default()
        ))),
    }
}

/// Reads the credentials the client presented, if any.
pub fn extract_client_credentials(
    request: &TokenRequest,
) -> Result<Option<ClientCredentials>, OAuthError> {
    let form_id = request.param("client_id");
    let form_secret = request.param("client_secret");
    match (&request.authorization, form_id, form_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "client credentials given both in the Authorization header and in the body; use one",
        )),
        (Some(header), form_id, None) => {
            let credentials = parse_basic_authorization(header)?;
            if form_id.is_some_and(|id| id != credentials.client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the one in the Authorization header",
                ));
            }
            Ok(Some(credentials))
        }
        (None, Some(id), Some(secret)) => Ok(Some(ClientCredentials {
            client_id: id.to_owned(),
            client_secret: secret.to_owned(),
            method: AuthMethod::Post,
        })),
        (None, Some(_), None) => Err(OAuthError::invalid_client(
            "client_secret is required with client_id",
        )),
        (None, None, Some(_)) => Err(OAuthError::invalid_client(
            "client_secret given without client_id",
        )),
        (None, None, None) => Ok(None),
    }
}

/// Parses `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
fn parse_basic_authorization(header: &str) -> Result<ClientCredentials, OAuthError> {
    let (scheme, encoded) = header.trim().split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported Authorization scheme; use Basic",
        ));
    }
    let malformed = || OAuthError::invalid_client("malformed Basic credentials");
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    if id.is_empty() {
        return Err(malformed());
    }
    Ok(ClientCredentials {
        client_id: id,
        client_secret: secret,
        method: AuthMethod::Basic,
    })
}

/// RFC 6749 2.3.1: id and secret are form-urlencoded before Basic encoding.
fn form_decode(text: &str) -> Option<String> {
    let plus_decoded = text.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_decoded)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Authenticates the presented credentials against the tenant's clients.
pub fn authenticate_client(
    store: &Store,
    tenant_domain: &str,
    credentials: &ClientCredentials,
) -> Result<Arc<Client>, OAuthError> {
    let client = store.cached_client(tenant_domain, &credentials.client_id)?;
    let Some(client) = client else {
        // Spend the same effort as for a known client before failing.
        let _ = verify_secret(&credentials.client_secret, &hash_secret(""));
        return Err(OAuthError::invalid_client(AUTHENTICATION_FAILED));
    };
    // A client with keys authenticates with them only (its stored secret was never shown).
    if !verify_secret(&credentials.client_secret, &client.secret_hash)
        || client.uses_private_key_jwt()
    {
        return Err(OAuthError::invalid_client(AUTHENTICATION_FAILED));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&str>, params: &[(&str, &str)]) -> TokenRequest {
        TokenRequest {
            endpoint: "oauth2/token",
            request_id: "test".into(),
            tenant_domain: "t".into(),
            authorization: authorization.map(str::to_owned),
            remote_address: None,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            param_lists: Default::default(),
        }
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_and_post() {
        let creds = extract_client_credentials(&request(Some(&basic("a%3Ab", "s+1")), &[]))
            .unwrap()
            .unwrap();
        assert_eq!(creds.client_id, "a:b");
        assert_eq!(creds.client_secret, "s 1");
        assert_eq!(creds.method, AuthMethod::Basic);

        let creds = extract_client_credentials(&request(
            None,
            &[("client_id", "id"), ("client_secret", "sec")],
        ))
        .unwrap()
        .unwrap();
        assert_eq!(creds.method, AuthMethod::Post);
        assert!(!format!("{creds:?}").contains("sec"));
    }

    #[test]
    fn refusals() {
        let code = |r: TokenRequest| extract_client_credentials(&r).unwrap_err().code;
        assert_eq!(
            code(request(Some(&basic("a", "b")), &[("client_secret", "b")])),
            "invalid_request"
        );
        assert_eq!(
            code(request(Some(&basic("a", "b")), &[("client_id", "z")])),
            "invalid_request"
        );
        assert_eq!(code(request(Some("Bearer x"), &[])), "invalid_client");
        assert_eq!(code(request(Some("Basic !!!"), &[])), "invalid_client");
        assert_eq!(
            code(request(
                Some(&format!("Basic {}", STANDARD.encode("nocolon"))),
                &[]
            )),
            "invalid_client"
        );
        assert_eq!(code(request(None, &[("client_id", "a")])), "invalid_client");
        assert!(extract_client_credentials(&request(None, &[]))
            .unwrap()
            .is_none());
    }
}
