//! The floors the token endpoint is read against, measured in the same run on the same machine:
//! one RS256 verification (openssl, one thread), one signature of the tenant's key type over a
//! token-sized input (openssl, one thread; where access tokens are JWTs) and an HTTP round trip
//! through the same stack (an in-process warp server answering a fixed token-shaped body, driven
//! by the same load generator). Nothing here talks to the server under test.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::Method;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use serde_json::json;
use tokio::sync::oneshot;
use warp::Filter;

use crate::cli::SigningAlg;
use crate::load::{self, Endpoint, Expect, LoadResult, LoadSpec, Work};

/// How long each crypto loop (RS256 verification, signing) runs.
const CRYPTO_DURATION: Duration = Duration::from_secs(1);
/// The signing input of the signing floor: about what Grantor signs for an RFC 9068 access
/// token (header and claims, base64url).
pub const SIGN_INPUT_BYTES: usize = 400;
/// What the HTTP floor server answers: the shape of a token response.
const FLOOR_BODY: &str = r#"{"access_token":"floor-access-token-0123456789abcdef","token_type":"Bearer","expires_in":3600}"#;

/// One crypto operation in a loop on one thread: how many ran, and what one took.
pub struct CryptoFloor {
    pub operations: u64,
    pub per_operation: Duration,
}

impl CryptoFloor {
    /// Operations per second on one core.
    pub fn per_core_per_second(&self) -> f64 {
        per_second_of(self.per_operation)
    }

    /// The ceiling of `cores` cores doing nothing but this.
    pub fn ceiling(&self, cores: usize) -> f64 {
        self.per_core_per_second() * cores as f64
    }

    pub fn micros(&self) -> f64 {
        self.per_operation.as_secs_f64() * 1e6
    }
}

fn per_second_of(each: Duration) -> f64 {
    if each.is_zero() {
        0.0
    } else {
        1.0 / each.as_secs_f64()
    }
}

/// The signing floor: the tenant's key type, and the input length signed.
pub struct SignFloor {
    pub alg: SigningAlg,
    pub input_bytes: usize,
    pub floor: CryptoFloor,
}

/// The crypto one request of a JWT access token exchange costs: one RS256 verification (the
/// assertion) plus one signature (the access token), on one core.
pub struct CryptoPerRequest {
    pub per_request: Duration,
}

impl CryptoPerRequest {
    pub fn new(verify: &CryptoFloor, sign: &CryptoFloor) -> CryptoPerRequest {
        CryptoPerRequest {
            per_request: verify.per_operation + sign.per_operation,
        }
    }

    pub fn micros(&self) -> f64 {
        self.per_request.as_secs_f64() * 1e6
    }

    /// Requests per second `cores` cores could serve doing nothing but this crypto.
    pub fn ceiling(&self, cores: usize) -> f64 {
        per_second_of(self.per_request) * cores as f64
    }
}

/// Runs `op` in a loop on this thread for about a second.
fn measure_loop(mut op: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<CryptoFloor> {
    let started = Instant::now();
    let mut operations = 0u64;
    while started.elapsed() < CRYPTO_DURATION {
        // A batch between clock reads, so reading the clock costs nothing measurable.
        for _ in 0..16 {
            op()?;
        }
        operations += 16;
    }
    let elapsed = started.elapsed();
    Ok(CryptoFloor {
        operations,
        per_operation: elapsed / u32::try_from(operations).unwrap_or(u32::MAX),
    })
}

/// Verifies `assertion`'s RS256 signature with `key` in a loop on this thread for about a second.
pub fn measure_rs256_verification(
    assertion: &str,
    key: &PKey<Public>,
) -> anyhow::Result<CryptoFloor> {
    let (input, signature) = assertion
        .rsplit_once('.')
        .context("the assertion is not a compact JWS")?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .context("the assertion's signature is not base64url")?;
    let verify = || -> anyhow::Result<bool> {
        let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
        verifier.update(input.as_bytes())?;
        Ok(verifier.verify(&signature)?)
    };
    if !verify()? {
        bail!("the minted assertion does not verify with its own key");
    }
    measure_loop(|| {
        std::hint::black_box(verify()?);
        Ok(())
    })
}

/// A fresh key of `alg`'s type: RSA 2048, EC P-256 or Ed25519 (what Grantor generates for a
/// tenant).
fn signing_key(alg: SigningAlg) -> anyhow::Result<PKey<Private>> {
    Ok(match alg {
        SigningAlg::RS256 => PKey::from_rsa(Rsa::generate(2048)?)?,
        SigningAlg::ES256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(EcKey::generate(&group)?)?
        }
        SigningAlg::EdDSA => PKey::generate_ed25519()?,
    })
}

/// One signature as the JWS algorithm makes it with openssl (RS256: PKCS#1 v1.5 over SHA-256,
/// ES256: ECDSA over SHA-256, DER as openssl returns it; EdDSA: Ed25519 over the input itself).
fn sign(alg: SigningAlg, key: &PKey<Private>, input: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut signer = match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => Signer::new(MessageDigest::sha256(), key)?,
        SigningAlg::EdDSA => Signer::new_without_digest(key)?,
    };
    Ok(signer.sign_oneshot_to_vec(input)?)
}

fn verifies(alg: SigningAlg, key: &PKey<Private>, input: &[u8], signature: &[u8]) -> bool {
    let verifier = match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => Verifier::new(MessageDigest::sha256(), key),
        SigningAlg::EdDSA => Verifier::new_without_digest(key),
    };
    verifier
        .and_then(|mut v| v.verify_oneshot(signature, input))
        .unwrap_or(false)
}

/// A signing input shaped like an RFC 9068 access token's (base64url header `.` claims), padded
/// through its `jti` to `SIGN_INPUT_BYTES` (give or take the last base64 group).
pub fn token_sized_input(alg: SigningAlg) -> String {
    let header = URL_SAFE_NO_PAD
        .encode(json!({"alg": alg.name(), "typ": "at+jwt", "kid": "k".repeat(43)}).to_string());
    let claims = |jti: &str| {
        json!({
            "iss": "http://127.0.0.1:40000/t/bench-0123456789ab",
            "sub": "alice",
            "aud": "http://127.0.0.1:40000/t/bench-0123456789ab",
            "client_id": "c".repeat(22),
            "scope": "read",
            "iat": 1_800_000_000u64,
            "exp": 1_800_003_600u64,
            "jti": jti,
        })
        .to_string()
    };
    let mut jti = String::new();
    loop {
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims(&jti)));
        if input.len() >= SIGN_INPUT_BYTES {
            return input;
        }
        jti.push('j');
    }
}

/// Signs a token-sized input with a fresh key of `alg`'s type in a loop on this thread for about
/// a second.
pub fn measure_signing(alg: SigningAlg) -> anyhow::Result<SignFloor> {
    let key = signing_key(alg)?;
    let input = token_sized_input(alg);
    let signature = sign(alg, &key, input.as_bytes())?;
    if !verifies(alg, &key, input.as_bytes(), &signature) {
        bail!(
            "a {} signature does not verify with its own key",
            alg.name()
        );
    }
    let floor = measure_loop(|| {
        std::hint::black_box(sign(alg, &key, input.as_bytes())?);
        Ok(())
    })?;
    Ok(SignFloor {
        alg,
        input_bytes: input.len(),
        floor,
    })
}

/// A warp server in this process on a free loopback port, stopped when dropped.
pub struct InProcessServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl InProcessServer {
    pub async fn start<F, R>(route: F, what: &str) -> anyhow::Result<InProcessServer>
    where
        F: Filter<Extract = (R,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
        R: warp::Reply,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .with_context(|| format!("cannot bind the {what}"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            warp::serve(route)
                .incoming(listener)
                .graceful(async {
                    let _ = stopped.await;
                })
                .run(),
        );
        Ok(InProcessServer {
            addr,
            stop: Some(stop),
            task,
        })
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// Serves `POST /oauth2/token` (body read, fixed JSON answer) in-process on a free loopback port
/// and drives it with the load generator: `connections` connections, the same request shape.
pub async fn measure_http_floor(
    connections: usize,
    warmup: Duration,
    duration: Duration,
    authorization: Option<HeaderValue>,
    body: Bytes,
) -> anyhow::Result<LoadResult> {
    let route = warp::post()
        .and(warp::path!("oauth2" / "token"))
        .and(warp::body::bytes())
        .map(|_body: Bytes| {
            warp::http::Response::builder()
                .header("content-type", "application/json")
                .header("cache-control", "no-store")
                .body(FLOOR_BODY)
        });
    let server = InProcessServer::start(route, "HTTP floor server").await?;
    let endpoint = Endpoint::parse(&format!("http://{}/oauth2/token", server.addr)).await?;
    load::run(LoadSpec {
        endpoint,
        method: Method::POST,
        authorization,
        work: Work::Fixed(body),
        expect: Expect::AccessToken,
        connections,
        warmup,
        duration,
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_scales_the_per_core_rate() {
        let floor = CryptoFloor {
            operations: 1000,
            per_operation: Duration::from_micros(500),
        };
        assert!((floor.per_core_per_second() - 2000.0).abs() < 1e-6);
        assert!((floor.ceiling(2) - 4000.0).abs() < 1e-6);
        assert!((floor.micros() - 500.0).abs() < 1e-9);
    }

    #[test]
    fn per_request_crypto_adds_a_verification_and_a_signature() {
        let verify = CryptoFloor {
            operations: 1,
            per_operation: Duration::from_micros(30),
        };
        let sign = CryptoFloor {
            operations: 1,
            per_operation: Duration::from_micros(970),
        };
        let crypto = CryptoPerRequest::new(&verify, &sign);
        assert!((crypto.micros() - 1000.0).abs() < 1e-9);
        // 1 ms a request on one core: 1,000/s, 2,000/s on two.
        assert!((crypto.ceiling(2) - 2000.0).abs() < 1e-6);
        let nothing = CryptoFloor {
            operations: 0,
            per_operation: Duration::ZERO,
        };
        assert_eq!(CryptoPerRequest::new(&nothing, &nothing).ceiling(2), 0.0);
    }

    #[test]
    fn the_signing_input_is_token_sized_and_names_the_algorithm() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let input = token_sized_input(alg);
            assert!(
                (SIGN_INPUT_BYTES..SIGN_INPUT_BYTES + 4).contains(&input.len()),
                "{} bytes",
                input.len()
            );
            assert_eq!(load::jws_alg(&input).as_deref(), Some(alg.name()));
        }
    }

    #[test]
    fn each_key_type_signs_what_verifies() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let key = signing_key(alg).expect("key");
            let input = token_sized_input(alg);
            let signature = sign(alg, &key, input.as_bytes()).expect("sign");
            assert!(verifies(alg, &key, input.as_bytes(), &signature), "{alg:?}");
            assert!(!verifies(alg, &key, b"other input", &signature), "{alg:?}");
        }
    }
}
