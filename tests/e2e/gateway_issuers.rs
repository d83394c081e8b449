//! The gateway with external issuers: one trusted by its JWKS endpoint (with a key rotation, a
//! claim mapping and a Rhai transformer), one by a certificate (its default key for tokens without
//! `kid`), claims passed to the backend as headers, and the RFC 8725 refusals over HTTP.

use serde_json::{json, Value};

use crate::harness::{
    now, sign_raw, start_gateway, Gateway, IdpKey, JwksServer, Reply, Server, Upstream,
};

const JWKS_ISSUER: &str = "https://jwks-idp.example";
const CERT_ISSUER: &str = "https://cert-idp.example";

fn claims(iss: &str) -> Value {
    json!({"iss": iss, "sub": "bob", "iat": now(), "exp": now() + 300,
           "upn": "bob@corp.example", "scope": "read"})
}

fn call(gateway: &Server, path: &str, token: &str) -> Reply {
    let reply = reqwest::blocking::Client::new()
        .get(gateway.url(path))
        .bearer_auth(token)
        .header("x-claim-sub", "root")
        .send()
        .unwrap();
    Reply::from(reply)
}

fn refused(gateway: &Server, token: &str) -> String {
    let reply = call(gateway, "/orders/list", token);
    assert_eq!(reply.status, 401, "{:?}", reply.json);
    let header = reply.header("www-authenticate").unwrap().to_owned();
    assert!(header.contains(r#"error="invalid_token""#), "{header}");
    reply.json["error_description"].as_str().unwrap().to_owned()
}

/// A gateway trusting two issuers, one by its JWKS endpoint (with a claim mapping and a
/// transformer), one by its certificate, in front of the echo upstream; the keys of both, the
/// JWKS endpoint's next key and an attacker's key.
struct IssuersGateway {
    _keys: tempfile::TempDir,
    first: IdpKey,
    second: IdpKey,
    certified: IdpKey,
    attacker: IdpKey,
    jwks: JwksServer,
    _upstream: Upstream,
    gateway: Gateway,
}

fn start_issuers_gateway() -> IssuersGateway {
    let keys = tempfile::tempdir().unwrap();
    let first = IdpKey::rsa(keys.path(), "first");
    let second = IdpKey::rsa(keys.path(), "second");
    let certified = IdpKey::rsa(keys.path(), "certified");
    let attacker = IdpKey::rsa(keys.path(), "attacker");
    let jwks = JwksServer::start(&[first.jwk("k1")]);
    let script = keys.path().join("department.rhai");
    std::fs::write(
        &script,
        r#"fn transform(claims, context) {
            if claims.user.ends_with("@corp.example") { claims.department = "corp"; } else { throw "not one of ours"; }
            #{ claims: claims }
        }"#,
    )
    .unwrap();
    let upstream = Upstream::start();
    let gateway = start_gateway(&format!(
        r#"
[oauth.jwks_endpoint]
min_refresh_interval = 0
cache_lifetime = 0
max_stale = 3600

[gateway]
bind = "127.0.0.1:0"
backend_claims = "headers"

[[gateway.api]]
context = "/orders"
upstream = "{upstream}"

[[gateway.api.resource]]
path = "/*"

[[gateway.jwt_issuer]]
name = "{JWKS_ISSUER}"
jwks.url = "{jwks}"
transformer = "{script}"

[[gateway.jwt_issuer.claim_mapping]]
remote_claim = "upn"
local_claim = "user"

[[gateway.jwt_issuer]]
name = "{CERT_ISSUER}"
certificates = ["{certificate}"]
"#,
        upstream = upstream.url,
        jwks = jwks.url,
        script = script.display(),
        certificate = certified.certificate_path.display(),
    ));
    IssuersGateway {
        _keys: keys,
        first,
        second,
        certified,
        attacker,
        jwks,
        _upstream: upstream,
        gateway,
    }
}

#[test]
fn a_jwks_issuers_tokens_are_mapped_transformed_and_followed_across_a_rotation() {
    let setup = start_issuers_gateway();
    let IssuersGateway {
        first,
        second,
        jwks,
        gateway,
        ..
    } = &setup;
    let gw = &gateway.server;

    // By JWKS: mapped, transformed, passed on as headers (a client's own X-Claim-* dropped).
    let reply = call(
        gw,
        "/orders/list",
        &first.assertion_with_kid("k1", &claims(JWKS_ISSUER)),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    let headers = &reply.json["headers"];
    assert_eq!(headers["x-claim-sub"], "bob");
    assert_eq!(headers["x-claim-user"], "bob@corp.example");
    assert_eq!(headers["x-claim-department"], "corp");
    assert!(headers.get("x-claim-upn").is_none());
    // The transformer refuses.
    let mut outsider = claims(JWKS_ISSUER);
    outsider["upn"] = json!("eve@elsewhere.example");
    let description = refused(gw, &first.assertion_with_kid("k1", &outsider));
    assert!(description.contains("not one of ours"), "{description}");

    // Rotation: the endpoint now publishes k2 only; a token with k2 makes the gateway refetch.
    jwks.serve_keys(&[second.jwk("k2")]);
    let reply = call(
        gw,
        "/orders/list",
        &second.assertion_with_kid("k2", &claims(JWKS_ISSUER)),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json);
}

#[test]
fn a_certificate_issuers_tokens_verify_and_what_rfc_8725_warns_of_is_refused() {
    let setup = start_issuers_gateway();
    let IssuersGateway {
        certified,
        attacker,
        jwks,
        gateway,
        ..
    } = &setup;
    let gw = &gateway.server;

    // By certificate, without kid: the default certificate.
    let no_kid = certified.sign(&json!({"alg": "RS256", "typ": "JWT"}), &claims(CERT_ISSUER));
    assert_eq!(call(gw, "/orders/list", &no_kid).status, 200);

    // RFC 8725: none, HS256 keyed with the public key, keys the token names itself, tampered,
    // expired, an issuer nobody trusts, a JWE.
    let body = claims(CERT_ISSUER);
    let none = format!(
        "{}.{}.",
        crate::harness::b64(br#"{"alg":"none"}"#),
        crate::harness::b64(body.to_string().as_bytes())
    );
    assert!(refused(gw, &none).contains("not signed"));
    let hs256 = sign_raw(
        &json!({"alg": "HS256", "typ": "JWT"}).to_string(),
        &body.to_string(),
        jsonwebtoken::Algorithm::HS256,
        &jsonwebtoken::EncodingKey::from_secret(&certified.public_pem),
    );
    assert!(refused(gw, &hs256).contains("'HS256' is not accepted"));
    for (name, value) in [
        ("jku", json!(format!("{}/attacker", jwks.url))),
        ("jwk", attacker.jwk("x")),
        ("x5c", json!(["MIIB"])),
    ] {
        let mut header = json!({"alg": "RS256"});
        header[name] = value;
        let forged = attacker.sign(&header, &body);
        assert!(
            refused(gw, &forged).contains("signature does not verify"),
            "{name}"
        );
    }
    let good = certified.sign(&json!({"alg": "RS256"}), &body);
    let parts: Vec<&str> = good.split('.').collect();
    let mut changed = body.clone();
    changed["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        crate::harness::b64(changed.to_string().as_bytes()),
        parts[2]
    );
    assert!(refused(gw, &tampered).contains("signature does not verify"));
    let mut expired = body.clone();
    expired["exp"] = json!(now() - 600);
    assert!(refused(gw, &certified.sign(&json!({"alg": "RS256"}), &expired)).contains("expired"));
    let stranger = certified.sign(
        &json!({"alg": "RS256"}),
        &claims("https://stranger.example"),
    );
    assert!(refused(gw, &stranger).contains("is not trusted"));
    assert!(refused(gw, "a.b.c.d.e").contains("JWE"));
}

/// An `https://` upstream: its certificate checked against the API's `upstream_ca_file`. The same
/// upstream behind an API that trusts only the system's roots is a 502, as are a CA that did not
/// issue its certificate and a host name the certificate does not carry.
#[test]
fn upstreams_over_tls_are_verified() {
    let keys = tempfile::tempdir().unwrap();
    let issuer = IdpKey::rsa(keys.path(), "issuer");
    let pki = crate::harness::TestPki::new();
    let other_ca = crate::harness::TestPki::new();
    let ca_file = keys.path().join("upstream-ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let other_ca_file = keys.path().join("other-ca.pem");
    std::fs::write(&other_ca_file, &other_ca.ca_pem).unwrap();
    let upstream = Upstream::start_tls(&pki);
    assert!(upstream.url.starts_with("https://127.0.0.1:"));
    // The certificate names 127.0.0.1 only: "localhost" reaches the same server, under a name
    // the certificate does not carry.
    let misnamed = upstream.url.replace("127.0.0.1", "localhost");
    let api_at = |context: &str, url: &str, ca: Option<&std::path::Path>| {
        format!(
            "[[gateway.api]]\ncontext = \"{context}\"\nupstream = \"{url}/api\"\n{}\
             [[gateway.api.resource]]\npath = \"/*\"\n",
            ca.map(|ca| format!("upstream_ca_file = \"{}\"\n", ca.display()))
                .unwrap_or_default()
        )
    };
    let api = |context: &str, ca: Option<&std::path::Path>| api_at(context, &upstream.url, ca);
    let gateway = start_gateway(&format!(
        "[gateway]\nbind = \"127.0.0.1:0\"\nbackend_claims = \"headers\"\n{}{}{}{}\
         [[gateway.jwt_issuer]]\nname = \"{CERT_ISSUER}\"\ncertificates = [\"{}\"]\n",
        api("/private", Some(&ca_file)),
        api("/public", None),
        api("/wrong", Some(&other_ca_file)),
        api_at("/misnamed", &misnamed, Some(&ca_file)),
        issuer.certificate_path.display(),
    ));
    let token = issuer.sign(&json!({"alg": "RS256", "typ": "JWT"}), &claims(CERT_ISSUER));
    let reply = call(&gateway.server, "/private/orders", &token);
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    assert_eq!(reply.json["path"], "/api/orders");
    assert_eq!(reply.json["headers"]["x-claim-sub"], "bob");
    assert_eq!(call(&gateway.server, "/public/orders", &token).status, 502);
    assert_eq!(call(&gateway.server, "/wrong/orders", &token).status, 502);
    assert_eq!(
        call(&gateway.server, "/misnamed/orders", &token).status,
        502
    );
}

/// A CA file that holds no certificate stops the start, naming the API.
#[test]
fn a_broken_upstream_ca_file_stops_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, "not a certificate").unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nbind = \"127.0.0.1:0\"\n[[gateway.api]]\ncontext = \"/x\"\n\
             upstream = \"https://127.0.0.1:9\"\nupstream_ca_file = \"{}\"\n\
             [database]\ndata_dir = \"{}\"\n",
            ca_file.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let output = std::process::Command::new(crate::harness::grantor_binary())
        .arg("--config")
        .arg(&config)
        .arg("gateway")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("gateway.api '/x'") && stderr.contains("no PEM certificate"),
        "{stderr}"
    );
}
