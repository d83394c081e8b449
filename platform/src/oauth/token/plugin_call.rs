//! Stage 2 for a plugin's grant type: the request as the plugin sees it (no client credentials
//! cross), the call itself with the host services of this one call, and the plugin's answer as a
//! decision. A replay key the plugin records is staged, not written, and joins the request's one
//! transaction with its tokens, so an accepted assertion never exists without its token and the
//! database still decides, at commit, which of two racing uses wins.

use std::sync::{Arc, Mutex};

use grantor_jose::MAX_JTI_LEN;
use grantor_sdk::{
    AuthorizedGrant, ClaimsTransformRequest, ClientInfo, GrantRequest, GrantResult, RequestMetadata,
};

use super::authenticate::Authenticated;
use super::decide::{Decision, IssuedType, TokenShape, Verdict};
use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::scopes::narrow_scopes;
use crate::oauth::wire::TokenRequest;
use crate::plugin_host::{HostServices, ServiceReply};
use crate::store::{Client, FamilyOrigin, ReplayKey, ReplayKind};

/// Parameters that never cross into a plugin.
const CLIENT_CREDENTIAL_PARAMS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

/// Calls `plugin` (on its own thread, under its deadline: the caller's) for an authenticated
/// request, and turns its answer into a decision.
pub fn decide(
    ctx: &OAuthContext,
    on: OnBlockingThread,
    plugin: &crate::plugin_host::GrantPlugin,
    authenticated: &Authenticated,
    request: &TokenRequest,
    now: i64,
) -> Result<Verdict<Decision>, OAuthError> {
    let client = &authenticated.client;
    let grant_request = plugin_request(ctx, authenticated, request, now);
    let services = CallServices::new(ctx.trusted_issuers.clone(), Some(ctx));
    let result = plugin
        .handle_blocking(on, &grant_request, &services)
        .map_err(|e| super::plugin_failure(&request.request_id, e))?;
    let granted = match result {
        GrantResult::Granted(granted) => granted,
        GrantResult::Error(e) => {
            return Err(OAuthError::from_plugin(&e.error, e.error_description))
        }
    };
    let (replay_keys, consulted) = services.finish();
    let origin = match granted.identity_provider.as_deref() {
        Some(issuer) => {
            if !consulted.iter().any(|c| c == issuer) {
                tracing::warn!(
                    request_id = %request.request_id,
                    issuer = %issuer.escape_default(),
                    "a grant plugin named an identity provider it never asked the host about"
                );
            }
            family_origin(ctx, client, issuer)?
        }
        None => FamilyOrigin::default(),
    };
    let scopes = narrow_scopes(Some(&granted.scopes), &client.scopes)?;
    let shape = token_shape(&granted, now)?;
    // A refresh could not keep a narrowed audience, and a JWT grant is no token of this server.
    let refreshable =
        shape.audience.is_none() && matches!(shape.issued, None | Some(IssuedType::AccessToken));
    let mut claims = granted.claims;
    // Only the result's fields say who acts and for whom the token is: never claims a plugin
    // passed on (an assertion's `aud` named this server, not the token's audience). Stored with
    // the tokens, they are what introspection and a later exchange see of an opaque token.
    claims.remove("act");
    claims.remove("aud");
    if let Some(act) = granted.act {
        claims.insert("act".into(), act);
    }
    if let Some(audience) = &shape.audience {
        // As the JWT access token carries it.
        claims.insert("aud".into(), super::issue::aud_value(audience));
    }
    Ok(Verdict::Granted(Decision {
        subject: Some(granted.subject),
        scopes,
        issue_refresh_token: granted.refresh_token_allowed
            && refreshable
            && client.allows_grant_type(crate::oauth::grants::REFRESH_TOKEN),
        rotation: None,
        origin,
        replay_keys,
        claims: stored_claims(claims),
        id_token: None,
        code: None,
        shape,
    }))
}

/// ABI 1.1's result fields as the issue stage takes them (their form was checked when the result
/// was read, `plugin_host::result_fields`).
fn token_shape(granted: &AuthorizedGrant, now: i64) -> Result<TokenShape, OAuthError> {
    if granted.expires_at_most.is_some_and(|cap| cap <= now) {
        return Err(OAuthError::invalid_grant(
            "the grant ended before a token could be issued for it (the token it relies on has expired)",
        ));
    }
    let issued = match granted.issued_token_type.as_deref() {
        None => None,
        Some(uri) => Some(IssuedType::from_uri(uri).ok_or_else(|| {
            OAuthError::internal("grant plugin result", "an unchecked issued_token_type")
        })?),
    };
    Ok(TokenShape {
        audience: granted.audience.clone(),
        expires_at_most: granted.expires_at_most,
        issued,
    })
}

/// The request as the plugin sees it: the client as the host knows it, the parameters without
/// the client's credentials.
fn plugin_request(
    ctx: &OAuthContext,
    authenticated: &Authenticated,
    request: &TokenRequest,
    now: i64,
) -> GrantRequest {
    let client = &authenticated.client;
    let tenant = &request.tenant_domain;
    GrantRequest {
        tenant: tenant.clone(),
        grant_type: authenticated.grant_type.clone(),
        client: ClientInfo {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            allowed_scopes: client.scopes.clone(),
            allowed_grant_types: client.grant_types.clone(),
            authentication: authenticated.method,
            audiences: client.audiences.clone(),
        },
        params: request
            .params
            .iter()
            .filter(|(k, _)| !CLIENT_CREDENTIAL_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        metadata: RequestMetadata {
            request_id: request.request_id.clone(),
            now,
            token_endpoint: ctx.urls.token_endpoint_url(tenant),
            issuer: ctx.urls.issuer_url(tenant),
        },
        param_lists: request
            .param_lists
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// The identity provider a plugin grant relied on, as registered now, and whether its
/// service-account binding to this client was the way in.
fn family_origin(
    ctx: &OAuthContext,
    client: &Client,
    issuer: &str,
) -> Result<FamilyOrigin, OAuthError> {
    let provider = ctx
        .store
        .cached_identity_provider(&client.tenant_domain, issuer)?;
    Ok(match provider {
        Some(provider) => FamilyOrigin {
            identity_provider: Some((provider.issuer.clone(), provider.created_at)),
            via_service_account: provider.service_account_client.as_deref()
                == Some(client.client_id.as_str()),
        },
        // Removed since the plugin read it: the family starts cut off from it.
        None => FamilyOrigin {
            identity_provider: Some((issuer.to_owned(), i64::MIN)),
            via_service_account: false,
        },
    })
}

/// Largest claims object kept with a token, as JSON.
const MAX_STORED_CLAIMS_BYTES: usize = 64 * 1024;

/// Claims that describe the assertion a plugin accepted (an ID token's nonce, its client, when
/// the user signed in there, its session, hashes of other tokens, a key it was bound to), not the
/// user: they never pass into the tokens issued for it.
const ASSERTION_CLAIMS: &[&str] = &[
    "nonce",
    "azp",
    "auth_time",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "cnf",
];

/// A plugin's claims as stored with its tokens, without those that describe its assertion; none
/// when there are none, or too many to keep (said in the log: the tokens are issued without them).
fn stored_claims(mut claims: serde_json::Map<String, serde_json::Value>) -> Option<String> {
    claims.retain(|name, _| !ASSERTION_CLAIMS.contains(&name.as_str()));
    if claims.is_empty() {
        return None;
    }
    let json = serde_json::to_string(&claims).ok()?;
    if json.len() > MAX_STORED_CLAIMS_BYTES {
        tracing::warn!(
            bytes = json.len(),
            "a grant's claims exceed {MAX_STORED_CLAIMS_BYTES} bytes; tokens are issued without them"
        );
        return None;
    }
    Some(json)
}

/// The host services of one plugin call: reads go to the shared services (and the issuers asked
/// about are noted), replay keys are staged.
struct CallServices<'a> {
    shared: Arc<dyn HostServices>,
    /// For the tenant's own tokens (`validate_token`); none in unit tests.
    own_tokens: Option<&'a OAuthContext>,
    staged: Mutex<Staged>,
}

#[derive(Default)]
struct Staged {
    replay_keys: Vec<ReplayKey>,
    /// The issuers whose settings or keys the plugin asked for.
    consulted: Vec<String>,
}

impl<'a> CallServices<'a> {
    fn new(
        shared: Arc<dyn HostServices>,
        own_tokens: Option<&'a OAuthContext>,
    ) -> CallServices<'a> {
        CallServices {
            shared,
            own_tokens,
            staged: Mutex::new(Staged::default()),
        }
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, Staged> {
        self.staged.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The replay keys the plugin recorded, in order; taken once, after the call.
    #[cfg(test)]
    fn take_replay_keys(&self) -> Vec<ReplayKey> {
        std::mem::take(&mut self.staged().replay_keys)
    }

    /// What the call leaves: its replay keys, and the issuers it asked about.
    fn finish(self) -> (Vec<ReplayKey>, Vec<String>) {
        let staged = self.staged.into_inner().unwrap_or_else(|e| e.into_inner());
        (staged.replay_keys, staged.consulted)
    }

    fn consulted(&self, issuer: &str) {
        let mut staged = self.staged();
        if !staged.consulted.iter().any(|c| c == issuer) {
            staged.consulted.push(issuer.to_owned());
        }
    }
}

impl HostServices for CallServices<'_> {
    fn find_identity_provider(&self, tenant: &str, issuer: &str) -> ServiceReply {
        self.consulted(issuer);
        self.shared.find_identity_provider(tenant, issuer)
    }

    fn verification_keys(
        &self,
        on: OnBlockingThread,
        tenant: &str,
        issuer: &str,
        kid: Option<&str>,
    ) -> ServiceReply {
        self.consulted(issuer);
        self.shared.verification_keys(on, tenant, issuer, kid)
    }

    /// Staged for the request's commit. A second use of one id within this call is a replay
    /// already; any other replay is found by the database when the request commits.
    fn record_jti(&self, tenant: &str, issuer: &str, jti: &str, expires_at: i64) -> ServiceReply {
        if jti.len() > MAX_JTI_LEN {
            return ServiceReply::Failed(format!("jti longer than {MAX_JTI_LEN} bytes"));
        }
        let key = ReplayKey {
            tenant_domain: tenant.to_owned(),
            kind: ReplayKind::GrantAssertion {
                issuer: issuer.to_owned(),
            },
            jti: jti.to_owned(),
            expires_at,
        };
        let mut staged = self.staged();
        let same_key = |k: &ReplayKey| {
            k.tenant_domain == key.tenant_domain && k.kind == key.kind && k.jti == key.jti
        };
        if staged.replay_keys.iter().any(same_key) {
            return ServiceReply::Conflict;
        }
        staged.replay_keys.push(key);
        ServiceReply::Ok(serde_json::Value::Null)
    }

    fn transform_claims(
        &self,
        tenant: &str,
        client: &ClientInfo,
        request: ClaimsTransformRequest,
    ) -> ServiceReply {
        self.shared.transform_claims(tenant, client, request)
    }

    fn validate_token(&self, tenant: &str, token: &str) -> ServiceReply {
        let Some(ctx) = self.own_tokens else {
            return ServiceReply::NotConfigured;
        };
        let now = crate::clock::now_unix();
        match crate::oauth::token_validation::validate_own_token(ctx, tenant, token, now) {
            Ok(validated) => match serde_json::to_value(validated) {
                Ok(value) => ServiceReply::Ok(value),
                Err(e) => ServiceReply::Failed(e.to_string()),
            },
            Err(e) => {
                tracing::warn!(
                    tenant,
                    "validating a token for a grant plugin failed: {e:?}"
                );
                ServiceReply::Failed("the token could not be validated".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin_host::NoServices;

    #[test]
    fn replay_keys_are_staged_not_written_and_a_repeat_in_one_call_conflicts() {
        let services = CallServices::new(Arc::new(NoServices), None);
        assert_eq!(
            services.record_jti("t", "iss", "a", 10),
            ServiceReply::Ok(serde_json::Value::Null)
        );
        assert_eq!(
            services.record_jti("t", "iss", "a", 10),
            ServiceReply::Conflict
        );
        assert!(matches!(
            services.record_jti("t", "iss", &"x".repeat(MAX_JTI_LEN + 1), 10),
            ServiceReply::Failed(_)
        ));
        let staged = services.take_replay_keys();
        assert_eq!(staged.len(), 1);
        assert!(matches!(&staged[0], ReplayKey { jti, expires_at: 10, .. } if jti == "a"));
        assert!(services.take_replay_keys().is_empty());
    }
}
