//! The operators' console (`/console/` on the admin listener): signing in with the admin token
//! and its limits (`sign_in`), CSRF refusals and each form's validation with the messages the
//! command line and the REST API give (`forms`), what it creates serving real token requests and
//! every change in the audit log (`flow`), a real browser clicking through it (`browser`), and
//! signing in as a user of an operators' tenant (`openid`).

mod browser;
mod flow;
mod forms;
mod openid;
mod sign_in;

use crate::harness::{
    admin_listener, free_port, registration, wait_until_listening, Backend, Browser, Deployment,
    Page, Server, GRANT,
};

pub const TOKEN_VARIABLE: &str = "CONSOLE_TEST_ADMIN_TOKEN";
pub const TOKEN: &str = "admin-token-for-the-console-tests";

/// A server with its admin listener (and the JWT bearer plugin), and the console's address.
pub struct ConsoleSetup {
    pub deployment: Deployment,
    pub server: Server,
    /// `http://127.0.0.1:PORT/console`.
    pub console: String,
}

impl ConsoleSetup {
    pub fn start(backend: Backend) -> ConsoleSetup {
        Self::start_with(backend, &[])
    }

    /// `start` with more variables in the server's environment (`GRANTOR_SERVER__...`, say).
    pub fn start_with(backend: Backend, env: &[(&str, &str)]) -> ConsoleSetup {
        let port = free_port();
        let deployment = Deployment::with_extra_config(
            backend,
            &format!(
                "{}{}",
                registration(GRANT, "grant_jwt_bearer", ""),
                admin_listener(port, TOKEN_VARIABLE)
            ),
        );
        deployment.drop_plugin("grant_jwt_bearer");
        let mut all = vec![(TOKEN_VARIABLE, TOKEN)];
        all.extend_from_slice(env);
        let server = deployment.start_with_env(&all);
        wait_until_listening(port);
        ConsoleSetup {
            deployment,
            server,
            console: format!("http://127.0.0.1:{port}/console"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.console)
    }

    /// A browser signed in to the console.
    pub fn signed_in(&self) -> Browser {
        let mut browser = Browser::new();
        let signed_in = self.sign_in(&mut browser, TOKEN);
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        browser
    }

    /// Gets the sign-in form and posts `token` with it.
    pub fn sign_in(&self, browser: &mut Browser, token: &str) -> Page {
        let form = browser.get(&self.url("/sign-in"));
        assert_eq!(form.status, 200, "{}", form.body);
        browser.submit(&form, &[("token", token)])
    }

    /// The CSRF token of `browser`'s session, from a page's form.
    pub fn csrf(&self, browser: &mut Browser) -> String {
        let page = browser.get(&self.url("/tenants"));
        assert_eq!(page.status, 200, "{}", page.body);
        page.hidden("csrf_token").expect("a form with a CSRF token")
    }

    /// POSTs `fields` (with the session's CSRF token) to `path` as a plain form.
    pub fn post(&self, browser: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf(browser);
        let mut all: Vec<(String, String)> = vec![("csrf_token".into(), csrf)];
        all.extend(
            fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        browser.post_form(&self.url(path), &all)
    }

    /// POSTs `fields` and `files` (with the CSRF token) to `path` as multipart form data.
    pub fn post_files(
        &self,
        browser: &mut Browser,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Page {
        let csrf = self.csrf(browser);
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        browser.post_multipart(&self.url(path), &all, files)
    }
}

/// The text of a page, entities decoded (what the browser shows, tags and all).
pub fn text(page: &Page) -> String {
    crate::harness::decode_html(&page.body)
}

/// Whether `text` shows a certificate's expiry as the command line prints it (the test keys'
/// certificates expire soon, so with the warning).
pub fn shows_expiry(text: &str) -> bool {
    text.contains("valid until") || text.contains("in less than 30 days: register its successor")
}
