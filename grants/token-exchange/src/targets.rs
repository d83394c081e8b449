//! Where the issued token may be used (`audience`, `resource`; RFC 8693 2.1, RFC 8707): only
//! narrowed, to targets the client may address: itself, the servers it is registered to present
//! its users' identity at (`grantor client add --audience`), and its policy's `audiences`.
//! Anything else is `invalid_target`, before any token is looked at.

use grantor_sdk::{GrantRequest, GrantResult};

use crate::settings::ClientPolicy;
use crate::shown;

/// Most targets one request may name (the host's limit for a token's audiences).
pub const MAX_TARGETS: usize = 16;

fn invalid_target(description: impl Into<String>) -> GrantResult {
    GrantResult::error("invalid_target", description)
}

/// The request's targets, audiences first, each once; empty when it names none.
pub fn requested(
    request: &GrantRequest,
    policy: &ClientPolicy,
) -> Result<Vec<String>, GrantResult> {
    let audiences = request.param_list("audience");
    let resources = request.param_list("resource");
    for resource in &resources {
        let absolute = url::Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
        if !absolute {
            return Err(invalid_target(format!(
                "resource '{}' is not an absolute URI without a fragment (RFC 8707 2)",
                shown(resource)
            )));
        }
    }
    let mut targets: Vec<String> = Vec::new();
    for target in audiences.into_iter().chain(resources) {
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    if targets.len() > MAX_TARGETS {
        return Err(invalid_target(format!(
            "{} targets; at most {MAX_TARGETS} may be named",
            targets.len()
        )));
    }
    let client = &request.client;
    let client_id = &client.client_id;
    let addressable =
        |t: &String| t == client_id || client.audiences.contains(t) || policy.audiences.contains(t);
    if let Some(refused) = targets.iter().find(|t| !addressable(t)) {
        return Err(invalid_target(format!(
            "client '{}' may not address '{}'",
            shown(client_id),
            shown(refused)
        )));
    }
    Ok(targets)
}
