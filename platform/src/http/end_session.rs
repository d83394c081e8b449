//! `GET|POST /oauth2/logout` and `/t/{tenant}/oauth2/logout`: RP-Initiated Logout 1.0
//! (`end_session_endpoint`). The request is checked first (`oauth::end_session`); then the
//! browser's session of the tenant ends in the store, so on every node at once, and its cookie is
//! cleared; then the browser goes to the registered `post_logout_redirect_uri` (with `state`) or
//! sees the signed-out page. Without an `id_token_hint` naming the session's user, the user is
//! asked first, on a page whose form carries a CSRF token bound to the session.

use std::collections::HashMap;

use bytes::Buf;
use futures_util::Stream;
use serde_json::{json, Value};
use warp::http::{HeaderMap, HeaderValue, StatusCode};

use super::browser::{
    carried_fields, csrf_token, csrf_token_valid, page_response, page_response_leading_to,
    redirect_response, with_cookies, Cookies, FormPurpose,
};
use super::form::read_form_body;
use super::reply::HttpResponse;
use crate::app::{App, SharedApp};
use crate::oauth::authorization_request::{from_pairs, redirect_location, Refusal};
use crate::oauth::end_session::{check_logout_request, LogoutRefusal, LogoutRequest};
use crate::pages::Page;
use crate::store::hash_session_id;

pub const LOGOUT_ENDPOINT: &str = "oauth2/logout";

pub async fn logout_endpoint<S, B>(
    app: SharedApp,
    path_tenant: Option<String>,
    raw_query: String,
    headers: HeaderMap,
    body: Option<S>,
) -> HttpResponse
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let tenant = path_tenant.unwrap_or_else(|| app.config.server.default_tenant.clone());
    let error_page = |status: StatusCode, message: &str| {
        page_response(
            &app.theme,
            status,
            Page::Error,
            &json!({"tenant_name": tenant, "message": message}),
        )
    };
    let pairs: Vec<(String, String)> = match body {
        None => form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        Some(body) => match read_form_body(&app.config.server, &headers, true, body).await {
            Ok(bytes) => form_urlencoded::parse(&bytes).into_owned().collect(),
            Err(e) => return error_page(super::authorize::status_of(&e), &e.description),
        },
    };
    let params = match from_pairs(pairs) {
        Ok(params) => params,
        Err(Refusal::ShowErrorPage { message }) => {
            return error_page(StatusCode::BAD_REQUEST, &message)
        }
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "malformed request"),
    };
    let worker = app.clone();
    let handled = tokio::task::spawn_blocking(move || {
        logout(
            &worker,
            &tenant,
            &params,
            &headers,
            crate::clock::now_unix(),
        )
    })
    .await;
    match handled {
        Ok(response) => response,
        Err(e) => {
            tracing::error!("logout task failed: {e}");
            page_response(
                &app.theme,
                StatusCode::INTERNAL_SERVER_ERROR,
                Page::Error,
                &json!({"tenant_name": "", "message": "internal error"}),
            )
        }
    }
}

fn logout(
    app: &App,
    tenant: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    now: i64,
) -> HttpResponse {
    let oauth = &app.oauth;
    let page = |status: StatusCode, page: Page, values: Value| {
        page_response(&app.theme, status, page, &values)
    };
    let tenant_record = match oauth.store.cached_active_tenant(tenant) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                Page::Error,
                json!({"tenant_name": tenant, "message": "unknown tenant"}),
            )
        }
        Err(e) => return failed(app, tenant, &e.to_string()),
    };
    let tenant_name = tenant_record.display_name.clone();
    let request = match check_logout_request(oauth, tenant, params, now) {
        Ok(request) => request,
        Err(LogoutRefusal::Invalid(message)) => {
            tracing::info!(tenant, outcome = "refused", "logout request: {message}");
            return page(
                StatusCode::BAD_REQUEST,
                Page::Error,
                json!({"tenant_name": tenant_name, "message": message}),
            );
        }
        Err(LogoutRefusal::Failed(e)) => return failed(app, tenant, &e.to_string()),
    };
    let cookies = Cookies::new(&oauth.urls, app.config.server.tls.enabled);
    let session_id = cookies.session_id(headers, tenant);
    let idle = oauth.settings.sign_in.session_idle_timeout();
    let session = match &session_id {
        Some(id) => match oauth
            .store
            .find_session(tenant, &hash_session_id(id), now, idle)
        {
            Ok(found) => found,
            Err(e) => return failed(app, tenant, &e.to_string()),
        },
        None => None,
    };
    if let (Some(session), Some(session_id)) = (&session, &session_id) {
        let confirmed = params.get("step").map(String::as_str) == Some("logout")
            && csrf_token_valid(
                FormPurpose::Logout,
                Some(session_id),
                params.get("csrf_token").map(String::as_str),
            );
        let hinted = request.hint.as_ref().is_some_and(|hint| {
            hint.subject == tenant_record.present_subject(&session.subject)
                && hint
                    .sid
                    .as_ref()
                    .is_none_or(|sid| *sid == crate::store::public_session_id(&session.id_hash))
        });
        if !confirmed && !hinted {
            return confirm_page(app, tenant, &tenant_name, &request, params, session_id);
        }
        if let Err(e) = oauth.store.end_session(tenant, &session.id_hash, now) {
            return failed(app, tenant, &e.to_string());
        }
        tracing::info!(tenant, outcome = "signed_out", "logout request");
    }
    let clear = vec![cookies.clear_session(tenant)];
    let response = match &request.post_logout_redirect_uri {
        Some(uri) => {
            let mut query = Vec::new();
            if let Some(state) = &request.state {
                query.push(("state", state.as_str()));
            }
            redirect_response(&redirect_location(uri, &query))
        }
        None => page(
            StatusCode::OK,
            Page::LoggedOut,
            json!({"tenant_name": tenant_name}),
        ),
    };
    with_cookies(response, clear)
}

/// "Sign out?", for a request that did not show it comes from an application of this session.
fn confirm_page(
    app: &App,
    tenant: &str,
    tenant_name: &str,
    request: &LogoutRequest,
    params: &HashMap<String, String>,
    session_id: &str,
) -> HttpResponse {
    let hidden = carried_fields(params, &["step", "csrf_token"], "logout");
    let mut values = json!({
        "tenant_name": tenant_name,
        "action": app.oauth.urls.tenant_path(tenant, LOGOUT_ENDPOINT),
        "csrf_token": csrf_token(FormPurpose::Logout, session_id),
        "hidden": hidden,
    });
    if let Some(client) = &request.client {
        values["client_name"] = json!(client.name);
    }
    page_response_leading_to(
        &app.theme,
        StatusCode::OK,
        Page::Logout,
        &values,
        request.post_logout_redirect_uri.as_deref(),
    )
}

fn failed(app: &App, tenant: &str, reason: &str) -> HttpResponse {
    tracing::error!(tenant, "logout request failed: {reason}");
    let mut response = page_response(
        &app.theme,
        StatusCode::SERVICE_UNAVAILABLE,
        Page::Error,
        &json!({"tenant_name": tenant, "message": "The service is briefly unavailable. Try again in a moment."}),
    );
    response.headers_mut().insert(
        warp::http::header::RETRY_AFTER,
        HeaderValue::from_static("1"),
    );
    response
}
