//! The host services of one plugin call. Reads go to the shared services; a replay key the plugin
//! records is staged here instead of written, and joins the request's one transaction with its
//! tokens (`token_endpoint.rs`), so an accepted assertion never exists without its token and the
//! database still decides, at commit, which of two racing uses wins.

use std::sync::{Arc, Mutex};

use grantor_sdk::{ClaimsTransformRequest, ClientInfo};

use crate::plugin_host::{HostServices, ServiceReply};
use crate::store::WriteOp;

// Longest `jti` kept in the replay cache (`grantor_jose`'s, for every issuer of assertions);
// longer ids are refused rather than truncated (two distinct ids must never collide).
use grantor_jose::MAX_JTI_LEN;

pub struct RequestServices {
    shared: Arc<dyn HostServices>,
    staged: Mutex<Vec<WriteOp>>,
}

impl RequestServices {
    pub fn new(shared: Arc<dyn HostServices>) -> RequestServices {
        RequestServices {
            shared,
            staged: Mutex::new(Vec::new()),
        }
    }

    /// The writes the plugin asked for, in order; taken once, after the call.
    pub fn take_staged_writes(&self) -> Vec<WriteOp> {
        std::mem::take(&mut *self.staged.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl HostServices for RequestServices {
    fn find_identity_provider(&self, tenant: &str, issuer: &str) -> ServiceReply {
        self.shared.find_identity_provider(tenant, issuer)
    }

    fn verification_keys(&self, tenant: &str, issuer: &str, kid: Option<&str>) -> ServiceReply {
        self.shared.verification_keys(tenant, issuer, kid)
    }

    /// Staged for the request's commit. A second use of one id within this call is a replay
    /// already; any other replay is found by the database when the request commits.
    fn record_jti(&self, tenant: &str, issuer: &str, jti: &str, expires_at: i64) -> ServiceReply {
        if jti.len() > MAX_JTI_LEN {
            return ServiceReply::Failed(format!("jti longer than {MAX_JTI_LEN} bytes"));
        }
        let op = WriteOp::RecordReplayKey {
            tenant_domain: tenant.to_owned(),
            issuer: issuer.to_owned(),
            jti: jti.to_owned(),
            expires_at,
            now: crate::clock::now_unix(),
        };
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        let same_key = |o: &WriteOp| {
            matches!(o, WriteOp::RecordReplayKey { tenant_domain, issuer: i, jti: j, .. }
                if tenant_domain == tenant && i == issuer && j == jti)
        };
        if staged.iter().any(same_key) {
            return ServiceReply::Conflict;
        }
        staged.push(op);
        ServiceReply::Ok(serde_json::Value::Null)
    }

    fn transform_claims(
        &self,
        tenant: &str,
        client: &ClientInfo,
        request: ClaimsTransformRequest,
    ) -> ServiceReply {
        self.shared.transform_claims(tenant, client, request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin_host::NoServices;

    #[test]
    fn replay_keys_are_staged_not_written_and_a_repeat_in_one_call_conflicts() {
        let services = RequestServices::new(Arc::new(NoServices));
        assert_eq!(
            services.record_jti("t", "iss", "a", 10),
            ServiceReply::Ok(serde_json::Value::Null)
        );
        assert_eq!(
            services.record_jti("t", "iss", "a", 10),
            ServiceReply::Conflict
        );
        assert!(matches!(
            services.record_jti("t", "iss", &"x".repeat(MAX_JTI_LEN + 1), 10),
            ServiceReply::Failed(_)
        ));
        let staged = services.take_staged_writes();
        assert_eq!(staged.len(), 1);
        assert!(
            matches!(&staged[0], WriteOp::RecordReplayKey { jti, expires_at: 10, .. } if jti == "a")
        );
        assert!(services.take_staged_writes().is_empty());
    }
}
