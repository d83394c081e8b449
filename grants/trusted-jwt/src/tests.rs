//! The validator through its public API, against an in-memory host (one identity provider with
//! an Ed25519 key, a replay cache) and tokens signed here.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_void;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grantor_sdk::abi::{
    GrantorBorrowedBytes, GrantorHostApi, GrantorHostBytes, GRANTOR_CONFLICT, GRANTOR_ERROR,
    GRANTOR_NOT_CONFIGURED, GRANTOR_OK,
};
use grantor_sdk::RequestMetadata;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::{json, Value};

use super::*;

const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://idp.example";
const TOKEN_ENDPOINT: &str = "https://as.example/oauth2/token";

/// What the in-memory host knows and what it was asked to record.
struct FakeHost {
    provider: Value,
    recorded: RefCell<BTreeSet<(String, String, i64)>>,
}

fn context(api_ctx: *mut c_void) -> &'static FakeHost {
    // SAFETY: every test passes a `FakeHost` that outlives the calls made with it.
    unsafe { &*(api_ctx as *const FakeHost) }
}

fn request_json(request: GrantorBorrowedBytes) -> Value {
    // SAFETY: the plugin side lends `len` readable bytes for the call.
    let bytes = unsafe { std::slice::from_raw_parts(request.ptr, request.len) };
    serde_json::from_slice(bytes).unwrap_or_default()
}

fn answer(out: *mut GrantorHostBytes, value: &Value) {
    let bytes = serde_json::to_vec(value)
        .unwrap_or_default()
        .into_boxed_slice();
    let len = bytes.len();
    // SAFETY: `out` is the plugin's out-parameter for this call; freed by `free_buffer`.
    unsafe {
        *out = GrantorHostBytes {
            ptr: Box::into_raw(bytes).cast(),
            len,
        }
    }
}

unsafe extern "C" fn find_provider(
    ctx: *mut c_void,
    request: GrantorBorrowedBytes,
    out: *mut GrantorHostBytes,
) -> i32 {
    let host = context(ctx);
    if request_json(request)["issuer"] != host.provider["issuer"] {
        return grantor_sdk::abi::GRANTOR_NOT_FOUND;
    }
    answer(out, &host.provider);
    GRANTOR_OK
}

unsafe extern "C" fn record_jti(
    ctx: *mut c_void,
    request: GrantorBorrowedBytes,
    _: *mut GrantorHostBytes,
) -> i32 {
    // Never panic across the C boundary: a malformed request is an error.
    let request = request_json(request);
    let (Some(issuer), Some(jti), Some(expires_at)) = (
        request["issuer"].as_str(),
        request["jti"].as_str(),
        request["expires_at"].as_i64(),
    ) else {
        return GRANTOR_ERROR;
    };
    let Ok(mut recorded) = context(ctx).recorded.try_borrow_mut() else {
        return GRANTOR_ERROR;
    };
    if recorded.insert((issuer.to_owned(), jti.to_owned(), expires_at)) {
        GRANTOR_OK
    } else {
        GRANTOR_CONFLICT
    }
}

unsafe extern "C" fn not_configured(
    _: *mut c_void,
    _: GrantorBorrowedBytes,
    _: *mut GrantorHostBytes,
) -> i32 {
    GRANTOR_NOT_CONFIGURED
}

unsafe extern "C" fn failing(
    _: *mut c_void,
    _: GrantorBorrowedBytes,
    _: *mut GrantorHostBytes,
) -> i32 {
    GRANTOR_ERROR
}

unsafe extern "C" fn log(_: *mut c_void, _: i32, _: GrantorBorrowedBytes) {}

unsafe extern "C" fn free_buffer(buffer: GrantorHostBytes) {
    // SAFETY: made by `answer` from a boxed slice of exactly this length.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(buffer.ptr, buffer.len)) });
}

fn api(host: &FakeHost) -> GrantorHostApi {
    GrantorHostApi {
        struct_size: std::mem::size_of::<GrantorHostApi>() as u32,
        host_ctx: host as *const FakeHost as *mut c_void,
        host_find_identity_provider: find_provider,
        host_get_verification_keys: failing,
        host_record_jti: record_jti,
        host_transform_claims: not_configured,
        host_log: log,
        host_free_buffer: free_buffer,
        host_validate_token: failing,
    }
}

fn signing_key() -> PKey<Private> {
    PKey::generate_ed25519().unwrap()
}

fn provider(key: &PKey<Private>) -> Value {
    let public = PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap();
    json!({
        "name": "idp",
        "issuer": ISSUER,
        "aliases": ["alias"],
        "enabled": true,
        "clock_skew_seconds": 60,
        "key_source": "certificate",
        "scope_claim": "scp",
        "certificate_keys": [grantor_jose::key::public_jwk(&public).unwrap()],
    })
}

fn sign(key: &PKey<Private>, header: Value, claims: Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let mut signer = Signer::new_without_digest(key).unwrap();
    let signature = signer.sign_oneshot_to_vec(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn request() -> GrantRequest {
    GrantRequest {
        tenant: "carbon.super".into(),
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange".into(),
        client: ClientInfo {
            client_id: "client".into(),
            name: "client".into(),
            allowed_scopes: vec!["read".into(), "write".into()],
            allowed_grant_types: vec![],
            authentication: ClientAuthentication::Credentials,
            audiences: vec![],
        },
        params: BTreeMap::new(),
        param_lists: BTreeMap::new(),
        metadata: RequestMetadata {
            request_id: "r".into(),
            now: NOW,
            token_endpoint: TOKEN_ENDPOINT.into(),
            issuer: "https://as.example".into(),
        },
    }
}

/// Runs `test` with a fresh signing key, an in-memory host knowing its provider, and the host
/// handle over it.
fn with_host(test: impl FnOnce(&PKey<Private>, &FakeHost, &Host<'_>)) {
    let key = signing_key();
    let fake = FakeHost {
        provider: provider(&key),
        recorded: RefCell::new(BTreeSet::new()),
    };
    let api = api(&fake);
    // SAFETY: the table lives for the test and its context is `fake`.
    let host = unsafe { Host::from_raw(&api) };
    test(&key, &fake, &host);
}

fn validator() -> TrustedJwtValidator {
    TrustedJwtValidator::from_config(json!({})).unwrap()
}

#[test]
fn a_valid_token_is_read_and_its_use_recorded_once() {
    with_host(|key, fake, host| {
        let token = sign(
            key,
            json!({"alg": "EdDSA", "typ": "application/JWT"}),
            json!({"iss": ISSUER, "sub": "alice", "aud": "alias", "exp": NOW + 300,
                   "iat": NOW, "jti": "j1", "scp": "read write", "email": "a@example"}),
        );
        let validator = validator();
        let validated = validator
            .validate(host, &request(), &token, Some("write other"))
            .unwrap();
        assert_eq!(validated.issuer, ISSUER);
        assert_eq!(validated.provider.name, "idp");
        assert_eq!(validated.subject, "alice");
        assert_eq!(validated.claims["email"], "a@example");
        assert_eq!(validated.expires_at, NOW + 300);
        // The request narrows the scope claim.
        assert_eq!(validated.scopes, Some(vec!["write".to_owned()]));
        assert_eq!(validated.header_typ.as_deref(), Some("jwt"));
        assert_eq!(validated.jti(), Some("j1"));

        validator.record_use(host, &validated).unwrap();
        assert_eq!(
            *fake.recorded.borrow(),
            BTreeSet::from([(ISSUER.to_owned(), "j1".to_owned(), NOW + 300 + 60)])
        );
        assert_eq!(
            validator.record_use(host, &validated).unwrap_err(),
            GrantResult::invalid_grant(replayed_assertion("j1"))
        );
    });
}

#[test]
fn a_token_without_jti_is_recorded_by_its_digest() {
    with_host(|key, fake, host| {
        let token = sign(
            key,
            json!({"alg": "EdDSA"}),
            json!({"iss": ISSUER, "sub": "bob", "aud": TOKEN_ENDPOINT, "exp": NOW + 60}),
        );
        let validated = validator()
            .validate(host, &request(), &token, None)
            .unwrap();
        assert_eq!(
            (validated.jti(), validated.header_typ.as_deref()),
            (None, None)
        );
        assert_eq!(validated.scopes, None);
        validator().record_use(host, &validated).unwrap();
        let digest = replay_key_of(&token);
        assert!(digest.starts_with(DIGEST_REPLAY_KEY_PREFIX));
        assert_eq!(
            *fake.recorded.borrow(),
            BTreeSet::from([(ISSUER.to_owned(), digest, NOW + 60 + 60)])
        );

        // With require_jti the same token is refused at its use, not at its validation.
        let strict = TrustedJwtValidator::from_config(json!({"require_jti": true})).unwrap();
        let validated = strict.validate(host, &request(), &token, None).unwrap();
        assert_eq!(
            strict.record_use(host, &validated).unwrap_err(),
            GrantResult::invalid_grant(
                "the assertion has no jti claim, which this server requires (require_jti)"
            )
        );
    });
}

#[test]
fn refusals_keep_the_grants_wording() {
    with_host(|key, _, host| {
        let refusal = |claims: Value, key: &PKey<Private>| {
            let token = sign(key, json!({"alg": "EdDSA"}), claims);
            match validator().validate(host, &request(), &token, None) {
                Err(GrantResult::Error(error)) => error.error_description,
                other => panic!("expected a refusal, got {other:?}"),
            }
        };
        let claims = |aud: &str| json!({"iss": ISSUER, "sub": "s", "aud": aud, "exp": NOW + 60});
        assert!(refusal(claims("elsewhere"), key)
            .starts_with("None of the audience values matched the token endpoint"));
        assert!(refusal(claims(TOKEN_ENDPOINT), &signing_key())
            .starts_with("the assertion's signature (EdDSA) does not verify"));
        assert_eq!(
            refusal(json!({"iss": "https://other", "exp": NOW + 60}), key),
            "No registered identity provider found for the JWT with issuer name : https://other"
        );
    });
}

/// A provider's description is decoded once: the same description at the next assertion is the
/// same decoded provider, and one the host changed (disabled, then enabled again) is read anew at
/// the very next assertion.
#[test]
fn a_provider_is_decoded_once_per_description_and_anew_when_it_changes() {
    let key = signing_key();
    let validator = validator();
    let token = sign(
        &key,
        json!({"alg": "EdDSA"}),
        json!({"iss": ISSUER, "sub": "alice", "aud": TOKEN_ENDPOINT, "exp": NOW + 60}),
    );
    let mut disabled = provider(&key);
    disabled["enabled"] = json!(false);
    let validate_with = |described: Value| {
        let fake = FakeHost {
            provider: described,
            recorded: RefCell::new(BTreeSet::new()),
        };
        let api = api(&fake);
        // SAFETY: the table lives for the call and its context is `fake`.
        let host = unsafe { Host::from_raw(&api) };
        validator.validate(&host, &request(), &token, None)
    };
    let first = validate_with(provider(&key)).unwrap();
    let again = validate_with(provider(&key)).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.provider, &again.provider));
    let refused = validate_with(disabled).unwrap_err();
    assert_eq!(
        refused,
        GrantResult::invalid_grant(format!(
            "identity provider 'idp' (issuer {ISSUER}) is disabled"
        ))
    );
    let enabled_again = validate_with(provider(&key)).unwrap();
    assert!(enabled_again.provider.enabled);
}
