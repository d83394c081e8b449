//! The resource owner password credentials grant (RFC 6749 4.3; reference 000 step 4): a trusted
//! client signs one of its tenant's users in with their username and password.
//!
//! - The password is checked against the user's argon2id hash (on the blocking thread this runs
//!   on). An unknown user is checked against a decoy hash, and both failures read alike, so
//!   neither the answer nor its timing tells whether a username exists.
//! - Failures are counted per user and per client address (`[oauth.password_grant]`). Past either
//!   limit the grant is refused with 429 and `Retry-After`, without checking the password, until
//!   the window ends. A success clears the user's count.
//! - The user's claims (email, groups, ...) go with the tokens, and into the ID token when the
//!   client asked for `openid`.

use crate::app::App;
use crate::oauth::error::OAuthError;
use crate::oauth::issuance::AuthorizedGrant;
use crate::oauth::scopes::{narrow_scopes, parse_scope};
use crate::oauth::wire::TokenRequest;
use crate::passwords::{decoy_hash, verify_password};
use crate::store::{FamilyOrigin, ServiceProvider};

pub const INVALID_CREDENTIALS: &str = "invalid username or password";

pub fn authorize(
    app: &App,
    request: &TokenRequest,
    client: &ServiceProvider,
    now: i64,
) -> Result<AuthorizedGrant, OAuthError> {
    let required = |name: &str| {
        request
            .param(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter: {name}")))
    };
    let username = required("username")?;
    let password = required("password")?;
    let requested = request.param("scope").map(parse_scope).transpose()?;
    let scopes = narrow_scopes(requested.as_deref(), &client.scopes)?;

    let limits = &app.config.oauth.password_grant;
    let failures = &app.sign_in_failures;
    let user_key = format!("user\n{}\n{username}", client.tenant_domain);
    let address_key = request.remote_address.map(|a| format!("address\n{a}"));
    if let Some(wait) = failures.refused_for(&user_key, limits.max_failures_per_user, now) {
        return Err(OAuthError::too_many_failures(
            format!("too many failed sign-ins for this user; try again in {wait} s"),
            wait,
        ));
    }
    if let Some(wait) = address_key
        .as_deref()
        .and_then(|key| failures.refused_for(key, limits.max_failures_per_address, now))
    {
        return Err(OAuthError::too_many_failures(
            format!("too many failed sign-ins from this address; try again in {wait} s"),
            wait,
        ));
    }

    let user = app.store.find_user(&client.tenant_domain, username)?;
    let stored_hash = user
        .as_ref()
        .map_or(decoy_hash(), |u| u.password_hash.as_str());
    let matches = verify_password(password, stored_hash);
    let Some(user) = user.filter(|_| matches) else {
        failures.record_failure(&user_key, now);
        if let Some(key) = &address_key {
            failures.record_failure(key, now);
        }
        tracing::info!(
            tenant = %client.tenant_domain,
            client_id = %client.client_id,
            username = %username.escape_default(),
            "failed sign-in"
        );
        return Err(OAuthError::invalid_grant(INVALID_CREDENTIALS));
    };
    failures.clear(&user_key);
    let claims = user.claims_object();
    Ok(AuthorizedGrant {
        subject: Some(user.username.clone()),
        scopes,
        issue_refresh_token: client.allows_grant_type(super::REFRESH_TOKEN),
        consumes_refresh_token: None,
        origin: FamilyOrigin::default(),
        claims: (!claims.is_empty()).then(|| serde_json::Value::Object(claims).to_string()),
    })
}
