//! `--mode token-exchange` (RFC 8693): the tokens each exchange presents, obtained before the
//! clock starts, and the exchange requests.
//!
//! Delegation, the RFC's main case: the subject tokens are a user's access tokens, each from a
//! JWT bearer exchange of its own (one minted assertion each, so `sub` is the assertions'
//! subject), and the actor token is the client's own access token (`client_credentials`), so the
//! issued token says the client acts for the user (`act.sub` = the client id). Exchanging a
//! subject token does not spend it: the requests go round the pool in turn. The first exchange
//! is sent once before the clock and checked for what the mode asks for; nothing here is
//! measured.

use std::time::Duration;

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::Method;
use serde_json::Value;
use tokio::time::Instant;

use crate::cli::RequestedTokenType;
use crate::load::{self, Endpoint, Expect, Verdict};

/// The type of both tokens presented: this tenant's access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// `--requested-token-type jwt`: the other domain the JWT authorization grants are for (identity
/// chaining); the client is registered with it as an audience (`client add --audience`).
pub const OTHER_DOMAIN: &str = "https://apis.bench/oauth2/token";

/// Where the exchanges go and who sends them.
pub struct Exchanger<'a> {
    pub endpoint: &'a Endpoint,
    pub authorization: Option<&'a HeaderValue>,
    pub scope: Option<&'a str>,
    pub requested: RequestedTokenType,
    /// The client's id: the issued token's `act.sub`.
    pub client_id: &'a str,
}

/// What was obtained before the clock.
pub struct Prepared {
    /// One exchange request per subject token, in turn.
    pub bodies: Vec<Bytes>,
    /// The first exchange's response, checked.
    pub first: Bytes,
    /// Obtaining the subject tokens and the actor token.
    pub took: Duration,
}

/// The exchange of `subject` with `actor` as the actor token (RFC 8693 2.1); for a JWT
/// authorization grant, `requested_token_type` and the other domain as `audience`.
pub fn exchange_body(
    subject: &str,
    actor: &str,
    scope: Option<&str>,
    requested: RequestedTokenType,
) -> String {
    let mut pairs = vec![
        ("grant_type", load::TOKEN_EXCHANGE_GRANT),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("actor_token", actor),
        ("actor_token_type", ACCESS_TOKEN_TYPE),
    ];
    if requested == RequestedTokenType::Jwt {
        pairs.push(("requested_token_type", requested.uri()));
        pairs.push(("audience", OTHER_DOMAIN));
    }
    pairs.extend(scope.map(|s| ("scope", s)));
    load::form_body(&pairs)
}

/// What each exchange's 200 must carry: an access token, or a JWT grant (a compact JWS in
/// `access_token`, RFC 8693 2.2.1).
pub fn expect(requested: RequestedTokenType) -> Expect {
    match requested {
        RequestedTokenType::AccessToken => Expect::AccessToken,
        RequestedTokenType::Jwt => Expect::JwtAccessToken,
    }
}

impl Exchanger<'_> {
    /// One subject token per assertion (JWT bearer grant), one actor token (client_credentials),
    /// the exchange bodies, and the first exchange sent and checked.
    pub async fn prepare(&self, assertions: &[String]) -> anyhow::Result<Prepared> {
        let started = Instant::now();
        let mut subjects = Vec::with_capacity(assertions.len());
        for assertion in assertions {
            let body = load::jwt_bearer_body(assertion, self.scope);
            subjects.push(self.obtain(body, "a subject token (jwt-bearer)").await?);
        }
        let actor = self
            .obtain(
                load::client_credentials_body(self.scope),
                "the actor token (client_credentials)",
            )
            .await?;
        let took = started.elapsed();
        let bodies: Vec<Bytes> = subjects
            .iter()
            .map(|subject| Bytes::from(exchange_body(subject, &actor, self.scope, self.requested)))
            .collect();
        let first_body = bodies.first().context("no subject token obtained")?;
        let body = String::from_utf8(first_body.to_vec()).context("a body is not UTF-8")?;
        let (status, first) =
            load::send_once(self.endpoint, Method::POST, self.authorization, Some(body)).await?;
        match load::check_response(expect(self.requested), status, &first, false) {
            Verdict::Ok { .. } => {}
            _ => bail!(
                "the first token exchange was refused: {}",
                load::error_sample(status, &first)
            ),
        }
        check_issued(&first, self.requested, self.client_id).map_err(anyhow::Error::msg)?;
        Ok(Prepared {
            bodies,
            first,
            took,
        })
    }

    /// The access token of one token request (its own connection), or why not.
    async fn obtain(&self, body: String, what: &str) -> anyhow::Result<String> {
        let (status, response) =
            load::send_once(self.endpoint, Method::POST, self.authorization, Some(body)).await?;
        let token = match load::check_token_response(status, &response, false) {
            Verdict::Ok { .. } => load::access_token(&response),
            _ => None,
        };
        token.with_context(|| {
            format!(
                "obtaining {what} failed: {}",
                load::error_sample(status, &response)
            )
        })
    }
}

/// The first exchange's answer is what was asked for: `issued_token_type` the requested type;
/// an access token is a Bearer token; a JWT grant is `N_A` and, decoded, names the client as the
/// actor (`act.sub`) and the other domain as its audience.
pub fn check_issued(
    response: &[u8],
    requested: RequestedTokenType,
    client_id: &str,
) -> Result<(), String> {
    let json: Value =
        serde_json::from_slice(response).map_err(|e| format!("the exchange answer: {e}"))?;
    let issued = json["issued_token_type"].as_str();
    if issued != Some(requested.uri()) {
        return Err(format!(
            "the exchange answered issued_token_type {issued:?}, not {}",
            requested.uri()
        ));
    }
    let token_type = json["token_type"].as_str().unwrap_or_default();
    match requested {
        RequestedTokenType::AccessToken => {
            if !token_type.eq_ignore_ascii_case("bearer") {
                return Err(format!(
                    "the exchanged access token's token_type is {token_type:?}, not Bearer"
                ));
            }
            Ok(())
        }
        RequestedTokenType::Jwt => {
            if token_type != "N_A" {
                return Err(format!(
                    "the JWT grant's token_type is {token_type:?}, not N_A (RFC 8693 2.2.1)"
                ));
            }
            let claims = json["access_token"]
                .as_str()
                .and_then(jwt_claims)
                .ok_or("the JWT grant's payload does not decode")?;
            if claims["act"]["sub"].as_str() != Some(client_id) {
                return Err(format!(
                    "the JWT grant's act is {}, not the client {client_id} acting",
                    claims["act"]
                ));
            }
            let audience_named = match &claims["aud"] {
                Value::String(aud) => aud == OTHER_DOMAIN,
                Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(OTHER_DOMAIN)),
                _ => false,
            };
            if !audience_named {
                return Err(format!(
                    "the JWT grant's aud is {}, not {OTHER_DOMAIN}",
                    claims["aud"]
                ));
            }
            Ok(())
        }
    }
}

/// A compact JWS's payload, decoded (not verified: the check above is about its shape).
fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(body: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn an_exchange_presents_both_tokens_as_access_tokens() {
        let body = exchange_body(
            "s+1/=",
            "a.b",
            Some("read"),
            RequestedTokenType::AccessToken,
        );
        let expected: Vec<(String, String)> = [
            ("grant_type", load::TOKEN_EXCHANGE_GRANT),
            ("subject_token", "s+1/="),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("actor_token", "a.b"),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
            ("scope", "read"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(pairs(&body), expected);
        let jwt = pairs(&exchange_body("s", "a", None, RequestedTokenType::Jwt));
        assert!(jwt.contains(&(
            "requested_token_type".to_owned(),
            "urn:ietf:params:oauth:token-type:jwt".to_owned()
        )));
        assert!(jwt.contains(&("audience".to_owned(), OTHER_DOMAIN.to_owned())));
        assert!(!jwt.iter().any(|(k, _)| k == "scope"));
    }

    fn jwt(claims: Value) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn the_first_answer_must_be_what_was_asked_for() {
        let access = serde_json::json!({
            "access_token": "opaque",
            "token_type": "Bearer",
            "issued_token_type": ACCESS_TOKEN_TYPE,
        });
        let check = |v: &Value, requested| check_issued(v.to_string().as_bytes(), requested, "c1");
        assert_eq!(check(&access, RequestedTokenType::AccessToken), Ok(()));
        let e = check(&access, RequestedTokenType::Jwt).unwrap_err();
        assert!(e.contains("issued_token_type"), "{e}");
        let mut no_type = access.clone();
        no_type
            .as_object_mut()
            .map(|o| o.remove("issued_token_type"));
        assert!(check(&no_type, RequestedTokenType::AccessToken).is_err());

        let grant = |claims: Value, token_type: &str| {
            serde_json::json!({
                "access_token": jwt(claims),
                "token_type": token_type,
                "issued_token_type": RequestedTokenType::Jwt.uri(),
            })
        };
        let good = serde_json::json!({"sub": "alice", "aud": OTHER_DOMAIN, "act": {"sub": "c1"}});
        assert_eq!(
            check(&grant(good.clone(), "N_A"), RequestedTokenType::Jwt),
            Ok(())
        );
        assert!(check(&grant(good, "Bearer"), RequestedTokenType::Jwt).is_err());
        let other_actor =
            serde_json::json!({"sub": "alice", "aud": [OTHER_DOMAIN], "act": {"sub": "c2"}});
        let e = check(&grant(other_actor, "N_A"), RequestedTokenType::Jwt).unwrap_err();
        assert!(e.contains("act"), "{e}");
        let no_actor = serde_json::json!({"sub": "alice", "aud": OTHER_DOMAIN});
        assert!(check(&grant(no_actor, "N_A"), RequestedTokenType::Jwt).is_err());
        let elsewhere =
            serde_json::json!({"sub": "alice", "aud": "https://x", "act": {"sub": "c1"}});
        let e = check(&grant(elsewhere, "N_A"), RequestedTokenType::Jwt).unwrap_err();
        assert!(e.contains("aud"), "{e}");
    }
}
