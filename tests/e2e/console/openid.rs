//! Signing in to the console as a user of an operators' tenant (`[admin.console]`): the console
//! is an OpenID client of it (code flow with PKCE, state and nonce, the password every time), the
//! operator is named in the audit log, a callback and a code are good once, a wrong state, nonce
//! or verifier is refused, a removed operator operates no more, and the admin token still works.

use super::{text, TOKEN, TOKEN_VARIABLE};
use crate::harness::{
    admin_listener, free_port, on_each_backend, wait_until_listening, Backend, Browser, Deployment,
    Page, Server,
};

const OPERATOR_PASSWORD: &str = "root-password-for-the-console";
const SECRET_VARIABLE: &str = "CONSOLE_TEST_OPENID_SECRET";
const FLOW_COOKIE: &str = "grantor-console-openid";

struct OpenIdSetup {
    deployment: Deployment,
    _server: Server,
    base: String,
    console: String,
}

impl OpenIdSetup {
    fn start(backend: Backend) -> OpenIdSetup {
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
        let server = deployment.start_with_env(&[
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
        OpenIdSetup {
            deployment,
            _server: server,
            base,
            console,
        }
    }

    /// A flow in `browser` up to the way back: the callback URL (with its code) and the flow's
    /// cookie, the callback not yet visited.
    fn to_callback(&self, browser: &mut Browser) -> (String, String) {
        let start = browser.get(&format!("{}/console/sign-in/openid", self.console));
        assert_eq!(start.status, 303);
        let authorize = start.location().unwrap().to_owned();
        assert!(
            authorize.starts_with(&format!("{}/t/operators/oauth2/authorize?", self.base)),
            "{authorize}"
        );
        for part in [
            "code_challenge_method=S256",
            "nonce=",
            "state=",
            "prompt=login",
        ] {
            assert!(authorize.contains(part), "{part}: {authorize}");
        }
        let flow = start.set_cookie(FLOW_COOKIE).unwrap();
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
        assert!(callback.starts_with(&format!("{}/console/callback?", self.console)));
        (callback, browser.cookie(FLOW_COOKIE).unwrap().to_owned())
    }

    /// The callback visited in a fresh browser holding `flow` as the flow's cookie.
    fn back_with(&self, callback: &str, flow: &str) -> Page {
        let mut browser = Browser::new();
        browser.set_cookie(FLOW_COOKIE, flow);
        browser.get(callback)
    }
}

fn an_operator_signs_in_through_openid_and_is_named_in_the_audit_log(backend: Backend) {
    let setup = OpenIdSetup::start(backend);
    let console = &setup.console;
    let mut browser = Browser::new();
    let page = browser.get(&format!("{console}/console/sign-in"));
    assert!(
        text(&page).contains("Sign in with operators"),
        "{}",
        page.body
    );
    let (callback, flow) = setup.to_callback(&mut browser);
    let signed_in = browser.get(&callback);
    // A page of the console's own leads on (the session cookie is SameSite=Strict, and the way
    // back came from the server's listener), and the flow's cookie is gone.
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let shown = text(&signed_in);
    assert!(shown.contains("Signed in as root@operators."), "{shown}");
    assert!(
        shown.contains(r#"<meta http-equiv="refresh" content="0; url=/console/tenants">"#),
        "{shown}"
    );
    assert!(signed_in.set_cookie("grantor-console").is_some());
    let cleared = signed_in.set_cookie(FLOW_COOKIE).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

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
    let printed = setup
        .deployment
        .cli_ok(&["audit", "--json", "--limit", "1"]);
    let entry: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(entry["action"], "tenant.add");
    let actor = entry["actor"].as_str().unwrap();
    assert!(
        actor.starts_with("root@operators (console session "),
        "{entry}"
    );
    assert_eq!(entry["via"], "console");

    // Good once: in the same browser the flow's cookie is gone; with it put back, the code is
    // spent.
    let again = browser.get(&callback);
    assert_eq!(again.status, 400);
    assert!(
        text(&again).contains("did not start here"),
        "{}",
        again.body
    );
    let spent = setup.back_with(&callback, &flow);
    assert_eq!(spent.status, 400, "{}", spent.body);
    assert!(
        text(&spent).contains("could not be completed"),
        "{}",
        spent.body
    );

    // Removed from the operators' tenant, the operator operates no more.
    setup.deployment.cli_ok(&[
        "user",
        "remove",
        "--tenant",
        "operators",
        "--username",
        "root",
    ]);
    let after = browser.get(&format!("{console}/console/tenants"));
    assert_eq!(after.status, 303, "{}", after.body);
    // The admin token still signs in beside it.
    let mut token = Browser::new();
    let form = token.get(&format!("{console}/console/sign-in"));
    let by_token = token.submit(&form, &[("token", TOKEN)]);
    assert_eq!(by_token.status, 303, "{}", by_token.body);
}
on_each_backend!(an_operator_signs_in_through_openid_and_is_named_in_the_audit_log);

/// The way back with another state, another flow's nonce or a wrong PKCE verifier is refused.
fn a_wrong_state_nonce_or_verifier_signs_nobody_in(backend: Backend) {
    let setup = OpenIdSetup::start(backend);
    let parts = |flow: &str| -> Vec<String> { flow.split('.').map(str::to_owned).collect() };

    let (callback, flow) = setup.to_callback(&mut Browser::new());
    let forged = callback.replace("state=", "state=x");
    let refused = setup.back_with(&forged, &flow);
    assert_eq!(refused.status, 400);
    assert!(
        text(&refused).contains("state does not match"),
        "{}",
        refused.body
    );

    // Another flow's nonce beside this flow's state and verifier: the code is redeemed, the ID
    // token's nonce is not this flow's.
    let (_, other) = setup.to_callback(&mut Browser::new());
    let (mine, theirs) = (parts(&flow), parts(&other));
    let swapped = format!("{}.{}.{}", mine[0], theirs[1], mine[2]);
    let page = setup.back_with(&callback, &swapped);
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.set_cookie("grantor-console").is_none());

    // A verifier that is not the one the challenge was made from: the code is not redeemed.
    let (callback, flow) = setup.to_callback(&mut Browser::new());
    let mine = parts(&flow);
    let wrong = format!("{}.{}.{}", mine[0], mine[1], theirs[2]);
    let page = setup.back_with(&callback, &wrong);
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.set_cookie("grantor-console").is_none());
}
on_each_backend!(a_wrong_state_nonce_or_verifier_signs_nobody_in);
