//! The floors the token endpoint is read against, measured in the same run on the same machine:
//! one RS256 verification (openssl, one thread) and an HTTP round trip through the same stack
//! (an in-process warp server answering a fixed token-shaped body, driven by the same load
//! generator). Nothing here talks to the server under test.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use tokio::sync::oneshot;
use warp::Filter;

use crate::load::{self, Endpoint, LoadResult, LoadSpec, Work};

/// How long the RS256 verification loop runs.
const VERIFY_DURATION: Duration = Duration::from_secs(1);
/// What the HTTP floor server answers: the shape of a token response.
const FLOOR_BODY: &str = r#"{"access_token":"floor-access-token-0123456789abcdef","token_type":"Bearer","expires_in":3600}"#;

pub struct VerifyFloor {
    pub verifications: u64,
    pub per_verification: Duration,
}

impl VerifyFloor {
    /// Verifications per second on one core.
    pub fn per_core_per_second(&self) -> f64 {
        if self.per_verification.is_zero() {
            0.0
        } else {
            1.0 / self.per_verification.as_secs_f64()
        }
    }

    /// The ceiling of `cores` cores doing nothing but verify.
    pub fn ceiling(&self, cores: usize) -> f64 {
        self.per_core_per_second() * cores as f64
    }
}

/// Verifies `assertion`'s RS256 signature with `key` in a loop on this thread for about a second.
pub fn measure_rs256_verification(
    assertion: &str,
    key: &PKey<Public>,
) -> anyhow::Result<VerifyFloor> {
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
    let started = Instant::now();
    let mut verifications = 0u64;
    while started.elapsed() < VERIFY_DURATION {
        // A batch between clock reads, so reading the clock costs nothing measurable.
        for _ in 0..16 {
            std::hint::black_box(verify()?);
        }
        verifications += 16;
    }
    let elapsed = started.elapsed();
    Ok(VerifyFloor {
        verifications,
        per_verification: elapsed / u32::try_from(verifications).unwrap_or(u32::MAX),
    })
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the HTTP floor server")?;
    let addr = listener.local_addr()?;
    let route = warp::post()
        .and(warp::path!("oauth2" / "token"))
        .and(warp::body::bytes())
        .map(|_body: Bytes| {
            warp::http::Response::builder()
                .header("content-type", "application/json")
                .header("cache-control", "no-store")
                .body(FLOOR_BODY)
        });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        warp::serve(route)
            .incoming(listener)
            .graceful(async {
                let _ = stopped.await;
            })
            .run(),
    );
    let endpoint = Endpoint::parse(&format!("http://{addr}/oauth2/token")).await?;
    let result = load::run(LoadSpec {
        endpoint,
        authorization,
        work: Work::Fixed(body),
        connections,
        warmup,
        duration,
    })
    .await;
    let _ = stop.send(());
    server.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_scales_the_per_core_rate() {
        let floor = VerifyFloor {
            verifications: 1000,
            per_verification: Duration::from_micros(500),
        };
        assert!((floor.per_core_per_second() - 2000.0).abs() < 1e-6);
        assert!((floor.ceiling(2) - 4000.0).abs() < 1e-6);
    }
}
