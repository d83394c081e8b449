//! Grantor's token exchange grant (RFC 8693): a client presents a token (this tenant's access or
//! ID token, or a trusted identity provider's JWT) and gets another for the same subject:
//! narrowed in audience and scope, never outliving the token it came from, with an `act` claim
//! when an actor token delegates (RFC 8693 4.1), or as the subject alone when `may_act` or policy
//! allow impersonation. Or, for identity chaining across domains, a JWT authorization grant that
//! another domain's JWT bearer grant accepts (`requested_token_type` jwt, or id-jag for the
//! identity assertion JWT authorization grant draft).
//!
//! The checks, in order: the request's shape, its targets (`invalid_target` before any token is
//! read), the subject token, the actor token, who acts, the scopes; then the one-time use of a
//! provider's JWTs, so a refused request uses up nothing. Every refusal about a token names its
//! parameter. The host signs and shapes what is issued (ABI 1.1 result fields).

// Refusals are `GrantResult`s, the SDK's answer type, returned once per refused request: its
// size (ABI 1.1's result fields made it grow) costs nothing worth boxing it for.
#![allow(clippy::result_large_err)]

mod actors;
mod presented;
mod settings;
mod targets;

use grantor_sdk::scope::parse_scope;
use grantor_sdk::wire::token_types;
use grantor_sdk::{
    AuthorizedGrant, ClientAuthentication, GrantHandler, GrantRequest, GrantResult, Host,
};
use grantor_trusted_jwt::TrustedJwtValidator;

use presented::{Presented, Role};
use settings::Settings;

pub struct TokenExchangeGrant {
    settings: Settings,
    /// Validates trusted identity providers' JWTs as the JWT bearer grant does.
    validator: TrustedJwtValidator,
}

impl GrantHandler for TokenExchangeGrant {
    fn create(config: serde_json::Value) -> Result<Self, String> {
        let (settings, jwt_settings) = Settings::split(config)?;
        Ok(TokenExchangeGrant {
            settings,
            validator: TrustedJwtValidator::from_config(jwt_settings)?,
        })
    }

    fn handle(&self, host: &Host<'_>, request: GrantRequest) -> GrantResult {
        match self.decide(host, &request) {
            Ok(grant) => GrantResult::Granted(grant),
            Err(refusal) => refusal,
        }
    }
}

grantor_sdk::export_grant_plugin! {
    handler: TokenExchangeGrant,
    name: "grant-token-exchange",
    version: env!("CARGO_PKG_VERSION"),
    // The literal is required here (the macro builds a C string from it); it is
    // grantor_sdk::wire::TOKEN_EXCHANGE_GRANT_TYPE.
    grant_types: ["urn:ietf:params:oauth:grant-type:token-exchange"],
}

pub(crate) fn invalid_grant(description: impl Into<String>) -> GrantResult {
    GrantResult::invalid_grant(description)
}

pub(crate) fn invalid_request(description: impl Into<String>) -> GrantResult {
    GrantResult::error("invalid_request", description)
}

pub(crate) fn server_error(description: impl Into<String>) -> GrantResult {
    GrantResult::error("server_error", description)
}

pub(crate) use grantor_trusted_jwt::shown;

/// Claims of the subject token that describe that token, not its subject: they never pass into
/// the issued one (the host sets its own `iss`, `sub`, `aud`, times, `client_id`, `scope`, `act`).
const TOKEN_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "resource",
    "scope",
    "act",
    "may_act",
    "azp",
    "nonce",
    "auth_time",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "cnf",
    "typ",
];

/// The token types a client may ask for.
const ISSUABLE: &[&str] = &[
    token_types::ACCESS_TOKEN,
    token_types::JWT,
    token_types::ID_JAG,
];

impl TokenExchangeGrant {
    fn decide(
        &self,
        host: &Host<'_>,
        request: &GrantRequest,
    ) -> Result<AuthorizedGrant, GrantResult> {
        let params = &request.params;
        let required = |name: &str| match params.get(name) {
            Some(value) if !value.is_empty() => Ok(value.as_str()),
            _ => Err(invalid_request(format!("missing parameter: {name}"))),
        };
        let subject_token = required("subject_token")?;
        let subject_type = required("subject_token_type")?;
        let actor = match (params.get("actor_token"), params.get("actor_token_type")) {
            (None, None) => None,
            (Some(token), Some(token_type)) => Some((token.as_str(), token_type.as_str())),
            (Some(_), None) => {
                return Err(invalid_request(
                    "actor_token_type is required with actor_token",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid_request(
                    "actor_token_type is given without actor_token",
                ))
            }
        };
        let issued = match params.get("requested_token_type").map(String::as_str) {
            None => token_types::ACCESS_TOKEN,
            Some(t) if ISSUABLE.contains(&t) => t,
            Some(other) => {
                return Err(invalid_request(format!(
                    "requested_token_type '{}' is not issued here; ask for {}",
                    shown(other),
                    ISSUABLE.join(", ")
                )))
            }
        };
        let requested_scopes = match params.get("scope") {
            Some(text) => {
                Some(parse_scope(text).map_err(|e| GrantResult::error("invalid_scope", e))?)
            }
            None => None,
        };
        let client_id = &request.client.client_id;
        let policy = self.settings.policy(&request.tenant, &request.client.name);

        // Targets first: a client asking for one it may not address learns nothing of its tokens.
        let targets = targets::requested(request, &policy)?;
        let grant_for_another_domain = issued != token_types::ACCESS_TOKEN;
        // A JWT grant is for one other domain, named by `audience` (its issuer or token
        // endpoint); `resource` values travel in it as its `resource` claim (the ID-JAG draft).
        let domain = match targets.audiences.as_slice() {
            _ if !grant_for_another_domain => None,
            [one] if one != client_id => Some(one.clone()),
            [_] => {
                return Err(invalid_target(
                    "a JWT authorization grant is for another domain, not for the client itself",
                ))
            }
            _ => {
                return Err(invalid_request(
                    "a JWT authorization grant is for one other domain: give exactly one audience (its issuer or token endpoint)",
                ))
            }
        };

        let subject = presented::read(
            host,
            &self.validator,
            request,
            Role::Subject,
            subject_token,
            subject_type,
            params.get("scope").map(String::as_str),
        )?;
        let actor = match actor {
            Some((token, token_type)) => Some(presented::read(
                host,
                &self.validator,
                request,
                Role::Actor,
                token,
                token_type,
                None,
            )?),
            None => None,
        };
        if subject.own_id_token && !grant_for_another_domain {
            // Its user consented to scopes for the client, which an ID token does not carry: here
            // its access token is the token to exchange.
            return Err(Role::Subject.named(invalid_request(
                "an ID token of this server is exchanged only for a grant to another domain (requested_token_type jwt or id-jag); exchange its access token for tokens here",
            )));
        }
        let act = actors::act_claim(&subject, actor.as_ref(), client_id, &policy)?;
        let scopes = granted_scopes(requested_scopes, &subject, request)?;

        // Last: a request refused for anything above uses up no provider's JWT.
        for party in [
            Some((&subject, Role::Subject)),
            actor.as_ref().map(|a| (a, Role::Actor)),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(validated) = &party.0.validated {
                self.validator
                    .record_use(host, validated)
                    .map_err(|refusal| party.1.named(refusal))?;
            }
        }

        let mut claims = subject.claims.clone();
        claims.retain(|name, _| !TOKEN_CLAIMS.contains(&name.as_str()));
        let audience = match &domain {
            Some(domain) => {
                if !targets.resources.is_empty() {
                    claims.insert("resource".into(), one_or_many(&targets.resources));
                }
                if issued == token_types::ID_JAG {
                    // The client at the audience's authorization server, when it has another
                    // id there.
                    if let Some(there) = policy.id_jag_client_ids.get(domain) {
                        claims.insert("client_id".into(), there.clone().into());
                    }
                }
                vec![domain.clone()]
            }
            None => targets.all(),
        };
        let expires_at_most = actor
            .as_ref()
            .map_or(subject.expires_at, |a| a.expires_at.min(subject.expires_at));
        Ok(AuthorizedGrant {
            subject: subject.subject.clone(),
            scopes,
            claims,
            refresh_token_allowed: self.settings.issue_refresh_token
                && request.client.authentication == ClientAuthentication::Credentials,
            identity_provider: subject.external.then(|| subject.issuer.clone()),
            audience: (!audience.is_empty()).then_some(audience),
            issued_token_type: Some(issued.to_owned()),
            expires_at_most: Some(expires_at_most),
            act,
        })
    }
}

/// One value as a string, several as an array (RFC 7519 4.1.3, RFC 8707 2).
fn one_or_many(values: &[String]) -> serde_json::Value {
    match values {
        [one] => serde_json::Value::String(one.clone()),
        many => many.to_vec().into(),
    }
}

pub(crate) fn invalid_target(description: impl Into<String>) -> GrantResult {
    GrantResult::error("invalid_target", description)
}

/// The scopes: never broader than an access token's; for an ID token or a provider's JWT, as the
/// JWT bearer grant grants them (the request's, within the provider's scope claim, the
/// transformer's choice, the client's and the provider's allowed scopes).
fn granted_scopes(
    requested: Option<Vec<String>>,
    subject: &Presented,
    request: &GrantRequest,
) -> Result<Vec<String>, GrantResult> {
    if let Some(validated) = &subject.validated {
        // The request's scopes are in validated.scopes already (within the provider's scope
        // claim, or as its transformer chose).
        return grantor_trusted_jwt::scopes::grant(
            validated.scopes.as_deref(),
            &request.client.allowed_scopes,
            validated.provider.allowed_scopes.as_deref(),
        );
    }
    let Some(carried) = &subject.scopes else {
        // An ID token of this tenant carries none: the request's, which the host narrows to the
        // client's.
        return Ok(requested.unwrap_or_default());
    };
    match requested {
        None => Ok(carried.clone()),
        Some(requested) => match requested.iter().find(|s| !carried.contains(s)) {
            Some(broader) => Err(GrantResult::error(
                "invalid_scope",
                format!(
                    "scope '{}' is broader than the subject token's ({})",
                    shown(broader),
                    carried.join(" ")
                ),
            )),
            None => Ok(requested),
        },
    }
}
