//! What the pages a browser sees share: the session and CSRF cookies, CSRF tokens, HTML responses
//! with the headers that keep them out of frames and caches, and redirects.
//!
//! Cookies: `HttpOnly`, `SameSite=Lax` (a relying party's top-level redirect to the authorization
//! endpoint carries them; another site's form post or frame does not), `Path=/`; over HTTPS also
//! `Secure` and `__Host-` prefixed (no subdomain can set or shadow them). One session cookie per
//! tenant, named after it; one CSRF cookie per browser.
//!
//! A CSRF token is a digest of a cookie value the page's own site set (the CSRF cookie before
//! sign-in, the session id after) and the form's purpose: another site can neither read the
//! cookie nor compute the token, and a token for one form is worth nothing on another. Neither
//! cookie value is ever logged.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use warp::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use warp::hyper::body::Bytes;

use super::reply::HttpResponse;
use crate::pages::{Page, Theme};
use crate::tenancy::TenantUrls;

/// The cookies' names, without the `__Host-` prefix they take over HTTPS.
const SESSION_COOKIE: &str = "grantor-session.";
const CSRF_COOKIE: &str = "grantor-csrf";

/// What a form is for: its CSRF token is valid for that purpose only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPurpose {
    SignIn,
    Consent,
    Logout,
    /// The console's sign-in form (before a console session exists).
    ConsoleSignIn,
    /// Every form of a signed-in console session.
    Console,
}

impl FormPurpose {
    fn name(self) -> &'static str {
        match self {
            FormPurpose::SignIn => "sign-in",
            FormPurpose::Consent => "consent",
            FormPurpose::Logout => "logout",
            FormPurpose::ConsoleSignIn => "console-sign-in",
            FormPurpose::Console => "console",
        }
    }
}

/// The cookie settings of a server.
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    /// Secure when browsers reach the server over HTTPS: its public URL says so, or it serves
    /// TLS itself.
    pub fn new(urls: &TenantUrls, serves_tls: bool) -> Cookies {
        Cookies {
            secure: urls.is_https() || serves_tls,
        }
    }

    fn prefix(self) -> &'static str {
        if self.secure {
            "__Host-"
        } else {
            ""
        }
    }

    fn session_name(self, tenant: &str) -> String {
        format!("{}{SESSION_COOKIE}{tenant}", self.prefix())
    }

    fn csrf_name(self) -> String {
        format!("{}{CSRF_COOKIE}", self.prefix())
    }

    /// The browser's session id for `tenant`, if it sent one.
    pub fn session_id(self, headers: &HeaderMap, tenant: &str) -> Option<String> {
        cookie_value(headers, &self.session_name(tenant))
    }

    /// The browser's CSRF cookie, if it sent one.
    pub fn csrf_secret(self, headers: &HeaderMap) -> Option<String> {
        cookie_value(headers, &self.csrf_name())
    }

    /// `Set-Cookie` for a new session of `tenant`, kept by the browser as long as the session can
    /// live.
    pub fn set_session(self, tenant: &str, session_id: &str, max_age: u64) -> HeaderValue {
        self.set(&self.session_name(tenant), session_id, Some(max_age))
    }

    /// `Set-Cookie` that removes the session cookie of `tenant`.
    pub fn clear_session(self, tenant: &str) -> HeaderValue {
        self.set(&self.session_name(tenant), "", Some(0))
    }

    /// `Set-Cookie` for a browser's CSRF secret (until the browser closes).
    pub fn set_csrf(self, secret: &str) -> HeaderValue {
        self.set(&self.csrf_name(), secret, None)
    }

    fn set(self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(max_age) = max_age {
            cookie.push_str(&format!("; Max-Age={max_age}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        // Names and values are a tenant domain and base64url: always a valid header value.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 5.4), the first if the
/// browser sent several.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The hidden fields a page's form posts back: the request's own parameters (sorted, less the
/// form's own `form_fields`) and the `step` the post is.
pub fn carried_fields(
    params: &std::collections::HashMap<String, String>,
    form_fields: &[&str],
    step: &str,
) -> Vec<serde_json::Value> {
    let mut names: Vec<&String> = params
        .keys()
        .filter(|name| !form_fields.contains(&name.as_str()))
        .collect();
    names.sort();
    let mut fields: Vec<serde_json::Value> = names
        .into_iter()
        .map(|name| serde_json::json!({"name": name, "value": params[name]}))
        .collect();
    fields.push(serde_json::json!({"name": "step", "value": step}));
    fields
}

/// A new CSRF secret, for a browser that has none.
pub fn new_csrf_secret() -> Result<String, openssl::error::ErrorStack> {
    crate::secrets::random_token(32)
}

/// The CSRF token of a `purpose` form for a browser holding `secret`.
pub fn csrf_token(purpose: FormPurpose, secret: &str) -> String {
    let digest =
        openssl::sha::sha256(format!("grantor-csrf\n{}\n{secret}", purpose.name()).as_bytes());
    URL_SAFE_NO_PAD.encode(digest)
}

/// Whether `presented` is the token of a `purpose` form for `secret`, compared in constant time.
pub fn csrf_token_valid(
    purpose: FormPurpose,
    secret: Option<&str>,
    presented: Option<&str>,
) -> bool {
    let (Some(secret), Some(presented)) = (secret, presented) else {
        return false;
    };
    let expected = csrf_token(purpose, secret);
    expected.len() == presented.len()
        && openssl::memcmp::eq(expected.as_bytes(), presented.as_bytes())
}

/// A page, or the error page when the theme cannot render it (a broken replacement template is
/// the operator's to fix; the browser gets a 500, the log the reason).
pub fn page_response(
    theme: &Theme,
    status: StatusCode,
    page: Page,
    values: &serde_json::Value,
) -> HttpResponse {
    page_response_leading_to(theme, status, page, values, None)
}

/// A page whose form's answer may be a redirect to `redirect_target` (the client's validated
/// redirect URI, a registered post-logout one). Browsers check CSP `form-action` again at each
/// redirect that follows a form post (Chromium stops a 303 to another origin otherwise), so the
/// policy allows that URI's origin besides the page's own.
pub fn page_response_leading_to(
    theme: &Theme,
    status: StatusCode,
    page: Page,
    values: &serde_json::Value,
    redirect_target: Option<&str>,
) -> HttpResponse {
    let (status, body) = match theme.render(page, values) {
        Ok(html) => (status, html),
        Err(e) => {
            tracing::error!("cannot render the {} page: {e}", page.file());
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>This page cannot be shown.</p>".to_owned(),
            )
        }
    };
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    protect_page(headers, "text/html; charset=utf-8", "no-store");
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    // The form post page posts to the client and submits itself with a line of script; every
    // other page runs no script at all and posts only here (and on to `redirect_target`).
    let policy = match page {
        Page::FormPost => {
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'".to_owned()
        }
        _ => {
            let form_action = match redirect_target.and_then(csp_source_of) {
                Some(source) => format!("'self' {source}"),
                None => "'self'".to_owned(),
            };
            format!(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action {form_action}; frame-ancestors 'none'"
            )
        }
    };
    // Static text and a source `csp_source_of` checked: a header value, or (unreachable) the
    // strictest policy rather than none.
    let policy = HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_static("default-src 'none'; form-action 'self'; frame-ancestors 'none'")
    });
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    response
}

/// What every page the server renders is sent with, whatever its policy: its type, how long it
/// may be cached, never in a frame (for browsers without CSP's `frame-ancestors`), never
/// sniffed as another type, and no referrer sent from it.
pub fn protect_page(headers: &mut HeaderMap, content_type: &'static str, cache: &'static str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The CSP source expression matching `uri` after a redirect (where CSP 3 compares no paths): its
/// origin (`https://app.example`, `http://127.0.0.1:51004`), or its scheme for a private-use URI
/// (`com.example.app:`, RFC 8252 7.1) or an IPv6 loopback one (`http:`). `None` for a URI that is not one, or whose source would
/// contain what ends a source or a directive.
fn csp_source_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let source = match (url.host(), url.port()) {
        // A host-source cannot name an IPv6 address (CSP 3 2.3.1): its scheme stands for it.
        (Some(url::Host::Ipv6(_)) | None, _) => format!("{}:", url.scheme()),
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
    };
    source
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\''))
        .then_some(source)
}

/// 303 See Other to `location` (the browser follows with a GET), never cached.
pub fn redirect_response(location: &str) -> HttpResponse {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            StatusCode::SEE_OTHER
        }
        // A registered redirect URI is valid text; this cannot be reached with one.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Adds `Set-Cookie` values to a response.
pub fn with_cookies(mut response: HttpResponse, cookies: Vec<HeaderValue>) -> HttpResponse {
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(base: &str) -> TenantUrls {
        TenantUrls {
            public_base_url: base.into(),
            default_tenant: "carbon.super".into(),
        }
    }

    #[test]
    fn cookies_are_host_only_http_only_and_lax_and_secure_over_https() {
        let secure = Cookies::new(&urls("https://id.example"), false);
        let set = secure.set_session("acme", "sid", 60);
        assert_eq!(
            set.to_str().unwrap(),
            "__Host-grantor-session.acme=sid; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let plain = Cookies::new(&urls("http://localhost:9443"), false);
        assert_eq!(
            plain.set_csrf("c").to_str().unwrap(),
            "grantor-csrf=c; Path=/; HttpOnly; SameSite=Lax"
        );
        assert!(plain
            .clear_session("acme")
            .to_str()
            .unwrap()
            .contains("grantor-session.acme=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let cookies = Cookies::new(&urls("http://localhost:9443"), false);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "grantor-session.acme.other=x; grantor-session.acme=s1; grantor-csrf=c1",
            ),
        );
        assert_eq!(cookies.session_id(&headers, "acme").as_deref(), Some("s1"));
        assert_eq!(cookies.session_id(&headers, "other"), None);
        assert_eq!(cookies.csrf_secret(&headers).as_deref(), Some("c1"));
        // Over HTTPS only the prefixed name counts: a cookie set without it is ignored.
        let secure = Cookies::new(&urls("https://id.example"), false);
        assert_eq!(secure.session_id(&headers, "acme"), None);
        // A server serving TLS behind a plain-HTTP public URL still marks them Secure.
        let tls = Cookies::new(&urls("http://localhost:9443"), true);
        assert!(tls.set_csrf("c").to_str().unwrap().starts_with("__Host-"));
    }

    #[test]
    fn a_form_may_lead_to_the_origin_of_its_redirect_target_only() {
        assert_eq!(
            csp_source_of("https://app.example/cb?x=1").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            csp_source_of("http://127.0.0.1:51004/cb").as_deref(),
            Some("http://127.0.0.1:51004")
        );
        assert_eq!(
            csp_source_of("http://[::1]:8080/cb").as_deref(),
            Some("http:")
        );
        assert_eq!(
            csp_source_of("com.example.app:/oauth2redirect").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(csp_source_of("not a uri"), None);
        let policy = |target| {
            let theme = Theme::built_in().unwrap();
            let response = page_response_leading_to(
                &theme,
                StatusCode::OK,
                Page::Error,
                &serde_json::json!({"tenant_name": "t", "message": "m"}),
                target,
            );
            response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert!(
            policy(Some("https://app.example/cb"))
                .contains("; form-action 'self' https://app.example; "),
            "{}",
            policy(Some("https://app.example/cb"))
        );
        assert!(policy(None).contains("; form-action 'self'; "));
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_secret_and_the_purpose() {
        let token = csrf_token(FormPurpose::SignIn, "secret");
        assert!(csrf_token_valid(
            FormPurpose::SignIn,
            Some("secret"),
            Some(&token)
        ));
        assert!(!csrf_token_valid(
            FormPurpose::SignIn,
            Some("other"),
            Some(&token)
        ));
        assert!(!csrf_token_valid(
            FormPurpose::Consent,
            Some("secret"),
            Some(&token)
        ));
        assert!(!csrf_token_valid(FormPurpose::SignIn, None, Some(&token)));
        assert!(!csrf_token_valid(FormPurpose::SignIn, Some("secret"), None));
        assert!(!csrf_token_valid(
            FormPurpose::SignIn,
            Some("secret"),
            Some("x")
        ));
    }
}
