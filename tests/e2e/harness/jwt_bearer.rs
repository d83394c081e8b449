//! A deployment with the real jwt-bearer plugin dropped in, a client allowed the grant, and an
//! identity provider whose keys are generated at test time; claims that pass every check, for
//! tests to vary one at a time.

use serde_json::{json, Value};

use super::{now, registration, Backend, Credentials, Deployment, IdpKey, Reply, Server};

pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const IDP_ISSUER: &str = "https://idp.example.com";
/// The default tenant's token endpoint as the default `public_base_url` names it.
pub const DEFAULT_TOKEN_ENDPOINT: &str = "http://localhost:9443/oauth2/token";

/// Claims that pass every check, for tests to vary one at a time.
pub fn good_claims() -> Value {
    let now = now();
    json!({
        "iss": IDP_ISSUER,
        "sub": "alice",
        "aud": DEFAULT_TOKEN_ENDPOINT,
        "iat": now,
        "exp": now + 300,
        "jti": format!("jti-{}-{}", now, COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)),
    })
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Returns `claims` with `changes` applied (`null` removes a claim).
pub fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

/// A running server with the jwt-bearer plugin, one client and one identity provider.
pub struct JwtSetup {
    pub deployment: Deployment,
    pub server: Server,
    pub client: Credentials,
    pub idp: IdpKey,
    pub keys_dir: tempfile::TempDir,
}

impl JwtSetup {
    pub fn start(backend: Backend) -> JwtSetup {
        Self::start_with(backend, "", &[])
    }

    /// `extra_config` is appended to the deployment file; `idp_args` to `grantor idp add`.
    pub fn start_with(backend: Backend, extra_config: &str, idp_args: &[&str]) -> JwtSetup {
        let deployment = Deployment::with_extra_config(
            backend,
            &format!(
                "{}{extra_config}",
                registration(GRANT, "grant_jwt_bearer", "")
            ),
        );
        deployment.drop_plugin("grant_jwt_bearer");
        let client = deployment.add_client(
            "carbon.super",
            "app",
            &format!("{GRANT},refresh_token"),
            "read,write,admin",
        );
        let keys_dir = tempfile::tempdir().unwrap();
        let idp = IdpKey::rsa(keys_dir.path(), "corp");
        let certificate = idp.certificate_path.to_str().unwrap().to_owned();
        let mut args = vec![
            "idp",
            "add",
            "--name",
            "corp",
            "--issuer",
            IDP_ISSUER,
            "--certificate",
            &certificate,
        ];
        args.extend_from_slice(idp_args);
        deployment.cli_ok(&args);
        let server = deployment.start();
        JwtSetup {
            deployment,
            server,
            client,
            idp,
            keys_dir,
        }
    }

    pub fn exchange(&self, assertion: &str) -> Reply {
        self.exchange_with(assertion, &[])
    }

    pub fn exchange_with(&self, assertion: &str, extra: &[(&str, &str)]) -> Reply {
        let mut form = vec![("grant_type", GRANT), ("assertion", assertion)];
        form.extend_from_slice(extra);
        self.server.token("/oauth2/token", &self.client, &form)
    }

    /// Asserts an `invalid_grant` refusal and returns its description.
    pub fn refused(&self, assertion: &str) -> String {
        self.exchange(assertion).assert_error(400, "invalid_grant")
    }

    /// Registers another identity provider with `grantor idp add ARGS...`.
    pub fn add_idp(&self, args: &[&str]) {
        let mut all = vec!["idp", "add"];
        all.extend_from_slice(args);
        self.deployment.cli_ok(&all);
    }
}
