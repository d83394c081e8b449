//! Cost of one call across the plugin boundary (request JSON in, one host callback, result JSON
//! out), against the crypto floor measured in the same run (one RSA-2048 signature verification,
//! what a jwt-bearer request must pay at least once).
//!
//! Run: `cargo build --release -p grant-test && cargo bench -p grantor --bench plugin_call`

mod support;

use std::collections::BTreeMap;

use grantor::plugin_host::NoServices;
use grantor_sdk::{ClientInfo, GrantRequest, GrantResult, RequestMetadata};

const ECHO: &str = "urn:grantor:test:echo";

fn main() {
    let mut properties = serde_json::Map::new();
    properties.insert("mode".into(), "echo".into());
    let (_plugins, host) =
        support::load_release_plugin("grant_test", "grant-test", ECHO, properties);
    let plugin = host.get(ECHO).expect("registered");

    let request = GrantRequest {
        tenant: "carbon.super".into(),
        grant_type: ECHO.into(),
        client: ClientInfo {
            client_id: "TDvjeY7tIRYk9R5_q2hCcYGL".into(),
            name: "app".into(),
            allowed_scopes: vec!["read".into(), "write".into()],
            allowed_grant_types: vec![ECHO.into()],
            authentication: Default::default(),
            audiences: Vec::new(),
        },
        params: BTreeMap::from([
            ("grant_type".to_owned(), ECHO.to_owned()),
            ("subject".to_owned(), "alice".to_owned()),
            ("scope".to_owned(), "read write".to_owned()),
            // About the size of a real assertion.
            ("assertion".to_owned(), "x".repeat(800)),
        ]),
        param_lists: Default::default(),
        metadata: RequestMetadata {
            request_id: "bench".into(),
            now: 1_800_000_000,
            token_endpoint: "http://localhost:9443/oauth2/token".into(),
            issuer: "http://localhost:9443/t/carbon.super/oauth2/token".into(),
        },
    };

    // A bench's own thread, outside any runtime: it may block.
    let on = grantor::blocking::OnBlockingThread::outside_runtime().expect("no runtime here");
    let call = || match plugin.handle_blocking(on, &request, &NoServices) {
        Ok(GrantResult::Granted(g)) => g.subject.len(),
        other => panic!("unexpected result: {other:?}"),
    };
    let boundary = support::measure(
        "plugin call (request in, 1 callback, result out)",
        200_000,
        call,
    );

    let key = openssl::rsa::Rsa::generate(2048).expect("rsa");
    let key = openssl::pkey::PKey::from_rsa(key).expect("pkey");
    let message = vec![7u8; 600];
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).expect("signer");
    signer.update(&message).expect("update");
    let signature = signer.sign_to_vec().expect("sign");
    let verify = support::measure("RSA-2048/SHA-256 verify (openssl)", 5_000, || {
        let mut verifier =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key)
                .expect("verifier");
        verifier.update(&message).expect("update");
        usize::from(verifier.verify(&signature).expect("verify"))
    });
    println!(
        "ratio: one plugin call costs {:.2} of one RSA-2048 verification",
        boundary / verify
    );
}
