//! `grantor-bench`: the benchmark harness for the token and introspection endpoints and the API
//! gateway. This file owns the order of a run — choose the target (start a Grantor, attach to
//! one, or a peer), mint, sign in and make codes, seed, load, measure the floors, report — and
//! the process's error handling. The pieces live in the modules below.

mod cli;
mod codes;
mod cpu;
mod exchange;
mod floors;
mod gateway;
mod load;
mod mint;
mod report;
mod server;
mod writer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::Method;
use openssl::pkey::PKey;
use tokio::time::Instant;

use crate::cli::{BackendClaims, Cli, Mode, RequestedTokenType, SigningAlg, TokenFormat};
use crate::gateway::{GatewayRun, GatewaySetup};
use crate::load::{BodyPool, Endpoint, Expect, LoadSpec, Verdict, Work};
use crate::mint::{AssertionClaims, IdpKey};
use crate::server::{Deployment, GrantorCli, ServerProcess};

/// Default `scope` against Grantor (the client is registered with it).
const GRANTOR_SCOPE: &str = "read";
/// How long the first request may keep failing with 400/401/404 while an attached server picks
/// up the new rows.
const VISIBILITY_DEADLINE: Duration = Duration::from_secs(8);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The server the load goes to, and whatever must live as long as the run does.
struct Target {
    endpoint: Endpoint,
    authorization: Option<HeaderValue>,
    scope: Option<String>,
    /// The `aud` of the minted assertions.
    audience: String,
    /// The introspection endpoint next to the token endpoint, where one is known.
    introspect_url: Option<String>,
    /// The tenant's JWKS and the client's id, where this run provisioned them.
    jwks_url: Option<String>,
    client_id: Option<String>,
    /// The `grantor` binary (for `grantor gateway`), where this run uses one.
    grantor: Option<PathBuf>,
    /// The tenants' key type written into the config of the server this run started.
    configured_alg: Option<SigningAlg>,
    /// authorization-code: the user who signs in, and where.
    sign_in: Option<codes::Account>,
    backend: String,
    /// Kept alive for the run: the started server (killed on drop) and its directory.
    server: Option<ServerProcess>,
    _deployment: Option<Deployment>,
    _scratch: Option<tempfile::TempDir>,
    /// Whether the server may need a moment to see freshly provisioned rows.
    attached: bool,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    cli.check().map_err(anyhow::Error::msg)?;
    if let Some(dir) = &cli.keys_out {
        let key = IdpKey::generate()?;
        key.write(dir)?;
        println!(
            "wrote {}, {}, {} in {} (kid {})",
            mint::KEY_FILE,
            mint::CERT_FILE,
            mint::JWKS_FILE,
            dir.display(),
            key.kid
        );
        return Ok(());
    }
    let key = match &cli.key {
        Some(dir) => IdpKey::load(dir)?,
        None => IdpKey::generate()?,
    };
    let mut target = prepare_target(&cli, &key).await?;
    if cli.mode == Mode::Introspect && target.introspect_url.is_none() {
        bail!(
            "--mode introspect: the introspection endpoint is not known (for a peer, --target \
             must end in /token; /introspect is used next to it)"
        );
    }
    let connections = usize::try_from(cli.connections)?;
    let claims = AssertionClaims {
        issuer: cli.iss.clone(),
        subject: cli.sub.clone(),
        audience: target.audience.clone(),
    };

    let count = match cli.mode {
        Mode::JwtBearer | Mode::JwtAccessToken => usize::try_from(
            cli.assertions
                .unwrap_or(8_000 * (cli.warmup + cli.duration).max(1)),
        )?,
        // One to seed each chain, one spare each to restart a broken chain.
        Mode::RefreshToken => 2 * connections,
        // One per subject token (a JWT bearer exchange each).
        Mode::TokenExchange => usize::try_from(cli.subject_tokens())?,
        // One for the RS256 floor.
        Mode::ClientCredentials | Mode::Introspect | Mode::Gateway | Mode::AuthorizationCode => 1,
    };
    eprintln!("minting {count} RS256 assertions ...");
    let minted = mint::mint_assertions(&key, &claims, count)?;
    eprintln!("minted {count} in {:.2} s", minted.took.as_secs_f64());
    let minting_took = minted.took;
    let mut assertions = minted.assertions;
    let floor_assertion = assertions.first().cloned().context("no assertion minted")?;

    // authorization-code: one sign-in through the login page, before anything is measured.
    let signed_in = match &target.sign_in {
        Some(account) => {
            eprintln!("signing {} in through the login page ...", account.username);
            let signed_in = codes::sign_in(account).await?;
            eprintln!("signed in in {:.2} s", signed_in.took.as_secs_f64());
            Some(signed_in)
        }
        None => None,
    };

    let first = wait_until_accepted(&cli, &target, &key, &claims, signed_in.as_ref()).await?;
    // token-exchange: the subject tokens and the actor token, before the clock; the first
    // exchange's answer is the one described.
    let exchanged = match cli.mode {
        Mode::TokenExchange => {
            eprintln!(
                "obtaining {} subject tokens (jwt-bearer) and an actor token (client_credentials) ...",
                assertions.len()
            );
            let exchanger = exchange::Exchanger {
                endpoint: &target.endpoint,
                authorization: target.authorization.as_ref(),
                scope: target.scope.as_deref(),
                requested: cli.requested_token_type(),
                client_id: target
                    .client_id
                    .as_deref()
                    .context("--mode token-exchange: no client")?,
            };
            let prepared = exchanger.prepare(&assertions).await?;
            eprintln!(
                "obtained in {:.2} s; the first exchange answered as asked",
                prepared.took.as_secs_f64()
            );
            Some(prepared)
        }
        _ => None,
    };
    let first = exchanged.as_ref().map_or(first, |p| p.first.clone());
    let access_tokens = describe_access_tokens(&cli, &target, &first)?;
    let id_tokens = describe_id_tokens(&cli, &target, &first)?;
    // The signing floor's key type: what the tokens' header names; in gateway mode the gateway's
    // own key (ES256), which signs an X-JWT-Assertion once per token and reuses it.
    let sign_alg = match (&access_tokens, cli.mode) {
        (_, Mode::Gateway) => {
            (cli.backend_claims() == BackendClaims::Jwt).then_some(SigningAlg::ES256)
        }
        // The ID token each exchange signs (checked against the configured key type above).
        (_, Mode::AuthorizationCode) => id_tokens
            .as_ref()
            .and_then(|t| t.alg.as_deref())
            .and_then(SigningAlg::from_jws),
        (Some(tokens), Mode::JwtAccessToken | Mode::TokenExchange) if cli.issues_jwts() => {
            let alg = tokens.alg.as_deref().and_then(SigningAlg::from_jws);
            if alg.is_none() {
                eprintln!(
                    "the access tokens are signed with {:?}, not RS256, ES256 or EdDSA: no signing \
                     floor",
                    tokens.alg
                );
            }
            alg
        }
        _ => None,
    };

    let scope = target.scope.as_deref();
    let mut load_endpoint = target.endpoint.clone();
    let mut load_method = Method::POST;
    let mut load_authorization = target.authorization.clone();
    let mut expect = match cli.mode {
        Mode::JwtAccessToken => Expect::JwtAccessToken,
        Mode::AuthorizationCode => Expect::IdToken,
        Mode::TokenExchange => exchange::expect(cli.requested_token_type()),
        _ => Expect::AccessToken,
    };
    // gateway: the upstream and the gateway in front of it (killed when this is dropped).
    let mut gateway_run = None;
    let mut introspected = None;
    let mut code_pool = None;
    let mut exchange_pool = None;
    let mut floor_body = Bytes::from(load::client_credentials_body(scope));
    let (work, pool) = match cli.mode {
        Mode::JwtBearer | Mode::JwtAccessToken => {
            let bodies = assertions
                .drain(..)
                .map(|a| Bytes::from(load::jwt_bearer_body(&a, scope)))
                .collect();
            let pool = Arc::new(BodyPool::new(bodies));
            (Work::Pool(pool.clone()), Some(pool))
        }
        Mode::ClientCredentials => (
            Work::Fixed(Bytes::from(load::client_credentials_body(scope))),
            None,
        ),
        Mode::TokenExchange => {
            let prepared = exchanged.context("no subject tokens")?;
            // The floor gets the same request shape.
            floor_body = prepared
                .bodies
                .first()
                .cloned()
                .context("no subject token")?;
            exchange_pool = Some(report::ExchangePool {
                subject_tokens: prepared.bodies.len(),
                took: prepared.took,
                requested: cli.requested_token_type(),
            });
            // Exchanging a subject token does not spend it: they go round in turn.
            (Work::Cycle(Arc::new(BodyPool::new(prepared.bodies))), None)
        }
        Mode::AuthorizationCode => {
            let signed_in = signed_in.as_ref().context("no sign-in")?;
            let count = usize::try_from(cli.codes())?;
            eprintln!("making {count} authorization codes by single sign-on ...");
            let made = signed_in.make_codes(count).await?;
            eprintln!("made {count} in {:.2} s", made.took.as_secs_f64());
            codes::check_codes_outlive_run(
                Duration::from_secs(codes::CODE_LIFETIME_SECONDS),
                made.started.elapsed(),
                Duration::from_secs(cli.warmup + cli.duration),
            )
            .map_err(anyhow::Error::msg)?;
            let bodies: Vec<Bytes> = made
                .codes
                .iter()
                .map(|code| Bytes::from(codes::exchange_body(code)))
                .collect();
            // The floor gets the same request shape.
            floor_body = bodies.first().cloned().context("no code made")?;
            code_pool = Some((bodies.len(), made.took, signed_in.took));
            let pool = Arc::new(BodyPool::new(bodies));
            (Work::Pool(pool.clone()), Some(pool))
        }
        Mode::Gateway => {
            let (started, bearer) = start_gateway(&cli, &target, &first).await?;
            load_endpoint = started.through_gateway.clone();
            load_method = Method::GET;
            load_authorization = Some(bearer);
            expect = gateway::expect();
            gateway_run = Some(started);
            (Work::Fixed(Bytes::new()), None)
        }
        Mode::Introspect => {
            let url = target
                .introspect_url
                .as_deref()
                .context("no introspection endpoint")?;
            load_endpoint = Endpoint::parse(url).await?;
            expect = Expect::Active;
            let count = usize::try_from(cli.introspect_tokens)?;
            eprintln!("obtaining {count} access tokens to introspect ...");
            let started = Instant::now();
            let tokens = obtain_access_tokens(&target, count, token_expect(&cli)).await?;
            let took = started.elapsed();
            let bodies: Vec<Bytes> = tokens
                .iter()
                .map(|t| Bytes::from(load::introspect_body(t)))
                .collect();
            introspected = Some(report::TokenPool {
                tokens: bodies.len(),
                took,
            });
            check_introspection(&load_endpoint, &target, &bodies[0]).await?;
            // The floor gets the same request shape.
            floor_body = bodies[0].clone();
            (Work::Cycle(Arc::new(BodyPool::new(bodies))), None)
        }
        Mode::RefreshToken => {
            let spare = assertions.split_off(connections.min(assertions.len()));
            let initial = seed_refresh_chains(&target, &assertions, scope).await?;
            let reseed = spare
                .iter()
                .map(|a| Bytes::from(load::jwt_bearer_body(a, scope)))
                .collect();
            let reseed = Arc::new(BodyPool::new(reseed));
            (
                Work::RefreshChains {
                    initial,
                    reseed: reseed.clone(),
                },
                Some(reseed),
            )
        }
    };

    eprintln!(
        "load: {} on {} connections, {} s warm-up + {} s measured ...",
        cli.mode.name(),
        connections,
        cli.warmup,
        cli.duration
    );
    // CPU of the server (when this run started it), of the gateway (gateway mode) and of this
    // load generator over the measured window, sampled at its edges.
    let server_pid = target.server.as_ref().map(|s| s.pid());
    let gateway_pid = gateway_run.as_ref().map(|g| g.process.pid());
    let cpu_sampler = sample_cpu(
        vec![server_pid, gateway_pid, Some(std::process::id())],
        &cli,
    );
    // A PostgreSQL on this machine: its processes' CPU beside the server's.
    let database_sampler = cli
        .database
        .as_deref()
        .filter(|url| url.starts_with("postgres") && target.server.is_some())
        .map(|_| sample_processes("postgres", &cli));
    let writer_sampler = target
        .server
        .as_ref()
        .map(|s| writer::sample(format!("{}/health", s.base_url), &cli));
    let result = load::run(LoadSpec {
        endpoint: load_endpoint.clone(),
        method: load_method.clone(),
        authorization: load_authorization,
        work,
        expect,
        connections,
        warmup: Duration::from_secs(cli.warmup),
        duration: Duration::from_secs(cli.duration),
    })
    .await?;
    let (server_cpu, gateway_cpu, load_cpu) = match cpu_sampler.await.as_deref() {
        Ok([server, gateway, load]) => (*server, *gateway, *load),
        _ => (None, None, None),
    };
    let database_cpu = match database_sampler {
        Some(sampler) => sampler.await.ok(),
        None => None,
    };
    let writer = match writer_sampler {
        Some(sampler) => sampler.await.ok().flatten(),
        None => None,
    };
    let assertions_used = match (&pool, cli.mode) {
        (Some(pool), Mode::JwtBearer | Mode::JwtAccessToken) => Some(pool.used()),
        (Some(reseed), Mode::RefreshToken) => Some(connections + reseed.used()),
        _ => None,
    };
    let codes_exchanged = match (&pool, code_pool) {
        (Some(pool), Some((made, took, sign_in_took))) => Some(report::CodePool {
            made,
            took,
            sign_in_took,
            used: pool.used(),
        }),
        _ => None,
    };
    if let Some(server) = target.server.as_mut() {
        if !server.is_running() {
            bail!(
                "the server exited during the run; log: {}",
                server.log_tail()
            );
        }
    }
    // gateway: the same load straight to the upstream, the gateway idle.
    let direct = match &mut gateway_run {
        Some(started) => {
            if !started.process.is_running() {
                bail!(
                    "the gateway exited during the run; log: {}",
                    started.process.log_tail()
                );
            }
            eprintln!(
                "load: straight to the upstream on {} connections, {} s warm-up + {} s measured ...",
                connections, cli.warmup, cli.duration
            );
            let cpu_sampler = sample_cpu(vec![Some(std::process::id())], &cli);
            let direct = load::run(LoadSpec {
                endpoint: started.direct.clone(),
                method: Method::GET,
                authorization: None,
                work: Work::Fixed(Bytes::new()),
                expect,
                connections,
                warmup: Duration::from_secs(cli.warmup),
                duration: Duration::from_secs(cli.duration),
            })
            .await?;
            let load_cpu = match cpu_sampler.await.as_deref() {
                Ok([load]) => *load,
                _ => None,
            };
            Some((direct, load_cpu, started.direct.url.clone()))
        }
        None => None,
    };
    // The floors run with the server (and the gateway) stopped, so they cannot take cycles from
    // them.
    drop(gateway_run);
    target.server = None;

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let floors = if cli.skip_floors {
        None
    } else {
        // In gateway mode the run straight to the upstream is the HTTP floor.
        let http_floor = cli.mode != Mode::Gateway;
        eprintln!(
            "floors: RS256 verification (1 s){}{} ...",
            sign_alg
                .map(|alg| format!(", {} signing (1 s)", alg.name()))
                .unwrap_or_default(),
            if http_floor {
                format!(", HTTP round trip ({} s)", cli.floor_duration)
            } else {
                String::new()
            }
        );
        let public = PKey::public_key_from_der(&key.private.public_key_to_der()?)?;
        let (verify, sign) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let verify = floors::measure_rs256_verification(&floor_assertion, &public)?;
            let sign = sign_alg.map(floors::measure_signing).transpose()?;
            Ok((verify, sign))
        })
        .await
        .context("the crypto floor task failed")??;
        let http = if http_floor {
            Some(
                floors::measure_http_floor(
                    connections,
                    Duration::from_secs(cli.warmup.min(2)),
                    Duration::from_secs(cli.floor_duration),
                    target.authorization.clone(),
                    floor_body,
                )
                .await?,
            )
        } else {
            None
        };
        Some((verify, sign, http))
    };

    let summary = report::Summary {
        mode: cli.mode,
        expect,
        backend: target.backend.clone(),
        target: &load_endpoint.url,
        connections,
        warmup_secs: cli.warmup,
        duration_secs: cli.duration,
        minted: (!matches!(
            cli.mode,
            Mode::ClientCredentials
                | Mode::Introspect
                | Mode::Gateway
                | Mode::AuthorizationCode
                | Mode::TokenExchange
        ))
        .then_some((count, minting_took)),
        assertions_used,
        codes: codes_exchanged,
        access_tokens,
        id_tokens,
        introspected,
        exchange: exchange_pool,
        run: &result,
        server_cpu,
        load_cpu,
        database_cpu,
        writer,
        floors: floors.as_ref().map(|(verify, sign, http)| report::Floors {
            verify,
            sign: sign.as_ref(),
            http: http.as_ref(),
            http_duration_secs: cli.floor_duration,
        }),
        cores,
        gateway: direct
            .as_ref()
            .map(|(direct, direct_load_cpu, url)| report::GatewayFigures {
                backend_claims: cli.backend_claims(),
                workers: cli.gateway_workers(),
                direct_url: url,
                direct,
                gateway_cpu,
                direct_load_cpu: *direct_load_cpu,
            }),
    };
    print!("{}", report::text(&summary));
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report::json(&summary))?);
    }
    if cli.require_success {
        let runs = std::iter::once(("", &result)).chain(
            direct
                .iter()
                .map(|(d, _, _)| (" straight to the upstream", d)),
        );
        for (what, run) in runs {
            if run.ok == 0 || run.ok != run.requests() {
                bail!(
                    "--require-success: {} of {} requests{what} in the window succeeded",
                    run.ok,
                    run.requests()
                );
            }
        }
    }
    Ok(())
}

/// The CPU time each of `pids` spends over the measured window of a load run starting now (the
/// warm-up skipped), sampled at the window's edges; `None` for a process `/proc` cannot tell.
fn sample_cpu(pids: Vec<Option<u32>>, cli: &Cli) -> tokio::task::JoinHandle<Vec<Option<Duration>>> {
    let from = Instant::now() + Duration::from_secs(cli.warmup);
    let window = Duration::from_secs(cli.duration);
    tokio::spawn(async move {
        let sample = || -> Vec<Option<Duration>> {
            pids.iter()
                .map(|pid| pid.and_then(cpu::process_cpu_time))
                .collect()
        };
        tokio::time::sleep_until(from).await;
        let before = sample();
        tokio::time::sleep(window).await;
        let after = sample();
        before
            .into_iter()
            .zip(after)
            .map(|(a, b)| Some(b?.saturating_sub(a?)))
            .collect()
    })
}

/// The CPU time all processes named `name` spend over the measured window of a load run starting
/// now, sampled at its edges.
fn sample_processes(name: &'static str, cli: &Cli) -> tokio::task::JoinHandle<Duration> {
    let from = Instant::now() + Duration::from_secs(cli.warmup);
    let window = Duration::from_secs(cli.duration);
    tokio::spawn(async move {
        tokio::time::sleep_until(from).await;
        let before = cpu::processes_cpu_time(name);
        tokio::time::sleep(window).await;
        cpu::spent_between(&before, &cpu::processes_cpu_time(name))
    })
}

/// gateway: the one access token (the first client_credentials response), checked for what the
/// gateway will be told to expect; the upstream and the gateway started; one call each way.
async fn start_gateway(
    cli: &Cli,
    target: &Target,
    first: &[u8],
) -> anyhow::Result<(GatewayRun, HeaderValue)> {
    let token = load::access_token(first).context("the first response has no access_token")?;
    let (Some(jwks_url), Some(client_id), Some(grantor)) =
        (&target.jwks_url, &target.client_id, &target.grantor)
    else {
        bail!("--mode gateway needs a Grantor this run started");
    };
    let scopes: Vec<String> = target
        .scope
        .as_deref()
        .unwrap_or(GRANTOR_SCOPE)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    // Both runs, their warm-ups and a minute to spare.
    let needed_until =
        gateway::unix_after(Duration::from_secs(2 * (cli.warmup + cli.duration) + 60));
    // The tenant's issuer is its token endpoint URL, which the harness already uses as `aud`.
    let issuer = &target.audience;
    gateway::check_token(&token, issuer, client_id, &scopes, needed_until)
        .map_err(anyhow::Error::msg)?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
        .context("the access token does not fit in a header")?;
    eprintln!(
        "starting grantor gateway (backend_claims = {}, workers = {}) in front of an in-process upstream ...",
        cli.backend_claims().name(),
        cli.gateway_workers()
    );
    let started = GatewayRun::start(grantor, |upstream| {
        gateway::config_text(&GatewaySetup {
            upstream,
            issuer,
            jwks_url,
            audience: client_id,
            scopes: &scopes,
            backend_claims: cli.backend_claims(),
            workers: cli.gateway_workers(),
        })
    })
    .await?;
    started.check(&bearer).await?;
    eprintln!(
        "gateway up at {}, upstream at http://{}",
        started.process.base_url, started.upstream.addr
    );
    Ok((started, bearer))
}

/// Starts and provisions a Grantor, attaches to one (provisioning through its config), or
/// addresses a peer as it is.
async fn prepare_target(cli: &Cli, key: &IdpKey) -> anyhow::Result<Target> {
    if let Some(url) = &cli.target {
        let authorization = match cli.auth.as_deref() {
            None | Some("") => None,
            Some(auth) => {
                let (id, secret) = auth
                    .split_once(':')
                    .context("--auth: expected ID:SECRET (or empty for none)")?;
                Some(load::basic_authorization(id, secret)?)
            }
        };
        return Ok(Target {
            endpoint: Endpoint::parse(url).await?,
            authorization,
            scope: cli.scope.clone(),
            audience: url.clone(),
            introspect_url: url
                .strip_suffix("/token")
                .map(|base| format!("{base}/introspect")),
            jwks_url: None,
            client_id: None,
            grantor: None,
            configured_alg: None,
            sign_in: None,
            backend: "peer".to_owned(),
            server: None,
            _deployment: None,
            _scratch: None,
            attached: false,
        });
    }

    let grantor = match &cli.grantor {
        Some(path) => path.clone(),
        None => server::default_grantor_binary()?,
    };
    let tenant = format!("bench-{}", mint::random_hex(6)?);
    let scope = cli
        .scope
        .clone()
        .unwrap_or_else(|| GRANTOR_SCOPE.to_owned());

    if let (Some(url), Some(config)) = (&cli.url, &cli.config) {
        let base = url.trim_end_matches('/').to_owned();
        let audience = token_url(&base, &tenant);
        let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
        let certificate = key.write_certificate(scratch.path())?;
        let grantor_cli = GrantorCli::new(grantor.clone(), config.clone())?;
        eprintln!(
            "provisioning tenant {tenant} through {} ...",
            config.display()
        );
        let provisioned = server::provision(
            &grantor_cli,
            &tenant,
            &scope,
            cli.token_format(),
            server::Exchange::default(),
            (&cli.iss, &certificate),
            Some(&audience),
        )?;
        return Ok(Target {
            endpoint: Endpoint::parse(&audience).await?,
            authorization: Some(load::basic_authorization(
                &provisioned.client_id,
                &provisioned.client_secret,
            )?),
            scope: Some(scope),
            audience,
            introspect_url: Some(introspect_url(&base, &tenant)),
            jwks_url: Some(jwks_url(&base, &tenant)),
            client_id: Some(provisioned.client_id.clone()),
            grantor: Some(grantor),
            configured_alg: None,
            sign_in: None,
            backend: "attached".to_owned(),
            server: None,
            _deployment: None,
            _scratch: Some(scratch),
            attached: true,
        });
    }

    let plugin = match &cli.plugin {
        Some(path) => path.clone(),
        None => server::default_plugin_library()?,
    };
    let backend = match cli.database.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            "postgres"
        }
        _ => "sqlite",
    };
    let exchange_plugin = match (&cli.exchange_plugin, cli.mode) {
        (Some(path), _) => Some(path.clone()),
        (None, Mode::TokenExchange) => Some(server::default_exchange_plugin_library()?),
        (None, _) => None,
    };
    // The key type goes into the config only where it matters (or was asked for): JWT access
    // tokens or grants, or the ID tokens of the code exchange.
    let authorization_code = cli.mode == Mode::AuthorizationCode;
    let configured_alg = (cli.signing_alg.is_some() || cli.issues_jwts() || authorization_code)
        .then(|| cli.signing_alg());
    let deployment = Deployment::write(
        cli.connections,
        cli.database.as_deref(),
        &plugin,
        exchange_plugin.as_deref(),
        configured_alg,
        authorization_code.then_some(codes::CODE_LIFETIME_SECONDS),
    )?;
    let certificate = key.write_certificate(deployment.dir.path())?;
    let grantor_cli = GrantorCli::new(grantor.clone(), deployment.config.clone())?;
    eprintln!(
        "provisioning tenant {tenant} ({backend}, {} access tokens{}) ...",
        cli.token_format().name(),
        configured_alg
            .map(|alg| format!(", {} tenant key", alg.name()))
            .unwrap_or_default()
    );
    // authorization-code: a user and a client of the code flow (scope openid); the other modes:
    // a client of the token grants and the identity provider of the assertions.
    let (provisioned, scope, user) = if authorization_code {
        let provisioned = server::provision_sign_in(&grantor_cli, &tenant, cli.token_format())?;
        (
            provisioned.client,
            codes::SCOPE.to_owned(),
            Some((provisioned.username, provisioned.password)),
        )
    } else {
        let token_exchange = cli.mode == Mode::TokenExchange;
        let exchange = server::Exchange {
            grant: token_exchange,
            audience: (token_exchange && cli.requested_token_type() == RequestedTokenType::Jwt)
                .then_some(exchange::OTHER_DOMAIN),
        };
        let provisioned = server::provision(
            &grantor_cli,
            &tenant,
            &scope,
            cli.token_format(),
            exchange,
            (&cli.iss, &certificate),
            None,
        )?;
        (provisioned, scope, None)
    };
    let log_path: PathBuf = match &cli.server_log {
        Some(path) => path.clone(),
        None => deployment.dir.path().join("server.log"),
    };
    let server = ServerProcess::start(&grantor, &deployment.config, &log_path)?;
    if server.base_url != deployment.base_url {
        bail!(
            "the server listens on {}, not on the configured {}",
            server.base_url,
            deployment.base_url
        );
    }
    server::wait_for_health(&server.base_url)
        .await
        .with_context(|| format!("log: {}", server.log_tail()))?;
    eprintln!("grantor up at {}", server.base_url);
    let audience = token_url(&server.base_url, &tenant);
    let sign_in = user.map(|(username, password)| codes::Account {
        authorize_url: authorize_url(&server.base_url, &tenant),
        client_id: provisioned.client_id.clone(),
        username,
        password,
        // The tenant's issuer is its token endpoint URL.
        issuer: audience.clone(),
    });
    Ok(Target {
        endpoint: Endpoint::parse(&audience).await?,
        authorization: Some(load::basic_authorization(
            &provisioned.client_id,
            &provisioned.client_secret,
        )?),
        scope: Some(scope),
        audience,
        introspect_url: Some(introspect_url(&server.base_url, &tenant)),
        jwks_url: Some(jwks_url(&server.base_url, &tenant)),
        client_id: Some(provisioned.client_id.clone()),
        grantor: Some(grantor),
        configured_alg,
        sign_in,
        backend: backend.to_owned(),
        server: Some(server),
        _deployment: Some(deployment),
        _scratch: None,
        attached: false,
    })
}

fn token_url(base: &str, tenant: &str) -> String {
    format!("{base}/t/{tenant}/oauth2/token")
}

fn authorize_url(base: &str, tenant: &str) -> String {
    format!("{base}/t/{tenant}/oauth2/authorize")
}

fn introspect_url(base: &str, tenant: &str) -> String {
    format!("{base}/t/{tenant}/oauth2/introspect")
}

fn jwks_url(base: &str, tenant: &str) -> String {
    format!("{base}/t/{tenant}/oauth2/jwks")
}

/// What the token endpoint's answer must carry in this run: an ID token for the code exchange, a
/// JWT access token where the client takes them.
fn token_expect(cli: &Cli) -> Expect {
    if cli.mode == Mode::AuthorizationCode {
        return Expect::IdToken;
    }
    match cli.token_format() {
        TokenFormat::Jwt => Expect::JwtAccessToken,
        TokenFormat::Opaque => Expect::AccessToken,
    }
}

/// For the modes where the access token's format is the point (jwt-access-token, introspect):
/// the format, and for a JWT its `alg` (which must be the configured one on a server this run
/// started) and length.
fn describe_access_tokens(
    cli: &Cli,
    target: &Target,
    first: &[u8],
) -> anyhow::Result<Option<report::AccessTokens>> {
    if !matches!(
        cli.mode,
        Mode::JwtAccessToken | Mode::Introspect | Mode::Gateway | Mode::TokenExchange
    ) {
        return Ok(None);
    }
    let token = load::access_token(first).context("the first response has no access_token")?;
    let format = if cli.issues_jwts() {
        TokenFormat::Jwt
    } else {
        TokenFormat::Opaque
    };
    let alg = match format {
        TokenFormat::Jwt => load::jws_alg(&token),
        TokenFormat::Opaque => None,
    };
    if let (Some(configured), TokenFormat::Jwt) = (target.configured_alg, format) {
        if alg.as_deref() != Some(configured.name()) {
            bail!(
                "the server was configured with [oauth.signing] algorithm = {:?} but its access \
                 token's header says alg {alg:?}",
                configured.name()
            );
        }
    }
    // A token exchange's JWT is a grant for another domain, not an access token of this one.
    let exchanged_grant = cli.mode == Mode::TokenExchange && format == TokenFormat::Jwt;
    Ok(Some(report::AccessTokens {
        format: if exchanged_grant {
            "jwt authorization grant"
        } else {
            format.name()
        },
        alg,
        bytes: token.len(),
    }))
}

/// authorization-code: the ID token's `alg` (which must be the configured one) and length.
fn describe_id_tokens(
    cli: &Cli,
    target: &Target,
    first: &[u8],
) -> anyhow::Result<Option<report::IdTokens>> {
    if cli.mode != Mode::AuthorizationCode {
        return Ok(None);
    }
    let token = load::id_token(first).context("the first response has no id_token")?;
    let alg = load::jws_alg(&token);
    if let Some(configured) = target.configured_alg {
        if alg.as_deref() != Some(configured.name()) {
            bail!(
                "the server was configured with [oauth.signing] algorithm = {:?} but its ID \
                 token's header says alg {alg:?}",
                configured.name()
            );
        }
    }
    Ok(Some(report::IdTokens {
        alg,
        bytes: token.len(),
    }))
}

/// `count` access tokens by client_credentials, before the clock starts (introspection does not
/// spend them).
async fn obtain_access_tokens(
    target: &Target,
    count: usize,
    expect: Expect,
) -> anyhow::Result<Vec<String>> {
    let body = load::client_credentials_body(target.scope.as_deref());
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let (status, response) = load::send_once(
            &target.endpoint,
            Method::POST,
            target.authorization.as_ref(),
            Some(body.clone()),
        )
        .await?;
        let token = match load::check_response(expect, status, &response, false) {
            Verdict::Ok { .. } => load::access_token(&response),
            _ => None,
        };
        match token {
            Some(token) => tokens.push(token),
            None => bail!(
                "obtaining an access token to introspect failed: {}",
                load::error_sample(status, &response)
            ),
        }
    }
    Ok(tokens)
}

/// One introspection before the clock starts: the token must be active.
async fn check_introspection(
    endpoint: &Endpoint,
    target: &Target,
    body: &Bytes,
) -> anyhow::Result<()> {
    let body = String::from_utf8(body.to_vec()).context("an introspection body is not UTF-8")?;
    let (status, response) = load::send_once(
        endpoint,
        Method::POST,
        target.authorization.as_ref(),
        Some(body),
    )
    .await?;
    match load::check_response(Expect::Active, status, &response, false) {
        Verdict::Ok { .. } => Ok(()),
        _ => bail!(
            "introspecting a fresh access token at {} did not answer active: {}",
            endpoint.url,
            load::error_sample(status, &response)
        ),
    }
}

/// One token request of the run's kind (a fresh assertion each try, never one from the pool;
/// client_credentials for introspect; for the code exchange the code the sign-in redirected
/// with, which is never attached so never retried) until it succeeds; returns the response
/// body. An attached
/// server may answer 400/401 (or 404 for the new tenant) for up to its cache refresh interval
/// after provisioning; anything else, a refusal from a started server or a peer, or one still
/// there at the deadline, stops the run with the response.
async fn wait_until_accepted(
    cli: &Cli,
    target: &Target,
    key: &IdpKey,
    claims: &AssertionClaims,
    signed_in: Option<&codes::SignedIn>,
) -> anyhow::Result<Bytes> {
    let deadline = Instant::now() + VISIBILITY_DEADLINE;
    let mut retries = 0u32;
    loop {
        let body = match cli.mode {
            Mode::ClientCredentials | Mode::Introspect | Mode::Gateway => {
                load::client_credentials_body(target.scope.as_deref())
            }
            // token-exchange: the server takes the client's assertions; its subject tokens come
            // next.
            Mode::JwtBearer | Mode::RefreshToken | Mode::JwtAccessToken | Mode::TokenExchange => {
                load::jwt_bearer_body(&mint::mint_one(key, claims)?, target.scope.as_deref())
            }
            Mode::AuthorizationCode => codes::exchange_body(
                &signed_in
                    .context("--mode authorization-code: no sign-in")?
                    .first_code,
            ),
        };
        let (status, response) = load::send_once(
            &target.endpoint,
            Method::POST,
            target.authorization.as_ref(),
            Some(body),
        )
        .await?;
        let need_refresh = cli.mode == Mode::RefreshToken;
        match load::check_response(token_expect(cli), status, &response, need_refresh) {
            Verdict::Ok { .. } => {
                if retries > 0 {
                    eprintln!("accepted after {retries} retries");
                }
                return Ok(response);
            }
            _ if target.attached
                && matches!(status.as_u16(), 400 | 401 | 404)
                && Instant::now() < deadline =>
            {
                if retries == 0 {
                    eprintln!(
                        "the server does not see the new rows yet ({}); retrying ...",
                        status.as_u16()
                    );
                }
                retries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => bail!(
                "the first request to {} was refused: {}",
                target.endpoint.url,
                load::error_sample(status, &response)
            ),
        }
    }
}

/// One jwt-bearer exchange per connection before the clock starts; each chain begins with the
/// refresh token it returns.
async fn seed_refresh_chains(
    target: &Target,
    assertions: &[String],
    scope: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let mut chains = Vec::with_capacity(assertions.len());
    for assertion in assertions {
        let (status, body) = load::send_once(
            &target.endpoint,
            Method::POST,
            target.authorization.as_ref(),
            Some(load::jwt_bearer_body(assertion, scope)),
        )
        .await?;
        match load::check_token_response(status, &body, true) {
            Verdict::Ok {
                refresh_token: Some(token),
            } => chains.push(token),
            _ => bail!(
                "seeding a refresh chain failed: {}",
                load::error_sample(status, &body)
            ),
        }
    }
    Ok(chains)
}
