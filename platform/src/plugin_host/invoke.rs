//! Calling a plugin for one request: on the token work pool (`blocking/pool.rs`), bounded in time
//! and concurrency. A slow plugin holds only its own slot and its own thread; the runtime keeps
//! serving, and the pool adds a thread when every one of its threads is held.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use grantor_sdk::abi::{
    GrantorBorrowedBytes, GrantorGrantPluginV1, GrantorPluginBytes, GRANTOR_OK,
};
use grantor_sdk::{GrantRequest, GrantResult};

use super::callbacks::CallContext;
use super::host_services::HostServices;
use super::GrantPlugin;
use crate::blocking::{Answer, OnBlockingThread, WorkPool};

#[derive(Debug, thiserror::Error)]
pub enum PluginCallError {
    #[error("plugin '{plugin}' failed: {message}")]
    Failed { plugin: String, message: String },
    #[error("plugin '{plugin}' returned an unreadable result: {message}")]
    BadResult { plugin: String, message: String },
    #[error("plugin '{plugin}' did not answer within {timeout_ms} ms")]
    TimedOut { plugin: String, timeout_ms: u128 },
    #[error("plugin '{plugin}' call could not run: {message}")]
    Runtime { plugin: String, message: String },
}

/// A task's answer, or `None` once `deadline` passed while its work still ran. Work that returned
/// in time, having handed its answer on (`returned` set), is waited for past the deadline.
async fn answer_within<T>(
    deadline: tokio::time::Instant,
    returned: &AtomicBool,
    task: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::pin!(task);
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(answer) => Some(answer),
        Err(_) if returned.load(Ordering::Acquire) => Some(task.await),
        Err(_) => None,
    }
}

impl GrantPlugin {
    /// Runs `work` (which calls `handle_blocking`) on `pool` under one of `tenant`'s
    /// slots and one of this plugin's, within the plugin's deadline. Waiting for the slots and the
    /// work itself share one deadline; the slots stay taken until the work really returns, so a
    /// hung plugin cannot pile up threads beyond `max_concurrency`, and one tenant's slow calls
    /// never hold more than `max_concurrency_per_tenant` of them. The token endpoint passes its own
    /// preparation and the plugin call together, so a request makes one trip to the pool.
    ///
    /// `work` answers through its `Answer`, or hands it on: the token endpoint hands it to the
    /// group commit with the request's writes. The deadline is the work's own: once `work` has
    /// returned in time, what it handed the answer to is bounded by the request's deadline, and a
    /// slow commit is no plugin's timeout.
    pub async fn run_bounded<T: Send + 'static>(
        self: &Arc<Self>,
        pool: &WorkPool,
        tenant: &str,
        work: impl FnOnce(&GrantPlugin, OnBlockingThread, Answer<T>) + Send + 'static,
    ) -> Result<T, PluginCallError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timed_out = || PluginCallError::TimedOut {
            plugin: self.plugin_name.clone(),
            timeout_ms: self.timeout.as_millis(),
        };
        let closed = |e: tokio::sync::AcquireError| PluginCallError::Runtime {
            plugin: self.plugin_name.clone(),
            message: e.to_string(),
        };
        let tenant_permit = tokio::time::timeout_at(
            deadline,
            self.tenant_slots.for_tenant(tenant).acquire_owned(),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(closed)?;
        let permit = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| timed_out())?
            .map_err(closed)?;
        let plugin = self.clone();
        let returned = Arc::new(AtomicBool::new(false));
        let work_returned = returned.clone();
        let task = pool.run_answering(move |on, answer| {
            let _permits = (tenant_permit, permit);
            work(&plugin, on, answer);
            work_returned.store(true, Ordering::Release);
        });
        let Some(outcome) = answer_within(deadline, &returned, task).await else {
            crate::metrics::metrics().plugin_call(&self.grant_type, false, self.timeout);
            return Err(timed_out());
        };
        outcome.map_err(|error| PluginCallError::Runtime {
            plugin: self.plugin_name.clone(),
            message: error.to_string(),
        })
    }

    /// One call across the boundary: request JSON in, result JSON out; counted and timed in the
    /// metrics by its grant type and whether it succeeded.
    pub fn handle_blocking(
        &self,
        on: OnBlockingThread,
        request: &GrantRequest,
        services: &dyn HostServices,
    ) -> Result<GrantResult, PluginCallError> {
        let started = std::time::Instant::now();
        let result = self.call_across(on, request, services);
        crate::metrics::metrics().plugin_call(&self.grant_type, result.is_ok(), started.elapsed());
        result
    }

    fn call_across(
        &self,
        on: OnBlockingThread,
        request: &GrantRequest,
        services: &dyn HostServices,
    ) -> Result<GrantResult, PluginCallError> {
        let encoded = serde_json::to_vec(request).map_err(|e| PluginCallError::BadResult {
            plugin: self.plugin_name.clone(),
            message: format!("cannot encode the request: {e}"),
        })?;
        let context = CallContext {
            plugin: &self.plugin_name,
            tenant: &request.tenant,
            client: &request.client,
            request_id: &request.metadata.request_id,
            services,
            on,
        };
        let api = context.host_api();
        let mut out = GrantorPluginBytes {
            ptr: std::ptr::null_mut(),
            len: 0,
        };
        // SAFETY: per the ABI: the instance is this plugin's, `api` and `encoded` outlive the
        // call, `out` is a valid slot.
        let status = unsafe {
            (self.descriptor.on_handle)(
                self.instance.0,
                &api,
                GrantorBorrowedBytes {
                    ptr: encoded.as_ptr(),
                    len: encoded.len(),
                },
                &mut out,
            )
        };
        let bytes = take_plugin_bytes(self.descriptor, out);
        if status != GRANTOR_OK {
            return Err(PluginCallError::Failed {
                plugin: self.plugin_name.clone(),
                message: if bytes.is_empty() {
                    format!("status {status}")
                } else {
                    String::from_utf8_lossy(&bytes).into_owned()
                },
            });
        }
        let bad_result = |message: String| PluginCallError::BadResult {
            plugin: self.plugin_name.clone(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad_result(e.to_string()))?;
        // ABI 1.1's fields first, each by name: serde would say only where in the text it failed.
        super::result_fields::check(&value).map_err(bad_result)?;
        serde_json::from_value(value).map_err(|e| bad_result(e.to_string()))
    }
}

/// Copies plugin-owned bytes and gives them back to the plugin at once.
pub(super) fn take_plugin_bytes(
    descriptor: &GrantorGrantPluginV1,
    bytes: GrantorPluginBytes,
) -> Vec<u8> {
    if bytes.ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: the plugin returned `len` readable bytes at `ptr`.
    let copy = unsafe { std::slice::from_raw_parts(bytes.ptr, bytes.len) }.to_vec();
    // SAFETY: freed once, by the plugin that allocated them.
    unsafe { (descriptor.on_free_buffer)(bytes) };
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The clock is paused: it moves only when the runtime has nothing else to do, straight to the
    /// next timer, so the deadline passes exactly while the answer is held back.
    #[tokio::test(start_paused = true)]
    async fn a_deadline_ends_the_wait_for_running_work_but_not_for_an_answer_handed_on() {
        for work_returned in [false, true] {
            let returned = AtomicBool::new(work_returned);
            let (answer, answered) = tokio::sync::oneshot::channel::<&str>();
            let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
            let waiting = answer_within(deadline, &returned, answered);
            let release = async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = answer.send("committed");
            };
            let (outcome, ()) = tokio::join!(waiting, release);
            if work_returned {
                assert_eq!(outcome.map(Result::unwrap), Some("committed"));
            } else {
                assert!(outcome.is_none(), "{outcome:?}");
            }
        }
    }
}
