//! The authorization endpoint's request (RFC 6749 4.1.1, OpenID Connect Core 3.1.2.1) validated
//! into a typed outcome: an `AuthorizationRequest` to sign a user in with, or a `Refusal` saying
//! whether the refusal may go back to the client's redirect URI or must be shown as a page.
//!
//! Owns the order of the checks: nothing is sent to a redirect URI before the client is known and
//! the URI is one it registered, compared exactly (RFC 6749 4.1.2.1, RFC 9700 4.11: no open
//! redirector). Also PKCE verification (RFC 7636, S256 only) and building the redirect location.
//! Pure: no HTTP, no store, no clock; the caller looks the client up and renders the outcome.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::scopes::{narrow_scopes, parse_scope};
use crate::store::Client;

/// The scope that makes a request an OpenID Connect sign-in, which is all this endpoint serves.
const OPENID: &str = "openid";
/// Longest `state` and `nonce` accepted, in bytes: they are echoed back and stored with the code.
const MAX_STATE_BYTES: usize = 512;
const MAX_NONCE_BYTES: usize = 512;
const MAX_LOGIN_HINT_BYTES: usize = 256;
/// Length of BASE64URL(SHA-256(verifier)) without padding (RFC 7636 4.2).
const S256_CHALLENGE_LEN: usize = 43;

/// How the response goes back to the client (OAuth 2.0 Multiple Response Type Encoding Practices
/// 2.1; OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (the default for `response_type=code`).
    #[default]
    Query,
    /// Parameters in an HTML form that posts itself to the redirect URI.
    FormPost,
}

/// The `prompt` values asked for (OpenID Connect Core 3.1.2.1). `none` never comes with another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A valid authorization request: the client and its redirect URI are trusted, PKCE is S256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The requested scopes narrowed to the client's; always contains `openid`.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 `code_challenge`, 43 base64url characters.
    pub code_challenge: String,
    pub response_mode: ResponseMode,
    pub prompt: Prompt,
    /// Seconds since the last sign-in after which the user must sign in again.
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
}

/// Why a request is refused, and where the refusal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client or its redirect URI cannot be trusted: show the user an error page and never
    /// redirect (RFC 6749 4.1.2.1).
    ShowErrorPage { message: String },
    /// Send the user back to the client's (validated) redirect URI with an error (RFC 6749
    /// 4.1.2.1, with `iss` per RFC 9207).
    Redirect {
        redirect_uri: String,
        response_mode: ResponseMode,
        error: &'static str,
        description: String,
        state: Option<String>,
    },
}

impl Refusal {
    fn page(message: impl Into<String>) -> Refusal {
        Refusal::ShowErrorPage {
            message: message.into(),
        }
    }

    /// For a redirect: the response parameters (`error`, `error_description`, `state` when the
    /// request had one, `iss`), for `redirect_location` or a form post. `None` for a page.
    pub fn redirect_params<'a>(&'a self, issuer: &'a str) -> Option<Vec<(&'a str, &'a str)>> {
        let Refusal::Redirect {
            error,
            description,
            state,
            ..
        } = self
        else {
            return None;
        };
        let mut params = vec![
            ("error", *error),
            ("error_description", description.as_str()),
        ];
        if let Some(state) = state {
            params.push(("state", state.as_str()));
        }
        params.push(("iss", issuer));
        Some(params)
    }
}

/// Collects decoded parameters (query or form pairs) into a map: empty values count as absent
/// (RFC 6749 3.1), and a name given twice, even once empty, is refused with an error page (RFC
/// 6749 3.1: parameters "MUST NOT be included more than once"), since it is not yet known which
/// redirect URI, if any, to trust.
pub fn from_pairs<N, V>(
    pairs: impl IntoIterator<Item = (N, V)>,
) -> Result<HashMap<String, String>, Refusal>
where
    N: Into<String>,
    V: Into<String>,
{
    let mut seen = std::collections::HashSet::new();
    let mut params = HashMap::new();
    for (name, value) in pairs {
        let (name, value) = (name.into(), value.into());
        if !seen.insert(name.clone()) {
            return Err(Refusal::page(format!(
                "parameter '{}' is repeated; each parameter may appear only once",
                name.escape_default()
            )));
        }
        if !value.is_empty() {
            params.insert(name, value);
        }
    }
    Ok(params)
}

/// Validates an authorization request. `client` is the one the caller found for its `client_id`
/// in the addressed tenant (`None`: unknown).
///
/// `redirect_uri` is required even when the client registered only one (OpenID Connect Core
/// 3.1.2.1 makes it REQUIRED), so the URI a code is bound to is always the one the client sent.
/// Until the client and its redirect URI are validated, every refusal is an error page.
pub fn validate_authorization_request(
    params: &HashMap<String, String>,
    client: Option<&Client>,
) -> Result<AuthorizationRequest, Refusal> {
    let param = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };

    // Trust first: no redirect of any kind before these pass.
    let Some(client_id) = param("client_id") else {
        return Err(Refusal::page("the request has no client_id"));
    };
    let client = match client {
        Some(client) if client.client_id == client_id => client,
        _ => return Err(Refusal::page("unknown client")),
    };
    let Some(redirect_uri) = param("redirect_uri") else {
        return Err(Refusal::page("the request has no redirect_uri"));
    };
    if !client.redirect_uri_registered(redirect_uri) {
        return Err(Refusal::page(
            "the redirect_uri is not registered for this client",
        ));
    }

    // From here on refusals go back to the client, with the state unless its length is what is
    // refused, and the default way when the response_mode is what is refused.
    let state = param("state");
    let mut refusal = RedirectRefusal {
        redirect_uri,
        response_mode: ResponseMode::Query,
        state: state.filter(|s| s.len() <= MAX_STATE_BYTES),
    };
    let response_mode = match param("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Err(refusal.invalid_request(format!(
                "response_mode '{}' is not supported; use query or form_post",
                other.escape_default()
            )))
        }
    };
    refusal.response_mode = response_mode;
    if refusal.state != state {
        return Err(
            refusal.invalid_request(format!("state is longer than {MAX_STATE_BYTES} bytes"))
        );
    }

    // Request objects (OpenID Connect Core 6) are not supported; refuse before reading the
    // parameters they would override.
    if param("request").is_some() {
        return Err(refusal.refuse(
            "request_not_supported",
            "request objects are not supported; send the parameters directly",
        ));
    }
    if param("request_uri").is_some() {
        return Err(refusal.refuse(
            "request_uri_not_supported",
            "request_uri is not supported; send the parameters directly",
        ));
    }

    match param("response_type") {
        None => return Err(refusal.invalid_request("the request has no response_type")),
        Some("code") => {}
        Some(other) => {
            return Err(refusal.refuse(
                "unsupported_response_type",
                format!(
                    "response_type '{}' is not supported; use code",
                    other.escape_default()
                ),
            ))
        }
    }
    if !client.allows_grant_type("authorization_code") {
        return Err(refusal.refuse(
            "unauthorized_client",
            "this client is not allowed the authorization_code grant",
        ));
    }

    let code_challenge =
        validate_code_challenge(param("code_challenge"), param("code_challenge_method"))
            .map_err(|description| refusal.invalid_request(description))?;

    let scopes = validate_scopes(param("scope"), client)
        .map_err(|description| refusal.refuse("invalid_scope", description))?;

    let prompt = parse_prompt(param("prompt")).map_err(|d| refusal.invalid_request(d))?;

    let max_age = match param("max_age") {
        None => None,
        Some(text) => Some(parse_non_negative_integer(text).ok_or_else(|| {
            refusal.invalid_request("max_age must be a non-negative integer of seconds")
        })?),
    };

    let nonce = param("nonce");
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_BYTES) {
        return Err(
            refusal.invalid_request(format!("nonce is longer than {MAX_NONCE_BYTES} bytes"))
        );
    }
    let login_hint = param("login_hint");
    if login_hint.is_some_and(|h| h.len() > MAX_LOGIN_HINT_BYTES) {
        return Err(refusal.invalid_request(format!(
            "login_hint is longer than {MAX_LOGIN_HINT_BYTES} bytes"
        )));
    }

    // ui_locales, claims_locales, acr_values, id_token_hint, display and unknown parameters are
    // accepted and ignored (OpenID Connect Core 3.1.2.1; RFC 6749 3.1).
    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: state.map(str::to_owned),
        nonce: nonce.map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
        response_mode,
        prompt,
        max_age,
        login_hint: login_hint.map(str::to_owned),
    })
}

/// Where a refusal goes once the redirect URI is trusted.
struct RedirectRefusal<'a> {
    redirect_uri: &'a str,
    response_mode: ResponseMode,
    state: Option<&'a str>,
}

impl RedirectRefusal<'_> {
    fn refuse(&self, error: &'static str, description: impl Into<String>) -> Refusal {
        Refusal::Redirect {
            redirect_uri: self.redirect_uri.to_owned(),
            response_mode: self.response_mode,
            error,
            description: description.into(),
            state: self.state.map(str::to_owned),
        }
    }

    fn invalid_request(&self, description: impl Into<String>) -> Refusal {
        self.refuse("invalid_request", description)
    }
}

/// PKCE is required of every client, S256 only (RFC 9700 2.1.1): a missing method is refused too,
/// since RFC 7636 4.3 makes it default to `plain`.
fn validate_code_challenge<'a>(
    challenge: Option<&'a str>,
    method: Option<&str>,
) -> Result<&'a str, String> {
    let Some(challenge) = challenge else {
        return Err("PKCE is required: send code_challenge with code_challenge_method=S256".into());
    };
    match method {
        Some("S256") => {}
        None => {
            return Err(
                "code_challenge_method is required and must be S256 (the default, plain, is not accepted)"
                    .into(),
            )
        }
        Some(other) => {
            return Err(format!(
                "code_challenge_method '{}' is not supported; use S256",
                other.escape_default()
            ))
        }
    }
    let well_formed = challenge.len() == S256_CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(format!(
            "code_challenge must be {S256_CHALLENGE_LEN} base64url characters (BASE64URL(SHA256(code_verifier)))"
        ));
    }
    Ok(challenge)
}

/// The scopes to grant: `openid` must be requested and allowed to the client; the others are
/// narrowed to the client's as at the token endpoint. The `Err` is an `invalid_scope` description.
fn validate_scopes(scope: Option<&str>, client: &Client) -> Result<Vec<String>, String> {
    let requested = parse_scope(scope.unwrap_or_default()).map_err(|e| e.description)?;
    if !requested.iter().any(|s| s == OPENID) {
        return Err(
            "scope must include openid: this endpoint serves OpenID Connect sign-in".into(),
        );
    }
    let granted = narrow_scopes(Some(&requested), &client.scopes).map_err(|e| e.description)?;
    if !granted.iter().any(|s| s == OPENID) {
        return Err("this client is not allowed the openid scope".into());
    }
    Ok(granted)
}

/// `prompt`: space-separated `none`, `login`, `consent` (OpenID Connect Core 3.1.2.1; `none` with
/// any other value is an error). `select_account` is not offered (there is one account per
/// session), so it is refused like an unknown value. The `Err` is an `invalid_request` description.
fn parse_prompt(prompt: Option<&str>) -> Result<Prompt, String> {
    let mut parsed = Prompt::default();
    let Some(prompt) = prompt else {
        return Ok(parsed);
    };
    let mut values = 0;
    for value in prompt.split(' ').filter(|v| !v.is_empty()) {
        values += 1;
        match value {
            "none" => parsed.none = true,
            "login" => parsed.login = true,
            "consent" => parsed.consent = true,
            other => {
                return Err(format!(
                    "prompt value '{}' is not supported; use none, login or consent",
                    other.escape_default()
                ))
            }
        }
    }
    if parsed.none && values > 1 {
        return Err("prompt=none cannot be combined with another prompt value".into());
    }
    Ok(parsed)
}

/// Digits only: `u64::from_str` would also take a leading `+`.
fn parse_non_negative_integer(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Whether `verifier` is a well-formed PKCE code verifier (RFC 7636 4.1: 43 to 128 characters of
/// `[A-Za-z0-9-._~]`) whose S256 transform is `challenge` (RFC 7636 4.6), compared in constant
/// time.
pub fn verify_pkce(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
    // memcmp::eq panics on different lengths; the length of a public challenge is no secret.
    computed.len() == challenge.len()
        && openssl::memcmp::eq(computed.as_bytes(), challenge.as_bytes())
}

/// `redirect_uri` with `params` added to its query (RFC 6749 4.1.2: "retaining" any query it
/// already has), each name and value form-encoded. A fragment, which a registered redirect URI
/// should not have (RFC 6749 3.1.2), is dropped: a response never carries one.
pub fn redirect_location(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let base = redirect_uri
        .split_once('#')
        .map_or(redirect_uri, |(base, _)| base);
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    if encoded.is_empty() {
        return base.to_owned();
    }
    let separator = match base.find('?') {
        None => "?",
        Some(_) if base.ends_with('?') || base.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{base}{separator}{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CONSENT_REQUIRED;

    const REDIRECT: &str = "https://app.example/cb";
    /// RFC 7636 Appendix B.
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn client() -> Client {
        Client {
            client_id: "web".into(),
            tenant_domain: "carbon.super".into(),
            name: "web".into(),
            secret_hash: String::new(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            access_token_lifetime: None,
            refresh_token_lifetime: None,
            created_at: 0,
            token_format: "opaque".into(),
            audiences: Vec::new(),
            certificates: Vec::new(),
            jwks_uri: None,
            redirect_uris: vec![REDIRECT.into(), "https://app.example/other?x=1".into()],
            post_logout_redirect_uris: Vec::new(),
            consent: CONSENT_REQUIRED.into(),
        }
    }

    fn valid() -> HashMap<String, String> {
        [
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile"),
            ("state", "s-1"),
            ("nonce", "n-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Parameters to set (`Some`) or remove (`None`).
    type Changes<'a> = &'a [(&'a str, Option<&'a str>)];

    fn with(changes: Changes) -> HashMap<String, String> {
        let mut params = valid();
        for (name, value) in changes {
            match value {
                Some(value) => params.insert((*name).to_owned(), (*value).to_owned()),
                None => params.remove(*name),
            };
        }
        params
    }

    fn validate(params: &HashMap<String, String>) -> Result<AuthorizationRequest, Refusal> {
        validate_authorization_request(params, Some(&client()))
    }

    /// The refusal's redirect error code and description; panics on success or an error page.
    fn redirected(params: &HashMap<String, String>) -> (&'static str, String) {
        match validate(params) {
            Err(Refusal::Redirect {
                redirect_uri,
                error,
                description,
                ..
            }) => {
                assert_eq!(redirect_uri, REDIRECT);
                (error, description)
            }
            other => panic!("{other:?}"),
        }
    }

    fn page(params: &HashMap<String, String>, client: Option<&Client>) -> String {
        match validate_authorization_request(params, client) {
            Err(Refusal::ShowErrorPage { message }) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_valid_request_is_accepted_with_its_values() {
        let request = validate(&valid()).unwrap();
        assert_eq!(
            request,
            AuthorizationRequest {
                client_id: "web".into(),
                redirect_uri: REDIRECT.into(),
                scopes: vec!["openid".into(), "profile".into()],
                state: Some("s-1".into()),
                nonce: Some("n-1".into()),
                code_challenge: CHALLENGE.into(),
                response_mode: ResponseMode::Query,
                prompt: Prompt::default(),
                max_age: None,
                login_hint: None,
            }
        );
        // Without state and nonce, both absent; empty values count as absent.
        let request = validate(&with(&[("state", None), ("nonce", Some(""))])).unwrap();
        assert_eq!((request.state, request.nonce), (None, None));
    }

    #[test]
    fn optional_parameters_are_read() {
        let request = validate(&with(&[
            ("response_mode", Some("form_post")),
            ("prompt", Some("login consent")),
            ("max_age", Some("0")),
            ("login_hint", Some("alice")),
        ]))
        .unwrap();
        assert_eq!(request.response_mode, ResponseMode::FormPost);
        assert_eq!(
            request.prompt,
            Prompt {
                none: false,
                login: true,
                consent: true
            }
        );
        assert_eq!(request.max_age, Some(0));
        assert_eq!(request.login_hint.as_deref(), Some("alice"));
        let request = validate(&with(&[
            ("response_mode", Some("query")),
            ("prompt", Some("none")),
            ("max_age", Some("3600")),
        ]))
        .unwrap();
        assert_eq!(request.response_mode, ResponseMode::Query);
        assert!(request.prompt.none && !request.prompt.login && !request.prompt.consent);
        assert_eq!(request.max_age, Some(3600));
    }

    #[test]
    fn ignored_parameters_do_not_fail() {
        let request = validate(&with(&[
            ("ui_locales", Some("fr-CA fr en")),
            ("claims_locales", Some("fr")),
            ("acr_values", Some("urn:mace:incommon:iap:silver")),
            ("id_token_hint", Some("eyJ.not.checked")),
            ("display", Some("page")),
            ("something_else", Some("x")),
        ]))
        .unwrap();
        assert_eq!(request, validate(&valid()).unwrap());
    }

    #[test]
    fn an_unknown_or_missing_client_is_an_error_page() {
        assert!(page(&with(&[("client_id", None)]), Some(&client())).contains("client_id"));
        assert!(page(&with(&[("client_id", Some(""))]), Some(&client())).contains("client_id"));
        assert_eq!(page(&valid(), None), "unknown client");
        // A client that is not the one the request names (a caller's mistake) is not trusted.
        let mut other = client();
        other.client_id = "other".into();
        assert_eq!(page(&valid(), Some(&other)), "unknown client");
    }

    #[test]
    fn a_missing_or_unregistered_redirect_uri_is_an_error_page() {
        // Required even though it could be guessed when the client registered only one.
        let mut single = client();
        single.redirect_uris = vec![REDIRECT.into()];
        assert!(page(&with(&[("redirect_uri", None)]), Some(&single)).contains("redirect_uri"));
        for near_miss in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/other",
            "https://evil.example/cb",
            "http://app.example/cb",
        ] {
            let message = page(&with(&[("redirect_uri", Some(near_miss))]), Some(&client()));
            assert!(message.contains("not registered"), "{near_miss}: {message}");
        }
        // Registered with a query, matched with it.
        let ok = validate(&with(&[(
            "redirect_uri",
            Some("https://app.example/other?x=1"),
        )]));
        assert_eq!(ok.unwrap().redirect_uri, "https://app.example/other?x=1");
    }

    #[test]
    fn nothing_redirects_before_the_redirect_uri_is_validated() {
        // Every other fault at once: the untrusted client or URI still wins, as a page.
        let broken = [
            ("response_type", Some("token")),
            ("code_challenge", None),
            ("scope", Some("admin")),
            ("prompt", Some("none login")),
            ("request", Some("eyJ")),
            ("response_mode", Some("fragment")),
            ("state", Some("s")),
        ];
        let cases: [(Changes, Option<Client>); 4] = [
            (&[("client_id", None)], Some(client())),
            (&[], None),
            (&[("redirect_uri", None)], Some(client())),
            (
                &[("redirect_uri", Some("https://evil.example/cb"))],
                Some(client()),
            ),
        ];
        for (untrusted, client) in cases {
            let mut params = with(&broken);
            for (name, value) in untrusted {
                match value {
                    Some(v) => params.insert((*name).to_owned(), (*v).to_owned()),
                    None => params.remove(*name),
                };
            }
            let outcome = validate_authorization_request(&params, client.as_ref());
            assert!(
                matches!(outcome, Err(Refusal::ShowErrorPage { .. })),
                "{untrusted:?}: {outcome:?}"
            );
        }
    }

    #[test]
    fn response_type_must_be_code() {
        let (error, description) = redirected(&with(&[("response_type", None)]));
        assert_eq!(error, "invalid_request");
        assert!(description.contains("response_type"));
        for other in ["token", "id_token", "code id_token"] {
            let (error, _) = redirected(&with(&[("response_type", Some(other))]));
            assert_eq!(error, "unsupported_response_type", "{other}");
        }
    }

    #[test]
    fn pkce_s256_is_required() {
        let (error, description) = redirected(&with(&[("code_challenge", None)]));
        assert_eq!(
            (error, description.as_str()),
            (
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256"
            )
        );
        for method in [None, Some("plain"), Some("s256"), Some("S512")] {
            let (error, description) = redirected(&with(&[("code_challenge_method", method)]));
            assert_eq!(error, "invalid_request", "{method:?}");
            assert!(description.contains("S256"), "{method:?}: {description}");
        }
        for challenge in [
            &CHALLENGE[..42],
            &format!("{CHALLENGE}A"),
            &format!("{}=", &CHALLENGE[..42]),
            &format!("{}+", &CHALLENGE[..42]),
            &format!("{}/", &CHALLENGE[..42]),
            VERIFIER.get(..42).unwrap_or_default(),
        ] {
            let (error, description) = redirected(&with(&[("code_challenge", Some(challenge))]));
            assert_eq!(error, "invalid_request", "{challenge}");
            assert!(description.contains("43"), "{challenge}: {description}");
        }
    }

    #[test]
    fn request_objects_are_refused() {
        assert_eq!(
            redirected(&with(&[("request", Some("eyJhbGciOiJub25lIn0.e30."))])).0,
            "request_not_supported"
        );
        assert_eq!(
            redirected(&with(&[(
                "request_uri",
                Some("urn:ietf:params:oauth:request_uri:x")
            )]))
            .0,
            "request_uri_not_supported"
        );
    }

    #[test]
    fn scope_must_include_openid_and_is_narrowed_to_the_client() {
        for scope in [None, Some("profile email")] {
            let (error, description) = redirected(&with(&[("scope", scope)]));
            assert_eq!(error, "invalid_scope", "{scope:?}");
            assert!(description.contains("openid"), "{description}");
        }
        let request = validate(&with(&[("scope", Some("openid admin email"))])).unwrap();
        assert_eq!(request.scopes, ["openid", "email"]);
        // openid requested but not allowed to the client: no sign-in to offer.
        let mut no_openid = client();
        no_openid.scopes = vec!["profile".into()];
        let outcome = validate_authorization_request(&valid(), Some(&no_openid));
        let Err(Refusal::Redirect { error, .. }) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(error, "invalid_scope");
        // Nothing allowed at all is refused the same way, through narrow_scopes.
        no_openid.scopes.clear();
        let outcome = validate_authorization_request(&valid(), Some(&no_openid));
        assert!(matches!(
            outcome,
            Err(Refusal::Redirect {
                error: "invalid_scope",
                ..
            })
        ));
        assert_eq!(
            redirected(&with(&[("scope", Some("openid a\"b"))])).0,
            "invalid_scope"
        );
    }

    #[test]
    fn prompt_values_are_checked() {
        for prompt in ["none login", "consent none", "none none"] {
            let (error, description) = redirected(&with(&[("prompt", Some(prompt))]));
            assert_eq!(error, "invalid_request", "{prompt}");
            assert!(description.contains("none"), "{description}");
        }
        for prompt in ["select_account", "create", "NONE", "login bogus"] {
            let (error, description) = redirected(&with(&[("prompt", Some(prompt))]));
            assert_eq!(error, "invalid_request", "{prompt}");
            assert!(description.contains("not supported"), "{description}");
        }
    }

    #[test]
    fn max_age_must_be_a_non_negative_integer() {
        for max_age in ["-1", "+5", "1.5", "ten", " 5", "18446744073709551616"] {
            let (error, description) = redirected(&with(&[("max_age", Some(max_age))]));
            assert_eq!(error, "invalid_request", "{max_age}");
            assert!(description.contains("max_age"), "{description}");
        }
    }

    #[test]
    fn response_mode_must_be_query_or_form_post_and_errors_follow_it() {
        let outcome = validate(&with(&[("response_mode", Some("fragment"))]));
        let Err(Refusal::Redirect {
            response_mode,
            error,
            state,
            ..
        }) = outcome
        else {
            panic!("{outcome:?}");
        };
        // Answered the default way, with the state.
        assert_eq!(
            (response_mode, error, state.as_deref()),
            (ResponseMode::Query, "invalid_request", Some("s-1"))
        );
        let outcome = validate(&with(&[
            ("response_mode", Some("form_post")),
            ("response_type", Some("token")),
        ]));
        assert!(matches!(
            outcome,
            Err(Refusal::Redirect {
                response_mode: ResponseMode::FormPost,
                ..
            })
        ));
    }

    #[test]
    fn a_client_without_the_authorization_code_grant_is_unauthorized() {
        let mut password_only = client();
        password_only.grant_types = vec!["password".into()];
        let outcome = validate_authorization_request(&valid(), Some(&password_only));
        assert!(matches!(
            outcome,
            Err(Refusal::Redirect {
                error: "unauthorized_client",
                ..
            })
        ));
    }

    #[test]
    fn lengths_are_bounded() {
        let long = |n: usize| "a".repeat(n);
        for (name, limit) in [("state", 512), ("nonce", 512), ("login_hint", 256)] {
            let at_limit = long(limit);
            assert!(
                validate(&with(&[(name, Some(&at_limit))])).is_ok(),
                "{name}"
            );
            let over = long(limit + 1);
            let outcome = validate(&with(&[(name, Some(&over))]));
            let Err(Refusal::Redirect {
                error,
                description,
                state,
                ..
            }) = outcome
            else {
                panic!("{name}: {outcome:?}");
            };
            assert_eq!(error, "invalid_request", "{name}");
            assert!(description.contains(name), "{description}");
            // An overlong state is not echoed; any other refusal echoes it.
            let expected_state = (name != "state").then_some("s-1");
            assert_eq!(state.as_deref(), expected_state, "{name}");
        }
    }

    #[test]
    fn refusals_echo_the_state() {
        let outcome = validate(&with(&[("code_challenge", None), ("state", Some("x y&z"))]));
        let Err(Refusal::Redirect { state, .. }) = &outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(state.as_deref(), Some("x y&z"));
        let refusal = outcome.unwrap_err();
        let params = refusal.redirect_params("https://idp.example").unwrap();
        assert_eq!(
            params,
            [
                ("error", "invalid_request"),
                (
                    "error_description",
                    "PKCE is required: send code_challenge with code_challenge_method=S256"
                ),
                ("state", "x y&z"),
                ("iss", "https://idp.example"),
            ]
        );
        // Without a state, none is sent.
        let refusal = validate(&with(&[("code_challenge", None), ("state", None)])).unwrap_err();
        let params = refusal.redirect_params("https://idp.example").unwrap();
        assert!(params.iter().all(|(name, _)| *name != "state"));
        assert!(Refusal::page("x")
            .redirect_params("https://idp.example")
            .is_none());
    }

    #[test]
    fn pairs_are_collected_once_each() {
        let params = from_pairs([("a", "1"), ("empty", ""), ("b", "2")]).unwrap();
        assert_eq!(params.len(), 2);
        assert_eq!((params["a"].as_str(), params["b"].as_str()), ("1", "2"));
        for pairs in [
            vec![("client_id", "web"), ("client_id", "web")],
            vec![("redirect_uri", ""), ("redirect_uri", REDIRECT)],
            vec![("state", "x"), ("state", "")],
        ] {
            let Err(Refusal::ShowErrorPage { message }) = from_pairs(pairs.clone()) else {
                panic!("{pairs:?}");
            };
            assert!(message.contains(pairs[0].0), "{message}");
        }
    }

    #[test]
    fn pkce_verification_follows_rfc_7636() {
        // RFC 7636 Appendix B.
        assert!(verify_pkce(VERIFIER, CHALLENGE));
        assert_eq!(
            URL_SAFE_NO_PAD.encode(openssl::sha::sha256(VERIFIER.as_bytes())),
            CHALLENGE
        );
        // Wrong verifier, wrong challenge, different length.
        let mut other = VERIFIER.to_owned();
        other.replace_range(0..1, "e");
        assert!(!verify_pkce(&other, CHALLENGE));
        assert!(!verify_pkce(VERIFIER, &CHALLENGE.replace('E', "F")));
        assert!(!verify_pkce(VERIFIER, &CHALLENGE[..42]));
        assert!(!verify_pkce(VERIFIER, ""));
        // plain is not S256: the verifier as its own challenge fails.
        assert!(!verify_pkce(VERIFIER, VERIFIER));
        // Shape: 43 to 128 characters of [A-Za-z0-9-._~].
        let challenge_of = |v: &str| URL_SAFE_NO_PAD.encode(openssl::sha::sha256(v.as_bytes()));
        for ok in ["a".repeat(43), "A-._~9".repeat(20) + "abcdefgh"] {
            assert!(verify_pkce(&ok, &challenge_of(&ok)), "{ok}");
        }
        for bad in [
            "a".repeat(42),
            "a".repeat(129),
            format!("{}+", "a".repeat(42)),
            format!("{}=", "a".repeat(42)),
            format!("{} ", "a".repeat(42)),
            format!("{}é", "a".repeat(41)),
        ] {
            assert!(!verify_pkce(&bad, &challenge_of(&bad)), "{bad}");
        }
    }

    #[test]
    fn redirect_locations_keep_the_query_and_encode_values() {
        let params = [
            ("code", "c/1+2"),
            ("state", "x y&z=é"),
            ("iss", "https://idp.example"),
        ];
        let encoded = "code=c%2F1%2B2&state=x+y%26z%3D%C3%A9&iss=https%3A%2F%2Fidp.example";
        for (uri, expected) in [
            (REDIRECT, format!("{REDIRECT}?{encoded}")),
            (
                "https://app.example/cb?tenant=a",
                format!("https://app.example/cb?tenant=a&{encoded}"),
            ),
            (
                "https://app.example/cb?",
                format!("https://app.example/cb?{encoded}"),
            ),
            (
                "https://app.example/cb?a=1&",
                format!("https://app.example/cb?a=1&{encoded}"),
            ),
            (
                "https://app.example/cb#frag",
                format!("{REDIRECT}?{encoded}"),
            ),
            (
                "com.example.app:/cb",
                format!("com.example.app:/cb?{encoded}"),
            ),
        ] {
            assert_eq!(redirect_location(uri, &params), expected, "{uri}");
        }
        assert_eq!(redirect_location(REDIRECT, &[]), REDIRECT);
        // The parameters read back as sent.
        let location = redirect_location("https://app.example/cb?tenant=a", &params);
        let url = url::Url::parse(&location).unwrap();
        let back: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(back[0], ("tenant".into(), "a".into()));
        assert_eq!(back[2], ("state".into(), "x y&z=é".into()));
    }
}
