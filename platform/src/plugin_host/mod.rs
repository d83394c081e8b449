//! The plugin host: loads the grant plugins registered in `[[oauth.custom_grant_type]]` from the
//! `[plugins] directory`, creates one instance per registration, and calls them.
//!
//! Plugins are trusted in-process code. The ABI and this host guard against their mistakes (wrong
//! ABI version, panics, slow handlers, buffer ownership), not against malice: a plugin can do
//! anything the server process can.

mod callbacks;
mod host_services;
mod invoke;
mod loader;
mod reload;
pub mod result_fields;
mod tenant_slots;

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use grantor_sdk::abi::{
    GrantorBorrowedBytes, GrantorGrantPluginV1, GrantorPluginBytes, GRANTOR_OK,
};

use crate::config::{CustomGrantType, OAuthConfig, PluginsConfig};
pub use host_services::{HostServices, NoServices, ServiceReply};
pub use invoke::PluginCallError;
pub use loader::library_file_name;
use loader::{LibraryCache, LoadedLibrary};
pub use reload::{ChangeKind, PluginReloader, RegistrationChange, ReloadError, ReloadReport};
use tenant_slots::TenantSlots;

#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginLoadError {
    #[error("{}: {reason}", path.display())]
    Library { path: PathBuf, reason: String },
    #[error("[[oauth.custom_grant_type]] '{grant_type}' ({}): {reason}", path.display())]
    Registration {
        grant_type: String,
        path: PathBuf,
        reason: String,
    },
    /// Every broken registration, each with its own reason.
    #[error("{} of {total} grant plugin registrations cannot be honoured:\n{}", .failures.len(),
        .failures.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    Several {
        total: usize,
        failures: Vec<PluginLoadError>,
    },
}

/// One registration, loaded and instantiated. Dropping the last reference destroys the instance
/// (`on_destroy`): calls hold a reference while they run, so that is after the last call.
pub struct GrantPlugin {
    pub grant_type: String,
    pub library_path: PathBuf,
    pub plugin_name: String,
    pub plugin_version: String,
    /// What this instance was made from: a reload keeps it when all three are the same.
    library_digest: [u8; 32],
    properties: serde_json::Map<String, serde_json::Value>,
    limits: CallBounds,
    descriptor: &'static GrantorGrantPluginV1,
    instance: InstancePtr,
    /// Bounds concurrent calls into this grant type's instances: a reload's new instance shares
    /// them with the one it replaces (same limits), so calls stuck in the old one still count.
    slots: Arc<tokio::sync::Semaphore>,
    /// Bounds each tenant's share of `slots`, so one tenant's slow requests cannot take them all.
    tenant_slots: Arc<TenantSlots>,
    timeout: Duration,
}

impl Drop for GrantPlugin {
    fn drop(&mut self) {
        // SAFETY: the instance came from this descriptor's on_create, no call is running (each
        // holds an Arc to self), and it is destroyed exactly once, here.
        unsafe { (self.descriptor.on_destroy)(self.instance.0) };
        tracing::debug!(grant_type = %self.grant_type, "grant plugin instance destroyed");
    }
}

/// The `[plugins]` bounds an instance was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CallBounds {
    max_concurrency: usize,
    max_concurrency_per_tenant: usize,
    handler_timeout_ms: u64,
}

impl CallBounds {
    fn of(config: &PluginsConfig) -> CallBounds {
        CallBounds {
            max_concurrency: config.max_concurrency,
            max_concurrency_per_tenant: config.max_concurrency_per_tenant,
            handler_timeout_ms: config.handler_timeout_ms,
        }
    }
}

impl GrantPlugin {
    /// `name version`, as listings and reload reports show a plugin.
    pub fn describe(&self) -> String {
        format!("{} {}", self.plugin_name, self.plugin_version)
    }
}

/// The plugin's instance pointer. Plugins promise (ABI) that an instance may be called from
/// several threads at once; Rust plugins get this from `GrantHandler: Send + Sync`.
struct InstancePtr(*mut c_void);
// SAFETY: see above; the pointer is only passed back to the plugin that created it.
unsafe impl Send for InstancePtr {}
// SAFETY: see above.
unsafe impl Sync for InstancePtr {}

/// What a listing shows for each registration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegistrationStatus {
    pub grant_type: String,
    pub library: String,
    pub path: PathBuf,
    pub loaded: bool,
    pub plugin: Option<String>,
    pub detail: String,
}

type Grants = HashMap<String, Arc<GrantPlugin>>;

/// All loaded grant plugins, by grant type. A reload replaces the whole map at once: a request
/// sees the old set or the new one, and one already given a plugin keeps it to the end.
#[derive(Default)]
pub struct PluginHost {
    grants: RwLock<Arc<Grants>>,
    /// Every library loaded so far; none is ever unloaded.
    libraries: LibraryCache,
    built_in: Vec<String>,
    /// One reload at a time.
    reloading: Mutex<()>,
}

impl PluginHost {
    /// Loads every registration, or fails naming every broken one: the server must not start
    /// with a registration it cannot honour.
    /// `built_in` names the grant types the host implements itself, which no plugin may take.
    pub fn load(
        config: &PluginsConfig,
        oauth: &OAuthConfig,
        built_in: &[&str],
    ) -> Result<PluginHost, PluginLoadError> {
        let libraries = LibraryCache::default();
        let grants = all_or_none(load_each(
            config,
            oauth,
            built_in,
            &libraries,
            &Grants::new(),
        ))?;
        Ok(PluginHost {
            grants: RwLock::new(Arc::new(grants)),
            libraries,
            built_in: built_in.iter().map(|&name| name.to_owned()).collect(),
            reloading: Mutex::default(),
        })
    }

    /// Each registration's own status and reason (for `grantor plugins list`). The instances
    /// made to check them are destroyed before this returns.
    pub fn inspect(
        config: &PluginsConfig,
        oauth: &OAuthConfig,
        built_in: &[&str],
    ) -> Vec<RegistrationStatus> {
        oauth
            .custom_grant_type
            .iter()
            .zip(load_each(
                config,
                oauth,
                built_in,
                &LibraryCache::default(),
                &Grants::new(),
            ))
            .map(|(registration, outcome)| {
                let (loaded, plugin, detail) = match outcome {
                    Ok(p) => (true, Some(p.describe()), "loaded".to_owned()),
                    Err(e) => (false, None, e.to_string()),
                };
                RegistrationStatus {
                    grant_type: registration.name.clone(),
                    library: registration.library.clone(),
                    path: config
                        .directory
                        .join(library_file_name(&registration.library)),
                    loaded,
                    plugin,
                    detail,
                }
            })
            .collect()
    }

    pub fn get(&self, grant_type: &str) -> Option<Arc<GrantPlugin>> {
        // Under the read lock: on the token path, without taking a reference to the whole map.
        self.grants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(grant_type)
            .cloned()
    }

    /// The registrations serving now, sorted by grant type, as a listing shows them (the
    /// console's plugins page): every one is loaded, since a start or a reload that cannot load
    /// them all keeps the set it had.
    pub fn running(&self) -> Vec<RegistrationStatus> {
        let mut running: Vec<RegistrationStatus> = self
            .current()
            .values()
            .map(|plugin| RegistrationStatus {
                grant_type: plugin.grant_type.clone(),
                library: plugin
                    .library_path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path: plugin.library_path.clone(),
                loaded: true,
                plugin: Some(plugin.describe()),
                detail: "loaded".to_owned(),
            })
            .collect();
        running.sort_by(|a, b| a.grant_type.cmp(&b.grant_type));
        running
    }

    pub fn grant_types(&self) -> Vec<String> {
        let mut names: Vec<String> = self.current().keys().cloned().collect();
        names.sort();
        names
    }

    fn current(&self) -> Arc<Grants> {
        self.grants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The plugins of every outcome, or the error naming every failure.
fn all_or_none(
    outcomes: Vec<Result<Arc<GrantPlugin>, PluginLoadError>>,
) -> Result<Grants, PluginLoadError> {
    let total = outcomes.len();
    let mut grants = Grants::new();
    let mut failures = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(plugin) => {
                grants.insert(plugin.grant_type.clone(), plugin);
            }
            Err(e) => failures.push(e),
        }
    }
    match failures.len() {
        0 => Ok(grants),
        1 => Err(failures.remove(0)),
        _ => Err(PluginLoadError::Several { total, failures }),
    }
}

/// Tries every registration on its own, in order: one outcome per registration. A library is
/// loaded once however many registrations name it; a grant type registered twice is refused at
/// its second registration only. A registration whose library bytes, properties and limits are
/// those of its instance in `keep` gets that instance again.
fn load_each(
    config: &PluginsConfig,
    oauth: &OAuthConfig,
    built_in: &[&str],
    cache: &LibraryCache,
    keep: &Grants,
) -> Vec<Result<Arc<GrantPlugin>, PluginLoadError>> {
    let mut libraries: HashMap<PathBuf, Result<Arc<LoadedLibrary>, PluginLoadError>> =
        HashMap::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut outcomes = Vec::new();
    for registration in &oauth.custom_grant_type {
        let path = config
            .directory
            .join(library_file_name(&registration.library));
        let refuse = |reason: String| PluginLoadError::Registration {
            grant_type: registration.name.clone(),
            path: path.clone(),
            reason,
        };
        let twice = seen.contains(&registration.name.as_str());
        seen.push(&registration.name);
        let outcome = if built_in.contains(&registration.name.as_str()) {
            Err(refuse(
                "a built-in grant type cannot be taken by a plugin".into(),
            ))
        } else if twice {
            Err(refuse("grant type registered twice".into()))
        } else {
            let library = libraries
                .entry(path.clone())
                .or_insert_with(|| cache.load(&path))
                .clone();
            match library {
                Err(e) => Err(e),
                Ok(library) => match instance_configuration(oauth, registration) {
                    Err(reason) => Err(refuse(reason)),
                    Ok(properties) => match keep.get(&registration.name) {
                        Some(kept)
                            if kept.library_digest == library.digest
                                && kept.properties == properties
                                && kept.limits == CallBounds::of(config) =>
                        {
                            Ok(kept.clone())
                        }
                        previous => instantiate(
                            config,
                            registration,
                            properties,
                            (&path, &library),
                            previous.map(Arc::as_ref),
                        )
                        .map_err(refuse),
                    },
                },
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// A new instance of `library` (loaded from `path`) for `registration`; `previous` is the
/// instance it replaces, whose call slots it takes over when the limits are the same.
fn instantiate(
    config: &PluginsConfig,
    registration: &CustomGrantType,
    properties: serde_json::Map<String, serde_json::Value>,
    (path, library): (&std::path::Path, &LoadedLibrary),
    previous: Option<&GrantPlugin>,
) -> Result<Arc<GrantPlugin>, String> {
    if !library.grant_types.contains(&registration.name) {
        return Err(format!(
            "plugin '{}' does not handle this grant type (it handles: {})",
            library.name,
            library.grant_types.join(", ")
        ));
    }
    let (slots, tenant_slots) = match previous.filter(|p| p.limits == CallBounds::of(config)) {
        Some(previous) => (previous.slots.clone(), previous.tenant_slots.clone()),
        None => (
            Arc::new(tokio::sync::Semaphore::new(config.max_concurrency)),
            Arc::new(TenantSlots::new(config.max_concurrency_per_tenant)),
        ),
    };
    let instance = create_instance(library.descriptor, &properties)
        .map_err(|reason| format!("plugin refused its properties: {reason}"))?;
    tracing::info!(
        grant_type = %registration.name,
        plugin = %library.name,
        version = %library.version,
        path = %path.display(),
        "grant plugin loaded"
    );
    Ok(Arc::new(GrantPlugin {
        grant_type: registration.name.clone(),
        library_path: path.to_path_buf(),
        plugin_name: library.name.clone(),
        plugin_version: library.version.clone(),
        library_digest: library.digest,
        properties,
        limits: CallBounds::of(config),
        descriptor: library.descriptor,
        instance,
        slots,
        tenant_slots,
        timeout: Duration::from_millis(config.handler_timeout_ms),
    }))
}

/// A registration's properties, plus the `[oauth.grant_type.*]` settings of its grant type. A
/// setting given in both places is refused: which one wins would be a guess.
fn instance_configuration(
    oauth: &OAuthConfig,
    registration: &CustomGrantType,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut properties = registration.properties.clone();
    if let Some(settings) = oauth.grant_type.for_grant_type(&registration.name) {
        for (key, value) in settings {
            if properties.contains_key(&key) {
                return Err(format!(
                    "property '{key}' is also an [oauth.grant_type] setting of this grant type; set it there only"
                ));
            }
            properties.insert(key, value);
        }
    }
    Ok(properties)
}

fn create_instance(
    descriptor: &'static GrantorGrantPluginV1,
    properties: &serde_json::Map<String, serde_json::Value>,
) -> Result<InstancePtr, String> {
    let config = serde_json::to_vec(properties).map_err(|e| e.to_string())?;
    let mut instance: *mut c_void = std::ptr::null_mut();
    let mut error = GrantorPluginBytes {
        ptr: std::ptr::null_mut(),
        len: 0,
    };
    // SAFETY: per the ABI: config lent for the call, out-slots valid.
    let status = unsafe {
        (descriptor.on_create)(
            GrantorBorrowedBytes {
                ptr: config.as_ptr(),
                len: config.len(),
            },
            &mut instance,
            &mut error,
        )
    };
    let message = invoke::take_plugin_bytes(descriptor, error);
    if status != GRANTOR_OK || instance.is_null() {
        let text = String::from_utf8_lossy(&message).into_owned();
        return Err(if text.is_empty() {
            format!("on_create returned status {status}")
        } else {
            text
        });
    }
    Ok(InstancePtr(instance))
}
