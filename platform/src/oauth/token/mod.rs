//! The token endpoint's logic (RFC 6749 3.2), independent of HTTP, as four stages whose types
//! carry everything the next one needs:
//!
//! ```text
//! authenticate (authenticate.rs) -> Authenticated   tenant, client, grant type, the client's replay key
//! decide (decide.rs)              -> Verdict         built-in grant or plugin: subject, scopes, claims,
//!                                                    the identity provider used, replay keys, a rotation
//!                                                    (or a refresh token presented again)
//! issue (issue.rs)                -> Issued          tokens decided and the writes that store them
//! commit (commit.rs)              -> TokenResponse   one transaction of the group commit; reuse and
//!                                                    races turn into refusals (and a revocation) here
//! ```
//!
//! The first three stages block (the store's cache misses, password hashing, signing, a plugin) and
//! run on one thread of the token work pool (`blocking/pool.rs`), a plugin grant's under the
//! plugin's own slot and deadline; the password grant's on the runtime's blocking pool (its hash
//! takes tens of milliseconds). On the pool, a grant's writes are submitted to the group commit
//! from the same thread, and the commit answers the waiting request: it is woken once, not once
//! for the decision and again for the commit (a third fewer context switches per exchange,
//! BENCHMARKS.md). A request refused at commit wrote nothing, and the response exists for the
//! client only after the commit.

mod authenticate;
mod commit;
mod decide;
mod issue;
mod jwt_grant;
mod plugin_call;

pub use decide::{Decision, IdTokenWanted, IssuedType, Rotation, Spent, TokenShape, Verdict};
pub use issue::{issue_tokens, ContinuedFamily, IssuedTokens, JwtIssuer, JWT_ACCESS_TOKEN_CLAIMS};

use std::sync::Arc;

use super::context::OAuthContext;
use super::error::OAuthError;
use super::wire::{TokenRequest, TokenResponse};
use crate::plugin_host::{GrantPlugin, PluginCallError};
use authenticate::{authenticate, Handler};

/// Handles one token request end to end.
pub async fn process_token_request(
    ctx: Arc<OAuthContext>,
    request: TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    // Looked up once: a plugin reload meanwhile cannot change the answer halfway through.
    let plugin = request.param("grant_type").and_then(|g| ctx.plugins.get(g));
    if let Some(plugin) = plugin {
        let submitted = with_plugin(&ctx, plugin, request).await?;
        return commit::finish(&ctx, submitted).await;
    }
    // A password grant checks an argon2 hash, tens of milliseconds of a core: on the runtime's
    // blocking pool, not in the token work pool's queue, where every short request behind it
    // would wait for it.
    let hashes_a_password = request.param("grant_type") == Some(crate::oauth::grants::PASSWORD);
    let worker = ctx.clone();
    let span = tracing::Span::current();
    let work = move |on| {
        let now = crate::clock::now_unix();
        let authenticated = authenticate(&worker, on, &request, Handler::BuiltIn, now)?;
        span.record("client_id", authenticated.client.client_id.as_str());
        let decision = decide::built_in(&worker, on, &authenticated, &request, now)?;
        issue::issue(&worker, authenticated, decision, now)
    };
    let failed = |e: &dyn std::fmt::Display| OAuthError::internal("token request task", e);
    if hashes_a_password {
        let verdict = crate::blocking::OnBlockingThread::spawn(work)
            .await
            .map_err(|e| failed(&e))??;
        return commit::commit(&ctx, verdict).await;
    }
    let writer = ctx.clone();
    let submitted = ctx
        .token_work
        .run_answering(move |on, answer| commit::submit(&writer, work(on), answer))
        .await
        .map_err(|e| failed(&e))??;
    commit::finish(&ctx, submitted).await
}

/// A plugin's grant type: the first three stages run together on one blocking thread, under the
/// plugin's slot and deadline, and a grant's writes are submitted from there. Signing a JWT access
/// token (an RSA signature takes hundreds of microseconds) thus never runs on an async worker,
/// where it would hold up every connection that worker serves.
async fn with_plugin(
    ctx: &Arc<OAuthContext>,
    plugin: Arc<GrantPlugin>,
    request: TokenRequest,
) -> Result<commit::Submitted, OAuthError> {
    let worker = ctx.clone();
    let request_id = request.request_id.clone();
    let tenant = request.tenant_domain.clone();
    let span = tracing::Span::current();
    plugin
        .run_bounded(&ctx.token_work, &tenant, move |plugin, on, answer| {
            let decided = (|| {
                let now = crate::clock::now_unix();
                let authenticated = authenticate(&worker, on, &request, Handler::Plugin, now)?;
                span.record("client_id", authenticated.client.client_id.as_str());
                let decision =
                    plugin_call::decide(&worker, on, plugin, &authenticated, &request, now)?;
                // Later than the request's start: the plugin may have taken a while.
                issue::issue(&worker, authenticated, decision, crate::clock::now_unix())
            })();
            commit::submit(&worker, decided, answer)
        })
        .await
        .map_err(|e| plugin_failure(&request_id, e))?
}

pub(super) fn plugin_failure(request_id: &str, error: PluginCallError) -> OAuthError {
    match error {
        PluginCallError::TimedOut { .. } => {
            tracing::warn!(request_id, "{error}");
            OAuthError::temporarily_unavailable("the grant handler did not answer in time")
        }
        other => OAuthError::internal(&format!("grant plugin (request {request_id})"), other),
    }
}
