//! A browser as plain HTTP, for the sign-in pages: a cookie jar kept by hand (so a test can read,
//! drop or swap a cookie), redirects never followed (a test reads each `Location`), forms read
//! from the page's HTML (their hidden fields and action) and posted back; and a PKCE pair, the
//! authorization code exchange and the HTML decoding a relying party needs.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::Url;

use super::{Credentials, Reply, Server};

/// One browser: its cookies, whichever server (node) it talks to. Cookies are kept by name only
/// (not by host or path): the nodes of a test stand for one site behind a load balancer.
pub struct Browser {
    http: reqwest::blocking::Client,
    cookies: BTreeMap<String, String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    /// GETs `url` (absolute) with the jar's cookies; takes up the cookies the answer sets.
    pub fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(url);
        self.send(url, request)
    }

    /// POSTs `fields` as a form to `url` (absolute).
    pub fn post_form(&mut self, url: &str, fields: &[(String, String)]) -> Page {
        let request = self.http.post(url).form(fields);
        self.send(url, request)
    }

    /// POSTs `fields` and `files` (field name, file name, bytes) as `multipart/form-data` to
    /// `url` (absolute), as a browser posts a form with file inputs.
    pub fn post_multipart(
        &mut self,
        url: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Page {
        const BOUNDARY: &str = "----grantor-e2e-form-boundary-7d41";
        let mut body: Vec<u8> = Vec::new();
        for (name, value) in fields {
            body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        for (name, file_name, bytes) in files {
            body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
            body.extend_from_slice(bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
        let request = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        self.send(url, request)
    }

    /// Submits the page's (first) form: its hidden fields, with `extra` set (replacing a hidden
    /// field of the same name), to its action, resolved against the page's URL.
    pub fn submit(&mut self, page: &Page, extra: &[(&str, &str)]) -> Page {
        let action = page
            .form_action()
            .unwrap_or_else(|| panic!("no form on the page: {}", page.body));
        let url = Url::parse(&page.url).unwrap().join(&action).unwrap();
        self.post_form(url.as_str(), &page.form_with(extra))
    }

    fn send(&mut self, url: &str, request: reqwest::blocking::RequestBuilder) -> Page {
        let request = match self.cookie_header() {
            Some(cookies) => request.header(reqwest::header::COOKIE, cookies),
            None => request,
        };
        let response = request.send().unwrap();
        let page = Page {
            url: url.to_owned(),
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().unwrap(),
        };
        for set in page.set_cookies() {
            self.take_cookie(set);
        }
        page
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// A `Set-Cookie` value taken up: stored, or removed when it is empty or has expired.
    fn take_cookie(&mut self, set_cookie: &str) {
        let (name, value) = cookie_name_and_value(set_cookie);
        let expired = set_cookie
            .split(';')
            .any(|attribute| attribute.trim().eq_ignore_ascii_case("max-age=0"));
        if value.is_empty() || expired {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
    }

    /// The value of the cookie `name` in the jar.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Puts a cookie in the jar (or replaces it), as a browser holding it would send it.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    pub fn remove_cookie(&mut self, name: &str) {
        self.cookies.remove(name);
    }
}

/// A `Set-Cookie` value's name and value.
fn cookie_name_and_value(set_cookie: &str) -> (&str, &str) {
    let pair = set_cookie.split(';').next().unwrap_or_default();
    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
    (name.trim(), value.trim())
}

/// An answer to a browser, read whole.
#[derive(Debug)]
pub struct Page {
    /// Where it was asked for.
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` header value.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The `Set-Cookie` header value for cookie `name`, if the page sets it.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies()
            .into_iter()
            .find(|set| cookie_name_and_value(set).0 == name)
    }

    /// The value the page gives cookie `name`, if it sets it.
    pub fn cookie_value(&self, name: &str) -> Option<&str> {
        self.set_cookie(name)
            .map(|set| cookie_name_and_value(set).1)
    }

    /// `<input type="hidden">` fields of the page, in order, decoded.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        tags(&self.body, "input")
            .filter(|tag| attribute(tag, "type").as_deref() == Some("hidden"))
            .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
            .collect()
    }

    /// The value of the hidden field `name`.
    pub fn hidden(&self, name: &str) -> Option<String> {
        self.hidden_fields()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The `action` of the page's first form, decoded.
    pub fn form_action(&self) -> Option<String> {
        tags(&self.body, "form").find_map(|tag| attribute(tag, "action"))
    }

    /// The hidden fields with `extra` set: what the form posts.
    pub fn form_with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .hidden_fields()
            .into_iter()
            .filter(|(name, _)| !extra.iter().any(|(n, _)| n == name))
            .collect();
        fields.extend(
            extra
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        fields
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// A 303 to `redirect_uri`: the parameters of its query (each name once).
    pub fn redirect_params(&self, redirect_uri: &str) -> BTreeMap<String, String> {
        assert_eq!(self.status, 303, "not a redirect: {}", self.body);
        let location = self.location().unwrap();
        let url = Url::parse(location).unwrap();
        let base = location.split_once('?').map_or(location, |(base, _)| base);
        assert_eq!(base, redirect_uri, "redirected elsewhere: {location}");
        let mut params = BTreeMap::new();
        for (name, value) in url.query_pairs() {
            let repeated = params.insert(name.into_owned(), value.into_owned());
            assert!(repeated.is_none(), "a parameter repeated: {location}");
        }
        params
    }

    /// The `code` of a redirect to `redirect_uri`.
    pub fn code(&self, redirect_uri: &str) -> String {
        let params = self.redirect_params(redirect_uri);
        params
            .get("code")
            .unwrap_or_else(|| panic!("no code: {params:?}"))
            .clone()
    }
}

/// The opening tags `<name ...>` of `html`, without the brackets.
fn tags<'a>(html: &'a str, name: &str) -> impl Iterator<Item = &'a str> {
    let open = format!("<{name} ");
    let found: Vec<&'a str> = html
        .match_indices(open.as_str())
        .filter_map(|(start, _)| {
            let rest = &html[start + 1..];
            rest.find('>').map(|end| &rest[..end])
        })
        .collect();
    found.into_iter()
}

/// The decoded value of attribute `name="..."` in an opening tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(decode_html(&tag[start..end]))
}

/// Text with its HTML character references (`&amp;`, `&#34;`, `&#x2f;`, ...) decoded.
pub fn decode_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => match entity.strip_prefix('#') {
                    Some(hex) if hex.starts_with(['x', 'X']) => u32::from_str_radix(&hex[1..], 16)
                        .ok()
                        .and_then(char::from_u32),
                    Some(decimal) => decimal.parse().ok().and_then(char::from_u32),
                    None => None,
                },
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
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

/// A PKCE pair (RFC 7636): a random verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

impl Pkce {
    pub fn new() -> Pkce {
        let mut random = [0u8; 48];
        openssl::rand::rand_bytes(&mut random).unwrap();
        let verifier = URL_SAFE_NO_PAD.encode(random);
        let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// `url` with `params` added to its query, form-encoded.
pub fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    Url::parse_with_params(url, params).unwrap().to_string()
}

/// The code exchange (`grant_type=authorization_code`) at `token_path`, the client
/// authenticating with Basic; `code_verifier` sent when given.
pub fn exchange_code(
    server: &Server,
    token_path: &str,
    client: &Credentials,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Reply {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(verifier) = code_verifier {
        form.push(("code_verifier", verifier));
    }
    server.token(token_path, client, &form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_references_are_decoded() {
        assert_eq!(
            decode_html(
                "https:&#x2f;&#x2f;a.example&#x2F;cb?x=1&amp;y=&#34;2&#34; &lt;&gt; & &bogus;"
            ),
            "https://a.example/cb?x=1&y=\"2\" <> & &bogus;"
        );
    }

    #[test]
    fn forms_are_read_from_the_page() {
        let page = Page {
            url: "http://127.0.0.1:1/t/acme/oauth2/authorize?x".into(),
            status: 200,
            headers: HeaderMap::new(),
            body: r#"<form method="post" action="&#x2f;t&#x2f;acme&#x2f;oauth2&#x2f;authorize">
  <input type="hidden" name="csrf_token" value="abc">
  <input type="hidden" name="state" value="a&amp;b">
  <input type="text" id="username" name="username" value="">
</form>"#
                .into(),
        };
        assert_eq!(
            page.form_action().as_deref(),
            Some("/t/acme/oauth2/authorize")
        );
        assert_eq!(
            page.form_with(&[("state", "c"), ("password", "p")]),
            [
                ("csrf_token".to_owned(), "abc".to_owned()),
                ("state".to_owned(), "c".to_owned()),
                ("password".to_owned(), "p".to_owned())
            ]
        );
        assert_eq!(page.hidden("state").as_deref(), Some("a&b"));
    }
}
