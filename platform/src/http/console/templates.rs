//! The console's pages, rendered on the server from templates (minijinja, as the sign-in pages),
//! and its two static files. The built-in templates are compiled into the binary
//! (`platform/themes/default/console/`); an operator's theme directory
//! (`oauth.sign_in.theme_dir`) replaces any of them by name from its `console/` subdirectory,
//! without a rebuild. Values are HTML-escaped; every page is rendered once with sample values
//! (`samples`) when the theme loads, so a broken template stops the start.
//!
//! Every page is sent with a Content-Security-Policy that runs no inline script and no script from
//! elsewhere (`script-src 'self'`: the one vendored file), takes styles from the one stylesheet,
//! posts forms only here and cannot be framed.

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use warp::http::{header, HeaderValue, Response, StatusCode};
use warp::hyper::body::Bytes;

use crate::http::reply::HttpResponse;
use crate::pages::ThemeError;

/// The built-in templates, by the name pages render them under.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "console/base.html",
        include_str!("../../../themes/default/console/base.html"),
    ),
    (
        "console/sign_in.html",
        include_str!("../../../themes/default/console/sign_in.html"),
    ),
    (
        "console/message.html",
        include_str!("../../../themes/default/console/message.html"),
    ),
    (
        "console/confirm.html",
        include_str!("../../../themes/default/console/confirm.html"),
    ),
    (
        "console/tenants.html",
        include_str!("../../../themes/default/console/tenants.html"),
    ),
    (
        "console/tenant.html",
        include_str!("../../../themes/default/console/tenant.html"),
    ),
    (
        "console/identity_providers.html",
        include_str!("../../../themes/default/console/identity_providers.html"),
    ),
    (
        "console/identity_provider.html",
        include_str!("../../../themes/default/console/identity_provider.html"),
    ),
    (
        "console/applications.html",
        include_str!("../../../themes/default/console/applications.html"),
    ),
    (
        "console/application_created.html",
        include_str!("../../../themes/default/console/application_created.html"),
    ),
    (
        "console/users.html",
        include_str!("../../../themes/default/console/users.html"),
    ),
    (
        "console/keys.html",
        include_str!("../../../themes/default/console/keys.html"),
    ),
    (
        "console/plugins.html",
        include_str!("../../../themes/default/console/plugins.html"),
    ),
    (
        "console/audit.html",
        include_str!("../../../themes/default/console/audit.html"),
    ),
];

/// The static files: the stylesheet and the script that adds the copy button.
pub const STYLESHEET: &str = include_str!("../../../themes/default/console/console.css");
pub const SCRIPT: &str = include_str!("../../../themes/default/console/console.js");

const POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's templates.
pub struct ConsoleTheme {
    env: Environment<'static>,
}

impl std::fmt::Debug for ConsoleTheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleTheme(..)")
    }
}

impl ConsoleTheme {
    /// The built-in templates, with those of `theme_dir/console/` (if given) in their place.
    pub fn load(theme_dir: Option<&Path>) -> Result<ConsoleTheme, ThemeError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        // No debug dumps of a page's values in errors (a secret shown once is one of them).
        env.set_debug(false);
        let dir = theme_dir.map(|d| d.join("console"));
        for (name, built_in) in BUILT_IN {
            let file = name.trim_start_matches("console/");
            let source = match dir.as_ref().map(|d| d.join(file)).filter(|p| p.exists()) {
                Some(path) => crate::pages::read_template(&path)?,
                None => (*built_in).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| ThemeError::Template {
                    file: name,
                    reason: crate::pages::describe(&e),
                })?;
        }
        let theme = ConsoleTheme { env };
        for (name, _) in BUILT_IN {
            let page = name
                .trim_start_matches("console/")
                .trim_end_matches(".html");
            if page == "base" {
                continue;
            }
            theme
                .render(name, &super::samples::sample(page))
                .map_err(|e| ThemeError::Template {
                    file: name,
                    reason: crate::pages::describe(&e),
                })?;
        }
        Ok(theme)
    }

    fn render(&self, name: &str, values: &serde_json::Value) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(values)))
    }

    /// `page` (a name without `console/` and `.html`) rendered with `values`, as an HTML response;
    /// a template that fails to render is the operator's to fix: a 500, the reason in the log.
    pub fn page(&self, status: StatusCode, page: &str, values: &serde_json::Value) -> HttpResponse {
        let name = format!("console/{page}.html");
        // What the layout reads on every page, null where a page has none.
        let mut values = values.clone();
        if let Some(map) = values.as_object_mut() {
            for key in [
                "section",
                "tenant",
                "notice",
                "error",
                "signed_in",
                "csrf_token",
            ] {
                map.entry(key).or_insert(serde_json::Value::Null);
            }
        }
        let rendered = self.render(&name, &values);
        let (status, body) = match rendered {
            Ok(html) => (status, html),
            Err(e) => {
                // The error's place and reason, never its debug dump: that would show the page's
                // values, a secret shown once among them.
                tracing::error!(
                    "cannot render the console page {name}: {}",
                    crate::pages::describe(&e)
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>This page cannot be shown.</p>"
                        .to_owned(),
                )
            }
        };
        with_page_headers(
            status,
            Bytes::from(body),
            "text/html; charset=utf-8",
            "no-store",
        )
    }
}

/// A static file of the console (cached: it changes with the binary only).
pub fn static_file(body: &'static str, content_type: &'static str) -> HttpResponse {
    with_page_headers(
        StatusCode::OK,
        Bytes::from_static(body.as_bytes()),
        content_type,
        "private, max-age=3600",
    )
}

fn with_page_headers(
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    cache: &'static str,
) -> HttpResponse {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    crate::http::browser::protect_page(headers, content_type, cache);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_page_renders_with_a_csrf_token_on_each_post_form_and_no_inline_script() {
        let theme = ConsoleTheme::load(None).unwrap();
        for (name, _) in BUILT_IN.iter().filter(|(n, _)| *n != "console/base.html") {
            let page = name
                .trim_start_matches("console/")
                .trim_end_matches(".html");
            let html = theme
                .render(name, &super::super::samples::sample(page))
                .unwrap();
            assert!(html.starts_with("<!doctype html>"), "{name}");
            for form in html.split("<form").skip(1) {
                let head = &form[..form.find('>').unwrap()];
                if head.contains("method=\"post\"") {
                    assert!(
                        form.contains(r#"<input type="hidden" name="csrf_token" value="x">"#),
                        "{name}: a form without its CSRF token"
                    );
                }
            }
            assert!(!html.contains("<script>"), "{name}: an inline script");
        }
    }

    #[test]
    fn a_theme_replaces_a_console_page_and_a_broken_one_stops_the_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("console")).unwrap();
        std::fs::write(
            dir.path().join("console/message.html"),
            "<!doctype html><p>{{ title }}: {{ message }}</p>",
        )
        .unwrap();
        let theme = ConsoleTheme::load(Some(dir.path())).unwrap();
        let page = theme.page(
            StatusCode::NOT_FOUND,
            "message",
            &serde_json::json!({"title": "Gone", "message": "<b>no</b>"}),
        );
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            std::str::from_utf8(page.body()).unwrap(),
            "<!doctype html><p>Gone: &lt;b&gt;no&lt;&#x2f;b&gt;</p>"
        );
        // A name the page is not given: the load stops, naming the file.
        std::fs::write(dir.path().join("console/keys.html"), "{{ kyes.0.kid }}").unwrap();
        let error = ConsoleTheme::load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("console/keys.html"), "{error}");
    }
}
