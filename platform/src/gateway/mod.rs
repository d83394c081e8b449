//! The API gateway (reference 003): validates signed JWT access tokens by itself, from Grantor's
//! tenants and external issuers alike (each trusted by its JWKS URL or certificates, no shortcut
//! for Grantor's own), maps their claims per issuer, checks the matched resource's scopes, and
//! forwards the call to the API's upstream with the claims attached.
//!
//! It needs no database: `grantor gateway` runs it alone, from `[gateway]` in the configuration.

pub mod answers;
pub mod backend_claims;
pub mod forward;
pub mod introspection;
pub mod routing;
pub mod signing_key;
pub mod validation;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::body::Incoming;
use warp::http::{header, HeaderMap, HeaderValue, Method, Request, Response};

use crate::config::{Config, GatewayConfig};
use crate::keys::jwks::{JwksCache, KeyLookup};
use crate::keys::signing::ReadySigner;
use answers::GatewayResponse;
use validation::{JwksKeys, Limits, TrustedIssuer, Validated};

pub struct Gateway {
    config: GatewayConfig,
    issuers: Vec<TrustedIssuer>,
    jwks: JwksCache,
    /// The issuers' keys, each parsed once.
    verification_keys: crate::keys::verifying::VerificationKeys,
    introspector: introspection::Introspector,
    /// The issuers' Rhai claim transformers (the same sandbox as the token server's).
    transformers: crate::claims::ClaimTransformers,
    /// Signs the `X-JWT-Assertion` for backends (who fetch its JWKS); see `signing_key`.
    signer: ReadySigner,
    signer_jwks: serde_json::Value,
    assertions: backend_claims::AssertionCache,
}

impl JwksKeys for JwksCache {
    fn keys(&self, uri: &str, kid: Option<&str>) -> Result<KeyLookup, String> {
        JwksCache::keys(self, uri, kid).map_err(|e| e.to_string())
    }
}

/// The JWKS cache without fetching: what the async worker may use. A lookup it cannot answer is
/// remembered, and the validation runs again on the blocking pool, where fetching may wait.
struct CachedOnly<'a> {
    cache: &'a JwksCache,
    missed: std::cell::Cell<bool>,
}

impl JwksKeys for CachedOnly<'_> {
    fn keys(&self, uri: &str, kid: Option<&str>) -> Result<KeyLookup, String> {
        self.cache.cached_keys(uri, kid).ok_or_else(|| {
            self.missed.set(true);
            "not cached".to_owned()
        })
    }
}

impl Gateway {
    /// Reads the trusted issuers' certificates and checks the configuration; any problem stops
    /// the start with a message naming the issuer or API.
    pub fn new(config: &Config) -> anyhow::Result<Gateway> {
        let (issuers, transformers) = checked(config)?;
        let kek = crate::keys::encryption_key::KeyEncryptionKey::load_or_create(config)?;
        let key = signing_key::load_or_create(&signing_key::configured_path(config), &kek)
            .context("gateway.signing_key_file")?;
        let signer = ReadySigner::from_pem(&key.kid, key.algorithm.name(), &key.private_pem)?;
        Ok(Gateway {
            config: config.gateway.clone(),
            issuers,
            jwks: JwksCache::new(config.oauth.jwks_endpoint.clone())
                .map_err(|e| anyhow::anyhow!("gateway JWKS cache: {e}"))?,
            verification_keys: Default::default(),
            introspector: introspection::Introspector::new()
                .map_err(|e| anyhow::anyhow!("gateway introspection client: {e}"))?,
            transformers,
            signer,
            signer_jwks: serde_json::json!({ "keys": [key.public_jwk] }),
            assertions: backend_claims::AssertionCache::default(),
        })
    }

    /// What `new` checks, without starting anything or making the signing key (`grantor check`):
    /// a summary line on success.
    pub fn check(config: &Config) -> anyhow::Result<String> {
        let (issuers, _) = checked(config)?;
        let key_file = signing_key::configured_path(config);
        let kek = crate::keys::encryption_key::KeyEncryptionKey::existing(config)?;
        let key = match signing_key::existing(&key_file, kek.as_ref())
            .context("gateway.signing_key_file")?
        {
            Some(found) => format!(
                "signing key {} ({}{})",
                found.key.kid,
                found.key.algorithm.name(),
                if found.in_the_clear {
                    ", in the clear: sealed at the next start"
                } else {
                    ", sealed"
                }
            ),
            None => format!("signing key made on first start in {}", key_file.display()),
        };
        Ok(format!(
            "{} APIs, {} trusted issuers, {key}",
            config.gateway.api.len(),
            issuers.len()
        ))
    }
}

/// The trusted issuers (certificates read) and the transformers (scripts compiled), after every
/// check of `[gateway]`; any problem is an error naming the issuer or API.
fn checked(
    config: &Config,
) -> anyhow::Result<(Vec<TrustedIssuer>, crate::claims::ClaimTransformers)> {
    let gateway = &config.gateway;
    let mut issuers = Vec::new();
    for issuer in &gateway.jwt_issuer {
        if issuer.jwks.is_none() && issuer.certificates.is_empty() {
            anyhow::bail!(
                "gateway.jwt_issuer '{}': give jwks.url or certificates",
                issuer.name
            );
        }
        if let Some(jwks) = &issuer.jwks {
            crate::keys::jwks::check_jwks_uri(&jwks.url).map_err(|reason| {
                anyhow::anyhow!("gateway.jwt_issuer '{}': jwks.url: {reason}", issuer.name)
            })?;
        }
        let mut certificate_keys = Vec::new();
        for path in &issuer.certificates {
            let bytes = std::fs::read(path).with_context(|| {
                format!(
                    "gateway.jwt_issuer '{}': cannot read {}",
                    issuer.name,
                    path.display()
                )
            })?;
            let key = crate::keys::certificates::normalise_verification_key(&bytes).with_context(
                || format!("gateway.jwt_issuer '{}': {}", issuer.name, path.display()),
            )?;
            certificate_keys.push(Arc::new(crate::keys::jwk::jwk_from_pem(&key.pem)?));
        }
        issuers.push(TrustedIssuer {
            config: issuer.clone(),
            certificate_keys,
        });
    }
    for api in &gateway.api {
        if !api.context.starts_with('/') {
            anyhow::bail!(
                "gateway.api '{}': the context must start with /",
                api.context
            );
        }
        let upstream = url::Url::parse(&api.upstream)
            .with_context(|| format!("gateway.api '{}': upstream", api.context))?;
        if let Some(introspection) = &api.introspection {
            crate::keys::jwks::check_jwks_uri(&introspection.url).map_err(|reason| {
                anyhow::anyhow!("gateway.api '{}': introspection.url: {reason}", api.context)
            })?;
            if introspection.secret().is_none_or(|s| s.is_empty()) {
                anyhow::bail!(
                        "gateway.api '{}': introspection needs client_secret or client_secret_env (set)",
                        api.context
                    );
            }
        }
        if upstream.scheme() != "http" && upstream.scheme() != "https" {
            anyhow::bail!(
                "gateway.api '{}': upstream must be an http:// or https:// URL",
                api.context
            );
        }
        // Each worker makes its own; this one shows a bad CA file at start.
        forward::client(api).with_context(|| format!("gateway.api '{}'", api.context))?;
    }
    let transformers = crate::claims::ClaimTransformers::new(&config.claim_transformer);
    for issuer in &gateway.jwt_issuer {
        if let Some(script) = &issuer.transformer {
            transformers.check(script).map_err(|e| {
                anyhow::anyhow!("gateway.jwt_issuer '{}': transformer: {e}", issuer.name)
            })?;
        }
    }
    Ok((issuers, transformers))
}

/// Answers one request: the gateway's own JWKS, or a call to an API, forwarded through that
/// API's client in `clients` (each worker has its own: see `workers`). Served by hyper directly:
/// the request's parts are taken, not copied.
pub async fn serve_request(
    gateway: Arc<Gateway>,
    clients: Arc<[forward::UpstreamClient]>,
    request: Request<Incoming>,
) -> Result<GatewayResponse, std::convert::Infallible> {
    let (parts, body) = request.into_parts();
    let jwks_path = parts.uri.path().trim_end_matches('/') == "/.well-known/jwks.json";
    if parts.method == Method::GET && jwks_path {
        let mut response = Response::new(answers::full(gateway.signer_jwks.to_string()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        return Ok(response);
    }
    Ok(handle(&gateway, &clients, parts, body).await)
}

async fn handle(
    gateway: &Arc<Gateway>,
    clients: &[forward::UpstreamClient],
    parts: warp::http::request::Parts,
    body: Incoming,
) -> GatewayResponse {
    let warp::http::request::Parts {
        method,
        uri,
        headers,
        ..
    } = parts;
    let path = uri.path();
    let query = uri.query();
    let route = match routing::route(&gateway.config.api, method.as_str(), path) {
        Ok(route) => route,
        Err(routing::Unrouted::NoApi) => return answers::not_found("no API has this context"),
        Err(routing::Unrouted::NoResource) => {
            return answers::not_found("the API has no resource for this method and path")
        }
    };
    let token = match bearer_token(&headers) {
        Ok(token) => token,
        Err(reason) => return answers::invalid_token(reason),
    };
    let opaque = token.split('.').count() != 3;
    let validated = if let (true, Some(introspection)) = (opaque, &route.api.introspection) {
        let now = crate::clock::now_unix();
        match gateway.introspector.check(introspection, &token, now).await {
            Ok(validated) => validated,
            Err(refusal) => return answers::invalid_token(&refusal.0),
        }
    } else {
        // On this worker when the keys are cached (one signature verification: no hand-off to
        // another thread); on the blocking pool when they must be fetched.
        let cached_only = CachedOnly {
            cache: &gateway.jwks,
            missed: std::cell::Cell::new(false),
        };
        let inline = validate(gateway, &token, &cached_only);
        let checked = if cached_only.missed.get() {
            let gateway = gateway.clone();
            let token = token.clone();
            tokio::task::spawn_blocking(move || validate(&gateway, &token, &gateway.jwks)).await
        } else {
            Ok(inline)
        };
        let checked = match checked {
            Ok(Ok(validated)) => match transforming_issuer(gateway, &validated) {
                Some(index) => {
                    let gateway = gateway.clone();
                    tokio::task::spawn_blocking(move || {
                        transform(&gateway, &gateway.issuers[index], validated)
                    })
                    .await
                }
                None => Ok(Ok(validated)),
            },
            other => other,
        };
        match checked {
            Ok(Ok(validated)) => validated,
            Ok(Err(Checked::Refused(refusal))) => return answers::invalid_token(&refusal.0),
            Ok(Err(Checked::TransformerFailed)) => return answers::internal_error(),
            Err(e) => {
                tracing::error!("gateway validation task: {e}");
                return answers::bad_gateway();
            }
        }
    };
    let required = &route.resource.scopes;
    if required.iter().any(|s| !validated.scopes.contains(s)) {
        return answers::insufficient_scope(required);
    }
    let mut removed = vec![header::HOST];
    if !route.api.keep_authorization {
        removed.push(header::AUTHORIZATION);
    }
    let mut outgoing_headers = headers;
    forward::strip_hop_by_hop(&mut outgoing_headers, &removed);
    let backend = backend_claims::BackendSigner {
        signer: &gateway.signer,
        cache: &gateway.assertions,
        token: &token,
    };
    if let Err(e) = backend_claims::attach(
        &mut outgoing_headers,
        gateway.config.backend_claims,
        &validated,
        &backend,
        crate::clock::now_unix(),
    ) {
        tracing::error!("backend claims: {e}");
        return answers::bad_gateway();
    }
    let uri = format!(
        "{}{}{}",
        route.api.upstream.trim_end_matches('/'),
        route.rest,
        query.map(|q| format!("?{q}")).unwrap_or_default()
    );
    forward::forward(
        &clients[route.index],
        forward::Outgoing {
            method,
            uri,
            headers: outgoing_headers,
        },
        body,
        gateway.config.max_body_bytes,
        Duration::from_millis(gateway.config.upstream_timeout_ms),
    )
    .await
}

enum Checked {
    Refused(validation::Refusal),
    /// The issuer's transformer failed (an error, a limit): the gateway's fault, not the client's.
    TransformerFailed,
}

/// Claims the token's signature and the validation vouch for: a transformer cannot change them.
const VALIDATED_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat"];

/// The token's validation, with keys from `jwks`.
fn validate(gateway: &Gateway, token: &str, jwks: &dyn JwksKeys) -> Result<Validated, Checked> {
    validation::validate(
        token,
        &gateway.issuers,
        jwks,
        &gateway.verification_keys,
        &Limits {
            max_token_bytes: gateway.config.max_token_bytes,
            clock_skew_seconds: gateway.config.clock_skew_seconds,
        },
    )
    .map_err(Checked::Refused)
}

/// The index of the issuer `validated` came from, when that issuer has a transformer.
fn transforming_issuer(gateway: &Gateway, validated: &Validated) -> Option<usize> {
    gateway
        .issuers
        .iter()
        .position(|i| i.config.name == validated.issuer && i.config.transformer.is_some())
}

/// Runs `issuer`'s transformer on the validated claims (a Rhai script: on a blocking thread).
fn transform(
    gateway: &Gateway,
    issuer: &TrustedIssuer,
    mut validated: Validated,
) -> Result<Validated, Checked> {
    let Some(script) = &issuer.config.transformer else {
        return Ok(validated);
    };
    let context = crate::claims::TransformContext {
        tenant: String::new(),
        provider: crate::claims::ProviderContext {
            name: issuer.config.name.clone(),
            issuer: issuer.config.name.clone(),
        },
        client: crate::claims::ClientContext {
            client_id: validated
                .claims
                .get("client_id")
                .and_then(|c| c.as_str())
                .unwrap_or_default()
                .to_owned(),
            name: String::new(),
        },
        requested_scopes: validated.scopes.clone(),
    };
    let claims = std::mem::take(&mut validated.claims);
    match gateway
        .transformers
        .run(script, claims, &context, VALIDATED_CLAIMS)
    {
        Ok(crate::claims::Transformed::Accepted {
            claims,
            subject,
            scopes,
        }) => {
            validated.claims = claims;
            if let Some(subject) = subject {
                validated.subject = subject;
            }
            if let Some(scopes) = scopes {
                validated.scopes = scopes;
            }
            Ok(validated)
        }
        Ok(crate::claims::Transformed::Rejected(message)) => {
            Err(Checked::Refused(validation::Refusal(format!(
                "refused by the issuer's claim transformer: {message}"
            ))))
        }
        Err(e) => {
            tracing::error!(issuer = %issuer.config.name, script = %script.display(), "gateway claim transformer: {e}");
            Err(Checked::TransformerFailed)
        }
    }
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 2.1), and nothing else.
fn bearer_token(headers: &HeaderMap) -> Result<String, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or("no bearer token")?;
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value
        .to_str()
        .map_err(|_| "malformed Authorization header")?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or("malformed Authorization header")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("the Authorization scheme must be Bearer");
    }
    let token = token.trim();
    if token.is_empty() {
        return Err("no bearer token");
    }
    Ok(token.to_owned())
}
