//! Signing in to the console as a user of a tenant of this server (`[admin.console]`): the
//! console is an OpenID client of that tenant (as Keycloak's console is of its master realm),
//! using the authorization code flow with PKCE (S256), `state` and `nonce`. The code is redeemed
//! at the tenant's token endpoint in process (the same checks a client meets, without a network
//! hop), and the ID token verified against the tenant's keys. The operator is then named in the
//! audit log (`alice@operators`). Whoever the tenant signs in may operate the console: keep that
//! tenant to operators.
//!
//! `state`, `nonce` and the PKCE verifier wait in a cookie of the console's own (`HttpOnly`,
//! `SameSite=Lax`: the way back from the sign-in page is a top-level navigation from the server's
//! listener, another site when the two are on other hosts), for ten minutes, used once.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};

use super::session::{self, Transport};
use super::{Console, ConsoleRequest, PREFIX};
use crate::config::ConsoleConfig;
use crate::http::browser::{redirect_response, with_cookies};
use crate::http::reply::HttpResponse;

const FLOW_COOKIE: &str = "grantor-console-openid";
const FLOW_SECONDS: i64 = 600;
/// Largest ID token read.
const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;

/// The console's OpenID client, from `[admin.console]`.
pub struct OpenIdSignIn {
    pub tenant: String,
    client_id: String,
    client_secret: zeroize::Zeroizing<String>,
    redirect_uri: String,
}

impl std::fmt::Debug for OpenIdSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIdSignIn")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl OpenIdSignIn {
    /// The configured client, its secret read from the environment; `None` when OpenID sign-in
    /// is off. An error says what to set.
    pub fn from_config(config: &ConsoleConfig) -> Result<Option<Arc<OpenIdSignIn>>, String> {
        let (Some(tenant), Some(client_id), Some(variable), Some(redirect_uri)) = (
            &config.openid_tenant,
            &config.openid_client_id,
            &config.openid_client_secret_env,
            config.redirect_uri(),
        ) else {
            return Ok(None);
        };
        let secret = std::env::var(variable).map_err(|_| {
            format!("admin.console.openid_client_secret_env: {variable} is not set")
        })?;
        Ok(Some(Arc::new(OpenIdSignIn {
            tenant: tenant.clone(),
            client_id: client_id.clone(),
            client_secret: zeroize::Zeroizing::new(secret),
            redirect_uri,
        })))
    }

    /// What sessions opened through this client are stored under: another client (or tenant)
    /// configured later takes none of them.
    pub fn credential(&self) -> String {
        crate::secrets::hash_secret(&format!(
            "console-openid\n{}\n{}",
            self.tenant, self.client_id
        ))
    }
}

/// `GET /console/sign-in/openid`: to the tenant's authorization endpoint.
pub fn start(console: &Console, openid: &OpenIdSignIn, transport: Transport) -> HttpResponse {
    let random = || crate::secrets::random_token(32);
    let (Ok(state), Ok(nonce), Ok(verifier)) = (random(), random(), random()) else {
        tracing::error!("cannot make the console's sign-in values: no randomness");
        return failed(console, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
    let mut location = console
        .app
        .oauth
        .urls
        .tenant_url(&openid.tenant, "oauth2/authorize");
    location.push('?');
    location.push_str(
        &form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &openid.client_id)
            .append_pair("redirect_uri", &openid.redirect_uri)
            .append_pair("scope", "openid")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish(),
    );
    let flow = format!("{state}.{nonce}.{verifier}");
    with_cookies(
        redirect_response(&location),
        vec![flow_cookie(transport, &flow, FLOW_SECONDS)],
    )
}

/// `GET /console/callback`: the code redeemed, the ID token checked, a console session started
/// for its subject.
pub async fn callback(
    console: &Console,
    openid: &OpenIdSignIn,
    transport: Transport,
    request: &ConsoleRequest,
) -> HttpResponse {
    let params: std::collections::HashMap<String, String> =
        form_urlencoded::parse(request.query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let clear = flow_cookie(transport, "", 0);
    let refused = |text: &str| {
        with_cookies(
            console.theme.page(
                StatusCode::BAD_REQUEST,
                "message",
                &json!({"title": "Not signed in", "message": text,
                    "link": format!("{PREFIX}/sign-in"), "link_text": "Sign in again"}),
            ),
            vec![clear.clone()],
        )
    };
    let flow = flow_value(&request.headers, transport);
    let Some((state, nonce, verifier)) = flow.as_deref().and_then(split_flow) else {
        return refused("The sign-in took too long or did not start here.");
    };
    let presented = params.get("state").map(String::as_str).unwrap_or_default();
    if presented.len() != state.len()
        || !openssl::memcmp::eq(presented.as_bytes(), state.as_bytes())
    {
        return refused("The sign-in's state does not match: start again.");
    }
    if let Some(error) = params.get("error") {
        let text = format!("The sign-in was refused: {}.", error.escape_default());
        return refused(&text);
    }
    let Some(code) = params.get("code") else {
        return refused("The sign-in came back without a code.");
    };
    let tokens = match redeem(console, openid, code, verifier, request.peer).await {
        Ok(tokens) => tokens,
        Err(why) => {
            tracing::warn!("console sign-in through OpenID refused: {why}");
            return refused("The sign-in could not be completed: start again.");
        }
    };
    let now = crate::clock::now_unix();
    let operator = match checked_subject(console, openid, &tokens, nonce, now) {
        // A tenant that qualifies its subjects already names them `alice@operators`.
        Ok(subject) if subject.ends_with(&format!("@{}", openid.tenant)) => subject,
        Ok(subject) => format!("{subject}@{}", openid.tenant),
        Err(why) => {
            tracing::warn!("console sign-in through OpenID refused: {why}");
            return refused("The sign-in could not be completed: start again.");
        }
    };
    let previous = transport
        .session_id(&request.headers)
        .map(|id| crate::store::hash_session_id(&id));
    let store = console.app.oauth.store.clone();
    let client = request.client;
    let credential = openid.credential();
    let who = operator.clone();
    let started = crate::blocking::OnBlockingThread::spawn(move |_| {
        if let Some(previous) = previous {
            store.end_console_session(&previous, now)?;
        }
        let (id, row) = session::new_session(client, credential, Some(who), now)
            .map_err(|e| crate::store::StoreError::Config(e.to_string()))?;
        store.create_console_session(&row)?;
        Ok::<String, crate::store::StoreError>(id)
    })
    .await;
    match started {
        Ok(Ok(session_id)) => {
            tracing::info!(operator = %operator, client = ?client, "console sign-in through OpenID");
            with_cookies(
                redirect_response(&format!("{PREFIX}/tenants")),
                vec![transport.set_session(&session_id), clear],
            )
        }
        other => {
            tracing::error!("cannot start a console session: {other:?}");
            with_cookies(
                failed(console, StatusCode::SERVICE_UNAVAILABLE),
                vec![clear],
            )
        }
    }
}

/// The code redeemed at the tenant's token endpoint, in process: the token response's JSON.
async fn redeem(
    console: &Console,
    openid: &OpenIdSignIn,
    code: &str,
    verifier: &str,
    peer: Option<std::net::SocketAddr>,
) -> Result<Value, String> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &openid.redirect_uri)
        .append_pair("code_verifier", verifier)
        .append_pair("client_id", &openid.client_id)
        .append_pair("client_secret", &openid.client_secret)
        .finish();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let length = body.len();
    if let Ok(value) = HeaderValue::from_str(&length.to_string()) {
        headers.insert(header::CONTENT_LENGTH, value);
    }
    let stream = futures_util::stream::once(futures_util::future::ready(Ok::<Bytes, warp::Error>(
        Bytes::from(body),
    )));
    let response = crate::http::token::token_endpoint(
        console.app.clone(),
        Some(openid.tenant.clone()),
        String::new(),
        headers,
        peer,
        stream,
    )
    .await;
    let status = response.status();
    let json: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    if status != StatusCode::OK {
        return Err(format!(
            "the token endpoint answered {status}: {}",
            json["error"]
        ));
    }
    Ok(json)
}

/// The ID token's subject, once the token is the tenant's, for this client, with this nonce,
/// and not expired.
fn checked_subject(
    console: &Console,
    openid: &OpenIdSignIn,
    tokens: &Value,
    nonce: &str,
    now: i64,
) -> Result<String, String> {
    let id_token = tokens["id_token"]
        .as_str()
        .ok_or("no ID token in the token response")?;
    let jws = crate::oauth::own_jwt::verify_own_jwt(
        &console.app.oauth,
        &openid.tenant,
        id_token,
        MAX_ID_TOKEN_BYTES,
        now,
    )
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("the ID token is not the tenant's: {e:?}"))?;
    let claims = &jws.claims;
    if !crate::oauth::own_jwt::audiences_of(claims).contains(&openid.client_id) {
        return Err("the ID token is for another client".into());
    }
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err("the ID token's nonce does not match".into());
    }
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|exp| exp <= now)
    {
        return Err("the ID token has expired".into());
    }
    claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|sub| !sub.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "the ID token has no subject".into())
}

fn flow_cookie(transport: Transport, value: &str, max_age: i64) -> HeaderValue {
    transport.cookie_with(FLOW_COOKIE, value, Some(max_age), "Lax")
}

fn flow_value(headers: &HeaderMap, transport: Transport) -> Option<String> {
    transport.cookie_named(headers, FLOW_COOKIE)
}

/// `state.nonce.verifier`, each base64url.
fn split_flow(flow: &str) -> Option<(&str, &str, &str)> {
    let mut parts = flow.split('.');
    let (state, nonce, verifier) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && ![state, nonce, verifier].iter().any(|p| p.is_empty()))
        .then_some((state, nonce, verifier))
}

fn failed(console: &Console, status: StatusCode) -> HttpResponse {
    console.theme.page(
        status,
        "message",
        &json!({"title": "Error", "message": "Signing in failed on the server's side; see the server log."}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_cookie_holds_three_parts() {
        assert_eq!(split_flow("s.n.v"), Some(("s", "n", "v")));
        assert_eq!(split_flow("s.n"), None);
        assert_eq!(split_flow("s..v"), None);
        assert_eq!(split_flow("s.n.v.x"), None);
    }
}
