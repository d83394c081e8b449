//! `GET|POST /oauth2/authorize` and `/t/{tenant}/oauth2/authorize` (plus `?tenantDomain=`): the
//! authorization endpoint (RFC 6749 4.1, OpenID Connect Core 3.1.2) with its login and consent
//! pages.
//!
//! The pages keep no server-side state between steps: each form posts the authorization request
//! back as hidden fields, with `step` (`sign-in` or `consent`) and its CSRF token, and the request
//! is validated again on every post, so a node that never saw the first step serves the next one.
//! A relying party may also POST the authorization request itself (Core 3.1.2.1), without `step`.
//!
//! The order of what happens: the request is validated (an untrusted client or redirect URI gets
//! an error page and no redirect); then the browser's session, sign-in, consent, and the code,
//! sent back to the redirect URI (query or form post) with `state` and `iss` (RFC 9207).
//! `prompt=none` never shows a page: it answers `login_required` or `consent_required` instead.
//!
//! One log line per request: tenant, client, what came of it, how long it took; never a password,
//! code, cookie or token.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Buf;
use futures_util::Stream;
use serde_json::{json, Value};
use warp::http::{HeaderMap, HeaderValue, StatusCode};

use super::browser::{
    carried_fields, csrf_token, csrf_token_valid, new_csrf_secret, page_response,
    page_response_leading_to, redirect_response, with_cookies, Cookies, FormPurpose,
};
use super::form::read_form_body;
use super::reply::HttpResponse;
use crate::app::App;
use crate::blocking::OnBlockingThread;
use crate::oauth::authorization_request::{
    from_pairs, redirect_location, validate_authorization_request, AuthorizationRequest, Refusal,
    ResponseMode,
};
use crate::oauth::password_sign_in::{
    sign_in_with_password, Attempt, SignInRefusal, INVALID_CREDENTIALS,
};
use crate::oauth::sign_in::{
    issue_code, live_session, must_consent, next_step, remember_consent, start_session,
    CodeRefusal, Step,
};
use crate::pages::Page;
use crate::store::{Client, Session, Tenant};
use crate::tenancy::resolve_tenant_domain;

/// The endpoint, below a tenant's prefix.
pub const AUTHORIZE_ENDPOINT: &str = "oauth2/authorize";

/// Fields of the pages' forms, never carried over as part of the authorization request.
const FORM_FIELDS: &[&str] = &["step", "csrf_token", "username", "password", "decision"];

pub async fn authorize<S, B>(
    app: crate::app::SharedApp,
    path_tenant: Option<String>,
    raw_query: String,
    headers: HeaderMap,
    remote: Option<std::net::SocketAddr>,
    body: Option<S>,
) -> HttpResponse
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let started = Instant::now();
    let span = tracing::info_span!(
        "authorize",
        tenant = tracing::field::Empty,
        client_id = tracing::field::Empty,
    );
    let _entered = span.enter();
    let theme = app.theme.clone();
    let error_page = |status: StatusCode, message: &str| {
        page_response(
            &theme,
            status,
            Page::Error,
            &json!({"tenant_name": "", "message": message}),
        )
    };
    let query_pairs: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let tenant_param = query_pairs
        .iter()
        .find(|(name, _)| name == "tenantDomain")
        .map(|(_, v)| v.clone());
    let tenant = match resolve_tenant_domain(
        path_tenant.as_deref(),
        tenant_param.as_deref(),
        &app.config.server.default_tenant,
    ) {
        Ok(tenant) => tenant,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, &message),
    };
    span.record("tenant", tenant.as_str());
    // A GET carries the request in its query; a POST in its form body (the query then only
    // names the tenant).
    let pairs: Vec<(String, String)> = match body {
        None => query_pairs
            .into_iter()
            .filter(|(name, _)| name != "tenantDomain")
            .collect(),
        Some(body) => match read_form_body(&app.config.server, &headers, true, body).await {
            Ok(bytes) => form_urlencoded::parse(&bytes).into_owned().collect(),
            Err(e) => return error_page(status_of(&e), &e.description),
        },
    };
    let params = match from_pairs(pairs) {
        Ok(params) => params,
        Err(Refusal::ShowErrorPage { message }) => {
            return error_page(StatusCode::BAD_REQUEST, &message)
        }
        Err(Refusal::Redirect { .. }) => {
            return error_page(StatusCode::BAD_REQUEST, "malformed request")
        }
    };
    let remote_address = remote.map(|a| {
        crate::client_network::client_address(a.ip(), &headers, &app.config.server.trusted_proxies)
    });
    drop(_entered);
    let worker = app.clone();
    let handled_span = span.clone();
    let tenant_label = tenant.clone();
    let outcome = OnBlockingThread::spawn(move |on| {
        let _entered = handled_span.enter();
        let request = BrowserRequest {
            app: &worker,
            tenant: &tenant,
            params: &params,
            headers: &headers,
            remote_address,
            cookies: Cookies::new(&worker.oauth.urls, worker.config.server.tls.enabled),
            now: crate::clock::now_unix(),
        };
        request.handle(on)
    })
    .await;
    let (response, outcome) = match outcome {
        Ok(handled) => handled,
        Err(e) => {
            tracing::error!("authorization request task failed: {e}");
            (
                error_page(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
                "server_error",
            )
        }
    };
    // Only a tenant that exists names a label: clients cannot grow the label set.
    let tenant_label = match outcome {
        "unknown_tenant" | "server_error" | "temporarily_unavailable" => "unknown",
        _ => tenant_label.as_str(),
    };
    crate::metrics::metrics().authorization_request(tenant_label, outcome);
    span.in_scope(|| {
        tracing::info!(
            outcome,
            status = response.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "authorization request"
        )
    });
    response
}

/// The HTTP status of a refusal.
pub(super) fn status_of(error: &crate::oauth::error::OAuthError) -> StatusCode {
    StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST)
}

/// One request, on a blocking thread.
struct BrowserRequest<'a> {
    app: &'a App,
    tenant: &'a str,
    params: &'a HashMap<String, String>,
    headers: &'a HeaderMap,
    remote_address: Option<std::net::IpAddr>,
    cookies: Cookies,
    now: i64,
}

/// A response and the word the log line says about it.
type Handled = (HttpResponse, &'static str);

impl BrowserRequest<'_> {
    fn handle(&self, on: OnBlockingThread) -> Handled {
        match self.try_handle(on) {
            Ok(handled) => handled,
            Err(e) if e.status == 503 => (
                self.error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is briefly unavailable. Try again in a moment.",
                ),
                "temporarily_unavailable",
            ),
            Err(e) => {
                tracing::error!("authorization request failed: {}", e.description);
                (
                    self.error_page(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
                    "server_error",
                )
            }
        }
    }

    fn try_handle(&self, on: OnBlockingThread) -> Result<Handled, crate::oauth::error::OAuthError> {
        let store = &self.app.oauth.store;
        let Some(tenant) = store.cached_active_tenant(self.tenant)? else {
            return Ok((
                self.error_page(StatusCode::NOT_FOUND, "unknown tenant"),
                "unknown_tenant",
            ));
        };
        let client = match self.params.get("client_id") {
            Some(client_id) => store.cached_client(self.tenant, client_id)?,
            None => None,
        };
        let request = match validate_authorization_request(self.params, client.as_deref()) {
            Ok(request) => request,
            Err(refusal) => return Ok(self.refuse(&tenant, &refusal)),
        };
        // Validated: the client exists.
        let Some(client) = client else {
            return Ok((
                self.error_page(StatusCode::BAD_REQUEST, "unknown client"),
                "invalid_client",
            ));
        };
        tracing::Span::current().record("client_id", client.client_id.as_str());
        let page = PageContext {
            request: self,
            tenant: &tenant,
            client: &client,
            authorization: &request,
        };
        match self.params.get("step").map(String::as_str) {
            None => page.start(),
            Some("sign-in") => page.sign_in(on),
            Some("consent") => page.consent(),
            Some(_) => Ok((
                self.error_page(StatusCode::BAD_REQUEST, "unknown step"),
                "invalid_request",
            )),
        }
    }

    fn error_page(&self, status: StatusCode, message: &str) -> HttpResponse {
        page_response(
            &self.app.theme,
            status,
            Page::Error,
            &json!({"tenant_name": self.tenant, "message": message}),
        )
    }

    /// An invalid request: an error page, or an error sent back to the client.
    fn refuse(&self, tenant: &Tenant, refusal: &Refusal) -> Handled {
        match refusal {
            Refusal::ShowErrorPage { message } => (
                page_response(
                    &self.app.theme,
                    StatusCode::BAD_REQUEST,
                    Page::Error,
                    &json!({"tenant_name": tenant.display_name, "message": message}),
                ),
                "refused_without_redirect",
            ),
            Refusal::Redirect {
                redirect_uri,
                response_mode,
                error,
                ..
            } => {
                let issuer = self.app.oauth.urls.issuer_url(self.tenant);
                let params = refusal.redirect_params(&issuer).unwrap_or_default();
                (
                    self.respond_to_client(redirect_uri, *response_mode, &params),
                    error,
                )
            }
        }
    }

    /// The response parameters sent back to the client's redirect URI, as its response mode says.
    fn respond_to_client(
        &self,
        redirect_uri: &str,
        mode: ResponseMode,
        params: &[(&str, &str)],
    ) -> HttpResponse {
        match mode {
            ResponseMode::Query => redirect_response(&redirect_location(redirect_uri, params)),
            ResponseMode::FormPost => {
                let fields: Vec<Value> = params
                    .iter()
                    .map(|(name, value)| json!({"name": name, "value": value}))
                    .collect();
                page_response(
                    &self.app.theme,
                    StatusCode::OK,
                    Page::FormPost,
                    &json!({"redirect_uri": redirect_uri, "fields": fields}),
                )
            }
        }
    }
}

/// A valid request of a known client, on its way through the pages.
struct PageContext<'a> {
    request: &'a BrowserRequest<'a>,
    tenant: &'a Tenant,
    client: &'a Client,
    authorization: &'a AuthorizationRequest,
}

type Outcome = Result<Handled, crate::oauth::error::OAuthError>;

impl PageContext<'_> {
    fn oauth(&self) -> &crate::oauth::context::OAuthContext {
        &self.request.app.oauth
    }

    fn session(&self) -> Result<Option<Session>, crate::store::StoreError> {
        let session_id = self
            .request
            .cookies
            .session_id(self.request.headers, self.request.tenant);
        live_session(
            self.oauth(),
            self.request.tenant,
            session_id.as_deref(),
            self.request.now,
        )
    }

    /// The request as it arrived: what the next step needs.
    fn start(&self) -> Outcome {
        let session = self.session()?;
        let step = next_step(
            self.oauth(),
            self.client,
            self.authorization,
            session.as_ref(),
            self.request.now,
        )?;
        let prompt_none = self.authorization.prompt.none;
        match (step, session) {
            (Step::SignIn, _) if prompt_none => Ok(self.error_to_client(
                "login_required",
                "the user must sign in, and prompt=none forbids asking",
            )),
            (Step::Consent, _) if prompt_none => Ok(self.error_to_client(
                "consent_required",
                "the user must consent, and prompt=none forbids asking",
            )),
            (Step::SignIn, _) => Ok(self.login_page(StatusCode::OK, None, None, Vec::new())),
            (Step::Consent, Some(session)) => Ok(self.consent_page(&session, Vec::new())),
            (Step::Issue, Some(session)) => self.issue(&session, Vec::new()),
            (_, None) => Ok(self.login_page(StatusCode::OK, None, None, Vec::new())),
        }
    }

    /// The login form posted.
    fn sign_in(&self, on: OnBlockingThread) -> Outcome {
        let request = self.request;
        let csrf = request.cookies.csrf_secret(request.headers);
        if !csrf_token_valid(
            FormPurpose::SignIn,
            csrf.as_deref(),
            request.params.get("csrf_token").map(String::as_str),
        ) {
            return Ok(self.forged());
        }
        let (Some(username), Some(password)) = (
            request.params.get("username"),
            request.params.get("password"),
        ) else {
            return Ok(self.login_page(
                StatusCode::BAD_REQUEST,
                Some("Enter your username and password."),
                None,
                Vec::new(),
            ));
        };
        let attempt = Attempt {
            tenant: request.tenant,
            username,
            password,
            address: request.remote_address,
            client_id: &self.client.client_id,
            through: "login page",
        };
        let user = match sign_in_with_password(self.oauth(), on, &attempt, request.now) {
            Ok(user) => user,
            Err(SignInRefusal::InvalidCredentials) => {
                let (response, _) =
                    self.login_page(StatusCode::OK, Some(INVALID_CREDENTIALS), None, Vec::new());
                return Ok((response, "invalid_credentials"));
            }
            Err(SignInRefusal::TooManyFailures { retry_after, .. }) => {
                let (mut response, _) = self.login_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    None,
                    Some(retry_after),
                    Vec::new(),
                );
                response.headers_mut().insert(
                    warp::http::header::RETRY_AFTER,
                    HeaderValue::from(retry_after),
                );
                return Ok((response, "too_many_failures"));
            }
            Err(SignInRefusal::Absurd(description)) => {
                return Ok((
                    self.login_page(
                        StatusCode::BAD_REQUEST,
                        Some(&description),
                        None,
                        Vec::new(),
                    )
                    .0,
                    "invalid_request",
                ))
            }
            Err(SignInRefusal::Unchecked(e)) => return Err(e),
        };
        let previous = request.cookies.session_id(request.headers, request.tenant);
        let (session_id, session) =
            start_session(self.oauth(), &user, previous.as_deref(), request.now)?;
        let cookie = request.cookies.set_session(
            request.tenant,
            &session_id,
            self.oauth().settings.sign_in.session_lifetime_seconds,
        );
        if must_consent(
            self.oauth(),
            self.client,
            self.authorization,
            &session.subject,
        )? {
            let (response, _) = self.consent_page_for(&session, &session_id, vec![cookie]);
            return Ok((response, "signed_in"));
        }
        self.issue(&session, vec![cookie])
    }

    /// The consent form posted.
    fn consent(&self) -> Outcome {
        let request = self.request;
        let session_id = request.cookies.session_id(request.headers, request.tenant);
        let Some(session) = self.session()? else {
            // Ended or expired since the page was shown: sign in again.
            return Ok(self.login_page(
                StatusCode::OK,
                Some("Your session has ended. Sign in again."),
                None,
                Vec::new(),
            ));
        };
        if !csrf_token_valid(
            FormPurpose::Consent,
            session_id.as_deref(),
            request.params.get("csrf_token").map(String::as_str),
        ) {
            return Ok(self.forged());
        }
        match request.params.get("decision").map(String::as_str) {
            Some("allow") => {
                remember_consent(
                    self.oauth(),
                    self.client,
                    self.authorization,
                    &session,
                    request.now,
                )?;
                self.issue(&session, Vec::new())
            }
            Some("deny") => {
                Ok(self.error_to_client("access_denied", "the user did not allow the request"))
            }
            _ => Ok((
                request.error_page(StatusCode::BAD_REQUEST, "the form has no decision"),
                "invalid_request",
            )),
        }
    }

    /// A form post without its CSRF token (or with another browser's): refused, and nothing
    /// done with what it carried.
    fn forged(&self) -> Handled {
        (
            self.request.error_page(
                StatusCode::FORBIDDEN,
                "This form was not sent from this sign-in page (its security token is missing or \
                 does not match this browser). Go back to the application and start again; \
                 cookies must be enabled.",
            ),
            "csrf_refused",
        )
    }

    /// The code, sent to the client.
    fn issue(&self, session: &Session, cookies: Vec<HeaderValue>) -> Outcome {
        match issue_code(
            self.oauth(),
            self.client,
            self.authorization,
            session,
            self.request.now,
        ) {
            Ok(code) => {
                let issuer = self.oauth().urls.issuer_url(self.request.tenant);
                let mut params = vec![("code", code.as_str())];
                if let Some(state) = &self.authorization.state {
                    params.push(("state", state.as_str()));
                }
                params.push(("iss", issuer.as_str()));
                let response = self.request.respond_to_client(
                    &self.authorization.redirect_uri,
                    self.authorization.response_mode,
                    &params,
                );
                Ok((with_cookies(response, cookies), "code_issued"))
            }
            Err(CodeRefusal::UserGone) => Ok(self.login_page(StatusCode::OK, None, None, cookies)),
            Err(CodeRefusal::Failed(e)) => Err(e),
        }
    }

    /// An error sent back to the client, with the request's `state`.
    fn error_to_client(&self, error: &'static str, description: &str) -> Handled {
        let issuer = self.oauth().urls.issuer_url(self.request.tenant);
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(state) = &self.authorization.state {
            params.push(("state", state.as_str()));
        }
        params.push(("iss", issuer.as_str()));
        (
            self.request.respond_to_client(
                &self.authorization.redirect_uri,
                self.authorization.response_mode,
                &params,
            ),
            error,
        )
    }

    fn action(&self) -> String {
        self.oauth()
            .urls
            .tenant_path(self.request.tenant, AUTHORIZE_ENDPOINT)
    }

    fn login_page(
        &self,
        status: StatusCode,
        error: Option<&str>,
        retry_after: Option<u64>,
        mut cookies: Vec<HeaderValue>,
    ) -> Handled {
        let request = self.request;
        let secret = match request.cookies.csrf_secret(request.headers) {
            Some(secret) => secret,
            None => match new_csrf_secret() {
                Ok(secret) => {
                    cookies.push(request.cookies.set_csrf(&secret));
                    secret
                }
                Err(e) => {
                    tracing::error!("random: {e}");
                    return (
                        request.error_page(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
                        "server_error",
                    );
                }
            },
        };
        let username = request
            .params
            .get("username")
            .or(self.authorization.login_hint.as_ref());
        let mut values = json!({
            "tenant_name": self.tenant.display_name,
            "client_name": self.client.name,
            "action": self.action(),
            "csrf_token": csrf_token(FormPurpose::SignIn, &secret),
            "hidden": self.hidden_fields_with_step("sign-in"),
        });
        if let Some(username) = username {
            values["username"] = json!(username);
        }
        if let Some(error) = error {
            values["error"] = json!(error);
        }
        if let Some(retry_after) = retry_after {
            values["retry_after_seconds"] = json!(retry_after);
        }
        // Signing in may answer with the redirect to the client (consent skipped or given).
        let response = page_response_leading_to(
            &request.app.theme,
            status,
            Page::Login,
            &values,
            Some(&self.authorization.redirect_uri),
        );
        (with_cookies(response, cookies), "sign_in_page")
    }

    fn consent_page(&self, session: &Session, cookies: Vec<HeaderValue>) -> Handled {
        match self
            .request
            .cookies
            .session_id(self.request.headers, self.request.tenant)
        {
            Some(session_id) => self.consent_page_for(session, &session_id, cookies),
            None => self.login_page(StatusCode::OK, None, None, cookies),
        }
    }

    fn consent_page_for(
        &self,
        session: &Session,
        session_id: &str,
        cookies: Vec<HeaderValue>,
    ) -> Handled {
        let values = json!({
            "tenant_name": self.tenant.display_name,
            "client_name": self.client.name,
            "username": session.subject,
            "scopes": self.authorization.scopes,
            "action": self.action(),
            "csrf_token": csrf_token(FormPurpose::Consent, session_id),
            "hidden": self.hidden_fields_with_step("consent"),
        });
        let response = page_response_leading_to(
            &self.request.app.theme,
            StatusCode::OK,
            Page::Consent,
            &values,
            Some(&self.authorization.redirect_uri),
        );
        (with_cookies(response, cookies), "consent_page")
    }

    /// The authorization request, for the page's form to post back as `step`.
    fn hidden_fields_with_step(&self, step: &str) -> Vec<Value> {
        carried_fields(self.request.params, FORM_FIELDS, step)
    }
}
