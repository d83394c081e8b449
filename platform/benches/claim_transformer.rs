//! One run of each example claim transformer in `scripts/` (cached script: a file stat, the
//! sandboxed call, the conversions both ways and the result checks), against the crypto floor
//! measured in the same run: one RS256 verification, which every grant pays before a transformer
//! runs.
//!
//! Run: `cargo bench -p grantor --bench claim_transformer`

// This bench loads no plugin: only `measure` is used here.
#[allow(dead_code)]
mod support;

use std::path::Path;

use grantor::claims::{
    ClaimTransformers, ClientContext, ProviderContext, TransformContext, Transformed,
};
use grantor::config::ClaimTransformerConfig;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::json;

fn main() {
    let transformers = ClaimTransformers::new(&ClaimTransformerConfig::default());
    let context = TransformContext {
        tenant: "carbon.super".into(),
        provider: ProviderContext {
            name: "corp".into(),
            issuer: "https://idp.example.com".into(),
        },
        client: ClientContext {
            client_id: "TDvjeY7tIRYk9R5_q2hCcYGL".into(),
            name: "app".into(),
        },
        requested_scopes: vec!["repo:read".into(), "profile".into()],
    };
    let claims = json!({
        "iss": "https://idp.example.com", "sub": "00u1", "aud": "http://localhost:9443/oauth2/token",
        "iat": 1_800_000_000, "exp": 1_800_000_300, "jti": "bench",
        "email": "Ann@Example.com", "email_verified": true, "preferred_username": "ann",
        "given_name": "Ann", "family_name": "Lee", "nonce": "n", "groups": ["engineering", "everyone"],
    });
    let claims = claims.as_object().expect("object").clone();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    const RUNS: u32 = 3_000;
    let mut slowest: f64 = 0.0;
    for name in [
        "rename_claims.rhai",
        "groups_to_scopes.rhai",
        "reject_by_domain.rhai",
        "subject_from_email.rhai",
    ] {
        let path = scripts.join(name);
        let per_run = support::measure(&format!("transformer {name}"), RUNS, || match transformers
            .run(
                &path,
                claims.clone(),
                &context,
                grantor_jose::VALIDATED_CLAIMS,
            ) {
            Ok(Transformed::Accepted { claims, .. }) => claims.len(),
            other => panic!("{name}: {other:?}"),
        });
        slowest = slowest.max(per_run);
    }

    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa"))
        .expect("pkey");
    let encoding = EncodingKey::from_rsa_pem(&key.private_key_to_pem_pkcs8().expect("pkcs8"))
        .expect("encoding key");
    let decoding =
        DecodingKey::from_rsa_pem(&key.public_key_to_pem().expect("pem")).expect("decoding key");
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &encoding).expect("sign");
    let (input, signature) = token.rsplit_once('.').expect("jws");
    let floor = support::measure("RS256 verify alone (jsonwebtoken, aws-lc)", RUNS, || {
        usize::from(
            jsonwebtoken::crypto::verify(signature, input.as_bytes(), &decoding, Algorithm::RS256)
                .expect("verify"),
        )
    });
    println!(
        "ratio: the slowest example transformer costs {:.2}x one RS256 verification",
        slowest / floor
    );
}
