//! Reference 000 as identity chaining across domains (draft-ietf-oauth-identity-chaining): the web
//! app's token from `idp.example` is exchanged at `idp.example` (token exchange,
//! `requested_token_type` jwt) for a JWT authorization grant addressed to `apis.example`, whose JWT
//! bearer grant accepts it; and the same with an ID-JAG (`requested_token_type` id-jag,
//! draft-ietf-oauth-identity-assertion-authz-grant), which only the client it names may use.

use serde_json::{json, Value};

use crate::harness::{
    now, on_each_backend, registration, unverified_claims, Backend, Credentials, Deployment,
    Server, GRANT,
};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const IDP_ISSUER: &str = "http://localhost:9443/t/idp.example/oauth2/token";
/// The API domain, as the JWT grant's audience: its token endpoint (and issuer).
const API_ISSUER: &str = "http://localhost:9443/t/apis.example/oauth2/token";

/// Both domains in one Grantor: `idp.example` signs alice in and exchanges her tokens;
/// `apis.example` trusts `idp.example` by its JWKS URL and takes JWT grants with the JWT bearer
/// grant.
struct Chain {
    /// Kept for its directory and database.
    _deployment: Deployment,
    server: Server,
    /// idp.example's web app: password, token exchange and client_credentials; its policy lets it
    /// address apis.example and impersonate its users (their ID tokens carry no may_act).
    webapp: Credentials,
    /// idp.example's other app, with no policy: it may address no other domain.
    stranger: Credentials,
    /// apis.example's application (JWT bearer grant, JWT access tokens).
    apiapp: Credentials,
    /// apis.example's other application, which an ID-JAG for apiapp does not name (it may
    /// exchange tokens too).
    otherapp: Credentials,
}

impl Chain {
    fn start(backend: Backend) -> Chain {
        // The API tenant's application is registered first: the web app's policy names its
        // client id, as the client an ID-JAG is for.
        let deployment = Deployment::new(backend);
        deployment.cli_ok(&["tenant", "add", "apis.example"]);
        let apiapp = deployment.add_client_with(
            "apis.example",
            "apiapp",
            GRANT,
            "orders",
            &["--token-format", "jwt"],
        );
        let otherapp = deployment.add_client_with(
            "apis.example",
            "otherapp",
            &format!("{GRANT},{TOKEN_EXCHANGE},client_credentials"),
            "orders",
            &["--token-format", "jwt"],
        );
        let policy = format!(
            "[oauth.custom_grant_type.properties.clients.\"idp.example/webapp\"]\n\
             audiences = [\"{API_ISSUER}\"]\nimpersonation = true\n\
             id_jag_client_ids = {{ \"{API_ISSUER}\" = \"{}\" }}\n",
            apiapp.id
        );
        let registrations = format!(
            "{}{}{policy}",
            registration(GRANT, "grant_jwt_bearer", ""),
            registration(TOKEN_EXCHANGE, "grant_token_exchange", ""),
        );
        let config = std::fs::read_to_string(&deployment.config_path).unwrap();
        std::fs::write(&deployment.config_path, config + &registrations).unwrap();
        deployment.drop_plugin("grant_jwt_bearer");
        deployment.drop_plugin("grant_token_exchange");
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
        let grants = format!("password,client_credentials,{TOKEN_EXCHANGE}");
        let webapp = deployment.add_client_with(
            "idp.example",
            "webapp",
            &grants,
            "openid,orders",
            &["--token-format", "jwt"],
        );
        let stranger = deployment.add_client("idp.example", "stranger", &grants, "openid,orders");
        let server = deployment.start();
        deployment.cli_ok(&[
            "idp",
            "add",
            "--tenant",
            "apis.example",
            "--name",
            "idp-example",
            "--issuer",
            IDP_ISSUER,
            "--jwks-uri",
            &server.url("/t/idp.example/oauth2/jwks"),
            "--claim-mapping",
            "groups=roles",
        ]);
        Chain {
            _deployment: deployment,
            server,
            webapp,
            stranger,
            apiapp,
            otherapp,
        }
    }

    /// Alice signs in at idp.example through `client`: its answer (access token, ID token).
    fn sign_in(&self, client: &Credentials) -> Value {
        self.server
            .token(
                "/t/idp.example/oauth2/token",
                client,
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "alice-password"),
                    ("scope", "openid orders"),
                ],
            )
            .assert_token()
            .clone()
    }

    /// A token exchange at idp.example.
    fn exchange(&self, client: &Credentials, form: &[(&str, &str)]) -> crate::harness::Reply {
        let mut all = vec![("grant_type", TOKEN_EXCHANGE)];
        all.extend_from_slice(form);
        self.server
            .token("/t/idp.example/oauth2/token", client, &all)
    }

    /// The JWT bearer grant at apis.example for `client`.
    fn redeem(&self, client: &Credentials, grant: &str) -> crate::harness::Reply {
        self.server.token(
            "/t/apis.example/oauth2/token",
            client,
            &[
                ("grant_type", GRANT),
                ("assertion", grant),
                ("scope", "orders"),
            ],
        )
    }
}

/// The JOSE header of a compact JWT, unverified.
fn header_of(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn the_id_token_is_chained_to_the_api_domain(backend: Backend) {
    let chain = Chain::start(backend);
    let signed_in = chain.sign_in(&chain.webapp);
    let id_token = signed_in["id_token"].as_str().unwrap();
    let started = now();
    let reply = chain.exchange(
        &chain.webapp,
        &[
            ("subject_token", id_token),
            ("subject_token_type", ID_TOKEN_TYPE),
            ("requested_token_type", JWT_TYPE),
            ("audience", API_ISSUER),
            ("scope", "orders"),
        ],
    );
    let answer = reply.assert_issued("N_A").clone();
    assert_eq!(answer["issued_token_type"], JWT_TYPE, "{answer}");
    assert!(answer.get("refresh_token").is_none(), "{answer}");
    let expires_in = answer["expires_in"].as_i64().unwrap();
    assert!((1..=300).contains(&expires_in), "{answer}");
    let grant = answer["access_token"].as_str().unwrap();
    assert_eq!(header_of(grant)["typ"], "JWT");
    let claims = unverified_claims(grant);
    assert_eq!(claims["iss"], IDP_ISSUER, "{claims}");
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(claims["aud"], API_ISSUER, "{claims}");
    assert_eq!(claims["scope"], "orders", "{claims}");
    assert_eq!(claims["email"], "alice@idp.example", "{claims}");
    assert!(
        claims["exp"].as_i64().unwrap() <= started + 300 + 5,
        "{claims}"
    );
    // What described the ID token stays behind: it is not the grant's.
    for gone in ["nonce", "azp", "auth_time", "at_hash", "act"] {
        assert!(claims.get(gone).is_none(), "{gone}: {claims}");
    }

    // apis.example's JWT bearer grant takes it, once.
    let api = chain.redeem(&chain.apiapp, grant);
    let token = api.assert_token().clone();
    assert_eq!(token["scope"], "orders", "{token}");
    let api_claims = unverified_claims(token["access_token"].as_str().unwrap());
    assert_eq!(
        api_claims["iss"], "http://localhost:9443/t/apis.example/oauth2/token",
        "{api_claims}"
    );
    assert_eq!(api_claims["sub"], "alice", "{api_claims}");
    assert_eq!(api_claims["roles"], json!(["sales"]), "{api_claims}");
    let again = chain.redeem(&chain.apiapp, grant);
    assert_eq!(again.status, 400, "{:?}", again.json);
    assert_eq!(again.json["error"], "invalid_grant", "{:?}", again.json);
}
on_each_backend!(the_id_token_is_chained_to_the_api_domain);

fn an_access_token_is_chained_with_its_actor(backend: Backend) {
    let chain = Chain::start(backend);
    let signed_in = chain.sign_in(&chain.webapp);
    // The web app acts for alice with its own token (delegation): the grant says so in `act`,
    // and so does the API domain's token made from it.
    let own = chain
        .server
        .token(
            "/t/idp.example/oauth2/token",
            &chain.webapp,
            &[("grant_type", "client_credentials")],
        )
        .assert_token()
        .clone();
    let reply = chain.exchange(
        &chain.webapp,
        &[
            ("subject_token", signed_in["access_token"].as_str().unwrap()),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("actor_token", own["access_token"].as_str().unwrap()),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", JWT_TYPE),
            ("audience", API_ISSUER),
        ],
    );
    let answer = reply.assert_issued("N_A").clone();
    let grant = answer["access_token"].as_str().unwrap();
    let claims = unverified_claims(grant);
    assert_eq!(claims["sub"], "alice", "{claims}");
    // Named with its issuer: at apis.example a bare sub would read as one of its own.
    let actor = json!({"sub": chain.webapp.id, "iss": IDP_ISSUER});
    assert_eq!(claims["act"], actor, "{claims}");
    assert_eq!(claims["scope"], "openid orders", "{claims}");
    let token = chain.redeem(&chain.apiapp, grant).assert_token().clone();
    let api_claims = unverified_claims(token["access_token"].as_str().unwrap());
    assert_eq!(api_claims["sub"], "alice", "{api_claims}");
    assert_eq!(api_claims["act"], actor, "{api_claims}");
}
on_each_backend!(an_access_token_is_chained_with_its_actor);

fn an_id_jag_is_taken_by_the_client_it_names_only(backend: Backend) {
    let chain = Chain::start(backend);
    let signed_in = chain.sign_in(&chain.webapp);
    let jag = |chain: &Chain| {
        let reply = chain.exchange(
            &chain.webapp,
            &[
                ("subject_token", signed_in["id_token"].as_str().unwrap()),
                ("subject_token_type", ID_TOKEN_TYPE),
                ("requested_token_type", ID_JAG_TYPE),
                ("audience", API_ISSUER),
                ("scope", "orders"),
            ],
        );
        let answer = reply.assert_issued("N_A").clone();
        assert_eq!(answer["issued_token_type"], ID_JAG_TYPE, "{answer}");
        answer["access_token"].as_str().unwrap().to_owned()
    };
    let first = jag(&chain);
    assert_eq!(header_of(&first)["typ"], "oauth-id-jag+jwt");
    let claims = unverified_claims(&first);
    // The client it is for, at the API domain: the policy's mapping of the web app.
    assert_eq!(claims["client_id"], chain.apiapp.id, "{claims}");
    assert_eq!(claims["aud"], API_ISSUER, "{claims}");
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{claims}"
    );

    // Another client of the API domain may not use it (and leaves it unused).
    let refused = chain.redeem(&chain.otherapp, &first);
    assert_eq!(refused.status, 400, "{:?}", refused.json);
    assert_eq!(refused.json["error"], "invalid_grant", "{:?}", refused.json);
    assert!(
        refused.json["error_description"]
            .as_str()
            .unwrap()
            .contains("the ID-JAG is for client"),
        "{:?}",
        refused.json
    );
    let token = chain.redeem(&chain.apiapp, &first).assert_token().clone();
    let api_claims = unverified_claims(token["access_token"].as_str().unwrap());
    assert_eq!(api_claims["sub"], "alice", "{api_claims}");
    assert_eq!(api_claims["client_id"], chain.apiapp.id, "{api_claims}");
}
on_each_backend!(an_id_jag_is_taken_by_the_client_it_names_only);

fn a_domain_the_client_may_not_address_is_an_invalid_target(backend: Backend) {
    let chain = Chain::start(backend);
    let signed_in = chain.sign_in(&chain.stranger);
    let reply = chain.exchange(
        &chain.stranger,
        &[
            ("subject_token", signed_in["access_token"].as_str().unwrap()),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", JWT_TYPE),
            ("audience", API_ISSUER),
        ],
    );
    assert_eq!(reply.status, 400, "{:?}", reply.json);
    assert_eq!(reply.json["error"], "invalid_target", "{:?}", reply.json);
    // A JWT grant is for exactly one domain.
    let reply = chain.exchange(
        &chain.webapp,
        &[
            (
                "subject_token",
                chain.sign_in(&chain.webapp)["access_token"]
                    .as_str()
                    .unwrap(),
            ),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", JWT_TYPE),
        ],
    );
    assert_eq!(reply.status, 400, "{:?}", reply.json);
    assert_eq!(reply.json["error"], "invalid_request", "{:?}", reply.json);
}
on_each_backend!(a_domain_the_client_may_not_address_is_an_invalid_target);

/// What this server signs for another domain is never taken back here as one of its own tokens:
/// a JWT grant is no ID token, an ID-JAG binds its client whichever grant reads it, and an access
/// token is no assertion.
fn grants_for_other_domains_stay_there(backend: Backend) {
    let chain = Chain::start(backend);
    let signed_in = chain.sign_in(&chain.webapp);
    let access = signed_in["access_token"].as_str().unwrap();
    let own = chain
        .server
        .token(
            "/t/idp.example/oauth2/token",
            &chain.webapp,
            &[("grant_type", "client_credentials")],
        )
        .assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let delegated = |requested: &str, audience: &str| {
        chain.exchange(
            &chain.webapp,
            &[
                ("subject_token", access),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("actor_token", own.as_str()),
                ("actor_token_type", ACCESS_TOKEN_TYPE),
                ("requested_token_type", requested),
                ("audience", audience),
                ("scope", "orders"),
            ],
        )
    };
    // A JWT grant addressed to the client itself (which would make it pass for its ID token).
    let refused = delegated(JWT_TYPE, &chain.webapp.id);
    assert_eq!(refused.status, 400, "{:?}", refused.json);
    assert_eq!(
        refused.json["error"], "invalid_target",
        "{:?}",
        refused.json
    );

    // A JWT grant for apis.example, presented back at idp.example as an ID token or a JWT.
    let grant = delegated(JWT_TYPE, API_ISSUER).assert_issued("N_A")["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for subject_type in [ID_TOKEN_TYPE, JWT_TYPE] {
        let reply = chain.exchange(
            &chain.webapp,
            &[
                ("subject_token", grant.as_str()),
                ("subject_token_type", subject_type),
                ("actor_token", own.as_str()),
                ("actor_token_type", ACCESS_TOKEN_TYPE),
                ("scope", "openid orders"),
            ],
        );
        assert_eq!(reply.status, 400, "{subject_type}: {:?}", reply.json);
        assert_eq!(reply.json["error"], "invalid_grant", "{:?}", reply.json);
        assert_eq!(
            reply.json["error_description"],
            "subject_token: not an active token of this server (unknown, expired or revoked)",
            "{:?}",
            reply.json
        );
    }

    // An ID-JAG for apiapp, exchanged at apis.example by another client: refused as at its JWT
    // bearer grant.
    let jag = delegated(ID_JAG_TYPE, API_ISSUER).assert_issued("N_A")["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_own = chain
        .server
        .token(
            "/t/apis.example/oauth2/token",
            &chain.otherapp,
            &[("grant_type", "client_credentials")],
        )
        .assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = chain.server.token(
        "/t/apis.example/oauth2/token",
        &chain.otherapp,
        &[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", jag.as_str()),
            ("subject_token_type", JWT_TYPE),
            ("actor_token", other_own.as_str()),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
        ],
    );
    assert_eq!(reply.status, 400, "{:?}", reply.json);
    assert_eq!(reply.json["error"], "invalid_grant", "{:?}", reply.json);
    assert_eq!(
        reply.json["error_description"],
        format!(
            "subject_token: the ID-JAG is for client '{}', not this one",
            chain.apiapp.id
        ),
        "{:?}",
        reply.json
    );

    // An access token narrowed to apis.example's token endpoint is for calling it, not an
    // assertion its JWT bearer grant takes.
    let narrowed = delegated(ACCESS_TOKEN_TYPE, API_ISSUER).assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(header_of(&narrowed)["typ"], "at+jwt");
    assert_eq!(unverified_claims(&narrowed)["aud"], API_ISSUER);
    let reply = chain.redeem(&chain.apiapp, &narrowed);
    assert_eq!(reply.status, 400, "{:?}", reply.json);
    assert_eq!(
        reply.json["error_description"],
        "the assertion is an access token (typ at+jwt), not an assertion",
        "{:?}",
        reply.json
    );
}
on_each_backend!(grants_for_other_domains_stay_there);

/// Only token exchange takes `audience` and `resource` more than once; for any other grant a
/// repeated parameter is refused as ever.
fn repeated_targets_are_for_token_exchange_only(backend: Backend) {
    let chain = Chain::start(backend);
    let reply = chain.server.token(
        "/t/idp.example/oauth2/token",
        &chain.webapp,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://a.example/"),
            ("resource", "https://b.example/"),
        ],
    );
    assert_eq!(reply.status, 400, "{:?}", reply.json);
    assert_eq!(reply.json["error"], "invalid_request", "{:?}", reply.json);
    assert_eq!(
        reply.json["error_description"],
        "parameter 'resource' is repeated; each parameter may appear only once"
    );
}
on_each_backend!(repeated_targets_are_for_token_exchange_only);
