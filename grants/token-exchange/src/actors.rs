//! Who acts (RFC 8693 1.1, 4.1, 4.4). With an actor token: delegation, the issued token's `act`
//! names the actor (with its issuer when a provider issued it), the subject token's own `act`
//! nested inside. Without one: impersonation, a token for the subject alone, only when the subject
//! token's `may_act` names the client or the server's policy lets the client impersonate.

use serde_json::{Map, Value};

use crate::presented::{Presented, Role};
use crate::settings::ClientPolicy;
use crate::{invalid_grant, shown};

use grantor_sdk::act::{act_depth, check_act, MAX_ACT_DEPTH};

/// The issued token's `act` claim, or the refusal.
pub fn act_claim(
    subject: &Presented,
    actor: Option<&Presented>,
    client_id: &str,
    policy: &ClientPolicy,
) -> Result<Option<Value>, grantor_sdk::GrantResult> {
    // Passed on (nested, or kept when impersonating), the subject token's act must have the form
    // the host holds every issued act to: a provider's JWT may carry any.
    if let Some(prior) = subject.claims.get("act") {
        check_act(prior).map_err(|why| {
            Role::Subject.named(invalid_grant(format!("its act claim is malformed ({why})")))
        })?;
    }
    // A may_act is a restriction: one that cannot be read restricts to nobody, never to no one
    // in particular.
    if subject
        .claims
        .get("may_act")
        .is_some_and(|m| !m.is_object())
    {
        return Err(Role::Subject.named(invalid_grant(
            "its may_act claim is not a JSON object (RFC 8693 4.4)",
        )));
    }
    let Some(actor) = actor else {
        let named = subject
            .may_act()
            .is_some_and(|may_act| names_client(may_act, client_id));
        if !named && !policy.impersonation {
            return Err(invalid_grant(format!(
                "impersonation is not allowed: the subject token's may_act does not name client \
                 '{}' and no policy lets it impersonate; give an actor_token for delegation",
                shown(client_id)
            )));
        }
        // Still on behalf of whoever acted for the subject already.
        return Ok(subject.act().cloned());
    };
    if let Some(may_act) = subject.may_act() {
        if !names_party(may_act, actor) {
            return Err(invalid_grant(
                "the subject token's may_act does not name the actor",
            ));
        }
    }
    if act_depth(subject.act()) >= MAX_ACT_DEPTH {
        return Err(invalid_grant(format!(
            "the subject token's chain of actors is {MAX_ACT_DEPTH} long already"
        )));
    }
    let mut act = Map::new();
    act.insert("sub".into(), Value::String(actor.subject.clone()));
    if actor.external {
        act.insert("iss".into(), Value::String(actor.issuer.clone()));
    }
    if let Some(prior) = subject.act() {
        act.insert("act".into(), prior.clone());
    }
    Ok(Some(Value::Object(act)))
}

/// `may_act` names the client: as its `sub` or its `client_id`.
fn names_client(may_act: &Value, client_id: &str) -> bool {
    may_act["sub"].as_str() == Some(client_id) || may_act["client_id"].as_str() == Some(client_id)
}

/// `may_act` names the actor: its `sub`, and its issuer when `may_act` says one.
fn names_party(may_act: &Value, actor: &Presented) -> bool {
    may_act["sub"].as_str() == Some(actor.subject.as_str())
        && may_act["iss"]
            .as_str()
            .is_none_or(|iss| iss == actor.issuer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use grantor_sdk::GrantResult;
    use serde_json::json;

    fn party(subject: &str, issuer: &str, external: bool, claims: Value) -> Presented {
        Presented {
            own_id_token: false,
            subject: subject.into(),
            issuer: issuer.into(),
            external,
            claims: claims.as_object().cloned().unwrap_or_default(),
            scopes: None,
            expires_at: 0,
            validated: None,
        }
    }

    #[test]
    fn delegation_names_the_actor_and_nests_the_prior_one() {
        let subject = party(
            "alice",
            "https://a",
            false,
            json!({"act": {"sub": "first"}}),
        );
        let actor = party("svc", "https://idp", true, json!({}));
        let act = act_claim(&subject, Some(&actor), "c", &ClientPolicy::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            act,
            json!({"sub": "svc", "iss": "https://idp", "act": {"sub": "first"}})
        );
        let own_actor = party("svc", "https://a", false, json!({}));
        let act = act_claim(
            &party("alice", "https://a", false, json!({})),
            Some(&own_actor),
            "c",
            &ClientPolicy::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(act, json!({"sub": "svc"}));
    }

    #[test]
    fn may_act_limits_delegation_and_allows_impersonation() {
        let restricted = party(
            "alice",
            "https://a",
            false,
            json!({"may_act": {"sub": "svc"}}),
        );
        let svc = party("svc", "https://a", false, json!({}));
        let other = party("eve", "https://a", false, json!({}));
        let none = ClientPolicy::default();
        assert!(act_claim(&restricted, Some(&svc), "c", &none).is_ok());
        assert!(act_claim(&restricted, Some(&other), "c", &none).is_err());
        // Impersonation: refused unless may_act names the client, or the policy allows it.
        let plain = party("alice", "https://a", false, json!({}));
        assert!(act_claim(&plain, None, "c", &none).is_err());
        let named = party(
            "alice",
            "https://a",
            false,
            json!({"may_act": {"client_id": "c"}}),
        );
        assert_eq!(act_claim(&named, None, "c", &none).unwrap(), None);
        let policy = ClientPolicy {
            impersonation: true,
            ..ClientPolicy::default()
        };
        assert_eq!(act_claim(&plain, None, "c", &policy).unwrap(), None);
    }

    #[test]
    fn a_malformed_act_of_the_subject_token_is_refused() {
        let actor = party("svc", "https://a", false, json!({}));
        let policy = ClientPolicy {
            impersonation: true,
            ..ClientPolicy::default()
        };
        for act in [
            json!("svc"),
            json!({"iss": "https://idp"}),
            json!({"sub": "a", "act": {"sub": 1}}),
        ] {
            let subject = party("alice", "https://idp", true, json!({ "act": act }));
            for with_actor in [Some(&actor), None] {
                let Err(GrantResult::Error(e)) = act_claim(&subject, with_actor, "c", &policy)
                else {
                    panic!("{act} accepted");
                };
                assert_eq!(e.error, "invalid_grant");
                assert!(
                    e.error_description
                        .starts_with("subject_token: its act claim is malformed ("),
                    "{}",
                    e.error_description
                );
            }
        }
    }

    #[test]
    fn a_may_act_that_is_not_an_object_is_refused() {
        let actor = party("svc", "https://a", false, json!({}));
        let policy = ClientPolicy {
            impersonation: true,
            ..ClientPolicy::default()
        };
        for may_act in [json!("svc"), json!([{"sub": "svc"}]), json!(null)] {
            let subject = party("alice", "https://a", false, json!({ "may_act": may_act }));
            for with_actor in [Some(&actor), None] {
                let Err(GrantResult::Error(e)) = act_claim(&subject, with_actor, "c", &policy)
                else {
                    panic!("{may_act} accepted");
                };
                assert_eq!(
                    e.error_description,
                    "subject_token: its may_act claim is not a JSON object (RFC 8693 4.4)"
                );
            }
        }
    }

    #[test]
    fn a_chain_past_the_limit_is_refused() {
        let mut act = json!({"sub": "a0"});
        for i in 1..MAX_ACT_DEPTH {
            act = json!({"sub": format!("a{i}"), "act": act});
        }
        let subject = party("alice", "https://a", false, json!({ "act": act }));
        let actor = party("svc", "https://a", false, json!({}));
        assert!(act_claim(&subject, Some(&actor), "c", &ClientPolicy::default()).is_err());
    }
}
