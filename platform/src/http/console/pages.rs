//! The console's sign-in and sign-out, and finding the session a request belongs to.

use serde_json::json;
use warp::http::StatusCode;

use super::session::{self, SignedIn, Transport};
use super::{Console, ConsoleRequest, Form, PREFIX};
use crate::blocking::OnBlockingThread;
use crate::http::browser::{
    csrf_token, csrf_token_valid, new_csrf_secret, redirect_response, with_cookies, FormPurpose,
};
use crate::http::reply::HttpResponse;
use crate::store::{AttemptSettlement, AttemptVerdict};

/// The sign-in form, with a CSRF secret cookie for a browser that has none.
pub fn sign_in_page(
    console: &Console,
    transport: Transport,
    request: &ConsoleRequest,
) -> HttpResponse {
    sign_in_form(console, transport, request, StatusCode::OK, None)
}

fn sign_in_form(
    console: &Console,
    transport: Transport,
    request: &ConsoleRequest,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let (secret, set) = match transport.sign_in_secret(&request.headers) {
        Some(secret) => (secret, None),
        None => match new_csrf_secret() {
            Ok(secret) => {
                let set = transport.set_sign_in_secret(&secret);
                (secret, Some(set))
            }
            Err(e) => {
                tracing::error!("cannot make a CSRF secret: {e}");
                return console.theme.page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "message",
                    &json!({"title": "Error", "signed_in": false,
                        "message": "The sign-in page cannot be shown; see the server log."}),
                );
            }
        },
    };
    let openid = console
        .openid
        .as_ref()
        .map(|o| json!({"tenant": o.tenant, "url": format!("{PREFIX}/sign-in/openid")}));
    let page = console.theme.page(
        status,
        "sign_in",
        &json!({"signed_in": false, "action": format!("{PREFIX}/sign-in"),
            "csrf_token": csrf_token(FormPurpose::ConsoleSignIn, &secret), "error": error,
            "openid": openid}),
    );
    with_cookies(page, set.into_iter().collect())
}

/// Checks the admin token posted by the sign-in form: counted first, then compared in constant
/// time; on success a session starts and the browser goes to the tenants.
pub async fn sign_in(
    console: Console,
    transport: Transport,
    request: ConsoleRequest,
) -> HttpResponse {
    let content_type = request
        .headers
        .get(warp::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let form = match Form::parse(content_type.as_deref(), request.body.clone()).await {
        Ok(form) => form,
        Err(e) => {
            return sign_in_form(
                &console,
                transport,
                &request,
                StatusCode::BAD_REQUEST,
                Some(e.to_string()),
            )
        }
    };
    let secret = transport.sign_in_secret(&request.headers);
    if !csrf_token_valid(
        FormPurpose::ConsoleSignIn,
        secret.as_deref(),
        form.text("csrf_token").as_deref(),
    ) {
        return sign_in_form(
            &console,
            transport,
            &request,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired or came from elsewhere: sign in again.".into()),
        );
    }
    let token = form.raw("token").to_owned();
    // A session the browser already has ends at a new sign-in: one browser, one session.
    let previous = transport
        .session_id(&request.headers)
        .map(|id| crate::store::hash_session_id(&id));
    let client = request.client;
    let now = crate::clock::now_unix();
    let checking = console.clone();
    let outcome = OnBlockingThread::spawn(move |on| {
        check_token(&checking, on, &token, client, previous.as_deref(), now)
    })
    .await
    .unwrap_or(Err(SignInRefusal::Failed));
    match outcome {
        Ok(session_id) => {
            let cookies = vec![
                transport.set_session(&session_id),
                transport.clear_sign_in_secret(),
            ];
            with_cookies(redirect_response(&format!("{PREFIX}/tenants")), cookies)
        }
        Err(SignInRefusal::WrongToken) => sign_in_form(
            &console,
            transport,
            &request,
            StatusCode::UNAUTHORIZED,
            Some("That is not the admin token.".into()),
        ),
        Err(SignInRefusal::TooMany { retry_after }) => {
            let mut page = sign_in_form(
                &console,
                transport,
                &request,
                StatusCode::TOO_MANY_REQUESTS,
                Some(format!(
                    "Too many failed sign-ins from this address: try again in {retry_after} seconds."
                )),
            );
            if let Ok(value) = warp::http::HeaderValue::from_str(&retry_after.to_string()) {
                page.headers_mut()
                    .insert(warp::http::header::RETRY_AFTER, value);
            }
            page
        }
        Err(SignInRefusal::Failed) => sign_in_form(
            &console,
            transport,
            &request,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(
                "Signing in failed on the server's side; see the server log, and try again.".into(),
            ),
        ),
    }
}

enum SignInRefusal {
    WrongToken,
    TooMany { retry_after: u64 },
    Failed,
}

fn check_token(
    console: &Console,
    on: OnBlockingThread,
    token: &str,
    client: Option<std::net::IpAddr>,
    previous: Option<&str>,
    now: i64,
) -> Result<String, SignInRefusal> {
    let oauth = &console.app.oauth;
    let failed = |e: &dyn std::fmt::Display| {
        tracing::error!("console sign-in failed: {e}");
        SignInRefusal::Failed
    };
    let counted = match oauth
        .writer
        .count_sign_in_attempt(on, session::sign_in_attempt(client, now))
        .map_err(|e| failed(&e))?
    {
        AttemptVerdict::Admitted(counted) => counted,
        AttemptVerdict::Refused { retry_after, .. } => {
            tracing::warn!(client = ?client, "console sign-in refused: too many failures from this address");
            return Err(SignInRefusal::TooMany { retry_after });
        }
    };
    if !console.credentials.accepts_token(token) {
        tracing::warn!(client = ?client, "console sign-in with a wrong admin token");
        return Err(SignInRefusal::WrongToken);
    }
    // This attempt was no failure: it is given back, but the address keeps the failures it had,
    // so that one operator's sign-in cannot wipe out what was guessed from the same address (a
    // NAT, a proxy) - as the login page's address counter does.
    let settlement = AttemptSettlement {
        give_back: counted,
        ..AttemptSettlement::default()
    };
    if let Err(e) = oauth.writer.settle_sign_in_attempt(on, settlement) {
        // The failures stay counted a little longer; the operator is signed in all the same.
        tracing::warn!("cannot clear the console sign-in count: {e}");
    }
    let session_id = session::open_session(
        &oauth.store,
        previous,
        client,
        console.credentials.fingerprint(),
        None,
        now,
    )
    .map_err(|e| failed(&e))?;
    tracing::info!(client = ?client, "console sign-in");
    Ok(session_id)
}

/// The live session of the request's cookie, if any; `Err` with the page to answer when the
/// store cannot say.
pub async fn signed_in(
    console: &Console,
    transport: Transport,
    request: &ConsoleRequest,
    now: i64,
) -> Result<Option<SignedIn>, HttpResponse> {
    let Some(session_id) = transport.session_id(&request.headers) else {
        return Ok(None);
    };
    let store = console.app.oauth.store.clone();
    let id_hash = crate::store::hash_session_id(&session_id);
    let credentials = console.session_credentials();
    let openid = console.openid.clone();
    let found = OnBlockingThread::spawn(move |_| -> Result<_, crate::store::StoreError> {
        let found = store.find_console_session(
            &id_hash,
            &credentials,
            now,
            session::IDLE_TIMEOUT_SECONDS,
        )?;
        // An operator removed from the operators' tenant (or the console's client removed
        // there) operates no more, from the next request on.
        match (&found, &openid) {
            (Some(row), Some(openid)) => match row.operator() {
                Some((tenant, username)) if !openid.still_allowed(&store, tenant, username)? => {
                    Ok(None)
                }
                _ => Ok(found),
            },
            (Some(row), None) if row.operator().is_some() => Ok(None),
            _ => Ok(found),
        }
    })
    .await;
    match found {
        Ok(Ok(Some(row))) => Ok(Some(SignedIn::new(session_id, &row, request.client))),
        Ok(Ok(None)) => Ok(None),
        Ok(Err(e)) => {
            tracing::error!("cannot read the console session: {e}");
            Err(console.theme.page(
                StatusCode::SERVICE_UNAVAILABLE,
                "message",
                &json!({"title": "Unavailable", "signed_in": false,
                    "message": "The database cannot be reached; try again in a moment."}),
            ))
        }
        Err(e) => {
            tracing::error!("cannot read the console session: {e}");
            Err(console.theme.page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "message",
                &json!({"title": "Error", "signed_in": false,
                    "message": "The request failed; see the server log."}),
            ))
        }
    }
}

/// Ends the session everywhere and removes its cookie.
pub async fn sign_out(
    console: &Console,
    transport: Transport,
    signed_in: &SignedIn,
    now: i64,
) -> HttpResponse {
    let store = console.app.oauth.store.clone();
    let id_hash = signed_in.id_hash.clone();
    let ended = OnBlockingThread::spawn(move |_| store.end_console_session(&id_hash, now)).await;
    if !matches!(ended, Ok(Ok(_))) {
        tracing::error!("cannot end a console session: {ended:?}");
    }
    with_cookies(
        redirect_response(&format!("{PREFIX}/sign-in")),
        vec![transport.clear_session()],
    )
}
