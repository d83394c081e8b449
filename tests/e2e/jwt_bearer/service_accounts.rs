//! Service-account style identity providers (`idp add --service-account-client ID`): the
//! requests Google's service-account libraries send, with only `grant_type` and `assertion`, no
//! `sub` or `jti`, scopes in a `scope` claim, a one-hour lifetime and Grantor's token endpoint as
//! audience (the key file's `token_uri`). Accepted only where a provider binds its issuer to a
//! client; `invalid_client` everywhere else. A service account asserts only itself unless the
//! operator lists the subjects it may act for.

use serde_json::{json, Value};

use crate::harness::{
    good_claims, now, on_each_backend, with, Backend, Credentials, IdpKey, JwtSetup, Reply,
    DEFAULT_TOKEN_ENDPOINT, GRANT, IDP_ISSUER,
};

const SA_ISSUER: &str = "robot@project.iam.example";
const VENDOR_AUDIENCE: &str = "https://oauth2.googleapis.com/token";

struct ServiceAccount {
    setup: JwtSetup,
    client: Credentials,
}

impl ServiceAccount {
    fn start(backend: Backend) -> ServiceAccount {
        ServiceAccount::start_with(backend, &[])
    }

    /// `extra` goes to `idp add` (for example `--allowed-subject S`).
    fn start_with(backend: Backend, extra: &[&str]) -> ServiceAccount {
        let setup = JwtSetup::start(backend);
        let client = setup
            .deployment
            .add_client("carbon.super", "robot", GRANT, "read,write");
        let certificate = setup.idp.certificate_path.to_str().unwrap().to_owned();
        let mut args = vec![
            "--name",
            "robot-sa",
            "--issuer",
            SA_ISSUER,
            "--certificate",
            &certificate,
            "--service-account-client",
            &client.id,
            "--scope-claim",
            "scope",
        ];
        args.extend_from_slice(extra);
        setup.add_idp(&args);
        ServiceAccount { setup, client }
    }

    /// Claims as a service-account library makes them.
    fn library_claims(&self, scope: &str) -> Value {
        let now = now();
        json!({
            "iss": SA_ISSUER,
            "scope": scope,
            "aud": DEFAULT_TOKEN_ENDPOINT,
            "iat": now,
            "exp": now + 3600,
        })
    }

    /// An assertion-only request: no Authorization header, no client_id.
    fn post(&self, assertion: &str, extra: &[(&str, &str)]) -> Reply {
        let mut form = vec![("grant_type", GRANT), ("assertion", assertion)];
        form.extend_from_slice(extra);
        self.setup.server.post_form("/oauth2/token", None, &form)
    }
}

fn an_assertion_only_request_succeeds_for_a_bound_service_account(backend: Backend) {
    let sa = ServiceAccount::start(backend);
    let key = &sa.setup.idp;

    let reply = sa.post(&key.assertion(&sa.library_claims("read")), &[]);
    let token = reply.assert_token();
    assert_eq!(token["scope"], "read");
    // Refreshing would need the client credentials this request did without.
    assert!(token.get("refresh_token").is_none(), "{token}");

    // A scope parameter narrows the claim's scopes, never widens them.
    let reply = sa.post(
        &key.assertion(&sa.library_claims("read write")),
        &[("scope", "write")],
    );
    assert_eq!(reply.assert_token()["scope"], "write");
    let reply = sa.post(
        &key.assertion(&sa.library_claims("read")),
        &[("scope", "write")],
    );
    let description = reply.assert_error(400, "invalid_scope");
    assert!(
        description.contains("among the assertion's"),
        "{description}"
    );

    // Only itself: no sub, the client id or the issuer; anyone else is refused.
    for subject in [sa.client.id.as_str(), SA_ISSUER] {
        let itself = with(sa.library_claims("read"), json!({ "sub": subject }));
        sa.post(&key.assertion(&itself), &[]).assert_token();
    }
    let other = with(sa.library_claims("read"), json!({"sub": "someone-else"}));
    let description = sa
        .post(&key.assertion(&other), &[])
        .assert_error(400, "invalid_grant");
    assert!(
        description.contains("may assert only itself") && description.contains("'someone-else'"),
        "{description}"
    );

    // An assertion minted for the vendor is not for Grantor (no vendor alias is configured).
    let for_vendor = with(sa.library_claims("read"), json!({ "aud": VENDOR_AUDIENCE }));
    let description = sa
        .post(&key.assertion(&for_vendor), &[])
        .assert_error(400, "invalid_grant");
    assert!(
        description.contains("None of the audience values matched"),
        "{description}"
    );

    // The issuer is read unverified only to pick the client: a forged assertion naming the
    // service account still fails its signature check.
    let forger = IdpKey::rsa(sa.setup.keys_dir.path(), "forger");
    let description = sa
        .post(&forger.assertion(&sa.library_claims("read")), &[])
        .assert_error(400, "invalid_grant");
    assert!(description.contains("signature"), "{description}");

    // The bound client may also authenticate as usual.
    let reply = sa.setup.server.token(
        "/oauth2/token",
        &sa.client,
        &[
            ("grant_type", GRANT),
            ("assertion", &key.assertion(&sa.library_claims("write"))),
        ],
    );
    assert_eq!(reply.assert_token()["scope"], "write");
}
on_each_backend!(an_assertion_only_request_succeeds_for_a_bound_service_account);

fn assertion_only_requests_are_refused_where_not_enabled(backend: Backend) {
    let sa = ServiceAccount::start(backend);
    let key = &sa.setup.idp;
    let refused = |reply: Reply| {
        let description = reply.assert_error(401, "invalid_client");
        assert_eq!(description, "client authentication is required");
    };

    // An ordinary identity provider's assertion, without client authentication.
    refused(sa.post(&key.assertion(&good_claims()), &[]));
    // An unknown issuer, a malformed assertion, none at all.
    refused(sa.post(
        &key.assertion(&with(
            good_claims(),
            json!({"iss": "https://nobody.example"}),
        )),
        &[],
    ));
    refused(sa.post("not-a-jwt", &[]));
    refused(
        sa.setup
            .server
            .post_form("/oauth2/token", None, &[("grant_type", GRANT)]),
    );
    // Other grant types never take an assertion for client authentication.
    refused(sa.setup.server.post_form(
        "/oauth2/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("assertion", &key.assertion(&sa.library_claims("read"))),
        ],
    ));

    // A disabled service-account provider.
    let certificate = key.certificate_path.to_str().unwrap().to_owned();
    sa.setup.add_idp(&[
        "--name",
        "sleeping-sa",
        "--issuer",
        "sleeper@project.iam.example",
        "--certificate",
        &certificate,
        "--service-account-client",
        &sa.client.id,
        "--disabled",
    ]);
    refused(sa.post(
        &key.assertion(&with(
            sa.library_claims("read"),
            json!({"iss": "sleeper@project.iam.example"}),
        )),
        &[],
    ));

    // Another client may not present the service account's assertions.
    let description = sa
        .setup
        .exchange(&key.assertion(&sa.library_claims("read")))
        .assert_error(400, "invalid_grant");
    assert!(
        description.contains("service account of another client"),
        "{description}"
    );
    // And the ordinary provider is unaffected.
    sa.setup
        .exchange(&key.assertion(&with(good_claims(), json!({"iss": IDP_ISSUER}))))
        .assert_token();

    // A binding names an existing client of the tenant.
    let out = sa.setup.deployment.cli(&[
        "idp",
        "add",
        "--name",
        "dangling",
        "--issuer",
        "dangling@project.iam.example",
        "--certificate",
        &certificate,
        "--service-account-client",
        "no-such-client",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("client 'no-such-client' not found"),
        "{stderr}"
    );
}
on_each_backend!(assertion_only_requests_are_refused_where_not_enabled);

fn delegation_to_other_subjects_must_be_listed(backend: Backend) {
    let sa = ServiceAccount::start_with(backend, &["--allowed-subject", "alice"]);
    let key = &sa.setup.idp;
    let as_alice = with(sa.library_claims("read"), json!({"sub": "alice"}));
    sa.post(&key.assertion(&as_alice), &[]).assert_token();

    // The account is still itself; the list adds delegation, nothing else.
    sa.post(&key.assertion(&sa.library_claims("read")), &[])
        .assert_token();
    let as_bob = with(sa.library_claims("read"), json!({"sub": "bob"}));
    let description = sa
        .post(&key.assertion(&as_bob), &[])
        .assert_error(400, "invalid_grant");
    assert!(
        description.contains("subject 'bob' is not allowed"),
        "{description}"
    );
}
on_each_backend!(delegation_to_other_subjects_must_be_listed);
