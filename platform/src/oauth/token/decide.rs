//! Stage 2: what the grant allows. A built-in grant decides here (`oauth/grants/`, one file each);
//! a plugin grant in `plugin_call.rs`. Either way the decision carries as fields everything the
//! later stages need: nothing is inferred from the writes afterwards.

use std::sync::Arc;

use super::authenticate::Authenticated;
use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::grants;
use crate::oauth::wire::TokenRequest;
use crate::store::{Client, FamilyOrigin, ReplayKey};

/// What a grant authorised; the issue stage turns it into tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The resource owner, or `None` when the client acts for itself.
    pub subject: Option<String>,
    pub scopes: Vec<String>,
    pub issue_refresh_token: bool,
    /// The refresh token this grant rotates: consumed in the same transaction that stores its
    /// successor, so neither exists without the other.
    pub rotation: Option<Rotation>,
    /// The identity provider the grant relied on (none for a grant without one), recorded with a
    /// new refresh token family: the family stops when that provider does.
    pub origin: FamilyOrigin,
    /// The assertions the grant accepted, each recorded as used when the request commits.
    pub replay_keys: Vec<ReplayKey>,
    /// The grant's claims (a JSON object), stored with its tokens; a refresh passes them on.
    pub claims: Option<String>,
    /// An OpenID Connect ID token is due (a user signed in with `scope=openid`).
    pub id_token: Option<IdTokenWanted>,
    /// The authorization code this request exchanges (its hash): consumed in the same
    /// transaction that stores the tokens, with the family they start, so that a second use finds
    /// the family to revoke (RFC 6749 4.1.2).
    pub code: Option<String>,
    /// How a plugin shaped the tokens (ABI 1.1's result fields); the default for every other
    /// grant.
    pub shape: TokenShape,
}

/// A token exchange's say over what is issued: all none for every other grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenShape {
    /// The access token's `aud` instead of the client; a JWT grant's one audience.
    pub audience: Option<Vec<String>>,
    /// Unix seconds no token of the grant (nor its family) may outlive.
    pub expires_at_most: Option<i64>,
    /// What to issue; `None` for an access token whose response says nothing more.
    pub issued: Option<IssuedType>,
}

/// What a token exchange asks for (RFC 8693 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedType {
    AccessToken,
    /// A JWT authorization grant for another domain (RFC 7523 2.1; identity chaining).
    JwtGrant,
    /// An identity assertion JWT authorization grant (draft-ietf-oauth-identity-assertion-authz-grant).
    IdJag,
}

impl IssuedType {
    pub fn from_uri(uri: &str) -> Option<IssuedType> {
        use grantor_sdk::wire::token_types;
        match uri {
            token_types::ACCESS_TOKEN => Some(IssuedType::AccessToken),
            token_types::JWT => Some(IssuedType::JwtGrant),
            token_types::ID_JAG => Some(IssuedType::IdJag),
            _ => None,
        }
    }

    pub fn uri(self) -> &'static str {
        use grantor_sdk::wire::token_types;
        match self {
            IssuedType::AccessToken => token_types::ACCESS_TOKEN,
            IssuedType::JwtGrant => token_types::JWT,
            IssuedType::IdJag => token_types::ID_JAG,
        }
    }
}

/// A refresh token being rotated, and the family its successor continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The token being rotated, as the store finds it.
    pub token: crate::token_ids::TokenKey,
    /// `None` for a token issued before families existed: its successor starts one.
    pub family: Option<super::ContinuedFamily>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdTokenWanted {
    pub nonce: Option<String>,
    /// When the user last proved their password, if not in this request (a sign-in session's).
    pub auth_time: Option<i64>,
    /// The sign-in session's public id (OpenID Connect Front-Channel Logout 1.0 `sid`).
    pub sid: Option<String>,
}

/// A grant decided, or a refresh token or authorization code presented after it was spent: reuse,
/// refused, and the family it started revoked by the commit stage (RFC 9700 4.14.2, RFC 6749
/// 4.1.2).
pub enum Verdict<T> {
    Granted(T),
    Reuse {
        client: Arc<Client>,
        family_id: String,
        spent: Spent,
    },
}

/// What was presented again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    RefreshToken,
    AuthorizationCode,
}

impl<T> Verdict<T> {
    pub fn map<U>(
        self,
        f: impl FnOnce(T) -> Result<U, OAuthError>,
    ) -> Result<Verdict<U>, OAuthError> {
        Ok(match self {
            Verdict::Granted(granted) => Verdict::Granted(f(granted)?),
            Verdict::Reuse {
                client,
                family_id,
                spent,
            } => Verdict::Reuse {
                client,
                family_id,
                spent,
            },
        })
    }
}

/// Runs the built-in grant the request names, for a client that authenticated and is allowed it.
pub fn built_in(
    ctx: &OAuthContext,
    on: OnBlockingThread,
    authenticated: &Authenticated,
    request: &TokenRequest,
    now: i64,
) -> Result<Verdict<Decision>, OAuthError> {
    let client = &authenticated.client;
    match authenticated.grant_type.as_str() {
        grants::CLIENT_CREDENTIALS => {
            grants::client_credentials::authorize(request, client).map(Verdict::Granted)
        }
        grants::REFRESH_TOKEN => grants::refresh_token::authorize(&ctx.store, request, client, now),
        grants::PASSWORD => {
            grants::password::authorize(ctx, on, request, client, now).map(Verdict::Granted)
        }
        grants::AUTHORIZATION_CODE => {
            grants::authorization_code::authorize(ctx, request, client, now)
        }
        other => Err(OAuthError::unsupported_grant_type(format!(
            "grant type '{}' is not supported",
            other.escape_default()
        ))),
    }
}
