//! The whole JWT bearer grant inside the real plugin (parse, header checks, issuer lookup, key
//! selection, signature, claims, replay cache, scopes; every host callback crossing the boundary),
//! against the crypto floor measured in the same run: one RS256 verification with the same library
//! and key the plugin uses (`grantor_jose`, openssl, the key parsed once), and, for comparison, with
//! jsonwebtoken on aws-lc (what the plugin used before). The host services answer from memory, so
//! the figure is the plugin's own cost; the database's share is what the end-to-end tests exercise.
//!
//! Run: `cargo build --release -p grant-jwt-bearer && cargo bench -p grantor --bench jwt_bearer`

mod support;

use grantor::blocking::OnBlockingThread;
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use grantor::config::JWT_BEARER_GRANT_TYPE;
use grantor::plugin_host::{HostServices, ServiceReply};
use grantor_jose::key::jwk_from_pem;
use grantor_sdk::{ClientInfo, GrantRequest, GrantResult, RequestMetadata};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::json;

const ISSUER: &str = "https://idp.example.com";
const TOKEN_ENDPOINT: &str = "http://localhost:9443/oauth2/token";
const NOW: i64 = 1_800_000_000;

struct MemoryServices {
    jwk: serde_json::Value,
    seen: Mutex<HashSet<String>>,
}

impl HostServices for MemoryServices {
    fn find_identity_provider(&self, _tenant: &str, issuer: &str) -> ServiceReply {
        if issuer != ISSUER {
            return ServiceReply::NotFound;
        }
        ServiceReply::Ok(json!({
            "name": "corp", "issuer": ISSUER, "aliases": [], "enabled": true,
            "clock_skew_seconds": 60, "allowed_subjects": null, "allowed_scopes": null,
            "key_source": "certificates",
        }))
    }

    fn verification_keys(
        &self,
        _on: OnBlockingThread,
        _tenant: &str,
        _issuer: &str,
        _kid: Option<&str>,
    ) -> ServiceReply {
        ServiceReply::Ok(json!({ "keys": [self.jwk] }))
    }

    fn record_jti(
        &self,
        _tenant: &str,
        _issuer: &str,
        jti: &str,
        _expires_at: i64,
    ) -> ServiceReply {
        if self.seen.lock().expect("lock").insert(jti.to_owned()) {
            ServiceReply::Ok(serde_json::Value::Null)
        } else {
            ServiceReply::Conflict
        }
    }
}

fn main() {
    let (_plugins, host) = support::load_release_plugin(
        "grant_jwt_bearer",
        "grant-jwt-bearer",
        JWT_BEARER_GRANT_TYPE,
        Default::default(),
    );
    let plugin = host.get(JWT_BEARER_GRANT_TYPE).expect("registered");

    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa"))
        .expect("pkey");
    let public_pem = String::from_utf8(key.public_key_to_pem().expect("pem")).expect("utf8");
    let services = MemoryServices {
        jwk: jwk_from_pem(&public_pem).expect("jwk"),
        seen: Mutex::new(HashSet::new()),
    };
    let encoding = EncodingKey::from_rsa_pem(&key.private_key_to_pem_pkcs8().expect("pkcs8"))
        .expect("encoding key");

    const GRANTS: u32 = 3_000;
    let assertions: Vec<String> = (0..GRANTS * 11 / 10)
        .map(|i| {
            let claims = json!({
                "iss": ISSUER, "sub": "alice", "aud": TOKEN_ENDPOINT,
                "iat": NOW - 10, "exp": NOW + 300, "jti": format!("bench-{i}"),
                "email": "alice@example.com", "groups": ["staff", "dev"],
            });
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &encoding).expect("sign")
        })
        .collect();
    let request = |assertion: &str| GrantRequest {
        tenant: "carbon.super".into(),
        grant_type: JWT_BEARER_GRANT_TYPE.into(),
        client: ClientInfo {
            client_id: "TDvjeY7tIRYk9R5_q2hCcYGL".into(),
            name: "app".into(),
            allowed_scopes: vec!["read".into(), "write".into()],
            allowed_grant_types: vec![JWT_BEARER_GRANT_TYPE.into()],
            authentication: Default::default(),
            audiences: Vec::new(),
        },
        params: BTreeMap::from([
            ("grant_type".to_owned(), JWT_BEARER_GRANT_TYPE.to_owned()),
            ("assertion".to_owned(), assertion.to_owned()),
            ("scope".to_owned(), "read".to_owned()),
        ]),
        param_lists: Default::default(),
        metadata: RequestMetadata {
            request_id: "bench".into(),
            now: NOW,
            token_endpoint: TOKEN_ENDPOINT.into(),
            issuer: "http://localhost:9443/t/carbon.super/oauth2/token".into(),
        },
    };

    // A bench's own thread, outside any runtime: it may block.
    let on = OnBlockingThread::outside_runtime().expect("no runtime here");
    let mut next = assertions.iter();
    let grant = support::measure(
        "jwt-bearer grant in the plugin (RS256, 3 callbacks)",
        GRANTS,
        || {
            let assertion = next.next().expect("enough assertions");
            match plugin.handle_blocking(on, &request(assertion), &services) {
                Ok(GrantResult::Granted(g)) => g.subject.len(),
                other => panic!("unexpected result: {other:?}"),
            }
        },
    );

    let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes()).expect("decoding key");
    let sample = &assertions[0];
    let (input, signature) = sample.rsplit_once('.').expect("jws");
    let floor = support::measure("RS256 verify alone (jsonwebtoken, aws-lc)", GRANTS, || {
        usize::from(
            jsonwebtoken::crypto::verify(signature, input.as_bytes(), &decoding, Algorithm::RS256)
                .expect("verify"),
        )
    });
    let jwk = std::sync::Arc::new(services.jwk.clone());
    let prepared = grantor_jose::PreparedKeys::default();
    let jws = grantor_jose::Jws::parse(sample, usize::MAX).expect("jws");
    let openssl_floor = support::measure(
        "RS256 verify alone (grantor-jose, openssl, key parsed once)",
        GRANTS,
        || {
            usize::from(
                prepared.verify(
                    &jws,
                    grantor_jose::Algorithm::RS256,
                    std::slice::from_ref(&jwk),
                ) == grantor_jose::Verification::Verified,
            )
        },
    );
    println!(
        "ratio: the whole grant costs {:.2}x one RS256 verification with the plugin's library ({:.2} us above it); jsonwebtoken/aws-lc's verification costs {:.2}x openssl's",
        grant / openssl_floor,
        (grant - openssl_floor) / 1000.0,
        floor / openssl_floor
    );
}
