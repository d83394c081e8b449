//! Signing in to the console as a user of an operators' tenant (`[admin.console]`): the console
//! is an OpenID client of it (code flow with PKCE, state and nonce), the operator is named in the
//! audit log, a callback is good once, a wrong state is refused, and the admin token still works.

use super::{text, TOKEN, TOKEN_VARIABLE};
use crate::harness::{
    admin_listener, free_port, on_each_backend, wait_until_listening, Backend, Browser, Deployment,
};

const OPERATOR_PASSWORD: &str = "root-password-for-the-console";
const SECRET_VARIABLE: &str = "CONSOLE_TEST_OPENID_SECRET";

fn an_operator_signs_in_through_openid_and_is_named_in_the_audit_log(backend: Backend) {
    let (port, admin_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let console = format!("http://127.0.0.1:{admin_port}");
    let deployment =
        Deployment::with_extra_config(backend, &admin_listener(admin_port, TOKEN_VARIABLE));
    deployment.cli_ok(&["tenant", "add", "operators", "--name", "Operators"]);
    deployment.add_user("operators", "root", OPERATOR_PASSWORD, &[]);
    let client = deployment.add_client_with(
        "operators",
        "console",
        "authorization_code",
        "openid",
        &[
            "--redirect-uri",
            &format!("{console}/console/callback"),
            "--consent",
            "skip",
        ],
    );
    let _server = deployment.start_with_env(&[
        (TOKEN_VARIABLE, TOKEN),
        ("GRANTOR_SERVER__BIND", &format!("127.0.0.1:{port}")),
        ("GRANTOR_SERVER__PUBLIC_BASE_URL", &base),
        ("GRANTOR_ADMIN__CONSOLE__OPENID_TENANT", "operators"),
        ("GRANTOR_ADMIN__CONSOLE__OPENID_CLIENT_ID", &client.id),
        (
            "GRANTOR_ADMIN__CONSOLE__OPENID_CLIENT_SECRET_ENV",
            SECRET_VARIABLE,
        ),
        (SECRET_VARIABLE, &client.secret),
        ("GRANTOR_ADMIN__CONSOLE__PUBLIC_URL", &console),
    ]);
    wait_until_listening(admin_port);

    let mut browser = Browser::new();
    let page = browser.get(&format!("{console}/console/sign-in"));
    assert!(
        text(&page).contains("Sign in with operators"),
        "{}",
        page.body
    );
    let start = browser.get(&format!("{console}/console/sign-in/openid"));
    assert_eq!(start.status, 303);
    let authorize = start.location().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{base}/t/operators/oauth2/authorize?")),
        "{authorize}"
    );
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="));
    let flow = start.set_cookie("grantor-console-openid").unwrap();
    assert!(
        flow.contains("HttpOnly") && flow.contains("SameSite=Lax"),
        "{flow}"
    );

    let login = browser.get(&authorize);
    assert_eq!(login.status, 200, "{}", login.body);
    let back = browser.submit(
        &login,
        &[("username", "root"), ("password", OPERATOR_PASSWORD)],
    );
    assert_eq!(back.status, 303, "{}", back.body);
    let callback = back.location().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{console}/console/callback?")),
        "{callback}"
    );
    let signed_in = browser.get(&callback);
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location(), Some("/console/tenants"));
    assert!(signed_in.set_cookie("grantor-console").is_some());

    // A change in that session names the operator.
    let tenants = browser.get(&format!("{console}/console/tenants"));
    assert_eq!(tenants.status, 200);
    let csrf = tenants.hidden("csrf_token").unwrap();
    let added = browser.post_form(
        &format!("{console}/console/tenants"),
        &[
            ("csrf_token".into(), csrf),
            ("domain".into(), "beta.example".into()),
        ],
    );
    assert_eq!(added.status, 200, "{}", added.body);
    let printed = deployment.cli_ok(&["audit", "--json", "--limit", "1"]);
    let entry: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(entry["action"], "tenant.add");
    assert!(
        entry["actor"]
            .as_str()
            .unwrap()
            .starts_with("root@operators (console session "),
        "{entry}"
    );
    assert_eq!(entry["via"], "console");

    // The callback is good once: the flow's cookie is gone, and the code with it.
    let mut replay = Browser::new();
    let again = replay.get(&callback);
    assert_eq!(again.status, 400);
    assert!(
        text(&again).contains("did not start here"),
        "{}",
        again.body
    );
    // A way back with another state is refused.
    let mut other = Browser::new();
    let started = other.get(&format!("{console}/console/sign-in/openid"));
    assert_eq!(started.status, 303);
    let refused = other.get(&format!(
        "{console}/console/callback?code=x&state=not-the-state"
    ));
    assert_eq!(refused.status, 400);
    assert!(
        text(&refused).contains("state does not match"),
        "{}",
        refused.body
    );
    // The admin token still signs in beside it.
    let mut token = Browser::new();
    let form = token.get(&format!("{console}/console/sign-in"));
    let by_token = token.submit(&form, &[("token", TOKEN)]);
    assert_eq!(by_token.status, 303, "{}", by_token.body);
}
on_each_backend!(an_operator_signs_in_through_openid_and_is_named_in_the_audit_log);
