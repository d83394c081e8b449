//! The client credentials grant (RFC 6749 4.4): the client acts for itself, so there is no subject
//! and no refresh token (4.4.3: "A refresh token SHOULD NOT be included").

use crate::oauth::error::OAuthError;
use crate::oauth::scopes::{narrow_scopes, parse_scope};
use crate::oauth::token::Decision;
use crate::oauth::wire::TokenRequest;
use crate::store::Client;

pub fn authorize(request: &TokenRequest, client: &Client) -> Result<Decision, OAuthError> {
    let requested = request.param("scope").map(parse_scope).transpose()?;
    let scopes = narrow_scopes(requested.as_deref(), &client.scopes)?;
    Ok(Decision {
        subject: None,
        scopes,
        issue_refresh_token: false,
        rotation: None,
        origin: crate::store::FamilyOrigin::default(),
        replay_keys: Vec::new(),
        claims: None,
        id_token: None,
        code: None,
        shape: Default::default(),
    })
}
