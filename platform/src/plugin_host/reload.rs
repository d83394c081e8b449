//! Reloading the grant plugins while the server runs (`grantor plugins reload` through the admin
//! API, or SIGHUP): the configuration is read again and every `[[oauth.custom_grant_type]]`
//! registration is honoured anew, all or nothing. A registration whose library bytes, properties
//! and limits did not change keeps its instance; a changed library is loaded beside the old one
//! (never unloaded: a request may still be running in it). If any registration cannot be
//! honoured, nothing changes and the plugins loaded before keep serving.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::{all_or_none, load_each, Grants, PluginHost, PluginLoadError};
use crate::config::{Config, OAuthConfig, PluginsConfig};

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the configuration cannot be read: {0}")]
    Config(String),
    #[error(transparent)]
    Plugins(#[from] PluginLoadError),
}

/// What a reload did, registration by registration, sorted by grant type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReloadReport {
    pub changes: Vec<RegistrationChange>,
    /// Libraries loaded before that no registration uses any more: they stay mapped until the
    /// process ends (a library is never unloaded: a request may still run in it).
    #[serde(default)]
    pub retired_libraries: usize,
    /// Their size on disk, about what they keep mapped.
    #[serde(default)]
    pub retired_library_bytes: u64,
}

/// Retired libraries past which each reload warns that a restart would release them.
pub const RETIRED_LIBRARIES_WARNING: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistrationChange {
    pub grant_type: String,
    pub change: ChangeKind,
    /// The plugin that answers now (`name version`); none once removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The plugin that answered before; none when added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    /// Another library file (other bytes).
    Replaced,
    /// The same library, with other properties or `[plugins]` limits: a new instance.
    Reconfigured,
    Removed,
    Unchanged,
}

impl ReloadReport {
    /// One line: what changed, then how many did not.
    pub fn summary(&self) -> String {
        let changed: Vec<String> = self
            .changes
            .iter()
            .filter(|c| c.change != ChangeKind::Unchanged)
            .map(RegistrationChange::describe)
            .collect();
        let unchanged = self.changes.len() - changed.len();
        let retired = match self.retired_libraries {
            0 => String::new(),
            n => format!(
                "; {n} replaced or removed libraries stay mapped ({} KiB)",
                self.retired_library_bytes / 1024
            ),
        };
        if changed.is_empty() {
            format!("no change ({unchanged} unchanged){retired}")
        } else {
            format!("{}; {unchanged} unchanged{retired}", changed.join("; "))
        }
    }

    fn between(before: &[Snapshot], after: &[Snapshot]) -> ReloadReport {
        let find =
            |set: &[Snapshot], name: &str| set.iter().find(|s| s.grant_type == name).cloned();
        let names: BTreeSet<&str> = before
            .iter()
            .chain(after)
            .map(|s| s.grant_type.as_str())
            .collect();
        let changes = names
            .into_iter()
            .map(|name| {
                let (old, new) = (find(before, name), find(after, name));
                let change = match (&old, &new) {
                    (None, _) => ChangeKind::Added,
                    (_, None) => ChangeKind::Removed,
                    (Some(old), Some(new)) if old.instance == new.instance => ChangeKind::Unchanged,
                    (Some(old), Some(new)) if old.digest != new.digest => ChangeKind::Replaced,
                    _ => ChangeKind::Reconfigured,
                };
                RegistrationChange {
                    grant_type: name.to_owned(),
                    change,
                    plugin: new.map(|s| s.plugin),
                    previous: old
                        .filter(|_| change != ChangeKind::Unchanged)
                        .map(|s| s.plugin),
                }
            })
            .collect();
        ReloadReport {
            changes,
            retired_libraries: 0,
            retired_library_bytes: 0,
        }
    }
}

impl ChangeKind {
    /// The name the JSON answer uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Replaced => "replaced",
            ChangeKind::Reconfigured => "reconfigured",
            ChangeKind::Removed => "removed",
            ChangeKind::Unchanged => "unchanged",
        }
    }
}

impl RegistrationChange {
    /// `old -> new` when both are known, else the one that is.
    pub fn plugins(&self) -> Option<String> {
        match (&self.previous, &self.plugin) {
            (Some(old), Some(new)) => Some(format!("{old} -> {new}")),
            (None, Some(one)) | (Some(one), None) => Some(one.clone()),
            (None, None) => None,
        }
    }

    fn describe(&self) -> String {
        let kind = self.change.as_str();
        match self.plugins() {
            Some(plugins) => format!("{} {kind} ({plugins})", self.grant_type),
            None => format!("{} {kind}", self.grant_type),
        }
    }
}

/// What the report needs of one loaded registration.
#[derive(Debug, Clone)]
struct Snapshot {
    grant_type: String,
    /// The instance's address: the same instance kept is the same address.
    instance: usize,
    digest: [u8; 32],
    plugin: String,
}

fn snapshot(grants: &Grants) -> Vec<Snapshot> {
    grants
        .values()
        .map(|p| Snapshot {
            grant_type: p.grant_type.clone(),
            instance: Arc::as_ptr(p) as usize,
            digest: p.library_digest,
            plugin: p.describe(),
        })
        .collect()
}

impl PluginHost {
    /// Honours the registrations anew and switches every request to the result at once, or
    /// changes nothing and says why. Blocks while libraries load and instances are created.
    pub fn reload(
        &self,
        config: &PluginsConfig,
        oauth: &OAuthConfig,
    ) -> Result<ReloadReport, PluginLoadError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let before = self.current();
        let built_in: Vec<&str> = self.built_in.iter().map(String::as_str).collect();
        let after = all_or_none(load_each(
            config,
            oauth,
            &built_in,
            &self.libraries,
            &before,
        ))?;
        let mut report = ReloadReport::between(&snapshot(&before), &snapshot(&after));
        let serving: Vec<[u8; 32]> = after.values().map(|p| p.library_digest).collect();
        let retired = self.libraries.mapped_besides(&serving);
        report.retired_libraries = retired.libraries;
        report.retired_library_bytes = retired.bytes;
        *self.grants.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(after);
        // The replaced instances are destroyed when the last request holding one finishes.
        Ok(report)
    }
}

/// Reloads from the configuration the server was started with (the same file and environment).
#[derive(Clone)]
pub struct PluginReloader {
    host: Arc<PluginHost>,
    config_path: Option<PathBuf>,
}

impl PluginReloader {
    pub fn new(host: Arc<PluginHost>, config_path: Option<PathBuf>) -> PluginReloader {
        PluginReloader { host, config_path }
    }

    /// Reads the configuration, reloads, and logs the outcome.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let this = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let config = Config::load(this.config_path.as_deref())
                .map_err(|e| ReloadError::Config(e.to_string()))?;
            Ok(this.host.reload(&config.plugins, &config.oauth)?)
        })
        .await
        .unwrap_or_else(|e| Err(ReloadError::Config(format!("the reload failed: {e}"))));
        match &outcome {
            Ok(report) => {
                tracing::info!("grant plugins reloaded: {}", report.summary());
                if report.retired_libraries > RETIRED_LIBRARIES_WARNING {
                    tracing::warn!(
                        retired_libraries = report.retired_libraries,
                        retired_kib = report.retired_library_bytes / 1024,
                        "replaced plugin libraries are never unloaded and add up: restart the \
                         server (one node at a time) to release them"
                    );
                }
            }
            Err(e) => {
                tracing::error!("grant plugins not reloaded, the loaded ones keep serving: {e}")
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(grant_type: &str, instance: usize, digest: u8, plugin: &str) -> Snapshot {
        Snapshot {
            grant_type: grant_type.into(),
            instance,
            digest: [digest; 32],
            plugin: plugin.into(),
        }
    }

    #[test]
    fn each_registration_is_reported_with_what_answered_before() {
        let before = [
            snap("kept", 1, 1, "p 1"),
            snap("new-bytes", 2, 1, "p 1"),
            snap("new-properties", 3, 1, "p 1"),
            snap("gone", 4, 1, "p 1"),
        ];
        let after = [
            snap("kept", 1, 1, "p 1"),
            snap("new-bytes", 5, 2, "p 2"),
            snap("new-properties", 6, 1, "p 1"),
            snap("fresh", 7, 2, "p 2"),
        ];
        let report = ReloadReport::between(&before, &after);
        let kinds: Vec<(&str, ChangeKind)> = report
            .changes
            .iter()
            .map(|c| (c.grant_type.as_str(), c.change))
            .collect();
        assert_eq!(
            kinds,
            [
                ("fresh", ChangeKind::Added),
                ("gone", ChangeKind::Removed),
                ("kept", ChangeKind::Unchanged),
                ("new-bytes", ChangeKind::Replaced),
                ("new-properties", ChangeKind::Reconfigured),
            ]
        );
        assert_eq!(
            report.summary(),
            "fresh added (p 2); gone removed (p 1); new-bytes replaced (p 1 -> p 2); \
             new-properties reconfigured (p 1 -> p 1); 1 unchanged"
        );
        for change in &report.changes {
            assert_eq!(
                serde_json::to_value(change.change).unwrap(),
                change.change.as_str()
            );
        }
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["changes"][2],
            serde_json::json!({"grant_type": "kept", "change": "unchanged", "plugin": "p 1"})
        );
        assert_eq!(
            ReloadReport::between(&before, &before).summary(),
            "no change (4 unchanged)"
        );
        let retired = ReloadReport {
            retired_libraries: 2,
            retired_library_bytes: 3 * 1024 * 1024,
            ..ReloadReport::between(&before, &before)
        };
        assert_eq!(
            retired.summary(),
            "no change (4 unchanged); 2 replaced or removed libraries stay mapped (3072 KiB)"
        );
    }
}
