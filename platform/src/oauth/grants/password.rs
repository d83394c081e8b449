//! The resource owner password credentials grant (RFC 6749 4.3; reference 000 step 4): a trusted
//! client signs one of its tenant's users in with their username and password. Legacy: RFC 9700
//! 2.4 says it "MUST NOT be used" and OAuth 2.1 leaves it out; it keeps working for the clients
//! that are given it explicitly, and the authorization code flow with PKCE replaces it.
//!
//! The password is checked as on the login page (`password_sign_in`): counted against the same
//! limits first, then checked, with the same answer and work for an unknown user and a wrong
//! password. The user's claims (email, groups, ...) go with the tokens, and into the ID token when
//! the client asked for `openid`.

use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::password_sign_in::{sign_in_with_password, Attempt};
use crate::oauth::scopes::{narrow_scopes, parse_scope};
use crate::oauth::token::{Decision, IdTokenWanted};
use crate::oauth::wire::TokenRequest;
use crate::store::{Client, FamilyOrigin};

pub fn authorize(
    app: &OAuthContext,
    on: OnBlockingThread,
    request: &TokenRequest,
    client: &Client,
    now: i64,
) -> Result<Decision, OAuthError> {
    let required = |name: &str| {
        request
            .param(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter: {name}")))
    };
    let username = required("username")?;
    let password = required("password")?;
    let attempt = Attempt {
        tenant: &client.tenant_domain,
        username,
        password,
        address: request.remote_address,
        client_id: &client.client_id,
        through: "password grant",
    };
    // Absurd lengths are refused before the scope is looked at, as before the login page shared
    // this check.
    if let Some(absurd) = super::super::password_sign_in::absurd(&attempt) {
        return Err(OAuthError::invalid_request(absurd));
    }
    let requested = request.param("scope").map(parse_scope).transpose()?;
    let scopes = narrow_scopes(requested.as_deref(), &client.scopes)?;
    let user = sign_in_with_password(app, on, &attempt, now).map_err(|r| r.into_oauth_error())?;
    let claims = user.claims_object();
    let id_token =
        crate::oauth::id_token::wanted(request.param("scope"), &scopes).then(|| IdTokenWanted {
            nonce: request.param("nonce").map(str::to_owned),
            ..IdTokenWanted::default()
        });
    Ok(Decision {
        subject: Some(user.username.clone()),
        scopes,
        issue_refresh_token: client.allows_grant_type(super::REFRESH_TOKEN),
        rotation: None,
        origin: FamilyOrigin::default(),
        replay_keys: Vec::new(),
        claims: (!claims.is_empty()).then(|| serde_json::Value::Object(claims).to_string()),
        id_token,
        code: None,
        shape: Default::default(),
    })
}
