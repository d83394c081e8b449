//! Where the issued token may be used (`audience`, `resource`; RFC 8693 2.1, RFC 8707): only
//! narrowed, to targets the client may address: itself, the servers it is registered to present
//! its users' identity at (`grantor client add --audience`), and its policy's `audiences`.
//! Anything else is `invalid_target`, before any token is looked at.

use grantor_sdk::{GrantRequest, GrantResult};

use crate::settings::ClientPolicy;
use crate::{invalid_target, shown};

/// Most targets one request may name (the host's limit for a token's audiences).
pub const MAX_TARGETS: usize = 16;

/// The request's targets: its audiences and its resources, each once, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Targets {
    pub audiences: Vec<String>,
    pub resources: Vec<String>,
}

impl Targets {
    /// Every target, audiences first, each once: an access token's `aud`.
    pub fn all(&self) -> Vec<String> {
        let mut all = self.audiences.clone();
        for resource in &self.resources {
            if !all.contains(resource) {
                all.push(resource.clone());
            }
        }
        all
    }
}

/// The request's targets; both lists empty when it names none.
pub fn requested(request: &GrantRequest, policy: &ClientPolicy) -> Result<Targets, GrantResult> {
    let once = |values: Vec<String>| {
        let mut kept: Vec<String> = Vec::new();
        for value in values {
            if !kept.contains(&value) {
                kept.push(value);
            }
        }
        kept
    };
    let targets = Targets {
        audiences: once(request.param_list("audience")),
        resources: once(request.param_list("resource")),
    };
    for resource in &targets.resources {
        let absolute = url::Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
        if !absolute {
            return Err(invalid_target(format!(
                "resource '{}' is not an absolute URI without a fragment (RFC 8707 2)",
                shown(resource)
            )));
        }
    }
    let all = targets.all();
    if all.len() > MAX_TARGETS {
        return Err(invalid_target(format!(
            "{} targets; at most {MAX_TARGETS} may be named",
            all.len()
        )));
    }
    let client = &request.client;
    let client_id = &client.client_id;
    let addressable =
        |t: &String| t == client_id || client.audiences.contains(t) || policy.audiences.contains(t);
    if let Some(refused) = all.iter().find(|t| !addressable(t)) {
        return Err(invalid_target(format!(
            "client '{}' may not address '{}'",
            shown(client_id),
            shown(refused)
        )));
    }
    Ok(targets)
}
