//! The operators' console (`/console/` on the admin listener, issue 25): tenants, identity
//! providers, applications, users, signing keys and grant plugins, and the audit log, as pages
//! rendered on the server that work without JavaScript (one vendored script adds a copy button).
//!
//! Every change goes through `provisioning`, the code path the command line and the REST API
//! share, so a value one refuses the console refuses with the same reason, and every change is in
//! the audit log under the console session that made it. Signing in takes the admin token
//! (`session`); every form carries the session's CSRF token, checked before anything else.

mod applications;
mod audit_log;
mod form;
mod identity_providers;
mod keys;
pub mod openid;
mod pages;
mod plugins;
mod samples;
mod session;
pub mod templates;
mod tenants;
mod users;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use warp::http::{header, HeaderMap, Method, StatusCode};

use super::browser::redirect_response;
use super::reply::HttpResponse;
use crate::app::SharedApp;
use crate::blocking::OnBlockingThread;
use crate::http::admin::AdminCredentials;
use crate::plugin_host::PluginReloader;
pub use form::Form;
pub use session::SignedIn;
pub use templates::ConsoleTheme;

/// Where the console lives on the admin listener.
pub const PREFIX: &str = "/console";

/// What the console serves with.
#[derive(Clone)]
pub struct Console {
    pub app: SharedApp,
    pub plugins: PluginReloader,
    pub credentials: AdminCredentials,
    pub theme: Arc<ConsoleTheme>,
    /// Signing in as a user of a tenant (`[admin.console]`), when configured.
    pub openid: Option<Arc<openid::OpenIdSignIn>>,
}

impl Console {
    /// What a live session may have been opened with: the admin token, and the OpenID client
    /// when one is configured.
    pub fn session_credentials(&self) -> Vec<String> {
        let mut credentials = vec![self.credentials.fingerprint()];
        credentials.extend(self.openid.as_ref().map(|o| o.credential()));
        credentials
    }
}

/// One request below `PREFIX`, its body read within the listener's limits.
#[derive(Debug)]
pub struct ConsoleRequest {
    pub method: Method,
    /// The path below `PREFIX`, split into percent-decoded segments, without empty ones.
    pub segments: Vec<String>,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The connection's peer (a proxy, perhaps).
    pub peer: Option<SocketAddr>,
    /// The client: the peer, or behind a trusted proxy the address it names. Sign-in failures
    /// are counted under it, and the audit log names it.
    pub client: Option<IpAddr>,
    pub body: Bytes,
}

impl ConsoleRequest {
    /// Segments of `path` (below `PREFIX`); `None` for a path with `..` or `.` segments (also
    /// percent-encoded), which the console never links to. A decoded segment may hold `/`: it
    /// is a name (an identity provider's), never a path this forwards.
    pub fn segments_of(path: &str) -> Option<Vec<String>> {
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        (!segments.iter().any(|s| s == "." || s == "..")).then_some(segments)
    }
}

/// The path below `PREFIX` when `path` is the console's (`/console`, `/console/...`).
pub fn below_prefix(path: &str) -> Option<&str> {
    match path.strip_prefix(PREFIX)? {
        "" => Some(""),
        below if below.starts_with('/') => Some(below),
        _ => None,
    }
}

/// Reads the body within the admin listener's limits, then answers. `peer` is the connection's, `client`
/// the one it stands for (`client_network::client_address`, worked out by the admin routes).
#[allow(clippy::too_many_arguments)]
pub async fn serve<S, B, E>(
    console: Console,
    method: Method,
    below: &str,
    query: Option<String>,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    client: Option<IpAddr>,
    length: Option<u64>,
    body: S,
) -> warp::reply::Response
where
    S: futures_util::Stream<Item = Result<B, E>> + Unpin,
    B: bytes::Buf,
    E: std::fmt::Display,
{
    use warp::Reply;
    let respond = |response: HttpResponse| response.into_response();
    let Some(segments) = ConsoleRequest::segments_of(below) else {
        return respond(console.theme.page(
            StatusCode::NOT_FOUND,
            "message",
            &json!({"title": "Not found", "message": "There is no such console page."}),
        ));
    };
    let timeout = std::time::Duration::from_millis(console.app.config.server.body_read_timeout_ms);
    let body = match super::form::read_bounded_body(length, body, MAX_BODY_BYTES, timeout).await {
        Ok(body) => body.freeze(),
        Err(e) => {
            let status = match e {
                super::form::BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                super::form::BodyError::TooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
                super::form::BodyError::Unreadable(_) => StatusCode::BAD_REQUEST,
            };
            return respond(console.theme.page(
                status,
                "message",
                &json!({"title": "The form was refused", "message": e.to_string()}),
            ));
        }
    };
    let request = ConsoleRequest {
        method,
        segments,
        query,
        headers,
        peer,
        client,
        body,
    };
    respond(handle(console, request).await)
}

/// Largest body a console form may post: room for a few certificate files.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Answers one console request.
pub async fn handle(console: Console, request: ConsoleRequest) -> HttpResponse {
    let transport = session::Transport::of(
        &request.headers,
        request.peer,
        &console.app.config.server.trusted_proxies,
    );
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    match (&request.method, segments.as_slice()) {
        (&Method::GET, ["static", "console.css"]) => {
            return templates::static_file(templates::STYLESHEET, "text/css; charset=utf-8")
        }
        (&Method::GET, ["static", "console.js"]) => {
            return templates::static_file(
                templates::SCRIPT,
                "application/javascript; charset=utf-8",
            )
        }
        (&Method::GET, ["sign-in"]) => return pages::sign_in_page(&console, transport, &request),
        (&Method::GET, ["sign-in", "openid"]) => {
            return match &console.openid {
                Some(openid) => openid::start(&console, openid, transport),
                None => redirect_response(&format!("{PREFIX}/sign-in")),
            }
        }
        (&Method::GET, ["callback"]) => {
            return match &console.openid {
                Some(openid) => openid::callback(&console, openid, transport, &request).await,
                None => redirect_response(&format!("{PREFIX}/sign-in")),
            }
        }
        (&Method::POST, ["sign-in"]) => {
            return pages::sign_in(console, transport, request).await;
        }
        _ => {}
    }
    let now = crate::clock::now_unix();
    let signed_in = match pages::signed_in(&console, transport, &request, now).await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) if request.method == Method::GET || request.method == Method::HEAD => {
            return redirect_response(&format!("{PREFIX}/sign-in"));
        }
        Ok(None) => {
            return console.theme.page(
                StatusCode::UNAUTHORIZED,
                "message",
                &json!({"title": "Signed out", "signed_in": false,
                    "message": "Your console session has ended: sign in again, then repeat the change.",
                    "link": format!("{PREFIX}/sign-in"), "link_text": "Sign in"}),
            )
        }
        Err(response) => return response,
    };
    let form = if request.method == Method::POST {
        let content_type = request
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let form = match Form::parse(content_type, request.body.clone()).await {
            Ok(form) => form,
            Err(e) => {
                return message(
                    &console.theme,
                    &signed_in,
                    StatusCode::BAD_REQUEST,
                    "The form was refused",
                    &e.to_string(),
                )
            }
        };
        // Before anything reads the form: a post another site made the browser send is refused.
        if !signed_in.csrf_valid(form.text("csrf_token").as_deref()) {
            return message(
                &console.theme,
                &signed_in,
                StatusCode::FORBIDDEN,
                "The form was refused",
                "The form's CSRF token is missing or not this session's: reload the page and try again.",
            );
        }
        Some(form)
    } else {
        None
    };
    if let (Some(_), ["sign-out"]) = (&form, segments.as_slice()) {
        return pages::sign_out(&console, transport, &signed_in, now).await;
    }
    if let (Some(_), ["plugins", "reload"]) = (&form, segments.as_slice()) {
        return plugins::reload(&console, &signed_in, now).await;
    }
    let theme = console.theme.clone();
    let method = request.method.clone();
    let query = request.query.clone();
    let owned: Vec<String> = request.segments.clone();
    let app = console.app.clone();
    let answered = OnBlockingThread::spawn(move |on| {
        let page = Page {
            app: &app,
            theme: &theme,
            signed_in: &signed_in,
            now,
            on,
        };
        let segments: Vec<&str> = owned.iter().map(String::as_str).collect();
        route(&page, &method, &segments, query.as_deref(), form.as_ref())
    })
    .await;
    answered.unwrap_or_else(|e| {
        tracing::error!("console request failed: {e}");
        console.theme.page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "message",
            &json!({"title": "Error", "signed_in": false,
                "message": "The request failed; see the server log."}),
        )
    })
}

/// What a page handler works with, on a blocking thread (the store's calls block).
pub struct Page<'a> {
    pub app: &'a SharedApp,
    pub theme: &'a ConsoleTheme,
    pub signed_in: &'a SignedIn,
    pub now: i64,
    pub on: OnBlockingThread,
}

impl Page<'_> {
    /// Renders `page` with `values` and what every page has (the CSRF token, the session).
    pub fn render(&self, status: StatusCode, page: &str, values: Value) -> HttpResponse {
        self.signed_in.page(self.theme, status, page, values)
    }

    /// The page asking to confirm a removal in `tenant`: what goes with it, then the form that
    /// removes it and the way back.
    pub fn confirm(&self, section: &str, tenant: &str, confirmation: Confirmation) -> HttpResponse {
        let mut values = json!({"section": section, "tenant": tenant,
            "urls": tenants::tenant_urls(tenant)});
        if let (Some(map), Ok(Value::Object(more))) =
            (values.as_object_mut(), serde_json::to_value(confirmation))
        {
            map.extend(more);
        }
        self.render(StatusCode::OK, "confirm", values)
    }

    /// A page saying `text` under `title`.
    pub fn message(&self, status: StatusCode, title: &str, text: &str) -> HttpResponse {
        self.render(status, "message", json!({"title": title, "message": text}))
    }

    /// The page for a refusal that is not a form's field (an unknown tenant, the store down).
    pub fn refusal(&self, e: &crate::provisioning::ProvisioningError) -> HttpResponse {
        let (status, title) = refusal_status(e);
        self.message(status, title, &refusal_text(e))
    }
}

/// What a removal's confirmation page says.
#[derive(Debug, serde::Serialize)]
pub struct Confirmation {
    pub title: String,
    /// What goes with it.
    pub consequences: Vec<String>,
    /// Where the form posts.
    pub action: String,
    pub button: &'static str,
    /// The way back.
    pub cancel: String,
}

/// The status and title for a provisioning refusal.
pub fn refusal_status(e: &crate::provisioning::ProvisioningError) -> (StatusCode, &'static str) {
    use crate::provisioning::ProvisioningError;
    use crate::store::StoreError;
    match e {
        ProvisioningError::Invalid { .. } | ProvisioningError::Store(StoreError::Invalid(_)) => {
            (StatusCode::BAD_REQUEST, "Not valid")
        }
        ProvisioningError::Store(StoreError::NotFound(_)) => (StatusCode::NOT_FOUND, "Not found"),
        ProvisioningError::Store(StoreError::Conflict(_)) => (StatusCode::CONFLICT, "Conflict"),
        ProvisioningError::Store(e) if e.is_unavailable() => {
            (StatusCode::SERVICE_UNAVAILABLE, "Unavailable")
        }
        ProvisioningError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "Busy"),
        ProvisioningError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Error"),
        ProvisioningError::NotAudited { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Made, not audited")
        }
    }
}

/// What the operator is told of a refusal: the message the REST API gives (the field's name and
/// what is wrong with it), and nothing of a server failure but where to look.
pub fn refusal_text(e: &crate::provisioning::ProvisioningError) -> String {
    match e {
        // The change was made: the operator must know, and that the log lacks it.
        crate::provisioning::ProvisioningError::NotAudited { .. } => {
            tracing::error!("{e}");
            format!("{e}; see the server log.")
        }
        _ if refusal_status(e).0 == StatusCode::INTERNAL_SERVER_ERROR => {
            tracing::error!("console request failed: {e}");
            "The request failed; see the server log.".to_owned()
        }
        _ => e.to_string(),
    }
}

fn message(
    theme: &ConsoleTheme,
    signed_in: &SignedIn,
    status: StatusCode,
    title: &str,
    text: &str,
) -> HttpResponse {
    signed_in.page(
        theme,
        status,
        "message",
        json!({"title": title, "message": text}),
    )
}

fn route(
    page: &Page,
    method: &Method,
    segments: &[&str],
    query: Option<&str>,
    form: Option<&Form>,
) -> HttpResponse {
    let get = method == Method::GET || method == Method::HEAD;
    match (form, segments) {
        (None, []) if get => redirect_response(&format!("{PREFIX}/tenants")),
        (None, ["tenants"]) if get => tenants::list(page, None, None, StatusCode::OK),
        (Some(form), ["tenants"]) => tenants::add(page, form),
        (None, ["tenants", t]) if get => tenants::overview(page, t),
        (None, ["tenants", t, "remove"]) if get => tenants::confirm_removal(page, t),
        (Some(_), ["tenants", t, "remove"]) => tenants::remove(page, t),
        (Some(form), ["tenants", t, "qualified-subjects"]) => {
            tenants::set_qualified_subjects(page, t, form)
        }
        // The add form: a query, so that no provider's name (`new`, say) is shadowed by it.
        (None, ["tenants", t, "identity-providers"]) if get && query == Some("new") => {
            identity_providers::new_form(page, t)
        }
        (None, ["tenants", t, "identity-providers"]) if get => {
            identity_providers::list(page, t, None)
        }
        (Some(form), ["tenants", t, "identity-providers"]) => {
            identity_providers::add(page, t, form)
        }
        (None, ["tenants", t, "identity-providers", n]) if get => {
            identity_providers::edit_form(page, t, n)
        }
        (Some(form), ["tenants", t, "identity-providers", n]) => {
            identity_providers::update(page, t, n, form)
        }
        (Some(form), ["tenants", t, "identity-providers", n, "enabled"]) => {
            identity_providers::set_enabled(page, t, n, form)
        }
        (None, ["tenants", t, "identity-providers", n, "remove"]) if get => {
            identity_providers::confirm_removal(page, t, n)
        }
        (Some(_), ["tenants", t, "identity-providers", n, "remove"]) => {
            identity_providers::remove(page, t, n)
        }
        (None, ["tenants", t, "applications"]) if get => applications::list(page, t, None),
        (Some(form), ["tenants", t, "applications"]) => applications::add(page, t, form),
        (None, ["tenants", t, "applications", c, "remove"]) if get => {
            applications::confirm_removal(page, t, c)
        }
        (Some(_), ["tenants", t, "applications", c, "remove"]) => applications::remove(page, t, c),
        (None, ["tenants", t, "users"]) if get => users::list(page, t, None),
        (Some(form), ["tenants", t, "users"]) => users::add(page, t, form),
        (None, ["tenants", t, "users", u, "remove"]) if get => users::confirm_removal(page, t, u),
        (Some(_), ["tenants", t, "users", u, "remove"]) => users::remove(page, t, u),
        (None, ["tenants", t, "keys"]) if get => keys::list(page, t, None),
        (Some(form), ["tenants", t, "keys", "rotate"]) => keys::rotate(page, t, form),
        (None, ["plugins"]) if get => plugins::list(page),
        (None, ["audit"]) if get => audit_log::list(page, query),
        _ => page.message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such console page.",
        ),
    }
}

/// A Unix time as the command line prints dates (`Dec  3 10:00:00 2026 GMT`).
pub fn time_text(at: i64) -> String {
    openssl::asn1::Asn1Time::from_unix(at)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// `/console/` and the percent-encoded `segments`: a link to a page about named things.
pub fn link(segments: &[&str]) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    // A path segment (RFC 3986 3.3) with what HTML or a query would read otherwise encoded too.
    const SEGMENT: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'/')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'\'')
        .add(b'\\');
    let mut url = PREFIX.to_owned();
    for segment in segments {
        url.push('/');
        url.extend(utf8_percent_encode(segment, SEGMENT));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_split_decoded_and_dot_segments_refused() {
        assert_eq!(
            ConsoleRequest::segments_of("/tenants/acme.com/identity-providers/corp%20idp/"),
            Some(vec![
                "tenants".to_owned(),
                "acme.com".into(),
                "identity-providers".into(),
                "corp idp".into()
            ])
        );
        assert_eq!(ConsoleRequest::segments_of("/tenants/../plugins"), None);
        assert_eq!(ConsoleRequest::segments_of("/tenants/%2e%2e/plugins"), None);
        assert_eq!(
            ConsoleRequest::segments_of("/tenants/a%2Fb"),
            Some(vec!["tenants".to_owned(), "a/b".into()])
        );
        assert_eq!(ConsoleRequest::segments_of(""), Some(vec![]));
    }

    #[test]
    fn links_encode_each_segment() {
        assert_eq!(
            link(&["tenants", "acme", "identity-providers", "corp idp/1?x"]),
            "/console/tenants/acme/identity-providers/corp%20idp%2F1%3Fx"
        );
    }
}
