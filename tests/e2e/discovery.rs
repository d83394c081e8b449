//! RFC 8414 metadata per tenant: the tenant's issuer, token endpoint and JWKS, the grant types of
//! the built-in grants and the plugins that loaded, and the client authentication methods.

use crate::harness::backends;
use crate::jwt_bearer::fixture::{JwtSetup, GRANT};

#[test]
fn each_tenant_describes_its_own_endpoints_and_what_the_server_supports() {
    for backend in backends() {
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
            assert!(metadata.get("authorization_endpoint").is_none());
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
}
