//! Signing in to the console with the admin token, the console session's cookie, and the CSRF
//! token of its forms.
//!
//! The session cookie is `HttpOnly`, `SameSite=Strict` (no other site's link, form or frame carries
//! it), and, when the console is reached over HTTPS (a trusted proxy says so with
//! `X-Forwarded-Proto: https`; the admin listener itself serves plain HTTP), `Secure` and
//! `__Host-` prefixed. Its value is a random id the store knows only by digest. A form's CSRF
//! token is a digest of the session id (of a cookie the sign-in form set, before a session
//! exists): another site can neither read the cookie nor compute the token.
//!
//! Failed sign-ins are counted per client address (an IPv6 /64) in the store, before the token is
//! checked, so parallel guesses from one address cannot pass the limit, on any node.

use std::net::{IpAddr, SocketAddr};

use warp::http::{HeaderMap, HeaderValue};

use crate::audit::Actor;
use crate::http::browser::{csrf_token, csrf_token_valid, FormPurpose};
use crate::store::{AttemptCounter, ConsoleSession, SignInAttempt};

const SESSION_COOKIE: &str = "grantor-console";
const SIGN_IN_COOKIE: &str = "grantor-console-sign-in";

/// A console session ends this long after sign-in, however active.
pub const SESSION_LIFETIME_SECONDS: i64 = 8 * 3600;
/// ... or after this long without a request.
pub const IDLE_TIMEOUT_SECONDS: i64 = 30 * 60;
/// Failed sign-ins one address may make in a window; one more is refused until it ends.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 10;
pub const FAILURE_WINDOW_SECONDS: i64 = 15 * 60;

/// How the browser reaches the console: decides the cookies' names and flags.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    https: bool,
}

impl Transport {
    /// HTTPS when the peer is a trusted proxy that says the browser used HTTPS.
    pub fn of(
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        trusted_proxies: &[ipnet::IpNet],
    ) -> Transport {
        let from_proxy =
            peer.is_some_and(|p| crate::client_network::is_trusted_proxy(p.ip(), trusted_proxies));
        let https = from_proxy
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
        Transport { https }
    }

    fn name(self, base: &str) -> String {
        if self.https {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    fn cookie(self, base: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        self.cookie_with(base, value, max_age, "Strict")
    }

    /// `Set-Cookie` for cookie `base` (prefixed over HTTPS) with this `SameSite`.
    pub fn cookie_with(
        self,
        base: &str,
        value: &str,
        max_age: Option<i64>,
        same_site: &str,
    ) -> HeaderValue {
        let mut cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite={same_site}",
            self.name(base)
        );
        if let Some(max_age) = max_age {
            cookie.push_str(&format!("; Max-Age={max_age}"));
        }
        if self.https {
            cookie.push_str("; Secure");
        }
        // Names are constants, values base64url: always a valid header value.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The session id the browser sent.
    pub fn session_id(self, headers: &HeaderMap) -> Option<String> {
        self.cookie_named(headers, SESSION_COOKIE)
    }

    /// The value of cookie `base` (prefixed over HTTPS) the browser sent.
    pub fn cookie_named(self, headers: &HeaderMap, base: &str) -> Option<String> {
        crate::http::browser::cookie_value(headers, &self.name(base))
    }

    pub fn set_session(self, session_id: &str) -> HeaderValue {
        self.cookie(SESSION_COOKIE, session_id, Some(SESSION_LIFETIME_SECONDS))
    }

    pub fn clear_session(self) -> HeaderValue {
        self.cookie(SESSION_COOKIE, "", Some(0))
    }

    /// The secret the sign-in form's CSRF token is made from.
    pub fn sign_in_secret(self, headers: &HeaderMap) -> Option<String> {
        crate::http::browser::cookie_value(headers, &self.name(SIGN_IN_COOKIE))
    }

    /// Until the browser closes.
    pub fn set_sign_in_secret(self, secret: &str) -> HeaderValue {
        self.cookie(SIGN_IN_COOKIE, secret, None)
    }

    pub fn clear_sign_in_secret(self) -> HeaderValue {
        self.cookie(SIGN_IN_COOKIE, "", Some(0))
    }
}

/// A signed-in console request: its session and who it acts as in the audit log.
#[derive(Debug, Clone)]
pub struct SignedIn {
    session_id: String,
    pub id_hash: String,
    pub actor: Actor,
}

impl SignedIn {
    /// A request of the live `session` (its cookie's id `session_id`) from `client`.
    pub fn new(session_id: String, session: &ConsoleSession, client: Option<IpAddr>) -> SignedIn {
        let public = crate::store::public_session_id(&session.id_hash);
        let actor = match session.operator() {
            Some((tenant, username)) => {
                Actor::console_operator(&format!("{username}@{tenant}"), &public[..8], client)
            }
            None => Actor::console(&public[..8], client),
        };
        SignedIn {
            actor,
            id_hash: session.id_hash.clone(),
            session_id,
        }
    }

    /// The CSRF token every form of this session carries.
    pub fn csrf_token(&self) -> String {
        csrf_token(FormPurpose::Console, &self.session_id)
    }

    /// `page` rendered for this session: with what every signed-in page has (its CSRF token,
    /// the signed-in layout).
    pub fn page(
        &self,
        theme: &super::ConsoleTheme,
        status: warp::http::StatusCode,
        page: &str,
        mut values: serde_json::Value,
    ) -> crate::http::reply::HttpResponse {
        if let Some(map) = values.as_object_mut() {
            map.insert("csrf_token".into(), self.csrf_token().into());
            map.insert("signed_in".into(), true.into());
        }
        theme.page(status, page, &values)
    }

    pub fn csrf_valid(&self, presented: Option<&str>) -> bool {
        csrf_token_valid(FormPurpose::Console, Some(&self.session_id), presented)
    }
}

/// Starts a console session in the store for the browser whose former session (its id's digest,
/// `previous`) ends now: one browser, one session. The cookie value of the new one.
pub fn open_session(
    store: &crate::store::Store,
    previous: Option<&str>,
    client: Option<IpAddr>,
    credential: String,
    operator: Option<(String, String)>,
    now: i64,
) -> Result<String, crate::store::StoreError> {
    if let Some(previous) = previous {
        store.end_console_session(previous, now)?;
    }
    let (id, row) = new_session(client, credential, operator, now).map_err(|e| {
        crate::store::StoreError::Config(format!("no randomness for a session: {e}"))
    })?;
    store.create_console_session(&row)?;
    Ok(id)
}

/// A new console session starting at `now`, opened with what `credential` names (the admin
/// token's `AdminCredentials::fingerprint`, or `OpenIdSignIn::credential` for `operator`): the
/// cookie value and the row that stores its digest.
fn new_session(
    client: Option<IpAddr>,
    credential: String,
    operator: Option<(String, String)>,
    now: i64,
) -> Result<(String, ConsoleSession), openssl::error::ErrorStack> {
    let id = crate::store::new_session_id()?;
    let session = ConsoleSession {
        id_hash: crate::store::hash_session_id(&id),
        credential,
        operator_tenant: operator.as_ref().map(|(tenant, _)| tenant.clone()),
        operator_subject: operator.map(|(_, username)| username),
        signed_in_from: client.map(|ip| ip.to_string()),
        created_at: now,
        last_seen_at: now,
        expires_at: now + SESSION_LIFETIME_SECONDS,
        ended_at: None,
    };
    Ok((id, session))
}

/// The sign-in attempt from `client` at `now`, counted before the token is checked.
pub fn sign_in_attempt(client: Option<IpAddr>, now: i64) -> SignInAttempt {
    let address = client.map_or_else(
        || "unknown".to_owned(),
        crate::client_network::client_network_text,
    );
    SignInAttempt {
        counters: vec![AttemptCounter {
            key_digest: crate::secrets::hash_secret(&format!("console-sign-in\n{address}")),
            limit: MAX_FAILURES_PER_ADDRESS,
        }],
        now,
        window_seconds: FAILURE_WINDOW_SECONDS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    fn client(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn cookies_are_strict_and_secure_only_behind_a_trusted_https_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let plain = Transport::of(&headers, peer("192.0.2.1:5000"), &proxies);
        assert_eq!(
            plain.set_session("s").to_str().unwrap(),
            "grantor-console=s; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800"
        );
        let proxied = Transport::of(&headers, peer("10.1.2.3:5000"), &proxies);
        assert_eq!(
            proxied.set_session("s").to_str().unwrap(),
            "__Host-grantor-console=s; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure"
        );
        let mut cookies = HeaderMap::new();
        cookies.insert(
            warp::http::header::COOKIE,
            HeaderValue::from_static("grantor-console=plain; __Host-grantor-console=secure"),
        );
        assert_eq!(plain.session_id(&cookies).as_deref(), Some("plain"));
        assert_eq!(proxied.session_id(&cookies).as_deref(), Some("secure"));
    }

    #[test]
    fn the_csrf_token_is_bound_to_the_session() {
        let (id, row) = new_session(client("127.0.0.1"), "c".into(), None, 100).unwrap();
        let signed_in = SignedIn::new(id, &row, client("127.0.0.1"));
        let token = signed_in.csrf_token();
        assert!(signed_in.csrf_valid(Some(&token)));
        assert!(!signed_in.csrf_valid(None));
        let (other, other_row) = new_session(None, "c".into(), None, 100).unwrap();
        let other = SignedIn::new(other, &other_row, None);
        assert!(!other.csrf_valid(Some(&token)));
        assert_eq!(row.expires_at, 100 + SESSION_LIFETIME_SECONDS);
        assert_ne!(
            row.id_hash, signed_in.session_id,
            "only the digest is stored"
        );
    }

    #[test]
    fn attempts_count_per_address_network() {
        let a = sign_in_attempt(client("2001:db8::1"), 5);
        let b = sign_in_attempt(client("2001:db8::2"), 5);
        let c = sign_in_attempt(client("192.0.2.7"), 5);
        assert_eq!(a.counters, b.counters, "one IPv6 /64 is one counter");
        assert_ne!(a.counters, c.counters);
        assert_eq!(a.counters[0].limit, MAX_FAILURES_PER_ADDRESS);
    }
}
