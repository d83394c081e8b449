//! The API gateway end to end (reference 003 after reference 000): alice signs in at tenant
//! `idp.example`, her ID token is exchanged at tenant `apis.example` for a JWT access token, and
//! that token calls an API through `grantor gateway`, which trusts the API tenant by its JWKS URL
//! like any other issuer. The backend sees the mapped claims in a JWT the gateway signed. Then
//! each refusal, with its status and `WWW-Authenticate` header.

use serde_json::Value;

use crate::harness::{
    on_each_backend, start_gateway, start_gateway_in, with_scope_forged, Backend, Gateway,
    Reference000, Reply, Server, Upstream, API_ISSUER,
};

fn gateway_config(server: &Server, upstream: &Upstream, audience: &str) -> String {
    format!(
        r#"
[gateway]
bind = "127.0.0.1:0"
upstream_timeout_ms = 1000
max_body_bytes = 1024

[[gateway.api]]
context = "/pizzashack/1.0.0"
upstream = "{upstream}/api"

[[gateway.api.resource]]
method = "GET"
path = "/menu"

[[gateway.api.resource]]
method = "POST"
path = "/order/{{id}}"
scopes = ["orders"]

[[gateway.api.resource]]
method = "GET"
path = "/admin"
scopes = ["admin"]

[[gateway.api.resource]]
path = "/slow"

[[gateway.api.resource]]
path = "/stall"

[[gateway.api.resource]]
path = "/drip"

[[gateway.api]]
context = "/down"
upstream = "http://127.0.0.1:9"

[[gateway.api.resource]]
path = "/*"

[[gateway.jwt_issuer]]
name = "{API_ISSUER}"
jwks.url = "{jwks}"
audience = ["{audience}"]

[[gateway.jwt_issuer.claim_mapping]]
remote_claim = "email"
local_claim = "mail"
"#,
        upstream = upstream.url,
        jwks = server.url("/t/apis.example/oauth2/jwks"),
    )
}

fn call(gateway: &Server, method: &str, path: &str, token: Option<&str>, body: &str) -> Reply {
    let client = reqwest::blocking::Client::new();
    let mut request = client
        .request(method.parse().unwrap(), gateway.url(path))
        .header("x-jwt-assertion", "forged-by-the-client")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Reply::from(request.send().unwrap())
}

fn challenge(reply: &Reply) -> String {
    reply
        .header("www-authenticate")
        .unwrap_or_default()
        .to_owned()
}

/// Reference 000 with a gateway in front of the echo upstream, and alice's tokens: her ID token
/// from `idp.example` and the access token (scope `orders`) it was exchanged for.
struct ThroughTheGateway {
    _reference: Reference000,
    _upstream: Upstream,
    gateway: Gateway,
    id_token: String,
    token: String,
}

fn start_through_the_gateway(backend: Backend) -> ThroughTheGateway {
    let reference = Reference000::start(backend);
    let upstream = Upstream::start();
    let gateway = start_gateway(&gateway_config(
        &reference.server,
        &upstream,
        &reference.apiapp.id,
    ));
    let id_token = reference.id_token(&reference.webapp);
    let token = reference.exchange(&id_token, Some("orders")).assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    ThroughTheGateway {
        _reference: reference,
        _upstream: upstream,
        gateway,
        id_token,
        token,
    }
}

fn a_jwt_access_token_calls_a_backend_through_the_gateway(backend: Backend) {
    let setup = start_through_the_gateway(backend);
    let (gw, token) = (&setup.gateway.server, setup.token.clone());

    // Step 6 of reference 000: the API called with the token.
    let reply = call(
        gw,
        "GET",
        "/pizzashack/1.0.0/menu?size=large",
        Some(&token),
        "",
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    assert_eq!(reply.header("x-upstream"), Some("echo"));
    let seen = &reply.json;
    assert_eq!(seen["path"], "/api/menu");
    assert_eq!(seen["query"], "size=large");
    let headers = &seen["headers"];
    assert!(headers.get("authorization").is_none(), "{headers}");
    // The backend JWT: signed by the gateway's key, with the mapped claims.
    let assertion = headers["x-jwt-assertion"].as_str().unwrap();
    assert_ne!(assertion, "forged-by-the-client");
    let claims = backend_claims(gw, assertion);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["mail"], "alice@idp.example");
    assert!(claims.get("email").is_none());
    assert_eq!(claims["roles"], serde_json::json!(["sales"]));
    assert_eq!(claims["client_token_iss"], API_ISSUER);

    // A resource that needs the token's scope, with a body.
    let reply = call(
        gw,
        "POST",
        "/pizzashack/1.0.0/order/7",
        Some(&token),
        r#"{"pizza":"margherita"}"#,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["method"], "POST");
    assert_eq!(reply.json["body"], r#"{"pizza":"margherita"}"#);
}
on_each_backend!(a_jwt_access_token_calls_a_backend_through_the_gateway);

fn the_gateway_refuses_a_missing_lacking_tampered_or_untrusted_token_with_a_challenge(
    backend: Backend,
) {
    let setup = start_through_the_gateway(backend);
    let (gw, id_token, token) = (
        &setup.gateway.server,
        setup.id_token.clone(),
        setup.token.clone(),
    );

    // 403: a scope the token lacks.
    let reply = call(gw, "GET", "/pizzashack/1.0.0/admin", Some(&token), "");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json["error"], "insufficient_scope");
    let header = challenge(&reply);
    assert!(
        header.contains(r#"error="insufficient_scope""#) && header.contains(r#"scope="admin""#),
        "{header}"
    );

    // 401 without a token: a challenge with no error code (RFC 6750 3.1); the same for
    // credentials of another scheme. Malformed Bearer credentials are a 400.
    for authorization in [None, Some("Basic YWxpY2U6c2VjcmV0")] {
        let mut request = reqwest::blocking::Client::new().get(gw.url("/pizzashack/1.0.0/menu"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let reply = Reply::from(request.send().unwrap());
        assert_eq!(reply.status, 401);
        assert_eq!(reply.json["error"], "missing_token");
        assert_eq!(challenge(&reply), r#"Bearer realm="grantor""#);
    }
    let reply = Reply::from(
        reqwest::blocking::Client::new()
            .get(gw.url("/pizzashack/1.0.0/menu"))
            .header("authorization", "Bearer ")
            .send()
            .unwrap(),
    );
    assert_eq!(reply.status, 400);
    assert!(challenge(&reply).contains(r#"error="invalid_request""#));

    // 401s: tampered, and an issuer the gateway does not trust (the ID token of
    // idp.example).
    for (token, expected) in [
        (
            with_scope_forged(&token, "orders admin"),
            "signature does not verify",
        ),
        (id_token.clone(), "is not trusted"),
    ] {
        let reply = call(gw, "GET", "/pizzashack/1.0.0/menu", Some(&token), "");
        assert_eq!(reply.status, 401, "{expected}");
        assert_eq!(reply.json["error"], "invalid_token");
        let description = reply.json["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{description}");
        let header = challenge(&reply);
        assert!(
            header.starts_with(r#"Bearer realm="grantor", error="invalid_token""#),
            "{header}"
        );
        assert!(!header.contains(token.as_str()) && !description.contains(token.as_str()));
    }
}
on_each_backend!(
    the_gateway_refuses_a_missing_lacking_tampered_or_untrusted_token_with_a_challenge
);

fn the_gateway_answers_404_405_413_502_504_and_bounds_each_upstream_pause(backend: Backend) {
    let setup = start_through_the_gateway(backend);
    let (gw, token) = (&setup.gateway.server, setup.token.clone());

    // 404s, 405, 413, 502 and 504.
    assert_eq!(call(gw, "GET", "/nowhere", Some(&token), "").status, 404);
    assert_eq!(
        call(gw, "GET", "/pizzashack/1.0.0/nothing", Some(&token), "").status,
        404
    );
    let reply = call(gw, "DELETE", "/pizzashack/1.0.0/menu", Some(&token), "");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET"));
    let big = "x".repeat(4096);
    assert_eq!(
        call(gw, "POST", "/pizzashack/1.0.0/order/8", Some(&token), &big).status,
        413
    );
    let reply = call(gw, "GET", "/down/anything", Some(&token), "");
    assert_eq!(reply.status, 502);
    let reply = call(gw, "GET", "/pizzashack/1.0.0/slow", Some(&token), "");
    assert_eq!(reply.status, 504);
    // An upstream that stops sending its body: the answer is cut off after the same bound
    // (the status was sent already), rather than holding the client's connection.
    // No client timeout (reqwest's blocking default is 30 s): only the gateway's may end it.
    let stalled = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(gw.url("/pizzashack/1.0.0/stall"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(stalled.status(), 200);
    assert!(
        stalled.text().is_err(),
        "a stalled body must end in an error"
    );
    // The limit is on each pause, not on the whole answer: one that keeps coming is whole.
    let dripped = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(gw.url("/pizzashack/1.0.0/drip"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(dripped.text().unwrap(), "drip drip drip drip ");
    // A chunked body over the limit is refused too, without a length to refuse it by.
    let chunked = gw
        .http
        .post(gw.url("/pizzashack/1.0.0/order/8"))
        .bearer_auth(&token)
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(vec![
            b'x';
            4096
        ])))
        .send()
        .unwrap();
    assert_eq!(chunked.status(), 413);
}
on_each_backend!(the_gateway_answers_404_405_413_502_504_and_bounds_each_upstream_pause);

/// Verifies the backend JWT with the gateway's JWKS; returns its claims.
fn backend_claims(gateway: &Server, assertion: &str) -> Value {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let header = jsonwebtoken::decode_header(assertion).unwrap();
    let jwks = gateway.get("/.well-known/jwks.json").json;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header.kid.as_deref().unwrap())
        .unwrap()
        .clone();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_issuer(&["grantor-gateway"]);
    jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .unwrap()
        .claims
}

fn opaque_tokens_are_introspected_and_the_answer_is_reused_within_its_bound(backend: Backend) {
    let deployment = crate::harness::Deployment::new(backend);
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let machine = deployment.add_client("acme", "machine", "client_credentials", "read");
    let gateway_client = deployment.add_client("acme", "gateway", "client_credentials", "");
    let server = deployment.start();
    let upstream = Upstream::start();
    let introspect = server.url("/t/acme/oauth2/introspect");
    let api = |context: &str, cache_seconds: u64| {
        format!(
            r#"
[[gateway.api]]
context = "{context}"
upstream = "{upstream}"
introspection = {{ url = "{introspect}", client_id = "{id}", client_secret = "{secret}", cache_seconds = {cache_seconds} }}

[[gateway.api.resource]]
path = "/*"
scopes = ["read"]
"#,
            upstream = upstream.url,
            id = gateway_client.id,
            secret = gateway_client.secret,
        )
    };
    let gateway = start_gateway(&format!(
        "[gateway]\nbind = \"127.0.0.1:0\"\n{}{}",
        api("/cached", 3600),
        api("/fresh", 0)
    ));
    let gw = &gateway.server;
    let token = server
        .token(
            "/t/acme/oauth2/token",
            &machine,
            &[("grant_type", "client_credentials")],
        )
        .assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in ["/cached/a", "/fresh/a"] {
        let reply = call(gw, "GET", path, Some(&token), "");
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.json);
        let claims = backend_claims(
            gw,
            reply.json["headers"]["x-jwt-assertion"].as_str().unwrap(),
        );
        assert_eq!(claims["client_id"], machine.id.as_str());
        assert_eq!(claims["scope"], "read");
    }
    // Revoked: the API that reuses answers still has the active one; the other asks again.
    let revoked = server.post_form(
        "/t/acme/oauth2/revoke",
        Some(&machine),
        &[("token", &token)],
    );
    assert_eq!(revoked.status, 200);
    assert_eq!(call(gw, "GET", "/cached/b", Some(&token), "").status, 200);
    let reply = call(gw, "GET", "/fresh/b", Some(&token), "");
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json["error_description"], "the token is not active");
    // An unknown opaque token.
    assert_eq!(
        call(gw, "GET", "/fresh/c", Some("not-a-token"), "").status,
        401
    );
}
on_each_backend!(opaque_tokens_are_introspected_and_the_answer_is_reused_within_its_bound);

#[test]
fn the_gateway_runs_inside_serve_when_enabled() {
    let upstream = Upstream::start();
    let deployment = crate::harness::Deployment::with_extra_config(
        crate::harness::Backend::Sqlite,
        &format!(
            "[gateway]\nenabled = true\nbind = \"127.0.0.1:0\"\n\
             [[gateway.api]]\ncontext = \"/open\"\nupstream = \"{}\"\n\
             [[gateway.api.resource]]\npath = \"/*\"\n",
            upstream.url
        ),
    );
    let server = deployment.start_with_gateway();
    let gateway_url = server.gateway_url.clone().unwrap();
    // The token server answers, and so does the gateway (no issuer is trusted: any token is 401).
    assert_eq!(server.get("/health").status, 200);
    let reply = reqwest::blocking::Client::new()
        .get(format!("{gateway_url}/open/x"))
        .bearer_auth("a.b.c")
        .send()
        .unwrap();
    assert_eq!(reply.status(), 401);
    assert!(reply.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

/// The key backend JWTs are signed with is kept in the data directory: a restarted gateway
/// publishes the same JWKS. SIGTERM stops it cleanly (its workers finish first).
#[test]
fn the_gateway_signing_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[gateway]\nbind = \"127.0.0.1:0\"\n";
    let first = start_gateway_in(dir.path(), config);
    let published = first.get("/.well-known/jwks.json").json;
    assert_eq!(published["keys"].as_array().unwrap().len(), 1);
    assert!(first.terminate().success());
    assert!(dir.path().join("gateway-signing-key.pem").exists());
    let second = start_gateway_in(dir.path(), config);
    assert_eq!(second.get("/.well-known/jwks.json").json, published);
}

/// A tenant's ID token is signed with the key of its JWT access tokens and may name the same
/// audience; the gateway takes only what is typed an access token (RFC 9068 4: `at+jwt`) from
/// this deployment's own tenants.
#[test]
fn an_id_token_is_not_an_access_token() {
    let deployment = crate::harness::Deployment::new(crate::harness::Backend::Sqlite);
    deployment.cli_ok(&["tenant", "add", "apis.example"]);
    deployment.add_user("apis.example", "bob", "bob-password", &[]);
    let app = deployment.add_client_with(
        "apis.example",
        "app",
        "password",
        "openid,orders",
        &["--token-format", "jwt"],
    );
    let server = deployment.start();
    let signed_in = server
        .token(
            "/t/apis.example/oauth2/token",
            &app,
            &[
                ("grant_type", "password"),
                ("username", "bob"),
                ("password", "bob-password"),
                ("scope", "openid orders"),
            ],
        )
        .assert_token()
        .clone();
    let upstream = Upstream::start();
    let gateway = start_gateway(&format!(
        r#"
[gateway]
bind = "127.0.0.1:0"

[[gateway.api]]
context = "/api"
upstream = "{upstream}"

[[gateway.api.resource]]
path = "/*"

[[gateway.jwt_issuer]]
name = "http://localhost:9443/t/apis.example/oauth2/token"
jwks.url = "{jwks}"
audience = ["{audience}"]
"#,
        upstream = upstream.url,
        jwks = server.url("/t/apis.example/oauth2/jwks"),
        audience = app.id,
    ));
    let gw = &gateway.server;
    let access = signed_in["access_token"].as_str().unwrap();
    let id_token = signed_in["id_token"].as_str().unwrap();
    assert_eq!(call(gw, "GET", "/api/x", Some(access), "").status, 200);
    let reply = call(gw, "GET", "/api/x", Some(id_token), "");
    assert_eq!(reply.status, 401, "{:?}", reply.json);
    assert!(reply.json["error_description"]
        .as_str()
        .unwrap()
        .contains("not an access token"));
    // The first look at the tenant's keys (not cached yet, fetched) is no cause for a warning.
    let log = gw.log();
    assert!(
        !log.lines()
            .any(|l| l.contains("WARN") && l.contains("jwks_uri")),
        "{log}"
    );
}
