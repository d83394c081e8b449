//! An independent client: Authlib (Python), unmodified, performs a token exchange with its
//! generic `fetch_token` and client_secret_basic, and gets what the grant issues.

use serde_json::{json, Value};

use super::{Setup, ACCESS_TOKEN, API};
use crate::harness::{on_each_backend, run_python, succeeded, Backend};

const EXCHANGE: &str = r#"
import json, os, sys
# Authlib holds every endpoint to https unless told the transport is a local test one.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
from authlib.integrations.requests_client import OAuth2Session

url, client_id, secret, subject, actor, audience = sys.argv[1:]
session = OAuth2Session(client_id, secret)
token = session.fetch_token(
    url,
    grant_type="urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token=subject,
    subject_token_type="urn:ietf:params:oauth:token-type:access_token",
    actor_token=actor,
    actor_token_type="urn:ietf:params:oauth:token-type:access_token",
    audience=audience,
    scope="read",
)
print(json.dumps(dict(token)))
"#;

fn authlib_exchanges_a_token(backend: Backend) {
    let setup = Setup::start(backend);
    let subject = setup.user_token(json!({}));
    let actor = setup.client_token(&setup.actor);
    let out = run_python(
        EXCHANGE,
        &[
            &setup.server.url("/oauth2/token"),
            &setup.exchanger.id,
            &setup.exchanger.secret,
            &subject,
            &actor,
            API,
        ],
    );
    let answer: Value = serde_json::from_str(&succeeded("Authlib's token exchange", &out)).unwrap();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["scope"], "read");
    assert!(answer.get("refresh_token").is_none(), "{answer}");
    let token = answer["access_token"].as_str().unwrap();
    let claims = setup.claims(token, API);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["act"], json!({ "sub": setup.actor.id }));
    assert_eq!(
        answer["expires_in"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
    );
    setup.assert_introspected(token, "alice", "read", &claims["exp"]);
}
on_each_backend!(authlib_exchanges_a_token);
