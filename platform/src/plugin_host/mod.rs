//! The plugin host: loads the grant plugins registered in `[[oauth.custom_grant_type]]` from the
//! `[plugins] directory`, creates one instance per registration, and calls them.
//!
//! Plugins are trusted in-process code. The ABI and this host guard against their mistakes (wrong
//! ABI version, panics, slow handlers, buffer ownership), not against malice: a plugin can do
//! anything the server process can.

mod callbacks;
mod invoke;
mod loader;
mod services;

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use grantor_sdk::abi::{
    GrantorBorrowedBytes, GrantorGrantPluginV1, GrantorPluginBytes, GRANTOR_OK,
};

use crate::config::{CustomGrantType, OAuthConfig, PluginsConfig};
pub use invoke::PluginCallError;
pub use loader::library_file_name;
use loader::{load_library, LoadedLibrary};
pub use services::{HostServices, NoServices, ServiceReply};

#[derive(Debug, thiserror::Error)]
pub enum PluginLoadError {
    #[error("{}: {reason}", path.display())]
    Library { path: PathBuf, reason: String },
    #[error("[[oauth.custom_grant_type]] '{grant_type}' ({}): {reason}", path.display())]
    Registration {
        grant_type: String,
        path: PathBuf,
        reason: String,
    },
}

/// One registration, loaded and instantiated.
pub struct GrantPlugin {
    pub grant_type: String,
    pub library_path: PathBuf,
    pub plugin_name: String,
    pub plugin_version: String,
    descriptor: &'static GrantorGrantPluginV1,
    instance: InstancePtr,
    /// Bounds concurrent calls into this instance.
    slots: Arc<tokio::sync::Semaphore>,
    timeout: Duration,
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

/// All loaded grant plugins, by grant type.
#[derive(Default)]
pub struct PluginHost {
    grants: HashMap<String, Arc<GrantPlugin>>,
}

impl PluginHost {
    /// Loads every registration, or fails naming the first broken one: the server must not start
    /// with a registration it cannot honour.
    pub fn load(
        config: &PluginsConfig,
        oauth: &OAuthConfig,
    ) -> Result<PluginHost, PluginLoadError> {
        Self::load_registrations(config, oauth, &oauth.custom_grant_type)
    }

    fn load_registrations(
        config: &PluginsConfig,
        oauth: &OAuthConfig,
        registrations: &[CustomGrantType],
    ) -> Result<PluginHost, PluginLoadError> {
        let mut libraries: HashMap<PathBuf, Arc<LoadedLibrary>> = HashMap::new();
        let mut grants = HashMap::new();
        for registration in registrations {
            let path = config
                .directory
                .join(library_file_name(&registration.library));
            let refuse = |reason: String| PluginLoadError::Registration {
                grant_type: registration.name.clone(),
                path: path.clone(),
                reason,
            };
            if crate::oauth::grants::is_built_in_grant_type(&registration.name) {
                return Err(refuse(
                    "a built-in grant type cannot be taken by a plugin".into(),
                ));
            }
            if grants.contains_key(&registration.name) {
                return Err(refuse("grant type registered twice".into()));
            }
            let library = match libraries.get(&path) {
                Some(library) => library.clone(),
                None => {
                    let library = Arc::new(load_library(&path)?);
                    libraries.insert(path.clone(), library.clone());
                    library
                }
            };
            if !library.grant_types.contains(&registration.name) {
                return Err(refuse(format!(
                    "plugin '{}' does not handle this grant type (it handles: {})",
                    library.name,
                    library.grant_types.join(", ")
                )));
            }
            let properties = instance_configuration(oauth, registration).map_err(refuse)?;
            let instance = create_instance(library.descriptor, &properties)
                .map_err(|reason| refuse(format!("plugin refused its properties: {reason}")))?;
            tracing::info!(
                grant_type = %registration.name,
                plugin = %library.name,
                version = %library.version,
                path = %path.display(),
                "grant plugin loaded"
            );
            grants.insert(
                registration.name.clone(),
                Arc::new(GrantPlugin {
                    grant_type: registration.name.clone(),
                    library_path: path.clone(),
                    plugin_name: library.name.clone(),
                    plugin_version: library.version.clone(),
                    descriptor: library.descriptor,
                    instance,
                    slots: Arc::new(tokio::sync::Semaphore::new(config.max_concurrency)),
                    timeout: Duration::from_millis(config.handler_timeout_ms),
                }),
            );
        }
        Ok(PluginHost { grants })
    }

    /// Tries each registration on its own and reports what loaded and why not (for
    /// `grantor plugins list`); nothing here stops at the first failure.
    pub fn inspect(config: &PluginsConfig, oauth: &OAuthConfig) -> Vec<RegistrationStatus> {
        let registrations = &oauth.custom_grant_type;
        registrations
            .iter()
            .enumerate()
            .map(|(i, registration)| {
                let path = config
                    .directory
                    .join(library_file_name(&registration.library));
                // Earlier registrations take part, so duplicates are reported as such.
                let outcome = PluginHost::load_registrations(config, oauth, &registrations[..=i]);
                let (loaded, plugin, detail) = match outcome {
                    Ok(host) => match host.get(&registration.name) {
                        Some(p) => (
                            true,
                            Some(format!("{} {}", p.plugin_name, p.plugin_version)),
                            "loaded".to_owned(),
                        ),
                        None => (false, None, "not loaded".to_owned()),
                    },
                    Err(e) => (false, None, e.to_string()),
                };
                RegistrationStatus {
                    grant_type: registration.name.clone(),
                    library: registration.library.clone(),
                    path,
                    loaded,
                    plugin,
                    detail,
                }
            })
            .collect()
    }

    pub fn get(&self, grant_type: &str) -> Option<Arc<GrantPlugin>> {
        self.grants.get(grant_type).cloned()
    }

    pub fn grant_types(&self) -> Vec<String> {
        let mut names: Vec<String> = self.grants.keys().cloned().collect();
        names.sort();
        names
    }
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
