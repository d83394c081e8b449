//! The pages a browser sees (sign-in, consent, an error that must not redirect, signed out),
//! rendered on the server from templates, usable without JavaScript. The built-in theme is compiled
//! into the binary (`platform/themes/default/`); an operator's theme directory replaces any of its
//! files by name, without a rebuild (minijinja loads templates at run time). Values are
//! HTML-escaped (`.html` templates), and every page is rendered once with sample values when the
//! theme loads, so a broken template stops the start instead of the first sign-in.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::json;

/// The built-in theme: the layout and one template per page.
const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../themes/default/base.html")),
    ("login.html", include_str!("../themes/default/login.html")),
    (
        "consent.html",
        include_str!("../themes/default/consent.html"),
    ),
    ("error.html", include_str!("../themes/default/error.html")),
    ("logout.html", include_str!("../themes/default/logout.html")),
    (
        "logged_out.html",
        include_str!("../themes/default/logged_out.html"),
    ),
    (
        "form_post.html",
        include_str!("../themes/default/form_post.html"),
    ),
];

/// Largest template file read from a theme directory.
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// A page of the sign-in flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Username and password: `tenant_name`, `action`, `csrf_token`, `hidden` (the fields of the
    /// authorization request, each `name` and `value`, which the form must post back); optional
    /// `client_name`, `username`, `error`, `retry_after_seconds`.
    Login,
    /// `tenant_name`, `client_name`, `username`, `scopes` (a list), `action`, `csrf_token`,
    /// `hidden`; the form posts `decision` = `allow` or `deny`.
    Consent,
    /// A request that cannot go back to its client (an unknown client, a redirect URI not
    /// registered): `tenant_name`, `message`.
    Error,
    /// Asks whether to sign out, when the logout request did not prove it came from an application
    /// of the session (RP-Initiated Logout 1.0 2): `tenant_name`, `action`, `csrf_token`,
    /// `hidden`; optional `client_name`.
    Logout,
    /// `tenant_name`; optional `continue_url`.
    LoggedOut,
    /// The response to a `response_mode=form_post` request (OAuth 2.0 Form Post Response Mode):
    /// `redirect_uri` and `fields` (`name`, `value`), posted to the client by the browser.
    FormPost,
}

impl Page {
    pub const ALL: [Page; 6] = [
        Page::Login,
        Page::Consent,
        Page::Error,
        Page::Logout,
        Page::LoggedOut,
        Page::FormPost,
    ];

    pub fn file(self) -> &'static str {
        match self {
            Page::Login => "login.html",
            Page::Consent => "consent.html",
            Page::Error => "error.html",
            Page::Logout => "logout.html",
            Page::LoggedOut => "logged_out.html",
            Page::FormPost => "form_post.html",
        }
    }

    /// Values of every variable the page is given, as a theme is checked with at load.
    fn sample(self) -> serde_json::Value {
        let common = json!({"tenant_name": "Example", "action": "/oauth2/authorize",
            "csrf_token": "x", "hidden": [{"name": "client_id", "value": "app"}]});
        let mut sample = common;
        let extra = match self {
            Page::Login => json!({"client_name": "App", "username": "alice",
                "error": "invalid username or password", "retry_after_seconds": 30}),
            Page::Consent => json!({"client_name": "App", "username": "alice",
                "scopes": ["openid", "profile"]}),
            Page::Error => json!({"message": "the redirect URI is not registered"}),
            Page::Logout => json!({"client_name": "App"}),
            Page::LoggedOut => json!({"continue_url": "https://app.example/"}),
            Page::FormPost => json!({"redirect_uri": "https://app.example/cb",
                "fields": [{"name": "code", "value": "c"}, {"name": "state", "value": "s"}]}),
        };
        if let (Some(sample), serde_json::Value::Object(extra)) = (sample.as_object_mut(), extra) {
            sample.extend(extra);
        }
        sample
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("theme directory {}: {reason}", dir.display())]
    Directory { dir: PathBuf, reason: String },
    #[error("theme file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("page {file}: {reason}")]
    Template { file: &'static str, reason: String },
}

/// The templates pages are rendered from.
pub struct Theme {
    env: Environment<'static>,
    /// Which files came from the operator's directory.
    replaced: Vec<&'static str>,
}

impl Theme {
    /// The built-in theme.
    pub fn built_in() -> Result<Theme, ThemeError> {
        Theme::load(None)
    }

    /// The built-in theme with the files of `dir` (if given) in place of those of the same name.
    /// A file that names no page is reported in the log and left unused.
    pub fn load(dir: Option<&Path>) -> Result<Theme, ThemeError> {
        let mut env = Environment::new();
        // An undefined value is an error, except where a template asks whether it is there
        // (`{% if error %}`): a typo in a theme shows when the theme loads.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        let mut replaced = Vec::new();
        if let Some(dir) = dir {
            warn_about_unknown_files(dir)?;
        }
        for (file, built_in) in BUILT_IN {
            let source = match dir.map(|d| d.join(file)).filter(|p| p.exists()) {
                Some(path) => {
                    replaced.push(*file);
                    read_template(&path)?
                }
                None => (*built_in).to_owned(),
            };
            env.add_template_owned(*file, source)
                .map_err(|e| ThemeError::Template {
                    file,
                    reason: describe(&e),
                })?;
        }
        let theme = Theme { env, replaced };
        for page in Page::ALL {
            theme.render(page, &page.sample())?;
        }
        Ok(theme)
    }

    /// The files the operator's directory replaced.
    pub fn replaced(&self) -> &[&'static str] {
        &self.replaced
    }

    pub fn render(&self, page: Page, values: &impl Serialize) -> Result<String, ThemeError> {
        let failed = |e: minijinja::Error| ThemeError::Template {
            file: page.file(),
            reason: describe(&e),
        };
        self.env
            .get_template(page.file())
            .map_err(failed)?
            .render(minijinja::value::Serde(values))
            .map_err(failed)
    }
}

/// A template error with where it happened, without its whole debug dump.
pub(crate) fn describe(error: &minijinja::Error) -> String {
    match (error.name(), error.line()) {
        (Some(name), Some(line)) => format!("{error} ({name} line {line})"),
        _ => error.to_string(),
    }
}

pub(crate) fn read_template(path: &Path) -> Result<String, ThemeError> {
    let failed = |reason: String| ThemeError::File {
        path: path.to_owned(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| failed(e.to_string()))?
        .len();
    if size > MAX_TEMPLATE_BYTES {
        return Err(failed(format!(
            "{size} bytes; a template may have at most {MAX_TEMPLATE_BYTES}"
        )));
    }
    std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))
}

fn warn_about_unknown_files(dir: &Path) -> Result<(), ThemeError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ThemeError::Directory {
        dir: dir.to_owned(),
        reason: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `console/` holds the console's templates (`http::console::templates`).
        if name != "console" && !BUILT_IN.iter().any(|(file, _)| *file == name) {
            let known: Vec<&str> = BUILT_IN.iter().map(|(file, _)| *file).collect();
            tracing::warn!(
                dir = %dir.display(),
                file = %name.escape_default(),
                "a file in the theme directory replaces no page (the pages are {})",
                known.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_page_renders_with_a_csrf_token_on_each_form() {
        let theme = Theme::built_in().unwrap();
        assert!(theme.replaced().is_empty());
        for page in Page::ALL {
            let html = theme.render(page, &page.sample()).unwrap();
            assert!(html.starts_with("<!doctype html>"), "{page:?}");
            if page == Page::FormPost {
                // Posts to the client, which has its own defences (state, PKCE).
                continue;
            }
            for form in html.split("<form").skip(1) {
                assert!(
                    form.contains(r#"<input type="hidden" name="csrf_token" value="x">"#),
                    "{page:?}: a form without its CSRF token"
                );
            }
        }
        let login = theme.render(Page::Login, &Page::Login.sample()).unwrap();
        assert!(login.contains(r#"method="post""#) && login.contains("Try again in 30 seconds"));
        assert!(
            !login.contains("<script"),
            "the pages work without JavaScript"
        );
    }

    #[test]
    fn values_are_escaped() {
        let theme = Theme::built_in().unwrap();
        let mut values = Page::Login.sample();
        values["tenant_name"] = json!("<script>alert(1)</script>");
        values["username"] = json!(r#"" onfocus="alert(1)"#);
        let html = theme.render(Page::Login, &values).unwrap();
        assert!(!html.contains("<script>alert(1)</script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains(r#"value="" onfocus="alert(1)""#), "{html}");
    }

    #[test]
    fn a_theme_directory_replaces_the_pages_it_has_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("error.html"),
            "<p>{{ tenant_name }} says: {{ message }}</p>",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a page").unwrap();
        let theme = Theme::load(Some(dir.path())).unwrap();
        assert_eq!(theme.replaced(), ["error.html"]);
        let html = theme
            .render(
                Page::Error,
                &json!({"tenant_name": "Acme", "message": "no"}),
            )
            .unwrap();
        assert_eq!(html, "<p>Acme says: no</p>");
        let login = theme.render(Page::Login, &Page::Login.sample()).unwrap();
        assert!(login.contains("Sign in to Example"));
    }

    #[test]
    fn a_broken_theme_stops_the_load_naming_its_file() {
        for (file, source) in [
            ("login.html", "{% if %}"),
            ("consent.html", "{{ scopes | no_such_filter }}"),
            // A variable no page is given: a typo that would otherwise render as nothing.
            ("error.html", "{{ mesage }}"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(file), source).unwrap();
            let error = Theme::load(Some(dir.path())).err().unwrap().to_string();
            assert!(error.contains(file), "{file}: {error}");
        }
        let missing = Theme::load(Some(Path::new("/nonexistent/theme")))
            .err()
            .unwrap();
        assert!(
            missing.to_string().contains("/nonexistent/theme"),
            "{missing}"
        );
    }

    #[test]
    fn an_oversized_template_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(MAX_TEMPLATE_BYTES as usize + 1);
        std::fs::write(dir.path().join("login.html"), big).unwrap();
        let error = Theme::load(Some(dir.path())).err().unwrap().to_string();
        assert!(
            error.contains("login.html") && error.contains("at most"),
            "{error}"
        );
    }
}
