//! RFC 8414 metadata per tenant: the tenant's issuer, token endpoint and JWKS, the grant types of
//! the built-in grants and the plugins that loaded, and the client authentication methods.

use serde_json::{json, Value};

use crate::harness::{
    free_port, on_each_backend, run_node, run_python, succeeded, Backend, Deployment, JwtSetup,
    GRANT,
};

fn each_tenant_describes_its_own_endpoints_and_what_the_server_supports(backend: Backend) {
    let setup = JwtSetup::start(backend);
    setup.deployment.cli_ok(&["tenant", "add", "acme"]);
    for (path, prefix) in [
        ("/.well-known/oauth-authorization-server", ""),
        ("/t/acme/.well-known/oauth-authorization-server", "/t/acme"),
    ] {
        let reply = setup.server.get(path);
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.json);
        assert_eq!(reply.header("cache-control"), Some("public, max-age=300"));
        let metadata = &reply.json;
        let base = "http://localhost:9443";
        assert_eq!(
            metadata["token_endpoint"],
            format!("{base}{prefix}/oauth2/token")
        );
        let jwks_uri = metadata["jwks_uri"].as_str().unwrap();
        assert_eq!(jwks_uri, format!("{base}{prefix}/oauth2/jwks"));
        // The JWKS it names is served.
        let jwks = setup.server.get(jwks_uri.strip_prefix(base).unwrap());
        assert_eq!(jwks.status, 200);
        assert!(metadata["issuer"].as_str().unwrap().starts_with(base));
        let grants: Vec<&str> = metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        for grant in ["client_credentials", "refresh_token", "password", GRANT] {
            assert!(grants.contains(&grant), "{grant} missing: {grants:?}");
        }
        assert_eq!(
            metadata["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
    }
    setup
        .server
        .get("/t/nowhere/.well-known/oauth-authorization-server")
        .assert_error(404, "invalid_request");

    // OpenID Provider metadata: the same, plus what relying parties need for ID tokens; also
    // at the issuer plus /.well-known/openid-configuration, where OpenID clients look.
    for (path, prefix) in [
        ("/.well-known/openid-configuration", ""),
        ("/t/acme/.well-known/openid-configuration", "/t/acme"),
        (
            "/t/acme/oauth2/token/.well-known/openid-configuration",
            "/t/acme",
        ),
    ] {
        let reply = setup.server.get(path);
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.json);
        let metadata = &reply.json;
        let base = "http://localhost:9443";
        assert_eq!(
            metadata["token_endpoint"],
            format!("{base}{prefix}/oauth2/token")
        );
        assert_eq!(
            metadata["introspection_endpoint"],
            format!("{base}{prefix}/oauth2/introspect")
        );
        assert_eq!(
            metadata["revocation_endpoint"],
            format!("{base}{prefix}/oauth2/revoke")
        );
        assert_eq!(
            metadata["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256"])
        );
        assert_eq!(
            metadata["subject_types_supported"],
            serde_json::json!(["public"])
        );
        // Every REQUIRED field of OpenID Connect Discovery 1.0 3 and RFC 8414 2, for this tenant.
        for field in [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
        ] {
            assert!(metadata.get(field).is_some(), "{path}: {field} missing");
        }
        for (field, endpoint) in [
            ("authorization_endpoint", "authorize"),
            ("userinfo_endpoint", "userinfo"),
            ("end_session_endpoint", "logout"),
        ] {
            assert_eq!(
                metadata[field],
                format!("{base}{prefix}/oauth2/{endpoint}"),
                "{path}"
            );
        }
        assert_eq!(metadata["response_types_supported"], json!(["code"]));
        assert_eq!(
            metadata["response_modes_supported"],
            json!(["query", "form_post"])
        );
        assert_eq!(
            metadata["code_challenge_methods_supported"],
            json!(["S256"])
        );
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            json!(true)
        );
        assert_eq!(
            metadata["prompt_values_supported"],
            json!(["none", "login", "consent"])
        );
        assert_eq!(metadata["claims_parameter_supported"], json!(false));
        let scopes = metadata["scopes_supported"].as_array().unwrap();
        assert!(scopes.contains(&json!("openid")), "{scopes:?}");
        let claims = metadata["claims_supported"].as_array().unwrap();
        for claim in ["sub", "iss", "auth_time", "sid", "email", "name"] {
            assert!(claims.contains(&json!(claim)), "{claim}: {claims:?}");
        }
    }
    let acme = setup
        .server
        .get("/t/acme/.well-known/openid-configuration")
        .json;
    assert_eq!(
        acme["issuer"],
        format!("http://localhost:9443/t/acme/oauth2/token")
    );
    setup
        .server
        .get("/t/nowhere/.well-known/openid-configuration")
        .assert_error(404, "invalid_request");
}
on_each_backend!(each_tenant_describes_its_own_endpoints_and_what_the_server_supports);

/// openid-client (v6) finds the server from a tenant's issuer by RFC 8414 3.1 (the well-known
/// path inserted before the issuer's path), then gets and introspects a token with what it
/// found; Authlib's metadata validator accepts the fields that name the endpoints and the
/// client authentication; HEAD and 405 answer as RFC 9110 says.
#[test]
fn clients_discover_a_tenant_from_its_issuer() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let deployment = Deployment::new(Backend::Sqlite);
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let client = deployment.add_client("acme", "app", "client_credentials", "read");
    let server = deployment.start_with_env(&[
        ("GRANTOR_SERVER__BIND", &format!("127.0.0.1:{port}")),
        ("GRANTOR_SERVER__PUBLIC_BASE_URL", &base),
    ]);
    let issuer = format!("{base}/t/acme/oauth2/token");

    let found = succeeded(
        "openid-client",
        &run_node(
            "discovery",
            r#"
import * as client from 'openid-client';
const [issuer, id, secret] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), id, secret, undefined,
  { algorithm: 'oauth2', execute: [client.allowInsecureRequests] });
const tokens = await client.clientCredentialsGrant(config, { scope: 'read' });
const introspected = await client.tokenIntrospection(config, tokens.access_token);
console.log(JSON.stringify({ issuer: config.serverMetadata().issuer, scope: tokens.scope,
                             active: introspected.active }));
"#,
            &[&issuer, &client.id, &client.secret],
        ),
    );
    let found: Value = serde_json::from_str(found.trim()).unwrap();
    assert_eq!(
        found,
        json!({"issuer": issuer, "scope": "read", "active": true})
    );

    let validated = succeeded(
        "Authlib",
        &run_python(
            r#"
import sys, requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
metadata = AuthorizationServerMetadata(requests.get(sys.argv[1]).json())
for name in ["issuer", "token_endpoint", "jwks_uri", "grant_types_supported",
             "token_endpoint_auth_methods_supported",
             "token_endpoint_auth_signing_alg_values_supported",
             "introspection_endpoint", "introspection_endpoint_auth_methods_supported",
             "introspection_endpoint_auth_signing_alg_values_supported",
             "revocation_endpoint", "revocation_endpoint_auth_methods_supported",
             "revocation_endpoint_auth_signing_alg_values_supported"]:
    getattr(metadata, "validate_" + name)()
print("valid")
"#,
            &[&format!(
                "{base}/.well-known/oauth-authorization-server/t/acme/oauth2/token"
            )],
        ),
    );
    assert_eq!(validated.trim(), "valid");
    // The OpenID document is found the same way (RFC 8414 5).
    let openid = server.get("/.well-known/openid-configuration/t/acme/oauth2/token");
    assert_eq!(openid.status, 200);
    assert_eq!(openid.json["issuer"], issuer);
    // Authlib's OpenID Provider metadata validator accepts the whole document, of the default
    // tenant and of another one (it refused `"response_types_supported": []`).
    for url in [
        format!("{base}/.well-known/openid-configuration"),
        format!("{base}/t/acme/.well-known/openid-configuration"),
    ] {
        let validated = succeeded(
            "Authlib",
            &run_python(
                r#"
import sys, requests
from authlib.oidc.discovery import OpenIDProviderMetadata
OpenIDProviderMetadata(requests.get(sys.argv[1]).json()).validate()
print("valid")
"#,
                &[&url],
            ),
        );
        assert_eq!(validated.trim(), "valid", "{url}");
    }

    // HEAD answers what GET does, without the body; other methods get 405 with Allow.
    let http = reqwest::blocking::Client::new();
    for path in [
        "/t/acme/oauth2/jwks",
        "/t/acme/.well-known/openid-configuration",
        "/health",
    ] {
        let head = http.head(server.url(path)).send().unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert!(head.text().unwrap().is_empty());
        let delete = http.delete(server.url(path)).send().unwrap();
        assert_eq!(delete.status(), 405, "DELETE {path}");
        assert_eq!(delete.headers()["allow"], "GET, HEAD", "DELETE {path}");
    }
    let get = http.get(server.url("/t/acme/oauth2/token")).send().unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    let body: Value = get.json().unwrap();
    assert_eq!(body["error"], "invalid_request");
    let unknown = http
        .get(server.url("/t/acme/oauth2/nothing"))
        .send()
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.headers().get("allow").is_none());
}
