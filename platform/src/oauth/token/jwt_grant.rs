//! A JWT authorization grant for another domain, as a token exchange issues it: identity chaining
//! (draft-ietf-oauth-identity-chaining: `requested_token_type` jwt, then the JWT bearer grant of
//! RFC 7523 at the audience) and the identity assertion JWT authorization grant (ID-JAG,
//! draft-ietf-oauth-identity-assertion-authz-grant: `typ: oauth-id-jag+jwt`, a `client_id`).
//!
//! Signed with the tenant's current key under its issuer, which the other domain trusts (as an
//! identity provider with this tenant's JWKS). It is no token of this server: not stored, not
//! refreshable, `token_type: N_A` (RFC 8693 2.2.1).

use grantor_sdk::wire::token_types::ID_JAG_TYP;

use super::decide::{Decision, IssuedType};
use super::issue::{grant_claims, JwtIssuer};
use crate::oauth::error::OAuthError;
use crate::oauth::wire::TokenResponse;
use crate::store::Client;

/// Longest a JWT grant lives, whatever the grant's cap: it is spent at once, by the client that
/// asked for it (RFC 7523 3: "a reasonable expiry").
const MAX_GRANT_LIFETIME_SECONDS: i64 = 300;

/// The grant for `decision` (whose shape names exactly one audience, checked when the plugin's
/// result was read), and the response that carries it.
pub fn sign(
    jwt: &JwtIssuer,
    client: &Client,
    decision: &Decision,
    kind: IssuedType,
    default_lifetime_seconds: u64,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let lifetime = i64::try_from(default_lifetime_seconds)
        .unwrap_or(i64::MAX)
        .min(MAX_GRANT_LIFETIME_SECONDS);
    let expires_at = now
        .saturating_add(lifetime)
        .min(decision.shape.expires_at_most.unwrap_or(i64::MAX));
    let claims = grant_claims(decision);
    // The client at the audience's server, which an ID-JAG names: a plugin may say which (its
    // policy maps clients across domains); by default the same client_id.
    let target_client = claims
        .get("client_id")
        .and_then(serde_json::Value::as_str)
        .filter(|id| !id.is_empty())
        .unwrap_or(&client.client_id)
        .to_owned();
    let scope = decision.scopes.join(" ");
    let mut claims = jwt.token_claims(claims, decision, client, (now, expires_at), &scope)?;
    // Across domains an actor is named with its issuer: at the audience, a bare `sub` would read
    // as one of its own.
    if let Some(act) = claims.get_mut("act") {
        qualify_actors(act, &jwt.issuer);
    }
    if kind == IssuedType::IdJag {
        claims.insert("client_id".into(), serde_json::json!(target_client));
    }
    let typ = match kind {
        IssuedType::IdJag => ID_JAG_TYP,
        _ => "JWT",
    };
    let token = jwt
        .signer
        .sign_jwt(typ, &serde_json::Value::Object(claims))
        .map_err(|e| OAuthError::internal("signing a JWT authorization grant", e))?;
    Ok(TokenResponse {
        access_token: token,
        token_type: "N_A",
        issued_token_type: Some(kind.uri().to_owned()),
        expires_in: u64::try_from(expires_at.saturating_sub(now)).unwrap_or(0),
        scope,
        refresh_token: None,
        id_token: None,
    })
}

/// Gives every actor of an `act` chain without an `iss` this server's issuer.
fn qualify_actors(act: &mut serde_json::Value, issuer: &str) {
    let mut level = Some(act);
    while let Some(serde_json::Value::Object(members)) = level {
        members
            .entry("iss")
            .or_insert_with(|| serde_json::json!(issuer));
        level = members.get_mut("act");
    }
}

#[cfg(test)]
mod tests {
    use super::qualify_actors;
    use serde_json::json;

    #[test]
    fn every_actor_gets_an_issuer_and_keeps_its_own() {
        let mut act = json!({"sub": "app", "act": {"sub": "svc", "iss": "https://idp", "act": {"sub": "first"}}});
        qualify_actors(&mut act, "https://a");
        assert_eq!(
            act,
            json!({"sub": "app", "iss": "https://a", "act": {"sub": "svc", "iss": "https://idp",
                "act": {"sub": "first", "iss": "https://a"}}})
        );
    }
}
