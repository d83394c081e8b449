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
            "console-openid\n{}\n{}\n{}",
            self.tenant,
            self.client_id,
            self.client_secret.as_str()
        ))
    }

    /// Whether the operator of a session opened through this client may still operate: the
    /// user is still in the (active) tenant and the console's client still registered there.
    pub fn still_allowed(
        &self,
        store: &crate::store::Store,
        tenant: &str,
        username: &str,
    ) -> Result<bool, crate::store::StoreError> {
        Ok(tenant == self.tenant
            && store.find_active_tenant(tenant)?.is_some()
            && store.find_user(tenant, username)?.is_some()
            && store.find_client(tenant, &self.client_id)?.is_some())
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
            // The password every time: signing out of the console must not leave the next
            // person at this browser one click from the last operator's rights.
            .append_pair("prompt", "login")
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
        Err(Redemption::Refused(why)) => {
            tracing::warn!("console sign-in through OpenID refused: {why}");
            return refused("The sign-in could not be completed: start again.");
        }
        Err(Redemption::Failed(why)) => {
            tracing::error!("console sign-in through OpenID failed: {why}");
            return with_cookies(
                failed(console, StatusCode::SERVICE_UNAVAILABLE),
                vec![clear],
            );
        }
    };
    let now = crate::clock::now_unix();
    let previous = transport
        .session_id(&request.headers)
        .map(|id| crate::store::hash_session_id(&id));
    let app = console.app.clone();
    let signing_in = console.openid.clone();
    let nonce = nonce.to_owned();
    let client = request.client;
    let started = crate::blocking::OnBlockingThread::spawn(move |_| {
        let Some(openid) = signing_in else {
            return Err(Redemption::Failed(
                "OpenID sign-in is not configured".into(),
            ));
        };
        start_session(&app, &openid, &tokens, &nonce, client, previous, now)
    })
    .await
    .unwrap_or_else(|e| Err(Redemption::Failed(e.to_string())));
    match started {
        Ok((session_id, operator)) => {
            tracing::info!(operator = %operator, client = ?client, "console sign-in through OpenID");
            // A page of the console's own leads on: the way back here was a navigation from the
            // server's listener, another site when the two are on other hosts, and the session
            // cookie (SameSite=Strict) is sent only from the console's own pages.
            with_cookies(
                console.theme.page(
                    StatusCode::OK,
                    "message",
                    &json!({"title": "Signed in", "signed_in": false,
                        "message": format!("Signed in as {operator}."),
                        "refresh": format!("{PREFIX}/tenants"),
                        "link": format!("{PREFIX}/tenants"), "link_text": "Continue to the console"}),
                ),
                vec![transport.set_session(&session_id), clear],
            )
        }
        Err(Redemption::Refused(why)) => {
            tracing::warn!("console sign-in through OpenID refused: {why}");
            refused("The sign-in could not be completed: start again.")
        }
        Err(Redemption::Failed(why)) => {
            tracing::error!("console sign-in through OpenID failed: {why}");
            with_cookies(
                failed(console, StatusCode::SERVICE_UNAVAILABLE),
                vec![clear],
            )
        }
    }
}

/// Why a sign-in did not complete: the user's or the flow's (`Refused`: start again), or the
/// server's (`Failed`: try again later).
#[derive(Debug)]
enum Redemption {
    Refused(String),
    Failed(String),
}

impl From<crate::store::StoreError> for Redemption {
    fn from(e: crate::store::StoreError) -> Self {
        Redemption::Failed(e.to_string())
    }
}

/// The ID token checked and the operator's session stored (the browser's former one ended): the
/// session id and the operator's name (`alice@operators`).
fn start_session(
    app: &crate::app::SharedApp,
    openid: &OpenIdSignIn,
    tokens: &Value,
    nonce: &str,
    client: Option<std::net::IpAddr>,
    previous: Option<String>,
    now: i64,
) -> Result<(String, String), Redemption> {
    let store = &app.oauth.store;
    let id_token = tokens["id_token"]
        .as_str()
        .ok_or_else(|| Redemption::Refused("no ID token in the token response".into()))?;
    let jws = crate::oauth::own_jwt::verify_own_jwt(
        &app.oauth,
        &openid.tenant,
        id_token,
        MAX_ID_TOKEN_BYTES,
        now,
    )?
    .map_err(|e| Redemption::Refused(format!("the ID token is not the tenant's: {e:?}")))?;
    let subject = check_claims(&jws.claims, &openid.client_id, nonce, now)
        .map_err(|why| Redemption::Refused(why.to_owned()))?;
    let tenant = store
        .find_active_tenant(&openid.tenant)?
        .ok_or_else(|| Redemption::Refused(format!("no tenant {}", openid.tenant)))?;
    // The username as stored: the subject as the tenant presents it may be qualified.
    let username = tenant.stored_subject(subject).to_owned();
    let operator = format!("{username}@{}", openid.tenant);
    let id = session::open_session(
        store,
        previous.as_deref(),
        client,
        openid.credential(),
        Some((openid.tenant.clone(), username)),
        now,
    )?;
    Ok((id, operator))
}

/// The ID token's subject, once it is for `client_id`, with `nonce`, and not expired (its
/// signature and issuer are `verify_own_jwt`'s).
fn check_claims<'a>(
    claims: &'a serde_json::Map<String, Value>,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<&'a str, &'static str> {
    if !crate::oauth::own_jwt::audiences_of(claims)
        .iter()
        .any(|aud| aud == client_id)
    {
        return Err("the ID token is for another client");
    }
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err("the ID token's nonce does not match");
    }
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|exp| exp <= now)
    {
        return Err("the ID token has expired");
    }
    claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|sub| !sub.is_empty())
        .ok_or("the ID token has no subject")
}

/// The code redeemed at the tenant's token endpoint, in process: the token response's JSON.
async fn redeem(
    console: &Console,
    openid: &OpenIdSignIn,
    code: &str,
    verifier: &str,
    peer: Option<std::net::SocketAddr>,
) -> Result<Value, Redemption> {
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
    let why = || format!("the token endpoint answered {status}: {}", json["error"]);
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Redemption::Failed(why()));
    }
    if status != StatusCode::OK {
        return Err(Redemption::Refused(why()));
    }
    // A refresh token would outlive the sign-in it came with: the console's client must not be
    // allowed one (its access token, unused, expires with its lifetime).
    if json.get("refresh_token").is_some() {
        return Err(Redemption::Failed(
            "the console's client is allowed refresh_token: allow it authorization_code only"
                .into(),
        ));
    }
    Ok(json)
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
    fn the_id_token_must_be_for_this_client_with_this_nonce_and_alive() {
        let claims = |value: Value| value.as_object().unwrap().clone();
        let good = claims(json!({"aud": "console", "nonce": "n", "exp": 200, "sub": "alice"}));
        assert_eq!(check_claims(&good, "console", "n", 100), Ok("alice"));
        let listed =
            claims(json!({"aud": ["api", "console"], "nonce": "n", "exp": 200, "sub": "a"}));
        assert_eq!(check_claims(&listed, "console", "n", 100), Ok("a"));
        for (bad, why) in [
            (
                json!({"aud": "other", "nonce": "n", "exp": 200, "sub": "a"}),
                "another client",
            ),
            (
                json!({"aud": "console", "nonce": "m", "exp": 200, "sub": "a"}),
                "nonce",
            ),
            (json!({"aud": "console", "exp": 200, "sub": "a"}), "nonce"),
            (
                json!({"aud": "console", "nonce": "n", "exp": 100, "sub": "a"}),
                "expired",
            ),
            (
                json!({"aud": "console", "nonce": "n", "sub": "a"}),
                "expired",
            ),
            (
                json!({"aud": "console", "nonce": "n", "exp": 200, "sub": ""}),
                "subject",
            ),
            (
                json!({"aud": "console", "nonce": "n", "exp": 200}),
                "subject",
            ),
        ] {
            let refused = check_claims(&claims(bad.clone()), "console", "n", 100).unwrap_err();
            assert!(refused.contains(why), "{bad}: {refused}");
        }
    }

    #[test]
    fn the_flow_cookie_holds_three_parts() {
        assert_eq!(split_flow("s.n.v"), Some(("s", "n", "v")));
        assert_eq!(split_flow("s.n"), None);
        assert_eq!(split_flow("s..v"), None);
        assert_eq!(split_flow("s.n.v.x"), None);
    }
}
