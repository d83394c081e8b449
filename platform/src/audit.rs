//! The audit log (issue 25, item 3): who changed what, when and from where, for every change an
//! operator makes through the console, the REST API or the command line. `provisioning` records
//! each change after it succeeded (`record`); the store keeps the entries (`store/audit_log.rs`);
//! `grantor audit`, `GET /api/server/v1/audit` and the console list them.
//!
//! An entry never holds a secret: no client secret, password, private key or token. Callers put
//! only names, settings and counts in `detail` (certificates as their count and fingerprints,
//! `certificates_summary`), and `record` blanks any member whose name says it is a secret, in case
//! one slips in.
//!
//! Actions, stable (scripts and the console filter on them):
//!
//! | action                     | target                    | detail                                  |
//! |----------------------------|---------------------------|-----------------------------------------|
//! | `tenant.add`               | domain                    | name, qualified_subjects                |
//! | `tenant.update`            | domain                    | the settings changed                    |
//! | `tenant.remove`            | domain                    |                                         |
//! | `client.add`               | client_id                 | its settings, keys summarised           |
//! | `client.remove`            | client_id                 | name                                    |
//! | `identity_provider.add`    | name                      | its settings, keys summarised           |
//! | `identity_provider.update` | name                      | the settings changed (`enabled` too), refresh_token_families_revoked |
//! | `identity_provider.remove` | name                      | issuer, refresh_token_families_revoked  |
//! | `user.add`                 | username                  | the names of its claims (not values)    |
//! | `user.remove`              | username                  |                                         |
//! | `consent.withdraw`         | username                  | client_id, client name                  |
//! | `keys.rotate`              | the new key's kid         | immediate, activates_at, replaced, withdrawn |
//! | `keys.rewrap`              | the new key-encryption key's id | from, signing_keys_moved, gateway_key_file |
//! | `plugins.reload`           | `grant plugins`           | the reload report                       |

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::store::audit_log::NewAuditEntry;
use crate::store::{Store, StoreError};

/// How a change reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `grantor` management commands, on a machine with the database.
    Cli,
    /// The admin REST API (`/api/server/v1/`), with the admin token.
    Api,
    /// The operators' web console, signed in with the admin token.
    Console,
}

impl Via {
    /// As stored and shown: `cli`, `api` or `console`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Cli => "cli",
            Via::Api => "api",
            Via::Console => "console",
        }
    }

    /// `as_str`'s inverse.
    pub fn parse(text: &str) -> Option<Via> {
        [Via::Cli, Via::Api, Via::Console]
            .into_iter()
            .find(|via| via.as_str() == text)
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub who: String,
    pub via: Via,
    /// The peer's IP address, or the command line's host name; none when unknown.
    pub from: Option<String>,
}

/// Who the admin API's callers are: whoever holds the admin token (there is one).
const ADMIN_TOKEN: &str = "admin token";

impl Actor {
    /// The operator at this machine's command line: who = the OS user (USER/LOGNAME, else uid N), from = hostname.
    pub fn command_line() -> Actor {
        let user = ["USER", "LOGNAME"]
            .into_iter()
            .filter_map(|name| std::env::var(name).ok())
            .map(|value| printable(&value))
            .find(|value| !value.is_empty());
        Actor {
            who: user.unwrap_or_else(|| format!("uid {}", current_uid())),
            via: Via::Cli,
            from: host_name(),
        }
    }

    /// The admin token over the REST API, from the peer address.
    /// `from`: the client's address (behind a trusted proxy, the one it names).
    pub fn api(from: Option<IpAddr>) -> Actor {
        Actor {
            who: ADMIN_TOKEN.to_owned(),
            via: Via::Api,
            from: from.map(|ip| ip.to_string()),
        }
    }

    /// The console, signed in with the admin token; `session` is a short public id of the console session (not the cookie).
    pub fn console(session: &str, from: Option<IpAddr>) -> Actor {
        Actor {
            who: format!("{ADMIN_TOKEN} (console session {})", printable(session)),
            via: Via::Console,
            from: from.map(|ip| ip.to_string()),
        }
    }

    /// The console, signed in through OpenID as `operator` (`alice@operators`).
    pub fn console_operator(operator: &str, session: &str, from: Option<IpAddr>) -> Actor {
        Actor {
            who: format!(
                "{} (console session {})",
                printable(operator),
                printable(session)
            ),
            via: Via::Console,
            from: from.map(|ip| ip.to_string()),
        }
    }
}

/// What changed: the action (see the module's table), the tenant it happened in (none for what
/// spans tenants), what it names, and a JSON object of what changed (never a secret).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub action: &'static str,
    pub tenant: Option<String>,
    pub target: String,
    pub detail: Value,
}

/// Records a change that was made (call after it succeeded).
pub fn record(store: &Store, actor: &Actor, change: Change, now: i64) -> Result<(), StoreError> {
    let detail = without_secrets(change.detail).to_string();
    store.append_audit(&NewAuditEntry {
        at: now,
        actor: &actor.who,
        via: actor.via.as_str(),
        from_address: actor.from.as_deref(),
        action: change.action,
        tenant_domain: change.tenant.as_deref(),
        target: &change.target,
        detail: &detail,
    })
}

/// Verification keys (PEM, as stored) as an entry shows them: how many, and each one's SHA-256
/// fingerprint, so that an operator can tell which certificate was given without the log keeping
/// it whole.
pub fn certificates_summary(pems: &[String]) -> Value {
    let fingerprints: Vec<Value> = pems
        .iter()
        .map(|pem| {
            crate::keys::certificates::normalise_verification_key(pem.as_bytes())
                .map_or_else(|_| Value::Null, |key| Value::String(key.fingerprint))
        })
        .collect();
    serde_json::json!({ "count": pems.len(), "sha256": fingerprints })
}

/// Member names that hold a secret, wherever they appear in a detail.
const SECRET_NAMES: [&str; 4] = ["secret", "password", "private", "token_hash"];

/// The detail with the value of every member whose name says it is a secret replaced by
/// `"(withheld)"`: the last guard, behind callers that never put one there.
fn without_secrets(detail: Value) -> Value {
    match detail {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(name, value)| {
                    let lower = name.to_ascii_lowercase();
                    if SECRET_NAMES.iter().any(|secret| lower.contains(secret)) {
                        (name, Value::String("(withheld)".to_owned()))
                    } else {
                        (name, without_secrets(value))
                    }
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_secrets).collect()),
        other => other,
    }
}

/// A name as an entry keeps it: trimmed, control characters escaped (`one_line`).
fn printable(text: &str) -> String {
    one_line(text.trim())
}

/// `text` with its control characters (tabs, newlines) escaped, so that it can neither end a
/// line nor shift a column wherever an entry is printed.
pub fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn current_uid() -> u32 {
    // SAFETY: getuid takes nothing, always succeeds and touches no memory of ours.
    unsafe { libc::getuid() }
}

/// This machine's host name; none if the system will not say.
fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the pointer and length describe `buffer`, which outlives the call; gethostname
    // writes at most that many bytes.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return None;
    }
    // A truncated name may lack its NUL: then the whole buffer is the name.
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    let name = printable(&String::from_utf8_lossy(&buffer[..end]));
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit_log::AuditFilter;
    use crate::store::test_support::for_each_backend;
    use serde_json::json;

    #[test]
    fn actors_say_who_how_and_from_where() {
        let api = Actor::api(Some("192.0.2.7".parse().unwrap()));
        assert_eq!(api.who, "admin token");
        assert_eq!(api.via, Via::Api);
        assert_eq!(api.from.as_deref(), Some("192.0.2.7"));
        assert_eq!(Actor::api(None).from, None);

        let console = Actor::console("s1\nforged", Some("2001:db8::1".parse().unwrap()));
        assert_eq!(console.via, Via::Console);
        assert_eq!(console.from.as_deref(), Some("2001:db8::1"));
        assert!(console.who.contains("s1\\nforged"), "{}", console.who);
        assert!(!console.who.contains('\n'));

        let cli = Actor::command_line();
        assert_eq!(cli.via, Via::Cli);
        assert!(!cli.who.is_empty());
        let expected = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .map(|user| printable(&user))
            .ok()
            .filter(|user| !user.is_empty())
            .unwrap_or_else(|| format!("uid {}", current_uid()));
        assert_eq!(cli.who, expected);
        assert!(cli.from.as_deref().is_some_and(|host| !host.is_empty()));
    }

    #[test]
    fn via_reads_back_what_it_writes() {
        for via in [Via::Cli, Via::Api, Via::Console] {
            assert_eq!(Via::parse(via.as_str()), Some(via));
            assert_eq!(json!(via), json!(via.as_str()));
        }
        assert_eq!(Via::parse("CLI"), None);
    }

    #[test]
    fn a_secret_in_a_detail_is_withheld_at_any_depth() {
        let detail = without_secrets(json!({
            "name": "app",
            "client_secret": "s3cr3t",
            "nested": [{"Password": "hunter2", "scopes": ["read"]}],
            "private_key": "-----BEGIN PRIVATE KEY-----",
        }));
        assert_eq!(
            detail,
            json!({
                "name": "app",
                "client_secret": "(withheld)",
                "nested": [{"Password": "(withheld)", "scopes": ["read"]}],
                "private_key": "(withheld)",
            })
        );
    }

    #[test]
    fn a_recorded_change_is_listed_with_its_actor() {
        for_each_backend(|store| {
            let actor = Actor::api(Some("203.0.113.9".parse().unwrap()));
            record(
                store,
                &actor,
                Change {
                    action: "client.add",
                    tenant: Some("carbon.super".into()),
                    target: "id-1".into(),
                    detail: json!({"name": "app", "client_secret": "s3cr3t"}),
                },
                1_700_000_000,
            )
            .unwrap();
            let entries = store
                .list_audit(&AuditFilter {
                    limit: 5,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(entries.len(), 1);
            let entry = &entries[0];
            assert_eq!(
                (
                    entry.actor.as_str(),
                    entry.via,
                    entry.from_address.as_deref()
                ),
                ("admin token", Via::Api, Some("203.0.113.9"))
            );
            assert_eq!(entry.at, 1_700_000_000);
            assert_eq!(entry.action, "client.add");
            assert_eq!(entry.tenant_domain.as_deref(), Some("carbon.super"));
            assert_eq!(entry.target, "id-1");
            assert_eq!(
                entry.detail,
                json!({"name": "app", "client_secret": "(withheld)"})
            );
        });
    }
}
