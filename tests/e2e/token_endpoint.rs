//! The token endpoint: tenant addressing, client authentication, client_credentials, every error
//! of RFC 6749 5.2 the foundation promises, and concurrency.

use std::io::Read;

use crate::harness::{on_each_backend, Backend, Deployment, CLIENT_CREDENTIALS};

fn client_credentials_with_basic_and_form_authentication(backend: Backend) {
    let deployment = Deployment::new(backend);
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read,write");
    let server = deployment.start();

    let basic = server.token("/oauth2/token", &client, CLIENT_CREDENTIALS);
    let token = basic.assert_token();
    assert_eq!(token["scope"], "read write");
    assert_eq!(token["expires_in"], 3600);
    assert!(token.get("refresh_token").is_none(), "RFC 6749 4.4.3");
    assert_eq!(basic.header("pragma"), Some("no-cache"));

    let form = server.post_form(
        "/oauth2/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &client.secret),
            ("scope", "write"),
        ],
    );
    assert_eq!(form.assert_token()["scope"], "write");
    assert_ne!(form.json["access_token"], basic.json["access_token"]);
}
on_each_backend!(client_credentials_with_basic_and_form_authentication);

fn tenants_by_path_and_by_query_and_isolated(backend: Backend) {
    let deployment = Deployment::new(backend);
    let server = deployment.start();
    // Added while the server runs: it sees the tenant and client without a restart.
    deployment.cli_ok(&["tenant", "add", "acme.com"]);
    let acme = deployment.add_client("acme.com", "app", "client_credentials", "read");
    let home = deployment.add_client("carbon.super", "app", "client_credentials", "read");

    server
        .token("/t/acme.com/oauth2/token", &acme, CLIENT_CREDENTIALS)
        .assert_token();
    server
        .token(
            "/oauth2/token?tenantDomain=acme.com",
            &acme,
            CLIENT_CREDENTIALS,
        )
        .assert_token();
    server
        .token(
            "/t/acme.com/oauth2/token?tenantDomain=acme.com",
            &acme,
            CLIENT_CREDENTIALS,
        )
        .assert_token();

    // A client of one tenant is unknown in another, in both directions.
    let reply = server.token("/oauth2/token", &acme, CLIENT_CREDENTIALS);
    reply.assert_error(401, "invalid_client");
    assert!(reply
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic"));
    server
        .token("/t/acme.com/oauth2/token", &home, CLIENT_CREDENTIALS)
        .assert_error(401, "invalid_client");

    let conflict = server.token(
        "/t/acme.com/oauth2/token?tenantDomain=other",
        &acme,
        CLIENT_CREDENTIALS,
    );
    assert!(conflict
        .assert_error(400, "invalid_request")
        .contains("contradicts"));

    let unknown = server.token("/t/nowhere/oauth2/token", &acme, CLIENT_CREDENTIALS);
    assert!(unknown
        .assert_error(404, "invalid_request")
        .contains("nowhere"));
    server
        .token(
            "/oauth2/token?tenantDomain=nowhere",
            &acme,
            CLIENT_CREDENTIALS,
        )
        .assert_error(404, "invalid_request");
}
on_each_backend!(tenants_by_path_and_by_query_and_isolated);

fn client_authentication_errors(backend: Backend) {
    let deployment = Deployment::new(backend);
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
    let server = deployment.start();
    let path = "/oauth2/token";

    // No credentials at all.
    let reply = server.post_form(path, None, CLIENT_CREDENTIALS);
    reply.assert_error(401, "invalid_client");
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Basic realm=\"grantor\"")
    );

    // Wrong secret and unknown client read the same.
    let wrong = crate::harness::Credentials {
        id: client.id.clone(),
        secret: "wrong".into(),
    };
    let d1 = server
        .token(path, &wrong, CLIENT_CREDENTIALS)
        .assert_error(401, "invalid_client");
    let unknown = crate::harness::Credentials {
        id: "nobody".into(),
        secret: client.secret.clone(),
    };
    let d2 = server
        .token(path, &unknown, CLIENT_CREDENTIALS)
        .assert_error(401, "invalid_client");
    assert_eq!(d1, d2);

    // Form secret without id, id without secret.
    server
        .post_form(
            path,
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client.id),
            ],
        )
        .assert_error(401, "invalid_client");

    // Two authentication methods at once.
    let both = server.post_form(
        path,
        Some(&client),
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &client.secret),
        ],
    );
    assert!(both
        .assert_error(400, "invalid_request")
        .contains("use one"));

    // A scheme other than Basic.
    let bearer = server
        .http
        .post(server.url(path))
        .header("authorization", "Bearer abc")
        .form(CLIENT_CREDENTIALS)
        .send()
        .unwrap();
    crate::harness::Reply::from(bearer).assert_error(401, "invalid_client");
}
on_each_backend!(client_authentication_errors);

fn grant_and_scope_errors(backend: Backend) {
    let deployment = Deployment::new(backend);
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
    let password_only = deployment.add_client("carbon.super", "legacy", "password", "read");
    let server = deployment.start();
    let path = "/oauth2/token";

    let missing = server.token(path, &client, &[("scope", "read")]);
    assert!(missing
        .assert_error(400, "invalid_request")
        .contains("grant_type"));

    server
        .token(path, &client, &[("grant_type", "magic")])
        .assert_error(400, "unsupported_grant_type");

    let refused = server.token(path, &password_only, CLIENT_CREDENTIALS);
    assert!(refused
        .assert_error(400, "unauthorized_client")
        .contains("client_credentials"));

    let scope = server.token(
        path,
        &client,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    );
    assert!(scope.assert_error(400, "invalid_scope").contains("admin"));
    server
        .token(
            path,
            &client,
            &[("grant_type", "client_credentials"), ("scope", "read \"x")],
        )
        .assert_error(400, "invalid_scope");
    // Partly allowed: narrowed to what the client may have.
    let narrowed = server.token(
        path,
        &client,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read admin"),
        ],
    );
    assert_eq!(narrowed.assert_token()["scope"], "read");
}
on_each_backend!(grant_and_scope_errors);

fn malformed_requests_are_clear_400s(backend: Backend) {
    let deployment = Deployment::new(backend);
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
    let server = deployment.start();
    let url = server.url("/oauth2/token");
    let send = |request: reqwest::blocking::RequestBuilder| {
        crate::harness::Reply::from(
            request
                .basic_auth(&client.id, Some(&client.secret))
                .send()
                .unwrap(),
        )
    };

    let duplicate = send(
        server
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=read&scope=read"),
    );
    assert!(duplicate
        .assert_error(400, "invalid_request")
        .contains("'scope' is repeated"));

    let duplicate_query = send(
        server
            .http
            .post(server.url("/oauth2/token?tenantDomain=a&tenantDomain=b"))
            .form(CLIENT_CREDENTIALS),
    );
    assert!(duplicate_query
        .assert_error(400, "invalid_request")
        .contains("tenantDomain"));

    let json = send(
        server
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"grant_type":"client_credentials"}"#),
    );
    assert!(json
        .assert_error(400, "invalid_request")
        .contains("Content-Type"));

    let no_type = send(server.http.post(&url).body("grant_type=client_credentials"));
    no_type.assert_error(400, "invalid_request");

    // Oversized with a Content-Length, and oversized streamed (chunked, no length).
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "x".repeat(70 * 1024)
    );
    let sized = send(
        server
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone()),
    );
    assert!(sized
        .assert_error(400, "invalid_request")
        .contains("exceeds the limit"));
    let reader: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(big.into_bytes()));
    let chunked = send(
        server
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(reqwest::blocking::Body::new(reader)),
    );
    assert!(chunked
        .assert_error(400, "invalid_request")
        .contains("exceeds the limit"));

    // Wrong method and unknown path answer JSON too.
    let get = crate::harness::Reply::from(server.http.get(&url).send().unwrap());
    assert_eq!(get.status, 405);
    let nothing = crate::harness::Reply::from(server.http.get(server.url("/nope")).send().unwrap());
    assert_eq!(nothing.status, 404);
}
on_each_backend!(malformed_requests_are_clear_400s);

fn health_reports_the_database(backend: Backend) {
    let deployment = Deployment::new(backend);
    let server = deployment.start();
    let reply = crate::harness::Reply::from(server.http.get(server.url("/health")).send().unwrap());
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["status"], "ok");
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(reply.json["database"], expected);
}
on_each_backend!(health_reports_the_database);

/// 200 token requests at once: none may fail (SQLite must queue writers, not say "locked").
fn two_hundred_concurrent_requests(backend: Backend) {
    let deployment = Deployment::new(backend);
    let client = deployment.add_client("carbon.super", "app", "client_credentials", "read");
    let server = deployment.start();
    let barrier = std::sync::Barrier::new(200);
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..200)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let reply = server.token("/oauth2/token", &client, CLIENT_CREDENTIALS);
                    (reply.status, reply.json.to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failures: Vec<_> = statuses.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failures.is_empty(),
        "{backend:?}: {} failed, first: {:?}",
        failures.len(),
        failures.first()
    );
    let distinct: std::collections::HashSet<_> = statuses.iter().map(|(_, j)| j).collect();
    assert_eq!(distinct.len(), 200, "every token is unique");
}
on_each_backend!(two_hundred_concurrent_requests);
