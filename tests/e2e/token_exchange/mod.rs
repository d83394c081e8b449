//! The token exchange grant (RFC 8693) with the real `grant_token_exchange` plugin, end to end:
//! who acts (delegation, impersonation), which tokens are exchanged, where the issued token may
//! be used, its scopes and lifetime, and an independent client doing the exchange. Each refusal
//! is asserted by its code and description, so a test fails when its check is removed. (Identity
//! chaining and ID-JAGs are in `identity_chaining.rs`.)

mod authlib_client;
mod delegation;
mod impersonation;
mod scopes_and_lifetime;
mod subject_tokens;
mod targets;

use serde_json::{json, Value};

use crate::harness::{
    access_token, good_claims, registration, verified, with, Backend, Credentials, Deployment,
    IdpKey, Reply, Server, IDP_ISSUER,
};

pub use crate::harness::GRANT as JWT_BEARER;

pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// A server the exchanging client is registered to address (`client add --audience`).
pub const API: &str = "https://api.example.com/";
/// The key of the exchanging client's policy in the registration's properties.
pub const EXCHANGER_POLICY: &str =
    "[oauth.custom_grant_type.properties.clients.\"carbon.super/exchanger\"]";

/// A running server with the jwt-bearer and token-exchange plugins in the default tenant, a
/// trusted identity provider, a client that gets users' tokens from it (`app`, JWT access
/// tokens), the client that exchanges them (`exchanger`, JWT access tokens, may address
/// [`API`]) and a client whose own token acts (`actor`).
pub struct Setup {
    pub deployment: Deployment,
    pub server: Server,
    pub idp: IdpKey,
    pub app: Credentials,
    pub exchanger: Credentials,
    pub actor: Credentials,
    _keys_dir: tempfile::TempDir,
}

impl Setup {
    pub fn start(backend: Backend) -> Setup {
        Self::start_with(backend, "")
    }

    /// `properties`: TOML lines of the token exchange registration's properties.
    pub fn start_with(backend: Backend, properties: &str) -> Setup {
        let deployment = Deployment::with_extra_config(
            backend,
            &format!(
                "{}{}",
                registration(JWT_BEARER, "grant_jwt_bearer", ""),
                registration(TOKEN_EXCHANGE, "grant_token_exchange", properties)
            ),
        );
        deployment.drop_plugin("grant_jwt_bearer");
        deployment.drop_plugin("grant_token_exchange");
        let keys_dir = tempfile::tempdir().unwrap();
        let idp = IdpKey::rsa(keys_dir.path(), "corp");
        deployment.cli_ok(&[
            "idp",
            "add",
            "--name",
            "corp",
            "--issuer",
            IDP_ISSUER,
            "--certificate",
            idp.certificate_path.to_str().unwrap(),
        ]);
        let app = deployment.add_client_with(
            "carbon.super",
            "app",
            &format!("{JWT_BEARER},refresh_token"),
            "read,write,admin",
            &["--token-format", "jwt"],
        );
        let exchanger = deployment.add_client_with(
            "carbon.super",
            "exchanger",
            &format!("{TOKEN_EXCHANGE},refresh_token"),
            "read,write,admin",
            &["--token-format", "jwt", "--audience", API],
        );
        let actor = deployment.add_client_with(
            "carbon.super",
            "actor",
            "client_credentials",
            "read",
            &["--token-format", "jwt"],
        );
        let server = deployment.start();
        Setup {
            deployment,
            server,
            idp,
            app,
            exchanger,
            actor,
            _keys_dir: keys_dir,
        }
    }

    /// An assertion of the identity provider for alice, with `changes` applied to its claims.
    pub fn assertion(&self, changes: Value) -> String {
        self.idp.assertion(&with(good_claims(), changes))
    }

    /// A user's access token from `client` (a jwt-bearer client), for an assertion with
    /// `changes`, with `scope`.
    pub fn user_token_of(&self, client: &Credentials, changes: Value, scope: &str) -> Reply {
        self.server.token(
            "/oauth2/token",
            client,
            &[
                ("grant_type", JWT_BEARER),
                ("assertion", &self.assertion(changes)),
                ("scope", scope),
            ],
        )
    }

    /// Alice's JWT access token from `app`, scope `read write`, with `changes` to the assertion.
    pub fn user_token(&self, changes: Value) -> String {
        access_token(&self.user_token_of(&self.app, changes, "read write"))
    }

    /// `client`'s own access token (client credentials).
    pub fn client_token(&self, client: &Credentials) -> String {
        access_token(&self.server.token(
            "/oauth2/token",
            client,
            &[("grant_type", "client_credentials")],
        ))
    }

    /// A token exchange request by `client` with `form` (the grant type added).
    pub fn exchange(&self, client: &Credentials, form: &[(&str, &str)]) -> Reply {
        let mut all = vec![("grant_type", TOKEN_EXCHANGE)];
        all.extend_from_slice(form);
        self.server.token("/oauth2/token", client, &all)
    }

    /// `exchanger` exchanges the access token `subject`, with `actor` (an access token of this
    /// tenant) acting, and `extra` parameters.
    pub fn delegate(&self, subject: &str, actor: &str, extra: &[(&str, &str)]) -> Reply {
        let mut form = vec![
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", actor),
            ("actor_token_type", ACCESS_TOKEN),
        ];
        form.extend_from_slice(extra);
        self.exchange(&self.exchanger, &form)
    }

    /// A JWT access token of the default tenant, verified (typ `at+jwt`, `audience` among its
    /// audiences): its claims.
    pub fn claims(&self, token: &str, audience: &str) -> Value {
        verified(&self.server, "/oauth2/jwks", token, "at+jwt", audience)
    }

    /// Introspection of `token` by `client`.
    pub fn introspect(&self, client: &Credentials, token: &str) -> Value {
        let reply = self
            .server
            .token("/oauth2/introspect", client, &[("token", token)]);
        assert_eq!(reply.status, 200, "{}", reply.json);
        reply.json
    }

    /// Asserts that `token`, issued to `exchanger` for alice, is active with `scope` and the
    /// expiry of its JWT.
    pub fn assert_introspected(&self, token: &str, subject: &str, scope: &str, exp: &Value) {
        let seen = self.introspect(&self.exchanger, token);
        let mut expected = json!({
            "active": true,
            "sub": subject,
            "client_id": self.exchanger.id,
            "scope": scope,
            "exp": exp,
            "iat": seen["iat"],
            "token_type": "Bearer",
        });
        // Who acts, and a narrowed audience, as the JWT says (introspection reads them from what
        // was stored).
        let jwt = crate::harness::unverified_claims(token);
        if let Some(act) = jwt.get("act") {
            expected["act"] = act.clone();
        }
        if jwt["aud"] != json!(self.exchanger.id) {
            expected["aud"] = jwt["aud"].clone();
        }
        assert_eq!(seen, expected);
    }
}
