//! The admin REST API (`/api/server/v1/` on the admin listener): a deployment provisioned through
//! it alone (tenants, applications, a user, an identity provider from a certificate, keys), used
//! for real token requests; each refusal with its status, code and field; the admin token.

use serde_json::{json, Value};

use crate::harness::{
    admin_listener, free_port, good_claims, on_each_backend, registration,
    wait_until_changes_are_seen, wait_until_listening, with, Backend, Credentials, Deployment,
    IdpKey, Server, GRANT, IDP_ISSUER,
};

const TOKEN_VARIABLE: &str = "ADMIN_API_TEST_TOKEN";
const TOKEN: &str = "admin-token-for-the-admin-api-test";

/// The admin listener of a running server.
struct Admin {
    base: String,
    http: reqwest::blocking::Client,
}

impl Admin {
    /// `method path` with `body` as JSON and `token` as the bearer; (status, JSON or null).
    fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(
            method.parse().unwrap(),
            format!("{}/api/server/v1/{path}", self.base),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().unwrap();
        let status = reply.status().as_u16();
        let text = reply.text().unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, json)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(Some(TOKEN), method, path, body)
    }

    /// Asserts `status` and returns the body.
    fn expect(&self, status: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (got, json) = self.call(method, path, body);
        assert_eq!(got, status, "{method} {path}: {json}");
        json
    }

    /// Asserts a refusal with `status` and `code`; returns the message.
    fn refused(&self, status: u16, code: &str, method: &str, path: &str, body: Value) -> Value {
        let json = self.expect(status, method, path, Some(body));
        assert_eq!(json["code"], code, "{method} {path}: {json}");
        json
    }
}

fn start(backend: Backend) -> (Deployment, Server, Admin) {
    start_with(backend, "")
}

/// `start` with more configuration (TOML sections of its own).
fn start_with(backend: Backend, extra: &str) -> (Deployment, Server, Admin) {
    let port = free_port();
    let deployment = Deployment::with_extra_config(
        backend,
        &format!(
            "{}{}{extra}",
            registration(GRANT, "grant_jwt_bearer", ""),
            admin_listener(port, TOKEN_VARIABLE)
        ),
    );
    deployment.drop_plugin("grant_jwt_bearer");
    // At the debug level, so that the log check below sees everything the server says.
    let server = deployment.start_with_env(&[(TOKEN_VARIABLE, TOKEN), ("RUST_LOG", "debug")]);
    let admin = Admin {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::blocking::Client::new(),
    };
    // The admin listener starts beside the server's; wait until it answers.
    wait_until_listening(port);
    (deployment, server, admin)
}

fn credentials(registered: &Value) -> Credentials {
    Credentials {
        id: registered["client_id"].as_str().unwrap().to_owned(),
        secret: registered["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// Nothing secret reached the log: the admin token, `secrets` (a password, a client secret), a key.
fn assert_nothing_secret_logged(server: &Server, secrets: &[&str]) {
    let log = server.log();
    assert!(
        log.contains("grantor listening"),
        "the log is not captured: {log}"
    );
    for secret in [&[TOKEN], secrets].concat() {
        assert!(!log.contains(secret), "the log has a secret: {log}");
    }
    assert!(!log.contains("PRIVATE KEY"), "{log}");
}

/// `start`, with the tenant `acme` added through the admin API.
fn start_with_acme(backend: Backend) -> (Deployment, Server, Admin) {
    let (deployment, server, admin) = start(backend);
    admin.expect(
        201,
        "POST",
        "tenants",
        Some(json!({"domain": "acme", "name": "Acme"})),
    );
    (deployment, server, admin)
}

fn tenants_are_added_listed_changed_and_refused_through_the_admin_api(backend: Backend) {
    let (_deployment, server, admin) = start(backend);

    // Tenants.
    let acme = admin.expect(
        201,
        "POST",
        "tenants",
        Some(json!({"domain": "acme", "name": "Acme"})),
    );
    assert_eq!(acme["display_name"], "Acme");
    admin.refused(
        409,
        "conflict",
        "POST",
        "tenants",
        json!({"domain": "acme"}),
    );
    let bad = admin.refused(
        400,
        "invalid_input",
        "POST",
        "tenants",
        json!({"domain": "Not Valid"}),
    );
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .contains("invalid tenant domain"),
        "{bad}"
    );
    admin.refused(
        400,
        "invalid_json",
        "POST",
        "tenants",
        json!({"domain": "x", "colour": "red"}),
    );
    let page = admin.expect(200, "GET", "tenants?limit=1&offset=1", None);
    assert_eq!(
        (page["total"].as_u64(), page["limit"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(page["items"][0]["domain"], "carbon.super");
    let (status, refused) = admin.call("GET", "tenants?limit=0", None);
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid_query"))
    );
    let (status, missing) = admin.call("GET", "tenants/ghost", None);
    assert_eq!((status, missing["code"].as_str()), (404, Some("not_found")));
    let patched = admin.expect(
        200,
        "PATCH",
        "tenants/acme",
        Some(json!({"qualified_subjects": false})),
    );
    assert_eq!(patched["domain"], "acme");

    assert_nothing_secret_logged(&server, &[]);
}
on_each_backend!(tenants_are_added_listed_changed_and_refused_through_the_admin_api);

fn an_application_and_a_user_added_through_the_admin_api_get_tokens(backend: Backend) {
    let (_deployment, server, admin) = start_with_acme(backend);

    // An application and a user, then the password grant with them.
    let web = admin.expect(
        201,
        "POST",
        "tenants/acme/applications",
        Some(json!({"name": "web", "grant_types": ["password"], "scopes": ["orders"]})),
    );
    assert_eq!(web["warnings"], json!([]));
    let web = credentials(&web);
    let ghost = admin.refused(
        404,
        "not_found",
        "POST",
        "tenants/ghost/applications",
        json!({"name": "x", "grant_types": ["client_credentials"]}),
    );
    assert!(ghost["message"]
        .as_str()
        .unwrap()
        .contains("tenant 'ghost' not found"));
    let bad = admin.refused(
        400,
        "invalid_input",
        "POST",
        "tenants/acme/applications",
        json!({"name": "x", "grant_types": ["bad/grant"]}),
    );
    assert_eq!(bad["field"], "grant_types");
    for name_or_id in ["web", web.id.as_str()] {
        let found = admin.expect(
            200,
            "GET",
            &format!("tenants/acme/applications/{name_or_id}"),
            None,
        );
        assert_eq!(found["client_id"], web.id.as_str());
        assert!(found.get("client_secret").is_none(), "{found}");
    }
    admin.expect(404, "GET", "tenants/acme/applications/ghost", None);
    let bad = admin.refused(
        400,
        "invalid_input",
        "POST",
        "tenants/acme/applications",
        json!({"name": "a\u{0}b", "grant_types": ["client_credentials"]}),
    );
    assert_eq!(bad["field"], "name");
    let user = admin.expect(
        201,
        "POST",
        "tenants/acme/users",
        Some(json!({"username": "alice", "password": "correct horse battery", "claims": {"email": "alice@acme.example"}})),
    );
    assert!(!user.to_string().contains("correct horse"), "{user}");
    let bad = admin.refused(
        400,
        "invalid_input",
        "POST",
        "tenants/acme/users",
        json!({"username": "bob", "password": "pw", "claims": {"sub": "root"}}),
    );
    assert_eq!(bad["field"], "claims");
    // Passwords beyond what is hashed are the caller's mistake, named as such (not a 500).
    for (password, says) in [
        ("p".repeat(1025), "at most 1024 bytes"),
        (String::new(), "empty"),
    ] {
        let bad = admin.refused(
            400,
            "invalid_input",
            "POST",
            "tenants/acme/users",
            json!({"username": "bob", "password": password}),
        );
        assert_eq!(bad["field"], "password", "{bad}");
        assert!(bad["message"].as_str().unwrap().contains(says), "{bad}");
    }
    let bad = admin.refused(
        400,
        "invalid_input",
        "POST",
        "tenants/acme/users",
        json!({"username": "b".repeat(257), "password": "pw"}),
    );
    assert_eq!(bad["field"], "username", "{bad}");
    let users = admin.expect(200, "GET", "tenants/acme/users", None);
    assert_eq!(users["items"][0]["claims"]["email"], "alice@acme.example");
    wait_until_changes_are_seen(&server.base_url);
    let token = server.token(
        "/t/acme/oauth2/token",
        &web,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse battery"),
            ("scope", "orders"),
        ],
    );
    assert_eq!(token.assert_token()["scope"], "orders");

    assert_nothing_secret_logged(&server, &["correct horse battery", web.secret.as_str()]);
}
on_each_backend!(an_application_and_a_user_added_through_the_admin_api_get_tokens);

fn an_identity_provider_added_and_changed_through_the_admin_api_serves_the_jwt_bearer_grant(
    backend: Backend,
) {
    let (_deployment, server, admin) = start(backend);

    // An identity provider from a certificate, then the JWT bearer grant with it.
    let keys = tempfile::tempdir().unwrap();
    let key = IdpKey::rsa(keys.path(), "corp");
    let certificate = std::fs::read_to_string(&key.certificate_path).unwrap();
    let app = credentials(&admin.expect(
        201,
        "POST",
        "tenants/carbon.super/applications",
        Some(json!({"name": "app", "grant_types": [GRANT], "scopes": ["read"]})),
    ));
    let bad = admin.refused(
        400,
        "invalid_input",
        "POST",
        "tenants/carbon.super/identity-providers",
        json!({"name": "corp", "issuer": IDP_ISSUER, "certificates": ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]}),
    );
    assert_eq!(bad["field"], "certificates", "{bad}");
    let idp = admin.expect(
        201,
        "POST",
        "tenants/carbon.super/identity-providers",
        Some(json!({"name": "corp", "issuer": IDP_ISSUER, "certificates": [certificate]})),
    );
    assert_eq!(idp["clock_skew_seconds"], 60);
    let duplicate = admin.refused(
        409,
        "conflict",
        "POST",
        "tenants/carbon.super/identity-providers",
        json!({"name": "corp2", "issuer": IDP_ISSUER, "certificates": [certificate]}),
    );
    assert!(duplicate["message"].as_str().unwrap().contains(IDP_ISSUER));
    wait_until_changes_are_seen(&server.base_url);
    let exchange = |claims: Value| {
        server.token(
            "/oauth2/token",
            &app,
            &[
                ("grant_type", GRANT),
                ("assertion", &key.assertion(&claims)),
            ],
        )
    };
    exchange(good_claims()).assert_token();

    // Changed in place: only bob may be asserted now, then anyone again.
    let changed = admin.expect(
        200,
        "PATCH",
        "tenants/carbon.super/identity-providers/corp",
        Some(json!({"allowed_subjects": ["bob"], "claim_mappings": {"upn": "username"}})),
    );
    assert_eq!(changed["allowed_subjects"], json!(["bob"]));
    assert_eq!(changed["refresh_token_families_revoked"], 0);
    wait_until_changes_are_seen(&server.base_url);
    exchange(good_claims()).assert_error(400, "invalid_grant");
    exchange(with(good_claims(), json!({"sub": "bob"}))).assert_token();
    admin.expect(
        200,
        "PATCH",
        "tenants/carbon.super/identity-providers/corp",
        Some(json!({"allowed_subjects": null})),
    );
    wait_until_changes_are_seen(&server.base_url);
    exchange(good_claims()).assert_token();
    // Disabled, then enabled again.
    let disabled = admin.expect(
        200,
        "PATCH",
        "tenants/carbon.super/identity-providers/corp",
        Some(json!({"enabled": false})),
    );
    assert_eq!(disabled["enabled"], false);
    wait_until_changes_are_seen(&server.base_url);
    exchange(good_claims()).assert_error(400, "invalid_grant");
    admin.expect(
        200,
        "PATCH",
        "tenants/carbon.super/identity-providers/corp",
        Some(json!({"enabled": true})),
    );
    wait_until_changes_are_seen(&server.base_url);
    exchange(good_claims()).assert_token();
    for (body, code) in [
        (json!({"issuer": "https://other"}), "invalid_json"),
        (json!({}), "invalid_input"),
        (json!({"clock_skew": 999_999}), "invalid_input"),
        (json!({"claim_mappings": {"aud": "x"}}), "invalid_input"),
        (json!({"jwks_uri": "ftp://x"}), "invalid_input"),
        // Left out means kept; null is refused where there is nothing to clear.
        (json!({"jwks_uri": null}), "invalid_json"),
        (json!({"enabled": null}), "invalid_json"),
        (
            json!({"service_account_client": "no-such-client"}),
            "invalid_input",
        ),
    ] {
        admin.refused(
            400,
            code,
            "PATCH",
            "tenants/carbon.super/identity-providers/corp",
            body,
        );
    }
    let listed = admin.expect(200, "GET", "tenants/carbon.super/identity-providers", None);
    assert_eq!(
        listed["items"][0]["claim_mappings"],
        json!({"upn": "username"})
    );

    // Removed.
    let removed = admin.expect(
        200,
        "DELETE",
        "tenants/carbon.super/identity-providers/corp",
        None,
    );
    assert!(removed["refresh_token_families_revoked"].is_u64());

    assert_nothing_secret_logged(&server, &[app.secret.as_str()]);
}
on_each_backend!(
    an_identity_provider_added_and_changed_through_the_admin_api_serves_the_jwt_bearer_grant
);

fn tenant_keys_rotate_through_the_admin_api(backend: Backend) {
    let (_deployment, server, admin) = start_with_acme(backend);

    // Keys: the tenant's first key, made on first use, then a rotation that publishes the
    // next key first; a second one waits; `now` signs at once and withdraws the others.
    assert_eq!(server.get("/t/acme/oauth2/jwks").status, 200);
    let rotated = admin.expect(201, "POST", "tenants/acme/keys/rotate", None);
    assert_eq!(
        rotated["replaced"].as_array().unwrap().len(),
        1,
        "{rotated}"
    );
    assert_eq!(rotated["withdrawn"], json!([]));
    let state_of = |kid: &Value| {
        let keys = admin.expect(200, "GET", "tenants/acme/keys", None);
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == *kid)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state_of(&rotated["kid"]), "next");
    assert_eq!(state_of(&rotated["replaced"][0]["kid"]), "current");
    admin.refused(
        409,
        "conflict",
        "POST",
        "tenants/acme/keys/rotate",
        json!({}),
    );
    admin.refused(
        400,
        "invalid_json",
        "POST",
        "tenants/acme/keys/rotate",
        json!({"at_once": true}),
    );
    let immediate = admin.expect(
        201,
        "POST",
        "tenants/acme/keys/rotate",
        Some(json!({"now": true})),
    );
    assert_eq!(state_of(&immediate["kid"]), "current");
    let mut withdrawn: Vec<&Value> = immediate["withdrawn"].as_array().unwrap().iter().collect();
    withdrawn.sort_by_key(|k| k.as_str().unwrap().to_owned());
    let mut expected = vec![&rotated["kid"], &rotated["replaced"][0]["kid"]];
    expected.sort_by_key(|k| k.as_str().unwrap().to_owned());
    assert_eq!(withdrawn, expected);
    assert_eq!(state_of(&rotated["kid"]), "retired");

    assert_nothing_secret_logged(&server, &[]);
}
on_each_backend!(tenant_keys_rotate_through_the_admin_api);

fn users_applications_and_tenants_are_removed_through_the_admin_api(backend: Backend) {
    let (_deployment, server, admin) = start_with_acme(backend);
    let web = credentials(&admin.expect(
        201,
        "POST",
        "tenants/acme/applications",
        Some(json!({"name": "web", "grant_types": ["password"], "scopes": ["orders"]})),
    ));
    admin.expect(
        201,
        "POST",
        "tenants/acme/users",
        Some(json!({"username": "alice", "password": "correct horse battery"})),
    );

    // Removals.
    admin.expect(204, "DELETE", "tenants/acme/users/alice", None);
    admin.expect(404, "DELETE", "tenants/acme/users/alice", None);
    admin.expect(
        204,
        "DELETE",
        &format!("tenants/acme/applications/{}", web.id),
        None,
    );
    let default = admin.refused(
        400,
        "invalid_input",
        "DELETE",
        "tenants/carbon.super",
        json!({}),
    );
    assert!(default["message"]
        .as_str()
        .unwrap()
        .contains("default tenant"));
    admin.expect(204, "DELETE", "tenants/acme", None);
    admin.expect(404, "GET", "tenants/acme", None);

    assert_nothing_secret_logged(&server, &["correct horse battery", web.secret.as_str()]);
}
on_each_backend!(users_applications_and_tenants_are_removed_through_the_admin_api);

#[test]
fn the_admin_api_wants_its_token_and_describes_itself() {
    let (_deployment, _server, admin) = start(Backend::Sqlite);
    for token in [None, Some("wrong-token-of-enough-length")] {
        let (status, body) = admin.call_as(token, "POST", "tenants", Some(json!({"domain": "x"})));
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    }
    // Nothing was created by the refused calls.
    let tenants = admin.expect(200, "GET", "tenants", None);
    assert_eq!(tenants["total"], 1);

    let reply = admin
        .http
        .put(format!("{}/api/server/v1/tenants", admin.base))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(reply.status(), 405);
    assert_eq!(reply.headers()["allow"], "GET, POST");

    let document = admin.expect(200, "GET", "openapi.json", None);
    assert_eq!(document["openapi"], "3.1.0");
    assert!(
        document["paths"]["/api/server/v1/tenants/{tenant}/identity-providers/{name}"]["patch"]
            .is_object()
    );

    let large = "x".repeat(300 * 1024);
    let (status, body) = admin.call("POST", "tenants", Some(json!({"domain": large})));
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
}

fn users_added_beyond_the_password_hashing_bound_are_told_to_come_back(backend: Backend) {
    // One hash at a time and no wait for a turn.
    let (_deployment, _server, admin) = start_with(
        backend,
        "[oauth.password_grant]\nmax_concurrent_hashes = 1\nhash_wait_ms = 0\n",
    );
    let http = reqwest::blocking::Client::new();
    let mut seen = std::collections::BTreeMap::new();
    // Users added together overlap: some find the one turn taken. Rounds until one has.
    for round in 0..20 {
        let start = std::sync::Barrier::new(8);
        let answers: Vec<(u16, Option<String>, Value)> = std::thread::scope(|s| {
            let sent: Vec<_> = (0..8)
                .map(|n| {
                    let (http, admin, start) = (&http, &admin, &start);
                    s.spawn(move || {
                        start.wait();
                        let reply = http
                            .post(format!("{}/api/server/v1/tenants/carbon.super/users", admin.base))
                            .bearer_auth(TOKEN)
                            .json(&json!({"username": format!("u{round}-{n}"), "password": "pw-1234"}))
                            .send()
                            .unwrap();
                        let retry_after = reply
                            .headers()
                            .get("retry-after")
                            .map(|v| v.to_str().unwrap().to_owned());
                        (reply.status().as_u16(), retry_after, reply.json().unwrap())
                    })
                })
                .collect();
            sent.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (status, retry_after, body) in answers {
            *seen.entry(status).or_insert(0) += 1;
            match status {
                201 => {}
                503 => {
                    assert_eq!(body["code"], "unavailable", "{body}");
                    assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
                }
                _ => panic!("{status}: {body}"),
            }
        }
        if seen.contains_key(&503) {
            break;
        }
    }
    assert!(seen.contains_key(&503), "never turned away: {seen:?}");
    assert!(seen.contains_key(&201), "{seen:?}");
}
on_each_backend!(users_added_beyond_the_password_hashing_bound_are_told_to_come_back);

fn redirect_uris_and_consent_are_registered_and_refused_through_the_admin_api(backend: Backend) {
    let (_deployment, _server, admin) = start_with_acme(backend);
    let web = admin.expect(
        201,
        "POST",
        "tenants/acme/applications",
        Some(json!({
            "name": "web",
            "grant_types": ["authorization_code"],
            "redirect_uris": ["https://app.example/cb", "com.example.app:/cb", "https://app.example/cb"],
            "post_logout_redirect_uris": ["http://localhost:3000/bye"],
            "consent": "skip"
        })),
    );
    for found in [
        web.clone(),
        admin.expect(200, "GET", "tenants/acme/applications/web", None),
        admin.expect(200, "GET", "tenants/acme/applications", None)["items"][0].clone(),
    ] {
        assert_eq!(
            found["redirect_uris"],
            json!(["https://app.example/cb", "com.example.app:/cb"]),
            "{found}"
        );
        assert_eq!(
            found["post_logout_redirect_uris"],
            json!(["http://localhost:3000/bye"])
        );
        assert_eq!(found["consent"], "skip");
    }
    let plain = admin.expect(
        201,
        "POST",
        "tenants/acme/applications",
        Some(json!({"name": "worker", "grant_types": ["client_credentials"]})),
    );
    assert_eq!(plain["redirect_uris"], json!([]));
    assert_eq!(plain["consent"], "required");

    for (body, field, message) in [
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "redirect_uris",
            "'https://app.example/cb#frag': must not have a fragment (RFC 6749 3.1.2)",
        ),
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "redirect_uris",
            "'http://app.example/cb': must be https (plain http only to a loopback host: \
             127.0.0.1, [::1] or localhost, RFC 8252 7.3)",
        ),
        (
            json!({"post_logout_redirect_uris": ["/bye"]}),
            "post_logout_redirect_uris",
            "'/bye': not an absolute URI (relative URL without a base)",
        ),
        (
            json!({"consent": "sometimes"}),
            "consent",
            "'sometimes': use required or skip",
        ),
    ] {
        let mut request = json!({"name": "x", "grant_types": ["authorization_code"]});
        for (k, v) in body.as_object().unwrap() {
            request[k] = v.clone();
        }
        let refused = admin.refused(
            400,
            "invalid_input",
            "POST",
            "tenants/acme/applications",
            request,
        );
        assert_eq!(refused["field"], field, "{refused}");
        assert_eq!(
            refused["message"],
            format!("{field}: {message}"),
            "{refused}"
        );
    }
    admin.expect(404, "GET", "tenants/acme/applications/x", None);
}
on_each_backend!(redirect_uris_and_consent_are_registered_and_refused_through_the_admin_api);
