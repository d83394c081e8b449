//! The token endpoint's logic (RFC 6749 3.2), independent of HTTP: `prepare` (tenant, client
//! authentication, grant type checks, built-in grants) runs on the blocking pool, reading through
//! the store's cache; a plugin grant runs under the plugin host's time and concurrency bounds;
//! issuance decides the tokens; then everything the request writes (replay keys, consumed refresh
//! token, new tokens) commits in one transaction of the group commit, and only then is the
//! response built. A request refused at commit wrote nothing.

use grantor_sdk::{ClientAuthentication, ClientInfo, GrantRequest, GrantResult, RequestMetadata};

use std::sync::Arc;

use super::assertion_client::client_named_by_assertion;
use super::client_auth::{authenticate, AUTHENTICATION_FAILED};
use super::error::OAuthError;
use super::grants::{family_revocation, invalid_refresh_token, is_built_in_grant_type, run_grant};
use super::issuance::{issue_tokens, AuthorizedGrant, IssuedTokens, JwtIssuer};
use super::request_services::RequestServices;
use super::scopes::narrow_scopes;
use super::wire::{TokenRequest, TokenResponse};
use crate::app::{App, SharedApp};
use crate::plugin_host::{GrantPlugin, HostServices, PluginCallError};
use crate::store::{ApplyError, FamilyOrigin, ServiceProvider, WriteOp, WriteRefusal};

/// Parameters that never cross into a plugin.
const CLIENT_CREDENTIAL_PARAMS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

enum Prepared {
    Issued(Arc<ServiceProvider>, IssuedTokens),
    Plugin {
        client: Arc<ServiceProvider>,
        request: Box<GrantRequest>,
        /// A client assertion's replay key, committed with the grant's writes.
        client_replay_key: Option<WriteOp>,
    },
}

/// Handles one token request end to end.
pub async fn process_token_request(
    app: SharedApp,
    request: TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let plugin = request.param("grant_type").and_then(|g| app.plugins.get(g));
    let (client, issued) = match plugin {
        Some(plugin) => run_plugin_grant(&app, &plugin, request).await?,
        None => {
            let worker = app.clone();
            let prepared =
                blocking(move || prepare(&worker, &request, crate::clock::now_unix(), "", false))
                    .await?;
            match prepared {
                Prepared::Issued(client, issued) => {
                    tracing::Span::current().record("client_id", client.client_id.as_str());
                    (client, issued)
                }
                // Only a grant type with a plugin yields a plugin request.
                Prepared::Plugin { .. } => {
                    return Err(OAuthError::internal(
                        "token request",
                        "a grant without a plugin asked for one",
                    ))
                }
            }
        }
    };
    commit(&app, &client, issued).await
}

/// A plugin's grant type: preparation, the plugin call and the issuance of its tokens run together
/// on one blocking thread, under the plugin's slot and deadline. Signing a JWT access token (an RSA
/// signature takes hundreds of microseconds) thus never runs on an async worker, where it would
/// hold up every connection that worker serves.
async fn run_plugin_grant(
    app: &SharedApp,
    plugin: &Arc<GrantPlugin>,
    request: TokenRequest,
) -> Result<(Arc<ServiceProvider>, IssuedTokens), OAuthError> {
    let services = Arc::new(RequestServices::new(app.plugin_services.clone()));
    let worker = app.clone();
    let request_id = request.request_id.clone();
    let id = request_id.clone();
    let span = tracing::Span::current();
    let tenant = request.tenant_domain.clone();
    plugin
        .run_bounded(
            &tenant,
            move |plugin| -> Result<(Arc<ServiceProvider>, IssuedTokens), OAuthError> {
                let now = crate::clock::now_unix();
                let prepared = prepare(&worker, &request, now, &id, true)?;
                let (Prepared::Issued(client, _) | Prepared::Plugin { client, .. }) = &prepared;
                span.record("client_id", client.client_id.as_str());
                let (client, grant_request, client_replay_key) = match prepared {
                    Prepared::Issued(client, issued) => return Ok((client, issued)),
                    Prepared::Plugin {
                        client,
                        request,
                        client_replay_key,
                    } => (client, request, client_replay_key),
                };
                let host: Arc<dyn HostServices> = services.clone();
                let result = plugin
                    .handle_blocking(&grant_request, &*host)
                    .map_err(|e| plugin_failure(&id, e))?;
                // The replay keys first (the client's assertion, then the plugin's): a replay
                // fails before any token is written.
                let mut writes: Vec<WriteOp> = client_replay_key.into_iter().collect();
                writes.append(&mut services.take_staged_writes());
                let origin = family_origin(&worker, &client, &writes)?;
                let mut issued = finish_plugin_grant(
                    &worker,
                    &client,
                    result,
                    origin,
                    crate::clock::now_unix(),
                )?;
                writes.append(&mut issued.writes);
                issued.writes = writes;
                Ok((client, issued))
            },
        )
        .await
        .map_err(|e| plugin_failure(&request_id, e))?
}

/// Commits what the request writes; the response exists for the client only after that.
async fn commit(
    app: &App,
    client: &ServiceProvider,
    issued: IssuedTokens,
) -> Result<TokenResponse, OAuthError> {
    // The plugin's own words for a replay it finds, so both ways of finding one read alike.
    let replayed = issued.writes.iter().find_map(|op| match op {
        WriteOp::RecordReplayKey { jti, issuer, .. } if !is_client_assertion_key(issuer) => {
            Some(grantor_sdk::jwt_bearer::replayed_assertion(jti))
        }
        _ => None,
    });
    let rotated_family = issued.writes.iter().find_map(|op| match op {
        WriteOp::ConsumeRefreshToken { family_id, .. } => family_id.clone(),
        _ => None,
    });
    match app.writer.commit(issued.writes).await {
        // The request's span has the client already (recorded twice, a field shows twice).
        Ok(()) => Ok(issued.response),
        Err(ApplyError::Refused(WriteRefusal::ReplayKeyTaken { issuer }))
            if is_client_assertion_key(&issuer) =>
        {
            Err(OAuthError::invalid_client(super::private_key_jwt::REPLAYED))
        }
        Err(ApplyError::Refused(WriteRefusal::ReplayKeyTaken { .. })) => Err(
            OAuthError::invalid_grant(replayed.unwrap_or("the assertion has already been used")),
        ),
        Err(ApplyError::Refused(WriteRefusal::RefreshTokenSpent)) => {
            // Spent by another request since this one read it: reuse, as if presented late.
            if let Some(family_id) = rotated_family {
                let revoke = family_revocation(client, &family_id, crate::clock::now_unix());
                if let Err(e) = app.writer.commit(vec![revoke]).await {
                    tracing::error!("revoking a refresh token family failed: {e}");
                }
            }
            Err(invalid_refresh_token())
        }
        Err(ApplyError::Refused(WriteRefusal::OwnerRemoved)) => {
            // Removed after this request authenticated it: it is no client any more.
            Err(OAuthError::invalid_client(AUTHENTICATION_FAILED))
        }
        Err(ApplyError::Store(e)) if e.is_unavailable() => Err(e.into()),
        Err(ApplyError::Store(e)) => Err(OAuthError::internal("token storage", e)),
    }
}

fn is_client_assertion_key(issuer: &str) -> bool {
    issuer.starts_with(super::private_key_jwt::REPLAY_ISSUER_PREFIX)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, OAuthError> + Send + 'static,
) -> Result<T, OAuthError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| OAuthError::internal("token request task", e))?
}

/// `request_id` names a plugin call in the logs (and to the plugin).
/// `has_plugin`: the request was given a plugin for its grant type when it arrived (looked up
/// once, so a plugin reload meanwhile cannot change the answer halfway through).
fn prepare(
    app: &App,
    request: &TokenRequest,
    now: i64,
    request_id: &str,
    has_plugin: bool,
) -> Result<Prepared, OAuthError> {
    let tenant = &request.tenant_domain;
    if !app.store.cached_tenant_is_active(tenant)? {
        return Err(OAuthError::unknown_tenant(tenant));
    }
    let grant_type = request
        .param("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("missing parameter: grant_type"))?;
    let (client, authentication, client_replay_key) = match authenticate(app, request, now)? {
        Some(authenticated) => (
            authenticated.client,
            ClientAuthentication::Credentials,
            authenticated.replay_key,
        ),
        None => (
            client_named_by_assertion(
                &app.store,
                tenant,
                grant_type,
                request,
                app.config.oauth.grant_type.jwt.max_assertion_bytes,
            )?,
            ClientAuthentication::Assertion,
            None,
        ),
    };
    if !has_plugin && !is_built_in_grant_type(grant_type) {
        return Err(OAuthError::unsupported_grant_type(format!(
            "grant type '{}' is not supported",
            grant_type.escape_default()
        )));
    }
    if !client.allows_grant_type(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "client is not allowed the grant type '{grant_type}'"
        )));
    }
    if !has_plugin {
        if authentication == ClientAuthentication::Assertion {
            // Only a plugin verifies assertions; a built-in grant needs the client's credentials.
            return Err(OAuthError::invalid_client(
                "client authentication is required",
            ));
        }
        let grant = run_grant(app, grant_type, request, &client, now)?;
        let jwt = jwt_issuer(app, &client, now)?;
        let mut issued = issue_tokens(&app.config.oauth.token, &client, &grant, now, jwt.as_ref())?;
        if grant_type == super::grants::PASSWORD
            && super::id_token::wanted(request.param("scope"), &grant)
        {
            // The access token's signer when it is a JWT too: looked up once.
            let signer = match jwt {
                Some(jwt) => jwt,
                None => tenant_jwt_issuer(app, &client.tenant_domain, now)?,
            };
            issued.response.id_token = Some(super::id_token::sign(
                &signer,
                &client,
                &grant,
                request.param("nonce"),
                now,
                app.config.oauth.token.id_token_lifetime,
            )?);
        }
        issued.writes.splice(0..0, client_replay_key);
        return Ok(Prepared::Issued(client, issued));
    }
    let request = GrantRequest {
        tenant: tenant.clone(),
        grant_type: grant_type.to_owned(),
        client: ClientInfo {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            allowed_scopes: client.scopes.clone(),
            allowed_grant_types: client.grant_types.clone(),
            authentication,
        },
        params: request
            .params
            .iter()
            .filter(|(k, _)| !CLIENT_CREDENTIAL_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        metadata: RequestMetadata {
            request_id: request_id.to_owned(),
            now,
            token_endpoint: app.token_endpoint_url(tenant),
            issuer: app.issuer_url(tenant),
        },
    };
    Ok(Prepared::Plugin {
        client,
        request: Box::new(request),
        client_replay_key,
    })
}

/// Turns a plugin's decision into tokens: its scopes narrowed to the client's, a refresh token
/// only when both the plugin and the client allow it.
fn finish_plugin_grant(
    app: &App,
    client: &ServiceProvider,
    result: GrantResult,
    origin: FamilyOrigin,
    now: i64,
) -> Result<IssuedTokens, OAuthError> {
    let granted = match result {
        GrantResult::Granted(granted) => granted,
        GrantResult::Error(e) => {
            return Err(OAuthError::from_plugin(&e.error, e.error_description))
        }
    };
    let scopes = narrow_scopes(Some(&granted.scopes), &client.scopes)?;
    let grant = AuthorizedGrant {
        subject: Some(granted.subject),
        scopes,
        issue_refresh_token: granted.refresh_token_allowed
            && client.allows_grant_type(super::grants::REFRESH_TOKEN),
        consumes_refresh_token: None,
        origin,
        claims: stored_claims(granted.claims),
    };
    let jwt = jwt_issuer(app, client, now)?;
    issue_tokens(&app.config.oauth.token, client, &grant, now, jwt.as_ref())
}

/// The tenant's current signing key and issuer, for a client that takes JWT access tokens.
fn jwt_issuer(
    app: &App,
    client: &ServiceProvider,
    now: i64,
) -> Result<Option<JwtIssuer>, OAuthError> {
    if client.token_format != crate::store::TOKEN_FORMAT_JWT {
        return Ok(None);
    }
    tenant_jwt_issuer(app, &client.tenant_domain, now).map(Some)
}

/// The tenant's current signing key, under its issuer.
fn tenant_jwt_issuer(app: &App, tenant: &str, now: i64) -> Result<JwtIssuer, OAuthError> {
    let found = app
        .store
        .cached_active_tenant(tenant)?
        .ok_or_else(|| OAuthError::unknown_tenant(tenant))?;
    let signer = super::tenant_keys::TenantKeys::of(app).current_signer(tenant, now)?;
    Ok(JwtIssuer {
        signer,
        issuer: app.issuer_url(tenant),
        tenant: found,
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

/// The identity provider a plugin grant relied on: the issuer whose assertion it recorded as
/// used (every accepted assertion is), as registered now, and whether its service-account
/// binding to this client was the way in.
fn family_origin(
    app: &App,
    client: &ServiceProvider,
    staged: &[WriteOp],
) -> Result<FamilyOrigin, OAuthError> {
    let issuer = staged.iter().find_map(|op| match op {
        WriteOp::RecordReplayKey { issuer, .. } => Some(issuer),
        _ => None,
    });
    let Some(issuer) = issuer else {
        return Ok(FamilyOrigin::default());
    };
    let provider = app
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
            identity_provider: Some((issuer.clone(), i64::MIN)),
            via_service_account: false,
        },
    })
}

fn plugin_failure(request_id: &str, error: PluginCallError) -> OAuthError {
    match error {
        PluginCallError::TimedOut { .. } => {
            tracing::warn!(request_id, "{error}");
            OAuthError::temporarily_unavailable("the grant handler did not answer in time")
        }
        other => OAuthError::internal(&format!("grant plugin (request {request_id})"), other),
    }
}
