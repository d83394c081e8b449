//! The password grant (reference 000 step 4): users added with `grantor user add` (password on
//! stdin), signed in by a trusted client; with `scope=openid` an ID token signed by the tenant's
//! key whose `aud` holds the client and its registered extra audiences. Failed sign-ins are
//! limited per user and per address.

use crate::harness::{backends, Credentials, Deployment, Server};
use crate::jwt_verify::verified;

const PASSWORD: &str = "correct horse battery";
const APIS_TOKEN_ENDPOINT: &str = "https://apis.example/oauth2/token";

struct Setup {
    deployment: Deployment,
    server: Server,
    webapp: Credentials,
}

fn start(backend: crate::harness::Backend, extra_config: &str) -> Setup {
    let deployment = Deployment::with_extra_config(backend, extra_config);
    deployment.cli_ok(&["tenant", "add", "idp.example"]);
    deployment.add_user(
        "idp.example",
        "alice",
        PASSWORD,
        &[
            "--claim",
            "email=alice@idp.example",
            "--claim-json",
            r#"groups=["admin","dev"]"#,
        ],
    );
    let webapp = deployment.add_client_with(
        "idp.example",
        "webapp",
        "password,refresh_token",
        "openid,read",
        &["--audience", APIS_TOKEN_ENDPOINT, "--token-format", "jwt"],
    );
    let server = deployment.start();
    Setup {
        deployment,
        server,
        webapp,
    }
}

fn sign_in(setup: &Setup, username: &str, password: &str, scope: &str) -> crate::harness::Reply {
    setup.server.token(
        "/t/idp.example/oauth2/token",
        &setup.webapp,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", scope),
            ("nonce", "n-0S6_WzA2Mj"),
        ],
    )
}

#[test]
fn a_user_signs_in_and_gets_an_id_token_for_the_client_and_its_audiences() {
    for backend in backends() {
        let setup = start(backend, "");
        let listed = setup
            .deployment
            .cli_ok(&["user", "list", "--tenant", "idp.example"]);
        assert!(listed.contains("alice") && listed.contains("alice@idp.example"));
        assert!(
            !listed.contains(PASSWORD) && !listed.contains("argon2"),
            "{listed}"
        );

        let reply = sign_in(&setup, "alice", PASSWORD, "openid read");
        let body = reply.assert_token().clone();
        assert_eq!(body["scope"], "openid read");
        assert!(body["refresh_token"].is_string());
        let id_token = body["id_token"].as_str().expect("an id_token");
        let jwks = "/t/idp.example/oauth2/jwks";
        let claims = verified(&setup.server, jwks, id_token, "JWT", &setup.webapp.id);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(
            claims["iss"],
            "http://localhost:9443/t/idp.example/oauth2/token"
        );
        assert_eq!(
            claims["aud"],
            serde_json::json!([setup.webapp.id, APIS_TOKEN_ENDPOINT])
        );
        assert_eq!(claims["azp"], setup.webapp.id.as_str());
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(claims["email"], "alice@idp.example");
        assert_eq!(claims["groups"], serde_json::json!(["admin", "dev"]));
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert_eq!(lifetime, 3600);
        // The other audience accepts it too: that is what the exchange at another server needs.
        verified(&setup.server, jwks, id_token, "JWT", APIS_TOKEN_ENDPOINT);
        // The access token carries the user's claims as well.
        let access = body["access_token"].as_str().unwrap();
        let access_claims = verified(&setup.server, jwks, access, "at+jwt", &setup.webapp.id);
        assert_eq!(access_claims["sub"], "alice");
        assert_eq!(access_claims["email"], "alice@idp.example");

        // No openid asked, no ID token.
        let reply = sign_in(&setup, "alice", PASSWORD, "read");
        assert!(reply.assert_token().get("id_token").is_none());

        // A client not allowed the grant.
        let machine =
            setup
                .deployment
                .add_client("idp.example", "machine", "client_credentials", "read");
        setup
            .server
            .token(
                "/t/idp.example/oauth2/token",
                &machine,
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ],
            )
            .assert_error(400, "unauthorized_client");

        // A removed user cannot sign in.
        setup.deployment.cli_ok(&[
            "user",
            "remove",
            "--tenant",
            "idp.example",
            "--username",
            "alice",
        ]);
        let description =
            sign_in(&setup, "alice", PASSWORD, "openid").assert_error(400, "invalid_grant");
        assert_eq!(description, "invalid username or password");
    }
}

#[test]
fn wrong_passwords_and_unknown_users_read_alike_and_are_limited_per_user_and_address() {
    for backend in backends() {
        let setup = start(
            backend,
            "[oauth.password_grant]\nmax_failures_per_user = 3\nmax_failures_per_address = 5\n",
        );
        for user in ["bob", "carol"] {
            setup
                .deployment
                .add_user("idp.example", user, PASSWORD, &[]);
        }
        let wrong = sign_in(&setup, "alice", "wrong", "openid").assert_error(400, "invalid_grant");
        let unknown =
            sign_in(&setup, "mallory", PASSWORD, "openid").assert_error(400, "invalid_grant");
        assert_eq!(wrong, "invalid username or password");
        assert_eq!(wrong, unknown);
        // Missing parameters are the client's mistake, said as such.
        setup
            .server
            .token(
                "/t/idp.example/oauth2/token",
                &setup.webapp,
                &[("grant_type", "password"), ("username", "alice")],
            )
            .assert_error(400, "invalid_request");

        // Alice has one failure; two more reach her limit of 3.
        for _ in 0..2 {
            sign_in(&setup, "alice", "wrong", "openid").assert_error(400, "invalid_grant");
        }
        let refused = sign_in(&setup, "alice", PASSWORD, "openid");
        let description = refused.assert_error(429, "invalid_grant");
        assert!(description.contains("this user"), "{description}");
        let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=300).contains(&retry_after), "{retry_after}");
        // Another user is not held back by alice's failures.
        sign_in(&setup, "bob", PASSWORD, "openid").assert_token();

        // The address has 4 failures (alice 3, mallory 1); one more reaches its limit of 5, and
        // then even a right password from it is refused, for any user.
        sign_in(&setup, "carol", "wrong", "openid").assert_error(400, "invalid_grant");
        let description =
            sign_in(&setup, "bob", PASSWORD, "openid").assert_error(429, "invalid_grant");
        assert!(description.contains("this address"), "{description}");
        // No password or hash reached the log.
        let log = setup.server.log();
        assert!(!log.contains(PASSWORD) && !log.contains("argon2"), "{log}");
    }
}

#[test]
fn a_tenant_may_qualify_its_subjects_with_its_domain() {
    for backend in backends() {
        let setup = start(backend, "");
        let jwks = "/t/idp.example/oauth2/jwks";
        let subjects = |setup: &Setup| {
            let body = sign_in(setup, "alice", PASSWORD, "openid")
                .assert_token()
                .clone();
            let access = body["access_token"].as_str().unwrap();
            let id_token = body["id_token"].as_str().unwrap();
            let introspected = setup.server.post_form(
                "/t/idp.example/oauth2/introspect",
                Some(&setup.webapp),
                &[("token", access)],
            );
            [
                verified(&setup.server, jwks, access, "at+jwt", &setup.webapp.id)["sub"].clone(),
                verified(&setup.server, jwks, id_token, "JWT", &setup.webapp.id)["sub"].clone(),
                introspected.json["sub"].clone(),
            ]
        };
        assert_eq!(subjects(&setup), ["alice", "alice", "alice"]);
        setup.deployment.cli_ok(&[
            "tenant",
            "update",
            "idp.example",
            "--qualified-subjects",
            "true",
        ]);
        assert_eq!(
            subjects(&setup),
            [
                "alice@idp.example",
                "alice@idp.example",
                "alice@idp.example"
            ]
        );
    }
}
