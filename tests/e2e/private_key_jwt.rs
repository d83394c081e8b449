//! Client authentication by `private_key_jwt` (RFC 7523 2.2): a client registered with a
//! certificate or a JWKS URI authenticates with an assertion it signed, once, at the token,
//! introspection and revocation endpoints alike. Every refusal here is one check of the server's:
//! remove the check and its case gets a token.

use serde_json::{json, Value};

use crate::harness::{
    now, on_each_backend, Backend, Deployment, IdpKey, JwksServer, Reply, Server,
};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_ENDPOINT: &str = "http://localhost:9443/t/acme/oauth2/token";

fn claims(client_id: &str) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_ENDPOINT,
        "iat": now(),
        "exp": now() + 120,
        "jti": format!("jti-{}", rand_suffix()),
    })
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn post(server: &Server, path: &str, assertion: &str, form: &[(&str, &str)]) -> Reply {
    let mut all = vec![
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    all.extend_from_slice(form);
    server.post_form(path, None, &all)
}

fn token(server: &Server, assertion: &str) -> Reply {
    post(
        server,
        "/t/acme/oauth2/token",
        assertion,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
}

/// Registers a client of `tenant` allowed `grant` and scope `read`, with keys instead of a secret
/// (`key_args`: `--certificate FILE` or `--jwks-uri URL`); what `client add --json` printed.
fn add_keyed_client(
    deployment: &Deployment,
    tenant: &str,
    grant: &str,
    key_args: &[&str],
) -> Value {
    let mut args = vec![
        "client",
        "add",
        "--tenant",
        tenant,
        "--name",
        "signer",
        "--grant-types",
        grant,
        "--scopes",
        "read",
        "--json",
    ];
    args.extend_from_slice(key_args);
    serde_json::from_str(&deployment.cli_ok(&args)).unwrap()
}

fn a_client_signs_its_own_one_time_assertions_at_every_endpoint(backend: Backend) {
    let deployment = Deployment::new(backend);
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let keys = tempfile::tempdir().unwrap();
    let key = IdpKey::rsa(keys.path(), "signer");
    let stranger = IdpKey::rsa(keys.path(), "stranger");
    let certificate = key.certificate_path.to_str().unwrap();
    let registered = add_keyed_client(
        &deployment,
        "acme",
        "client_credentials",
        &["--certificate", certificate],
    );
    assert!(registered.get("client_secret").is_none(), "{registered}");
    let id = registered["client_id"].as_str().unwrap().to_owned();
    let server = deployment.start();
    let signed = |claims: &Value| key.sign(&json!({"alg": "RS256", "kid": key.thumbprint}), claims);

    let good = signed(&claims(&id));
    let body = token(&server, &good).assert_token().clone();
    assert_eq!(body["scope"], "read");
    // One-time: the same assertion again is refused, and says why.
    let replayed = token(&server, &good).assert_error(401, "invalid_client");
    assert!(replayed.contains("already been used"), "{replayed}");

    // Each check, failing alone.
    let refusal = |assertion: &str| token(&server, assertion).assert_error(401, "invalid_client");
    let mut wrong_audience = claims(&id);
    wrong_audience["aud"] = json!("https://elsewhere.example/token");
    assert!(refusal(&signed(&wrong_audience)).contains("aud must name"));
    let mut expired = claims(&id);
    expired["exp"] = json!(now() - 600);
    assert!(refusal(&signed(&expired)).contains("expired"));
    let mut too_long = claims(&id);
    too_long["exp"] = json!(now() + 86_400);
    assert!(refusal(&signed(&too_long)).contains("expires more than"));
    let mut no_jti = claims(&id);
    no_jti.as_object_mut().unwrap().remove("jti");
    assert!(refusal(&signed(&no_jti)).contains("jti"));
    let mut other_issuer = claims(&id);
    other_issuer["iss"] = json!("someone-else");
    assert!(refusal(&signed(&other_issuer)).contains("iss must be the client_id"));
    // Signed by another key under the client's kid.
    let forged = stranger.sign(
        &json!({"alg": "RS256", "kid": key.thumbprint}),
        &claims(&id),
    );
    assert!(refusal(&forged).contains("signature"));
    // Algorithm confusion: HS256 keyed with the client's public key.
    let hmac = crate::harness::sign_raw(
        &json!({"alg": "HS256", "kid": key.thumbprint}).to_string(),
        &claims(&id).to_string(),
        jsonwebtoken::Algorithm::HS256,
        &jsonwebtoken::EncodingKey::from_secret(&key.public_pem),
    );
    assert!(refusal(&hmac).contains("algorithm"));
    // An unknown client reads like any failed authentication.
    let mut unknown = claims("NoSuchClient");
    unknown["iss"] = json!("NoSuchClient");
    assert_eq!(refusal(&signed(&unknown)), "client authentication failed");
    // One method at a time.
    post(
        &server,
        "/t/acme/oauth2/token",
        &signed(&claims(&id)),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "x"),
        ],
    )
    .assert_error(400, "invalid_request");

    // Introspection and revocation take the same authentication.
    let access = body["access_token"].as_str().unwrap();
    let introspect = |assertion: &str| {
        post(
            &server,
            "/t/acme/oauth2/introspect",
            assertion,
            &[("token", access)],
        )
    };
    let answer = introspect(&signed(&claims(&id)));
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["active"], true);
    let once = signed(&claims(&id));
    assert_eq!(introspect(&once).status, 200);
    introspect(&once).assert_error(401, "invalid_client");
    let revoked = post(
        &server,
        "/t/acme/oauth2/revoke",
        &signed(&claims(&id)),
        &[("token", access)],
    );
    assert_eq!(revoked.status, 200, "{:?}", revoked.json);
    assert_eq!(introspect(&signed(&claims(&id))).json["active"], false);
}
on_each_backend!(a_client_signs_its_own_one_time_assertions_at_every_endpoint);

fn a_client_registered_by_jwks_uri_is_verified_with_its_published_keys(backend: Backend) {
    let deployment = Deployment::new(backend);
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let keys = tempfile::tempdir().unwrap();
    let key = IdpKey::rsa(keys.path(), "published");
    let jwks = JwksServer::start(&[key.jwk("k1")]);
    let registered = add_keyed_client(
        &deployment,
        "acme",
        "client_credentials",
        &["--jwks-uri", &jwks.url],
    );
    let id = registered["client_id"].as_str().unwrap().to_owned();
    let server = deployment.start();
    token(&server, &key.assertion_with_kid("k1", &claims(&id))).assert_token();
    let description = token(&server, &key.assertion_with_kid("k9", &claims(&id)))
        .assert_error(401, "invalid_client");
    assert!(
        description.contains("no key of the client has kid k9"),
        "{description}"
    );
}
on_each_backend!(a_client_registered_by_jwks_uri_is_verified_with_its_published_keys);

fn a_plugin_grant_commits_the_client_assertion_with_the_grant(backend: Backend) {
    use crate::harness::{good_claims, JwtSetup, GRANT};
    let setup = JwtSetup::start(backend);
    let keys = tempfile::tempdir().unwrap();
    let key = IdpKey::ec_p256(keys.path(), "signer");
    let registered = add_keyed_client(
        &setup.deployment,
        "carbon.super",
        GRANT,
        &["--certificate", key.certificate_path.to_str().unwrap()],
    );
    let id = registered["client_id"].as_str().unwrap().to_owned();
    // The default tenant's issuer is an accepted audience too.
    let mut client_claims = claims(&id);
    client_claims["aud"] = json!("http://localhost:9443/t/carbon.super/oauth2/token");
    let client_assertion = key.sign(
        &json!({"alg": "ES256", "kid": key.thumbprint}),
        &client_claims,
    );
    let exchange = |grant_assertion: &str| {
        post(
            &setup.server,
            "/oauth2/token",
            &client_assertion,
            &[("grant_type", GRANT), ("assertion", grant_assertion)],
        )
    };
    exchange(&setup.idp.assertion(&good_claims())).assert_token();
    // A fresh grant assertion with the spent client assertion: the client is refused, and the
    // grant assertion is not used up by the refusal.
    let fresh = setup.idp.assertion(&good_claims());
    let description = exchange(&fresh).assert_error(401, "invalid_client");
    assert!(description.contains("already been used"), "{description}");
    setup.exchange(&fresh).assert_token();
}
on_each_backend!(a_plugin_grant_commits_the_client_assertion_with_the_grant);

/// Authlib's `PrivateKeyJWT`, unmodified, signs each assertion for the URL it posts to (its
/// default): the token, introspection and revocation endpoints all accept that audience.
#[test]
fn authlib_signs_for_each_endpoint_it_calls() {
    let port = crate::harness::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let deployment = Deployment::new(crate::harness::Backend::Sqlite);
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let dir = tempfile::tempdir().unwrap();
    let key = IdpKey::rsa(dir.path(), "authlib-client");
    let key_file = dir.path().join("client.key.pem");
    key.write_private_key(&key_file);
    let certificate = key.certificate_path.to_str().unwrap();
    let registered = add_keyed_client(
        &deployment,
        "acme",
        "client_credentials",
        &["--certificate", certificate],
    );
    let client_id = registered["client_id"].as_str().unwrap();
    let _server = deployment.start_with_env(&[
        ("GRANTOR_SERVER__BIND", &format!("127.0.0.1:{port}")),
        ("GRANTOR_SERVER__PUBLIC_BASE_URL", &base),
    ]);
    let out = crate::harness::run_python(
        r#"
import json, sys
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
base, client_id, key_file = sys.argv[1:4]
session = OAuth2Session(client_id, open(key_file).read(), scope="read",
                        token_endpoint_auth_method=PrivateKeyJWT(),
                        revocation_endpoint_auth_method=PrivateKeyJWT())
token = session.fetch_token(base + "/t/acme/oauth2/token", grant_type="client_credentials")
seen = session.introspect_token(base + "/t/acme/oauth2/introspect", token=token["access_token"])
revoked = session.revoke_token(base + "/t/acme/oauth2/revoke", token=token["access_token"])
after = session.introspect_token(base + "/t/acme/oauth2/introspect", token=token["access_token"])
print(json.dumps({"introspected": [seen.status_code, seen.json().get("active")],
                  "revoked": revoked.status_code,
                  "after": [after.status_code, after.json().get("active")]}))
"#,
        &[&base, client_id, key_file.to_str().unwrap()],
    );
    let outcome: Value =
        serde_json::from_str(crate::harness::succeeded("Authlib", &out).trim()).unwrap();
    assert_eq!(
        outcome,
        json!({"introspected": [200, true], "revoked": 200, "after": [200, false]})
    );
}
