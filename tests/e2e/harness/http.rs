//! Requests to a running server and the responses read whole for assertions.

use std::time::Duration;

use serde_json::Value;

use super::{Credentials, Server};

/// The form of a client credentials grant.
pub const CLIENT_CREDENTIALS: &[(&str, &str)] = &[("grant_type", "client_credentials")];

impl Server {
    /// GETs `path`.
    pub fn get(&self, path: &str) -> Reply {
        Reply::from(self.http.get(self.url(path)).send().unwrap())
    }

    /// POSTs a form to `path` with optional Basic credentials.
    pub fn post_form(
        &self,
        path: &str,
        basic: Option<&Credentials>,
        form: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some(c) = basic {
            request = request.basic_auth(&c.id, Some(&c.secret));
        }
        Reply::from(request.send().unwrap())
    }

    pub fn token(&self, path: &str, client: &Credentials, form: &[(&str, &str)]) -> Reply {
        self.post_form(path, Some(client), form)
    }
}

/// The status of a client credentials request on a connection of its own (a legitimate client
/// arriving while others misbehave); a request that gets no answer fails the test.
pub fn client_credentials_status(server: &Server, client: &Credentials) -> u16 {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    match http
        .post(server.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(CLIENT_CREDENTIALS)
        .send()
    {
        Ok(reply) => reply.status().as_u16(),
        Err(e) => panic!("a legitimate token request failed: {e}"),
    }
}

/// A response read whole, for assertions.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl From<reqwest::blocking::Response> for Reply {
    fn from(response: reqwest::blocking::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
        Reply {
            status,
            headers,
            json,
        }
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 6749 error response and returns its description.
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.json["error"], code, "{}", self.json);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        self.json["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn assert_token(&self) -> &Value {
        self.assert_issued("Bearer")
    }

    /// A token answer whose `token_type` is `token_type` (`N_A` for a token exchange's JWT
    /// authorization grant, RFC 8693 2.2.1).
    pub fn assert_issued(&self, token_type: &str) -> &Value {
        assert_eq!(self.status, 200, "{}", self.json);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.json["token_type"], token_type, "{}", self.json);
        assert!(self.json["access_token"].as_str().unwrap().len() >= 32);
        &self.json
    }
}
