//! `--mode gateway`: `grantor gateway` (the same binary as the server) in front of a trivial
//! in-process upstream, trusting the started Grantor's tenant by its JWKS URL like any issuer.
//! This module owns the upstream, the gateway's configuration file and process, the checks made
//! before the clock starts (the token's claims, one call each way), and the targets the run is
//! judged against: the gateway's CPU per request at most one RS256 verification + 30 us of one
//! core, and its p99 under 5 ms at 32 connections.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::header::HeaderValue;
use hyper::Method;
use serde_json::Value;
use warp::Filter;

use crate::cli::BackendClaims;
use crate::floors::InProcessServer;
use crate::load::{self, Endpoint, Expect, Verdict};
use crate::server::{toml_string, ServerProcess};

/// The API's context on the gateway.
pub const CONTEXT: &str = "/bench";
/// What each request asks for, through the gateway and straight to the upstream alike (the
/// upstream is configured as `http://ADDR/bench`, so it sees this same path both ways).
pub const ITEM_PATH: &str = "/bench/item";
/// What the upstream answers any GET with; a success must carry exactly this body.
pub const UPSTREAM_BODY: &str =
    r#"{"id":"item-0001","name":"bench item","price":{"amount":1250,"currency":"EUR"}}"#;
/// The target: the gateway's CPU per request at most one RS256 verification plus this much.
pub const CPU_ALLOWANCE_US: f64 = 30.0;
/// The target: the p99 latency through the gateway under this, at `TARGET_CONNECTIONS`.
pub const P99_LIMIT_MS: f64 = 5.0;
pub const TARGET_CONNECTIONS: usize = 32;

/// What success looks like, through the gateway or not.
pub fn expect() -> Expect {
    Expect::Body(UPSTREAM_BODY)
}

/// What the gateway's configuration says.
pub struct GatewaySetup<'a> {
    /// `http://ADDR` of the upstream.
    pub upstream: &'a str,
    /// The `iss` of the tenant's access tokens.
    pub issuer: &'a str,
    pub jwks_url: &'a str,
    /// The `aud` the tokens must carry (the client_id).
    pub audience: &'a str,
    /// The scopes the one resource requires.
    pub scopes: &'a [String],
    pub backend_claims: BackendClaims,
    /// `[gateway] workers`.
    pub workers: usize,
}

/// The gateway's configuration file: `[gateway]` alone (it needs no database).
pub fn config_text(setup: &GatewaySetup) -> String {
    let scopes: Vec<String> = setup.scopes.iter().map(|s| toml_string(s)).collect();
    format!(
        "[gateway]\n\
         bind = \"127.0.0.1:0\"\n\
         backend_claims = {backend_claims}\n\
         workers = {workers}\n\
         \n\
         [[gateway.api]]\n\
         context = {context}\n\
         upstream = {upstream}\n\
         \n\
         [[gateway.api.resource]]\n\
         method = \"GET\"\n\
         path = \"/*\"\n\
         scopes = [{scopes}]\n\
         \n\
         [[gateway.jwt_issuer]]\n\
         name = {issuer}\n\
         jwks.url = {jwks}\n\
         audience = [{audience}]\n",
        backend_claims = toml_string(setup.backend_claims.name()),
        workers = setup.workers,
        context = toml_string(CONTEXT),
        upstream = toml_string(&format!(
            "{}{CONTEXT}",
            setup.upstream.trim_end_matches('/')
        )),
        scopes = scopes.join(", "),
        issuer = toml_string(setup.issuer),
        jwks = toml_string(setup.jwks_url),
        audience = toml_string(setup.audience),
    )
}

/// The trivial upstream: any GET, any path, answered with `UPSTREAM_BODY`.
pub async fn start_upstream() -> anyhow::Result<InProcessServer> {
    let route = warp::get().map(|| {
        warp::http::Response::builder()
            .header("content-type", "application/json")
            .body(UPSTREAM_BODY)
    });
    InProcessServer::start(route, "upstream").await
}

/// The upstream, the gateway in front of it, and the gateway's directory; the gateway is killed
/// and the upstream stopped when this is dropped (also when the run fails).
pub struct GatewayRun {
    /// First, so it is killed before its directory goes.
    pub process: ServerProcess,
    pub upstream: InProcessServer,
    /// `ITEM_PATH` on the gateway.
    pub through_gateway: Endpoint,
    /// `ITEM_PATH` on the upstream.
    pub direct: Endpoint,
    pub config_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl GatewayRun {
    /// Starts the upstream, writes the configuration with its address and starts
    /// `grantor --config FILE gateway`.
    pub async fn start(
        binary: &Path,
        setup: impl FnOnce(&str) -> String,
    ) -> anyhow::Result<GatewayRun> {
        let upstream = start_upstream().await?;
        let upstream_url = format!("http://{}", upstream.addr);
        let dir = tempfile::Builder::new()
            .prefix("grantor-bench-gateway-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let config_path = dir.path().join("gateway.toml");
        // The temporary directory is its data directory too (where it keeps its signing key).
        let text = format!(
            "{}\n[database]\ndata_dir = {}\n",
            setup(&upstream_url),
            toml_string(&dir.path().display().to_string())
        );
        std::fs::write(&config_path, text)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        let process = ServerProcess::start_command(
            binary,
            &config_path,
            "gateway",
            "grantor gateway listening on ",
            &dir.path().join("gateway.log"),
        )?;
        let through_gateway = Endpoint::parse(&format!("{}{ITEM_PATH}", process.base_url)).await?;
        let direct = Endpoint::parse(&format!("{upstream_url}{ITEM_PATH}")).await?;
        Ok(GatewayRun {
            process,
            upstream,
            through_gateway,
            direct,
            config_path,
            _dir: dir,
        })
    }

    /// Before the clock: the upstream answers directly; the gateway refuses a call without a
    /// token (401, so it is validating and not passing everything through) and forwards one with
    /// it. The first call through the gateway also has it fetch the tenant's JWKS.
    pub async fn check(&self, bearer: &HeaderValue) -> anyhow::Result<()> {
        let (status, body) = load::send_once(&self.direct, Method::GET, None, None).await?;
        if !matches!(
            load::check_response(expect(), status, &body, false),
            Verdict::Ok { .. }
        ) {
            bail!(
                "the upstream at {} did not answer its body: {}",
                self.direct.url,
                load::error_sample(status, &body)
            );
        }
        let (status, body) =
            load::send_once(&self.through_gateway, Method::GET, None, None).await?;
        if status.as_u16() != 401 {
            bail!(
                "the gateway at {} answered a call without a token with {} (not 401); log: {}",
                self.through_gateway.url,
                load::error_sample(status, &body),
                self.process.log_tail()
            );
        }
        let (status, body) =
            load::send_once(&self.through_gateway, Method::GET, Some(bearer), None).await?;
        if !matches!(
            load::check_response(expect(), status, &body, false),
            Verdict::Ok { .. }
        ) {
            bail!(
                "the gateway at {} refused the access token or did not forward it: {}; config {}; \
                 log: {}",
                self.through_gateway.url,
                load::error_sample(status, &body),
                self.config_path.display(),
                self.process.log_tail()
            );
        }
        Ok(())
    }
}

/// The claims of a compact JWS, when its payload decodes (the signature is the gateway's to
/// check).
fn jws_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// That the access token is what the gateway will be told to expect: `iss` the tenant's issuer,
/// `aud` naming the client, every required scope, and not expiring before `needed_until` (Unix
/// seconds: the end of both measured runs).
pub fn check_token(
    token: &str,
    issuer: &str,
    audience: &str,
    scopes: &[String],
    needed_until: u64,
) -> Result<(), String> {
    let claims = jws_claims(token).ok_or("the access token's payload is not JSON")?;
    let iss = claims.get("iss").and_then(Value::as_str);
    if iss != Some(issuer) {
        return Err(format!("the access token's iss is {iss:?}, not {issuer:?}"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(format!(
            "the access token's aud is {}, without {audience:?}",
            claims.get("aud").unwrap_or(&Value::Null)
        ));
    }
    let granted: Vec<&str> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    if let Some(missing) = scopes.iter().find(|s| !granted.contains(&s.as_str())) {
        return Err(format!(
            "the access token's scope {granted:?} lacks {missing:?}"
        ));
    }
    match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) if exp >= needed_until => Ok(()),
        Some(exp) => Err(format!(
            "the access token expires {} s before the run ends: shorten --warmup/--duration",
            needed_until - exp
        )),
        None => Err("the access token has no exp".to_owned()),
    }
}

/// Unix seconds `after` from now.
pub fn unix_after(after: Duration) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|now| (now + after).as_secs())
        .unwrap_or(u64::MAX)
}

/// The CPU target: the gateway's CPU per request against one RS256 verification + 30 us.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTarget {
    pub gateway_us: f64,
    pub verify_us: f64,
}

impl CpuTarget {
    pub fn budget_us(&self) -> f64 {
        self.verify_us + CPU_ALLOWANCE_US
    }

    pub fn met(&self) -> bool {
        self.gateway_us <= self.budget_us()
    }
}

/// The latency target: p99 through the gateway under 5 ms (stated at 32 connections).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyTarget {
    pub p99_ms: f64,
    pub connections: usize,
}

impl LatencyTarget {
    pub fn met(&self) -> bool {
        self.p99_ms < P99_LIMIT_MS
    }

    /// Whether the run had the load the target is stated for.
    pub fn at_stated_load(&self) -> bool {
        self.connections == TARGET_CONNECTIONS
    }
}

/// `met` / `NOT met`.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: Value) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    const ISS: &str = "http://127.0.0.1:4000/t/bench-x/oauth2/token";

    #[test]
    fn the_token_must_be_what_the_gateway_is_told_to_expect() {
        let read = ["read".to_owned()];
        let good = serde_json::json!({
            "iss": ISS, "aud": "client-1", "scope": "read write", "exp": 2000, "sub": "client-1"
        });
        assert_eq!(
            check_token(&token(good.clone()), ISS, "client-1", &read, 2000),
            Ok(())
        );
        let mut array = good.clone();
        array["aud"] = serde_json::json!(["other", "client-1"]);
        assert_eq!(
            check_token(&token(array), ISS, "client-1", &read, 1),
            Ok(())
        );

        let e = check_token(
            &token(good.clone()),
            "http://x/t/y/oauth2/token",
            "client-1",
            &read,
            1,
        )
        .unwrap_err();
        assert!(e.contains("iss"), "{e}");
        let e = check_token(&token(good.clone()), ISS, "client-2", &read, 1).unwrap_err();
        assert!(e.contains("aud"), "{e}");
        let e = check_token(
            &token(good.clone()),
            ISS,
            "client-1",
            &["admin".to_owned()],
            1,
        )
        .unwrap_err();
        assert!(e.contains("lacks \"admin\""), "{e}");
        let e = check_token(&token(good.clone()), ISS, "client-1", &read, 2010).unwrap_err();
        assert!(e.contains("expires 10 s before"), "{e}");
        let mut no_exp = good;
        no_exp.as_object_mut().expect("object").remove("exp");
        assert!(check_token(&token(no_exp), ISS, "client-1", &read, 1).is_err());
        assert!(check_token("opaque-token", ISS, "client-1", &read, 1).is_err());
    }

    #[test]
    fn the_config_names_the_upstream_issuer_and_scopes() {
        let scopes = ["read".to_owned(), "x\"y".to_owned()];
        let text = config_text(&GatewaySetup {
            upstream: "http://127.0.0.1:5000/",
            issuer: ISS,
            jwks_url: "http://127.0.0.1:4000/t/bench-x/oauth2/jwks",
            audience: "client-1",
            scopes: &scopes,
            backend_claims: BackendClaims::Headers,
            workers: 3,
        });
        for line in [
            "[gateway]\nbind = \"127.0.0.1:0\"\nbackend_claims = \"headers\"\nworkers = 3\n",
            "[[gateway.api]]\ncontext = \"/bench\"\nupstream = \"http://127.0.0.1:5000/bench\"\n",
            "[[gateway.api.resource]]\nmethod = \"GET\"\npath = \"/*\"\n\
             scopes = [\"read\", \"x\\\"y\"]\n",
            "[[gateway.jwt_issuer]]\n\
             name = \"http://127.0.0.1:4000/t/bench-x/oauth2/token\"\n\
             jwks.url = \"http://127.0.0.1:4000/t/bench-x/oauth2/jwks\"\n\
             audience = [\"client-1\"]\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        // The path the load asks for lies under the context, and the upstream sees it whole.
        assert!(ITEM_PATH.starts_with(&format!("{CONTEXT}/")));
    }

    #[test]
    fn the_cpu_target_is_one_verification_and_thirty_microseconds() {
        let target = CpuTarget {
            gateway_us: 60.0,
            verify_us: 30.0,
        };
        assert!((target.budget_us() - 60.0).abs() < 1e-9);
        assert!(target.met());
        assert!(!CpuTarget {
            gateway_us: 60.1,
            ..target
        }
        .met());
        assert_eq!(verdict(true), "met");
        assert_eq!(verdict(false), "NOT met");
    }

    #[test]
    fn the_latency_target_is_a_p99_under_five_milliseconds_at_32_connections() {
        let at = |p99_ms, connections| LatencyTarget {
            p99_ms,
            connections,
        };
        assert!(at(4.99, 32).met() && at(4.99, 32).at_stated_load());
        assert!(!at(5.0, 32).met());
        assert!(!at(1.0, 4).at_stated_load());
    }

    #[tokio::test]
    async fn the_upstream_answers_any_get_with_its_body() {
        let upstream = start_upstream().await.expect("upstream");
        for path in [ITEM_PATH, "/", "/other/deeper?x=1"] {
            let endpoint = Endpoint::parse(&format!("http://{}{path}", upstream.addr))
                .await
                .expect("endpoint");
            let (status, body) = load::send_once(&endpoint, Method::GET, None, None)
                .await
                .expect("answer");
            assert_eq!(
                load::check_response(expect(), status, &body, false),
                Verdict::Ok {
                    refresh_token: None
                },
                "{path}"
            );
        }
        let endpoint = Endpoint::parse(&format!("http://{}{ITEM_PATH}", upstream.addr))
            .await
            .expect("endpoint");
        let (status, _) = load::send_once(&endpoint, Method::POST, None, Some("a=b".into()))
            .await
            .expect("answer");
        assert_eq!(status.as_u16(), 405);
        let addr = upstream.addr;
        drop(upstream);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
