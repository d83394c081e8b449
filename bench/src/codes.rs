//! `--mode authorization-code`: the codes the run exchanges, made through a real sign-in before
//! the clock starts, as a browser would make them.
//!
//! One sign-in: the authorization request renders the login page and sets the CSRF cookie; its
//! form (hidden fields, CSRF token) is posted back with the user's password and the cookie, which
//! signs the user in (a session cookie) and redirects to the client's redirect URI with the first
//! code. Then single sign-on: every further authorization request carrying the session cookie is
//! answered at once with a 303 and a new code (no page, no password hashing), so a large pool is
//! quick to make. Each code has a PKCE pair of its own (S256, RFC 7636 4.1–4.2), and each is
//! exchanged once at most: the load generator hands the encoded exchanges out from a pool that
//! never repeats one. Nothing here is measured by the load; it never logs a password, code,
//! verifier or cookie value.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, CONTENT_TYPE, COOKIE, HOST, LOCATION, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use tokio::time::Instant;

use crate::load::{self, Endpoint};

/// The redirect URI the bench client is registered with. A loopback URI: nothing is ever fetched
/// from it, the harness reads the code out of the `Location` header.
pub const REDIRECT_URI: &str = "http://127.0.0.1:1/cb";
/// `[oauth.sign_in] authorization_code_lifetime_seconds` in the deployment the harness writes:
/// the longest the server allows (RFC 6749 4.1.2 recommends at most 10 minutes), so the pool
/// made before the clock outlives the run.
pub const CODE_LIFETIME_SECONDS: u64 = 600;
/// The scope each authorization request asks for (an OpenID request: each exchange returns an
/// ID token, signed per request).
pub const SCOPE: &str = "openid";
/// Connections making codes in parallel (each a keep-alive connection carrying the session
/// cookie).
const MAKERS: usize = 4;
/// Kept between the end of the run and the codes' expiry: the server counts whole seconds, and
/// requests still in flight when the window closes get a moment.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// Who signs in, where, and for which client.
#[derive(Debug, Clone)]
pub struct Account {
    /// The tenant's authorization endpoint URL.
    pub authorize_url: String,
    pub client_id: String,
    pub username: String,
    pub password: String,
    /// The tenant's issuer, which every redirect names as `iss` (RFC 9207).
    pub issuer: String,
}

/// One PKCE pair: a fresh verifier and its S256 challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    /// 32 random bytes as base64url: a 43-character verifier, the shortest RFC 7636 4.1 allows,
    /// with 256 bits of entropy as it recommends.
    pub fn generate() -> anyhow::Result<Pkce> {
        let mut random = [0u8; 32];
        openssl::rand::rand_bytes(&mut random)?;
        Ok(Pkce::for_verifier(URL_SAFE_NO_PAD.encode(random)))
    }

    /// RFC 7636 4.2: `BASE64URL(SHA256(ASCII(code_verifier)))`.
    pub fn for_verifier(verifier: String) -> Pkce {
        let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// A code and the verifier its exchange must present.
#[derive(Debug, Clone)]
pub struct Code {
    pub code: String,
    pub verifier: String,
}

/// The token request that exchanges `code` (client authentication goes in the header, as in the
/// other modes).
pub fn exchange_body(code: &Code) -> String {
    load::form_body(&[
        ("grant_type", "authorization_code"),
        ("code", code.code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", code.verifier.as_str()),
    ])
}

/// The query of one authorization request (OpenID Connect Core 3.1.2.1).
fn authorization_query(client_id: &str, challenge: &str, state: &str) -> String {
    load::form_body(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", SCOPE),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ])
}

/// A browser signed in: the cookies its session needs, and how long the sign-in took.
pub struct SignedIn {
    account: Account,
    endpoint: Endpoint,
    cookie: String,
    /// The code the sign-in itself redirected with.
    pub first_code: Code,
    pub took: Duration,
}

/// Codes made before the clock starts.
pub struct CodePool {
    pub codes: Vec<Code>,
    /// When the first of them was made: its expiry comes first.
    pub started: Instant,
    pub took: Duration,
}

/// Signs `account`'s user in through the login page, as a browser does; the redirect after it
/// carries the first code.
pub async fn sign_in(account: &Account) -> anyhow::Result<SignedIn> {
    let started = Instant::now();
    let endpoint = Endpoint::parse(&account.authorize_url).await?;
    let mut jar = CookieJar::default();
    let pkce = Pkce::generate()?;
    let state = "sign-in";
    let query = authorization_query(&account.client_id, &pkce.challenge, state);
    let mut sender = load::connect(endpoint.addr).await?;
    let page = send(
        &mut sender,
        &endpoint,
        Method::GET,
        Some(query.as_str()),
        None,
        None,
    )
    .await?;
    if page.status != StatusCode::OK {
        bail!(
            "the authorization request did not show the login page: {}",
            load::error_sample(page.status, &page.body)
        );
    }
    jar.update(&page.headers);
    let html = String::from_utf8_lossy(&page.body);
    let mut form = hidden_fields(&html);
    if !form
        .iter()
        .any(|(name, value)| name == "step" && value == "sign-in")
    {
        bail!(
            "the login page has no sign-in form (hidden fields: {:?})",
            form.iter().map(|(name, _)| name).collect::<Vec<_>>()
        );
    }
    form.push(("username".to_owned(), account.username.clone()));
    form.push(("password".to_owned(), account.password.clone()));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let cookie = jar.header();
    let signed_in = send(
        &mut sender,
        &endpoint,
        Method::POST,
        None,
        Some(cookie.as_str()),
        Some(body),
    )
    .await?;
    jar.update(&signed_in.headers);
    let code = code_from_response(&signed_in, state, &account.issuer)
        .context("signing in with the login form")?;
    Ok(SignedIn {
        account: account.clone(),
        endpoint,
        cookie: jar.header(),
        first_code: Code {
            code,
            verifier: pkce.verifier,
        },
        took: started.elapsed(),
    })
}

impl SignedIn {
    /// `count` codes by single sign-on, from `MAKERS` connections at once, each code with its
    /// own PKCE pair.
    pub async fn make_codes(&self, count: usize) -> anyhow::Result<CodePool> {
        let started = Instant::now();
        let makers = MAKERS.min(count.max(1));
        let mut tasks = Vec::with_capacity(makers);
        for maker in 0..makers {
            // Spread `count` over the makers: the first `count % makers` make one more.
            let share = count / makers + usize::from(maker < count % makers);
            let endpoint = self.endpoint.clone();
            let cookie = self.cookie.clone();
            let account = self.account.clone();
            tasks.push(tokio::spawn(async move {
                make_codes_on_one_connection(&endpoint, &account, &cookie, maker, share).await
            }));
        }
        let mut codes = Vec::with_capacity(count);
        for task in tasks {
            codes.extend(task.await.context("a code-making task failed")??);
        }
        Ok(CodePool {
            codes,
            started,
            took: started.elapsed(),
        })
    }
}

async fn make_codes_on_one_connection(
    endpoint: &Endpoint,
    account: &Account,
    cookie: &str,
    maker: usize,
    count: usize,
) -> anyhow::Result<Vec<Code>> {
    let mut codes = Vec::with_capacity(count);
    let mut sender = load::connect(endpoint.addr).await?;
    for i in 0..count {
        if sender.is_closed() {
            sender = load::connect(endpoint.addr).await?;
        }
        let pkce = Pkce::generate()?;
        let state = format!("{maker}-{i}");
        let query = authorization_query(&account.client_id, &pkce.challenge, &state);
        let response = send(
            &mut sender,
            endpoint,
            Method::GET,
            Some(query.as_str()),
            Some(cookie),
            None,
        )
        .await?;
        let code = code_from_response(&response, &state, &account.issuer)
            .context("an authorization request with the session cookie (single sign-on)")?;
        codes.push(Code {
            code,
            verifier: pkce.verifier,
        });
    }
    Ok(codes)
}

/// Refuses a run the codes would not outlive: the oldest code was made `oldest_age` ago and the
/// last exchange happens `run` (warm-up + measured window) from now.
pub fn check_codes_outlive_run(
    lifetime: Duration,
    oldest_age: Duration,
    run: Duration,
) -> Result<(), String> {
    if oldest_age + run + EXPIRY_MARGIN <= lifetime {
        return Ok(());
    }
    Err(format!(
        "the codes live {} s (authorization_code_lifetime_seconds); the oldest is {:.0} s old and \
         the run takes {} s more (+{} s margin): they would expire before they are used. Run \
         shorter (--warmup + --duration) or make fewer (--codes)",
        lifetime.as_secs(),
        oldest_age.as_secs_f64(),
        run.as_secs(),
        EXPIRY_MARGIN.as_secs()
    ))
}

/// A response, whole.
struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// One request on `sender`: a GET with `query`, or a form POST of `form`; with `cookie` as the
/// `Cookie` header.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    endpoint: &Endpoint,
    method: Method,
    query: Option<&str>,
    cookie: Option<&str>,
    form: Option<String>,
) -> anyhow::Result<Response> {
    let uri = match query {
        Some(query) => format!("{}?{query}", endpoint.path),
        None => endpoint.path.clone(),
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(HOST, endpoint.host.as_str());
    if form.is_some() {
        builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    if let Some(cookie) = cookie.filter(|c| !c.is_empty()) {
        builder = builder.header(COOKIE, cookie);
    }
    let request = builder
        .body(Full::new(Bytes::from(form.unwrap_or_default())))
        .context("cannot build a request")?;
    sender.ready().await.context("connection not ready")?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .context("cannot read the response body")?
        .to_bytes();
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The code of a 303 to the redirect URI, which must echo `state` and name `issuer`.
fn code_from_response(response: &Response, state: &str, issuer: &str) -> anyhow::Result<String> {
    let location = response
        .headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|_| response.status.is_redirection());
    match location {
        Some(location) => code_from_redirect(location, state, issuer).map_err(anyhow::Error::msg),
        None => bail!(
            "expected a redirect with a code, got {}",
            load::error_sample(response.status, &response.body)
        ),
    }
}

/// The `code` of a redirect to `REDIRECT_URI` (RFC 6749 4.1.2), checked for the `state` sent and
/// the `iss` of RFC 9207. An error response names its error.
pub fn code_from_redirect(location: &str, state: &str, issuer: &str) -> Result<String, String> {
    let query = location
        .strip_prefix(REDIRECT_URI)
        .and_then(|rest| rest.strip_prefix('?'))
        .ok_or_else(|| format!("the redirect goes to {location:?}, not to {REDIRECT_URI}"))?;
    let query = query.split('#').next().unwrap_or_default();
    let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if let Some(error) = params.get("error") {
        return Err(format!(
            "the authorization request was refused: {error} ({})",
            params
                .get("error_description")
                .map(String::as_str)
                .unwrap_or("")
        ));
    }
    if params.get("state").map(String::as_str) != Some(state) {
        return Err(format!(
            "the redirect's state is {:?}, not the {state:?} sent",
            params.get("state")
        ));
    }
    if params.get("iss").map(String::as_str) != Some(issuer) {
        return Err(format!(
            "the redirect's iss is {:?}, not the tenant's issuer {issuer:?}",
            params.get("iss")
        ));
    }
    match params.get("code") {
        Some(code) if !code.is_empty() => Ok(code.clone()),
        _ => Err("the redirect carries no code".to_owned()),
    }
}

/// What a browser keeps between requests: each `Set-Cookie`'s name and value (attributes
/// ignored: one host, plain HTTP), a cookie with `Max-Age=0` removed.
#[derive(Debug, Default)]
struct CookieJar {
    cookies: BTreeMap<String, String>,
}

impl CookieJar {
    fn update(&mut self, headers: &HeaderMap) {
        for set in headers.get_all(SET_COOKIE) {
            let Ok(set) = set.to_str() else { continue };
            let mut parts = set.split(';');
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let expired = parts.any(|attribute| attribute.trim().eq_ignore_ascii_case("max-age=0"));
            if expired {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    /// The `Cookie` header (RFC 6265 5.4).
    fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The hidden inputs of a page's forms, `(name, value)`, unescaped, in page order.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| attribute(tag, "type").as_deref() == Some("hidden"))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// A double-quoted attribute of a tag's text (after `<input`), unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape_html(&tag[start..end]))
}

/// Undoes HTML escaping in one pass (so `&amp;quot;` stays `&quot;`): the named entities
/// minijinja's escaping uses (`&amp;`, `&quot;`, `&lt;`, `&gt;`, `&apos;`) and numeric ones
/// (`&#x2f;`, `&#x27;`, `&#39;`). Anything else is kept as written.
pub fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest
            .find(';')
            .and_then(|semi| Some((decode_entity(&rest[1..semi])?, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an entity's name (between `&` and `;`) stands for.
fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "quot" => Some('"'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_the_s256_of_the_verifier() {
        // RFC 7636 appendix B.
        let pkce = Pkce::for_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned());
        assert_eq!(
            pkce.challenge,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let fresh = Pkce::generate().expect("pkce");
        assert_eq!(fresh.verifier.len(), 43);
        assert!(fresh
            .verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Pkce::for_verifier(fresh.verifier.clone()), fresh);
        assert_ne!(Pkce::generate().expect("pkce").verifier, fresh.verifier);
    }

    #[test]
    fn hidden_fields_are_read_and_unescaped_as_minijinja_escapes_them() {
        let html = r#"<form method="post" action="&#x2f;t&#x2f;bench&#x2f;oauth2&#x2f;authorize">
  <input type="hidden" name="csrf_token" value="c&amp;sr+f=">
  <input type="hidden" name="redirect_uri" value="http:&#x2f;&#x2f;127.0.0.1:1&#x2f;cb">
  <input type="hidden" name="state" value="&quot;a&#x27;b&lt;c&gt;&amp;quot;">
  <input type="hidden" name="step" value="sign-in">
  <label for="username">Username</label>
  <input type="text" id="username" name="username" value="" required>
  <input type="password" id="password" name="password" required>
</form>"#;
        assert_eq!(
            hidden_fields(html),
            [
                ("csrf_token", "c&sr+f="),
                ("redirect_uri", "http://127.0.0.1:1/cb"),
                ("state", "\"a'b<c>&quot;"),
                ("step", "sign-in"),
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        assert!(hidden_fields("<p>no form</p>").is_empty());
    }

    #[test]
    fn unescaping_is_one_pass_and_keeps_what_it_does_not_know() {
        assert_eq!(unescape_html("a &#47; &#X2F; &apos;"), "a / / '");
        assert_eq!(unescape_html("&amp;lt;"), "&lt;");
        assert_eq!(
            unescape_html("AT&T &nbsp; &#xzz; &"),
            "AT&T &nbsp; &#xzz; &"
        );
        assert_eq!(unescape_html(""), "");
    }

    #[test]
    fn the_code_comes_from_a_redirect_that_echoes_state_and_names_the_issuer() {
        let issuer = "http://127.0.0.1:9/t/bench/oauth2/token";
        let location = "http://127.0.0.1:1/cb?code=c%2B1&state=s-1\
                        &iss=http%3A%2F%2F127.0.0.1%3A9%2Ft%2Fbench%2Foauth2%2Ftoken";
        assert_eq!(
            code_from_redirect(location, "s-1", issuer).as_deref(),
            Ok("c+1")
        );
        let wrong_state = code_from_redirect(location, "s-2", issuer).unwrap_err();
        assert!(wrong_state.contains("state"), "{wrong_state}");
        let wrong_issuer = code_from_redirect(location, "s-1", "https://other").unwrap_err();
        assert!(wrong_issuer.contains("iss"), "{wrong_issuer}");
        let refused = code_from_redirect(
            "http://127.0.0.1:1/cb?error=login_required&error_description=sign+in&state=s-1",
            "s-1",
            issuer,
        )
        .unwrap_err();
        assert!(refused.contains("login_required (sign in)"), "{refused}");
        assert!(code_from_redirect("http://127.0.0.1:2/cb?code=c", "s", issuer).is_err());
        assert!(code_from_redirect("http://127.0.0.1:1/cb", "s", issuer).is_err());
    }

    #[test]
    fn the_exchange_carries_the_code_its_verifier_and_the_redirect_uri() {
        let body = exchange_body(&Code {
            code: "a+b/c".into(),
            verifier: "v-1_x".into(),
        });
        assert_eq!(
            body,
            "grant_type=authorization_code&code=a%2Bb%2Fc\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&code_verifier=v-1_x"
        );
    }

    #[test]
    fn the_cookie_jar_keeps_names_and_values_and_drops_expired_cookies() {
        let mut jar = CookieJar::default();
        let mut headers = HeaderMap::new();
        for set in [
            "grantor-csrf=c1; Path=/; HttpOnly; SameSite=Lax",
            "grantor-session.bench=s1; Path=/; HttpOnly; SameSite=Lax; Max-Age=36000",
        ] {
            headers.append(SET_COOKIE, set.parse().expect("header"));
        }
        jar.update(&headers);
        assert_eq!(jar.header(), "grantor-csrf=c1; grantor-session.bench=s1");
        let mut cleared = HeaderMap::new();
        cleared.append(
            SET_COOKIE,
            "grantor-session.bench=; Path=/; Max-Age=0"
                .parse()
                .expect("header"),
        );
        jar.update(&cleared);
        assert_eq!(jar.header(), "grantor-csrf=c1");
    }

    #[test]
    fn a_run_longer_than_the_codes_live_is_refused() {
        let lifetime = Duration::from_secs(CODE_LIFETIME_SECONDS);
        assert!(check_codes_outlive_run(
            lifetime,
            Duration::from_secs(30),
            Duration::from_secs(12)
        )
        .is_ok());
        assert!(check_codes_outlive_run(
            lifetime,
            Duration::from_secs(100),
            Duration::from_secs(495)
        )
        .is_ok());
        let refused =
            check_codes_outlive_run(lifetime, Duration::from_secs(100), Duration::from_secs(496))
                .unwrap_err();
        assert!(refused.contains("expire before they are used"), "{refused}");
        assert!(
            check_codes_outlive_run(lifetime, Duration::ZERO, Duration::from_secs(600)).is_err()
        );
    }
}
