//! Reference 000 inside one Grantor: tenant `idp.example` signs a user in with the password grant
//! and returns an ID token; tenant `apis.example` trusts `idp.example` as an identity provider by
//! its JWKS URL, and exchanges that ID token with the JWT bearer grant for a JWT access token that
//! a gateway verifies alone. Also the reference's audience error, when the identity server's client
//! does not name the API server as an audience.

use crate::harness::{backends, registration, Backend, Credentials, Deployment, Reply, Server};
use crate::jwt_bearer::fixture::GRANT;
use crate::jwt_verify::verified;

pub const BASE: &str = "http://localhost:9443";
pub const API_ISSUER: &str = "http://localhost:9443/t/apis.example/oauth2/token";

/// Both servers of the reference in one running Grantor.
pub struct Reference000 {
    /// Kept for its directory and database.
    _deployment: Deployment,
    pub server: Server,
    /// The identity tenant's web app, with the API tenant's token endpoint as an audience.
    pub webapp: Credentials,
    /// The same, registered without the audience.
    pub careless: Credentials,
    /// The API tenant's application (JWT bearer grant, JWT access tokens, scope `orders`).
    pub apiapp: Credentials,
}

impl Reference000 {
    pub fn start(backend: Backend) -> Reference000 {
        Self::start_with_env(backend, &[])
    }

    /// `start`, with `env` in the server's environment (`RUST_LOG`, `GRANTOR_*`).
    pub fn start_with_env(backend: Backend, env: &[(&str, &str)]) -> Reference000 {
        Self::start_with(backend, "", env)
    }

    /// `start`, with more configuration (TOML sections) and `env` in the server's environment.
    pub fn start_with(backend: Backend, extra_config: &str, env: &[(&str, &str)]) -> Reference000 {
        let deployment = Deployment::with_extra_config(
            backend,
            &format!(
                "{}{extra_config}",
                registration(GRANT, "grant_jwt_bearer", "")
            ),
        );
        deployment.drop_plugin("grant_jwt_bearer");
        // Step 2: the identity server's tenant, its user and the web app that signs users in,
        // with the API server's token endpoint as an audience (WSO2: "audience restriction").
        deployment.cli_ok(&["tenant", "add", "idp.example"]);
        deployment.add_user(
            "idp.example",
            "alice",
            "alice-password",
            &[
                "--claim",
                "email=alice@idp.example",
                "--claim-json",
                r#"groups=["sales"]"#,
            ],
        );
        let webapp = deployment.add_client_with(
            "idp.example",
            "webapp",
            "password",
            "openid",
            &["--audience", API_ISSUER],
        );
        let careless = deployment.add_client("idp.example", "careless", "password", "openid");
        // Step 3: the API server's tenant and its application, allowed the JWT bearer grant.
        deployment.cli_ok(&["tenant", "add", "apis.example"]);
        let apiapp = deployment.add_client_with(
            "apis.example",
            "apiapp",
            GRANT,
            "openid,orders",
            &["--token-format", "jwt"],
        );
        let server = deployment.start_with_env(env);
        // Step 1: the API server trusts the identity server by its JWKS URL.
        let jwks_uri = server.url("/t/idp.example/oauth2/jwks");
        deployment.cli_ok(&[
            "idp",
            "add",
            "--tenant",
            "apis.example",
            "--name",
            "idp-example",
            "--issuer",
            &format!("{BASE}/t/idp.example/oauth2/token"),
            "--jwks-uri",
            &jwks_uri,
            "--claim-mapping",
            "groups=roles",
        ]);
        Reference000 {
            _deployment: deployment,
            server,
            webapp,
            careless,
            apiapp,
        }
    }

    /// The deployment the server runs from (its CLI, its database).
    pub fn deployment(&self) -> &Deployment {
        &self._deployment
    }

    /// Step 4: alice signs in through `client`; the ID token of the answer.
    pub fn id_token(&self, client: &Credentials) -> String {
        let reply = self.server.token(
            "/t/idp.example/oauth2/token",
            client,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-password"),
                ("scope", "openid"),
            ],
        );
        reply.assert_token()["id_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Step 5: the ID token exchanged at the API tenant.
    pub fn exchange(&self, id_token: &str, scope: Option<&str>) -> Reply {
        let mut form = vec![("grant_type", GRANT), ("assertion", id_token)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.server
            .token("/t/apis.example/oauth2/token", &self.apiapp, &form)
    }
}

#[test]
fn an_id_token_from_one_tenant_is_exchanged_at_another_for_a_jwt_access_token() {
    for backend in backends() {
        let reference = Reference000::start(backend);
        let id_token = reference.id_token(&reference.webapp);
        let exchanged = reference.exchange(&id_token, Some("orders"));
        let body = exchanged.assert_token();
        assert_eq!(body["scope"], "orders");
        let access_token = body["access_token"].as_str().unwrap();
        // What a gateway checks, with nothing but the API tenant's JWKS.
        let claims = verified(
            &reference.server,
            "/t/apis.example/oauth2/jwks",
            access_token,
            "at+jwt",
            &reference.apiapp.id,
        );
        assert_eq!(claims["iss"], API_ISSUER);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["client_id"], reference.apiapp.id.as_str());
        assert_eq!(claims["scope"], "orders");
        assert_eq!(claims["email"], "alice@idp.example");
        // The identity provider's claim mapping reached the token.
        assert_eq!(claims["roles"], serde_json::json!(["sales"]));
        assert!(claims.get("groups").is_none());
        // The user's claims came along; those that describe the ID token (its client, when alice
        // signed in there) did not.
        let id_claims = unverified_claims(&id_token);
        for claim in ["azp", "auth_time"] {
            assert!(id_claims.get(claim).is_some(), "{claim}: {id_claims}");
            assert!(claims.get(claim).is_none(), "{claim}: {claims}");
        }

        // The same ID token again: one-time, like every assertion.
        let replayed = reference
            .exchange(&id_token, None)
            .assert_error(400, "invalid_grant");
        assert!(replayed.contains("already been used"), "{replayed}");

        // The reference's audience error: an ID token that names only its own client.
        let careless_token = reference.id_token(&reference.careless);
        let description = reference
            .exchange(&careless_token, None)
            .assert_error(400, "invalid_grant");
        assert!(
            description.starts_with("None of the audience values matched the token endpoint")
                && description.contains(&reference.careless.id),
            "{description}"
        );
    }
}

/// A JWT's claims, unverified (what it says, for comparing).
fn unverified_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
