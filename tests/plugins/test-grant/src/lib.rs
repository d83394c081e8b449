//! A fixture plugin whose behaviour comes from its registration's `properties`:
//! `mode = "echo" | "deny" | "panic" | "slow" | "gate"`, `delay_ms` for slow, `fail_create = true`
//! to refuse creation. Gate mode marks each call's entry as a file `entered-<request id>` in
//! `gate_dir` and holds it until a file `open` appears there, so tests observe calls in progress
//! instead of timing them. With `destroy_marker = PATH`, destroying the instance appends a line
//! to PATH. Echo grants the `subject` parameter (or the client id) with the requested scopes and
//! reports, as claims, what it saw, so tests can check what crossed the boundary. Given
//! `replay_issuer` and `jti` parameters, echo records that replay key; given `identity_provider`,
//! it names that issuer as the provider its grant relied on.

use grantor_sdk::{AuthorizedGrant, GrantHandler, GrantRequest, GrantResult, Host, HostReply};

struct TestGrant {
    mode: String,
    delay_ms: u64,
    gate_dir: Option<std::path::PathBuf>,
    destroy_marker: Option<std::path::PathBuf>,
}

impl Drop for TestGrant {
    fn drop(&mut self) {
        if let Some(marker) = &self.destroy_marker {
            use std::io::Write;
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(marker)
            {
                let _ = writeln!(file, "destroyed {}", self.mode);
            }
        }
    }
}

impl TestGrant {
    /// Gate mode: enter, then wait (a minute at most) for the test to open the gate.
    fn pass_gate(&self, request_id: &str) {
        let Some(dir) = &self.gate_dir else { return };
        let _ = std::fs::write(dir.join(format!("entered-{request_id}")), "");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !dir.join("open").exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl GrantHandler for TestGrant {
    fn create(config: serde_json::Value) -> Result<Self, String> {
        if config["fail_create"] == true {
            return Err("fail_create is set".into());
        }
        let mode = config["mode"].as_str().unwrap_or("echo").to_owned();
        if !["echo", "deny", "panic", "slow", "gate"].contains(&mode.as_str()) {
            return Err(format!("unknown mode '{mode}'"));
        }
        Ok(TestGrant {
            mode,
            delay_ms: config["delay_ms"].as_u64().unwrap_or(2000),
            gate_dir: config["gate_dir"].as_str().map(Into::into),
            destroy_marker: config["destroy_marker"].as_str().map(Into::into),
        })
    }

    fn handle(&self, host: &Host<'_>, request: GrantRequest) -> GrantResult {
        host.log_info(&format!(
            "test plugin handling {}",
            request.metadata.request_id
        ));
        match self.mode.as_str() {
            "deny" => GrantResult::invalid_grant("the test plugin denies every request"),
            "panic" => panic!("the test plugin panics on purpose"),
            _ if request.params.contains_key("client_secret") => GrantResult::error(
                "invalid_request",
                "the host leaked client_secret to a plugin",
            ),
            _ => {
                if self.mode == "slow" {
                    std::thread::sleep(std::time::Duration::from_millis(self.delay_ms));
                }
                if self.mode == "gate" {
                    self.pass_gate(&request.metadata.request_id);
                }
                let idp = match host.find_identity_provider::<serde_json::Value>("https://idp") {
                    HostReply::Ok(_) => "found",
                    HostReply::NotFound => "not_found",
                    HostReply::NotConfigured => "not_configured",
                    HostReply::Conflict => "conflict",
                    HostReply::Failed(_) => "failed",
                };
                if let (Some(issuer), Some(jti)) = (
                    request.params.get("replay_issuer"),
                    request.params.get("jti"),
                ) {
                    let keep_until = request.metadata.now + 300;
                    if let HostReply::Conflict = host.record_jti(issuer, jti, keep_until) {
                        return GrantResult::invalid_grant("the test plugin saw this jti before");
                    }
                }
                let mut claims = serde_json::Map::new();
                claims.insert("tenant".into(), request.tenant.clone().into());
                claims.insert("grant_type".into(), request.grant_type.clone().into());
                claims.insert("client_id".into(), request.client.client_id.clone().into());
                claims.insert(
                    "param_names".into(),
                    request.params.keys().cloned().collect::<Vec<_>>().into(),
                );
                claims.insert("idp_lookup".into(), idp.into());
                GrantResult::Granted(AuthorizedGrant {
                    subject: request
                        .params
                        .get("subject")
                        .cloned()
                        .unwrap_or_else(|| request.client.client_id.clone()),
                    scopes: request
                        .params
                        .get("scope")
                        .map(|s| s.split(' ').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    claims,
                    refresh_token_allowed: true,
                    identity_provider: request.params.get("identity_provider").cloned(),
                    ..AuthorizedGrant::default()
                })
            }
        }
    }
}

grantor_sdk::export_grant_plugin! {
    handler: TestGrant,
    name: "grant-test",
    version: env!("CARGO_PKG_VERSION"),
    grant_types: [
        "urn:grantor:test:echo",
        "urn:grantor:test:deny",
        "urn:grantor:test:panic",
        "urn:grantor:test:slow",
        "urn:grantor:test:gate",
    ],
}
