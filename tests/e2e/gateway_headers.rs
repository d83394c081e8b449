//! What a WSGI backend (Python's `wsgiref`, which reads `X_Claim_Email` and `X-Claim-Email` as the
//! same variable `HTTP_X_CLAIM_EMAIL`) sees behind the gateway: the claims the gateway vouches
//! for and nothing a client forged under another spelling, and forwarding headers that say what
//! the gateway saw, not what the client claimed.

use serde_json::{json, Value};

use crate::harness::{now, start_gateway, IdpKey, PythonBackend};

const ISSUER: &str = "https://headers-idp.example";

/// A WSGI application that answers with the request's `HTTP_*` variables as JSON.
const WSGI_ECHO: &str = r#"
import json
from wsgiref.simple_server import make_server, WSGIRequestHandler

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

def app(environ, start_response):
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]

server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print("serving on port", server.server_port, flush=True)
server.serve_forever()
"#;

#[test]
fn a_wsgi_backend_sees_only_what_the_gateway_vouches_for() {
    let backend = PythonBackend::start(&["-c", WSGI_ECHO], &[], None);
    let dir = tempfile::tempdir().unwrap();
    let key = IdpKey::rsa(dir.path(), "headers");
    let gateway = start_gateway(&format!(
        r#"
[gateway]
bind = "127.0.0.1:0"
backend_claims = "headers"

[[gateway.api]]
context = "/app"
upstream = "{backend}"

[[gateway.api.resource]]
path = "/*"

[[gateway.jwt_issuer]]
name = "{ISSUER}"
certificates = ["{certificate}"]
"#,
        backend = backend.url,
        certificate = key.certificate_path.display(),
    ));
    let gw = &gateway.server;
    let token = key.assertion(&json!({"iss": ISSUER, "sub": "carol", "iat": now(),
                                      "exp": now() + 300, "email": "carol@example.com",
                                      "note": "a\r\nX-Injected: yes"}));
    let reply = reqwest::blocking::Client::new()
        .get(gw.url("/app/whoami"))
        .bearer_auth(&token)
        .header("X_Claim_Email", "admin@evil.example")
        .header("X_Claim_Sub", "root")
        .header("X_JWT_Assertion", "forged")
        .header("X-Forwarded-For", "6.6.6.6")
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .header("Forwarded", "for=6.6.6.6;proto=https")
        .header("X-Real-IP", "6.6.6.6")
        .send()
        .unwrap();
    assert_eq!(reply.status(), 200);
    let seen: Value = reply.json().unwrap();
    // The claims, as the gateway set them, and nothing else under those names.
    assert_eq!(seen["HTTP_X_CLAIM_EMAIL"], "carol@example.com", "{seen}");
    assert_eq!(seen["HTTP_X_CLAIM_SUB"], "carol", "{seen}");
    assert!(seen.get("HTTP_X_JWT_ASSERTION").is_none(), "{seen}");
    // Who the client is and how it came, as the gateway saw it.
    assert_eq!(seen["HTTP_X_FORWARDED_FOR"], "127.0.0.1", "{seen}");
    assert_eq!(seen["HTTP_X_FORWARDED_PROTO"], "http", "{seen}");
    let gateway_host = gw.base_url.trim_start_matches("http://");
    assert_eq!(seen["HTTP_X_FORWARDED_HOST"], gateway_host, "{seen}");
    assert!(seen.get("HTTP_FORWARDED").is_none(), "{seen}");
    assert!(seen.get("HTTP_X_REAL_IP").is_none(), "{seen}");
    // A claim no header can carry is left out, and the log says which.
    assert!(seen.get("HTTP_X_CLAIM_NOTE").is_none(), "{seen}");
    assert!(seen.get("HTTP_X_INJECTED").is_none(), "{seen}");
    let log = gw.log_containing("claim not passed");
    assert!(
        log.contains("claim not passed") && log.contains("note"),
        "{log}"
    );
    assert!(
        !log.contains("X-Injected"),
        "the claim's value was logged: {log}"
    );
    let everything = seen.to_string();
    for forged in ["evil", "6.6.6.6", "forged", "root"] {
        assert!(
            !everything.contains(forged),
            "{forged} reached the backend: {seen}"
        );
    }
}
