//! Reference 000 inside one Grantor, set up for the tests that build on it: tenant `idp.example`
//! signs a user in with the password grant and returns an ID token; tenant `apis.example` trusts
//! `idp.example` as an identity provider by its JWKS URL and exchanges that ID token with the JWT
//! bearer grant for a JWT access token.

use super::{registration, Backend, Credentials, Deployment, Reply, Server, GRANT};

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
