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
mod listener;
pub mod path;
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
use crate::keys::remote_jwks::JwksCache;
use crate::keys::signing::ReadySigner;
use answers::GatewayResponse;
pub use listener::bind;
use validation::{TokenLimits, TrustedIssuer, Validated};

pub struct Gateway {
    config: GatewayConfig,
    issuers: Vec<TrustedIssuer>,
    jwks: JwksCache,
    /// The issuers' keys, each parsed once.
    prepared_keys: grantor_jose::PreparedKeys,
    introspector: introspection::Introspector,
    /// The issuers' Rhai claim transformers (the same sandbox as the token server's).
    transformers: crate::claims::ClaimTransformers,
    /// Signs the `X-JWT-Assertion` for backends (who fetch its JWKS); see `signing_key`.
    signer: ReadySigner,
    signer_jwks: serde_json::Value,
    assertions: backend_claims::AssertionCache,
    /// The APIs' contexts, which a `..` in a request path may not climb out of.
    contexts: path::Contexts,
    /// Longest pause in a client's request body (`server.body_read_timeout_ms`).
    body_idle_timeout: Duration,
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
            prepared_keys: Default::default(),
            introspector: introspection::Introspector::new()
                .map_err(|e| anyhow::anyhow!("gateway introspection client: {e}"))?,
            transformers,
            signer,
            signer_jwks: serde_json::json!({ "keys": [key.public_jwk] }),
            assertions: backend_claims::AssertionCache::default(),
            contexts: path::Contexts::new(config.gateway.api.iter().map(|a| a.context.as_str())),
            body_idle_timeout: Duration::from_millis(config.server.body_read_timeout_ms),
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

/// Whether `issuer` has the shape of a Grantor tenant's issuer (`https://host/t/{tenant}/oauth2/token`,
/// on any host: a gateway run alone need not know the server's `public_base_url`), whose ID
/// tokens are signed with the keys of its access tokens.
fn is_tenant_issuer(issuer: &str) -> bool {
    let Ok(url) = url::Url::parse(issuer) else {
        return false;
    };
    let segments: Vec<&str> = url.path().split('/').skip(1).collect();
    matches!(segments.as_slice(), ["t", tenant, "oauth2", "token"] if !tenant.is_empty())
        && url.query().is_none()
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
            crate::keys::remote_jwks::check_jwks_uri(&jwks.url).map_err(|reason| {
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
            certificate_keys.push(Arc::new(grantor_jose::key::jwk_from_pem(&key.pem)?));
        }
        issuers.push(TrustedIssuer {
            config: issuer.clone(),
            certificate_keys,
            require_at_jwt: issuer
                .require_at_jwt
                .unwrap_or_else(|| is_tenant_issuer(&issuer.name)),
        });
    }
    for api in &gateway.api {
        // Requests are matched in normal form, so a context must be one to ever match.
        let normal = path::normalise(&api.context, &path::Contexts::default());
        if !normal
            .is_ok_and(|p| p.as_str().trim_end_matches('/') == api.context.trim_end_matches('/'))
            || api.context.contains(';')
        {
            anyhow::bail!(
                "gateway.api '{}': the context must be a path in normal form: starting with /, \
                 without dot segments, repeated slashes, ';' or percent-encoded unreserved characters",
                api.context
            );
        }
        let upstream = url::Url::parse(&api.upstream)
            .with_context(|| format!("gateway.api '{}': upstream", api.context))?;
        if let Some(introspection) = &api.introspection {
            crate::keys::remote_jwks::check_jwks_uri(&introspection.url).map_err(|reason| {
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
    peer: std::net::SocketAddr,
    request: Request<Incoming>,
) -> Result<GatewayResponse, std::convert::Infallible> {
    let (parts, body) = request.into_parts();
    // Everything below sees the path in normal form only: what is authorized is what is forwarded.
    let path = match path::normalise(parts.uri.path(), &gateway.contexts) {
        Ok(path) => path,
        Err(path::Unsafe(reason)) => return Ok(answers::bad_request(reason)),
    };
    let jwks_path = path.as_str().trim_end_matches('/') == "/.well-known/jwks.json";
    if (parts.method == Method::GET || parts.method == Method::HEAD) && jwks_path {
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
    Ok(handle(&gateway, &clients, peer, parts, &path, body).await)
}

async fn handle(
    gateway: &Arc<Gateway>,
    clients: &[forward::UpstreamClient],
    peer: std::net::SocketAddr,
    parts: warp::http::request::Parts,
    path: &path::NormalPath,
    body: Incoming,
) -> GatewayResponse {
    let warp::http::request::Parts {
        method,
        uri,
        headers,
        ..
    } = parts;
    let query = uri.query();
    let route = match routing::route(&gateway.config.api, method.as_str(), path) {
        Ok(route) => route,
        Err(routing::Unrouted::NoApi) => return answers::not_found("no API has this context"),
        Err(routing::Unrouted::NoResource) => {
            return answers::not_found("the API has no resource for this method and path")
        }
        Err(routing::Unrouted::MethodNotAllowed(allow)) => {
            return answers::method_not_allowed(&allow)
        }
    };
    let token = match bearer_token(&headers) {
        Ok(token) => token,
        Err(NoToken::Missing) => return answers::no_token(),
        Err(NoToken::Malformed(reason)) => return answers::malformed_credentials(reason),
    };
    // An API that introspects opaque tokens tells them from JWTs by their shape.
    let opaque_introspected = route
        .api
        .introspection
        .as_ref()
        .filter(|_| grantor_jose::compact::part_count(&token) != 3);
    let validated = if let Some(introspection) = opaque_introspected {
        let now = crate::clock::now_unix();
        match gateway.introspector.check(introspection, &token, now).await {
            Ok(validated) => validated,
            Err(refusal) => return answers::invalid_token(&refusal.0),
        }
    } else {
        // On this worker, once: a JWKS fetch, when the key is not cached, is awaited.
        let checked = match validate(gateway, &token).await {
            Ok(validated) => match transforming_issuer(gateway, &validated) {
                Some(index) => {
                    let gateway = gateway.clone();
                    tokio::task::spawn_blocking(move || {
                        transform(&gateway, &gateway.issuers[index], validated)
                    })
                    .await
                }
                None => Ok(Ok(validated)),
            },
            Err(refusal) => Ok(Err(refusal)),
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
    let host = headers.get(header::HOST).cloned();
    let mut outgoing_headers = headers;
    forward::strip_hop_by_hop(&mut outgoing_headers, &removed);
    forward::strip_underscored(&mut outgoing_headers);
    forward::set_forwarded_for(&mut outgoing_headers, peer, host);
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
        forward::Bounds {
            max_body_bytes: gateway.config.max_body_bytes,
            upstream_timeout: Duration::from_millis(gateway.config.upstream_timeout_ms),
            body_idle_timeout: gateway.body_idle_timeout,
        },
    )
    .await
}

enum Checked {
    Refused(validation::TokenRefusal),
    /// The issuer's transformer failed (an error, a limit): the gateway's fault, not the client's.
    TransformerFailed,
}

/// The token's validation: read, the key looked up at the issuer's JWKS endpoint when no
/// certificate has it (awaited: the cache's async form), verified.
async fn validate(gateway: &Gateway, token: &str) -> Result<Validated, Checked> {
    let limits = TokenLimits {
        max_token_bytes: gateway.config.max_token_bytes,
        clock_skew_seconds: gateway.config.clock_skew_seconds,
    };
    let unverified =
        validation::read(token, &gateway.issuers, &limits).map_err(Checked::Refused)?;
    let published = match unverified.jwks_lookup() {
        Some((uri, kid)) => Some(gateway.jwks.keys(uri, Some(kid)).await),
        None => None,
    };
    unverified
        .verify(
            published,
            &gateway.prepared_keys,
            &limits,
            crate::clock::now_unix(),
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
        .run(script, claims, &context, grantor_jose::VALIDATED_CLAIMS)
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
            Err(Checked::Refused(validation::TokenRefusal(format!(
                "refused by the issuer's claim transformer: {message}"
            ))))
        }
        Err(e) => {
            tracing::error!(issuer = %issuer.config.name, script = %script.display(), "gateway claim transformer: {e}");
            Err(Checked::TransformerFailed)
        }
    }
}

/// Why a request has no usable bearer token.
#[derive(Debug, PartialEq, Eq)]
enum NoToken {
    /// No credentials for this scheme (no `Authorization`, or another scheme): RFC 6750 3.1 says
    /// the challenge then carries no error code.
    Missing,
    /// Credentials that are malformed (two `Authorization` headers, an empty token): a 400.
    Malformed(&'static str),
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 2.1), and nothing else.
fn bearer_token(headers: &HeaderMap) -> Result<String, NoToken> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(NoToken::Missing)?;
    if values.next().is_some() {
        return Err(NoToken::Malformed("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| NoToken::Malformed("malformed Authorization header"))?
        .trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(NoToken::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(NoToken::Malformed("the Bearer credentials have no token"));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_credentials_missing_malformed_and_given() {
        let with = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            }
            bearer_token(&headers)
        };
        assert_eq!(with(&[]), Err(NoToken::Missing));
        assert_eq!(with(&["Basic dXNlcjpwYXNz"]), Err(NoToken::Missing));
        assert!(matches!(with(&["Bearer"]), Err(NoToken::Malformed(_))));
        assert!(matches!(with(&["Bearer   "]), Err(NoToken::Malformed(_))));
        assert!(matches!(
            with(&["Bearer a", "Bearer b"]),
            Err(NoToken::Malformed(_))
        ));
        assert_eq!(
            with(&["bearer  abc.def.ghi "]),
            Ok("abc.def.ghi".to_owned())
        );
    }

    #[test]
    fn tenant_issuers_are_recognised_on_any_host() {
        for issuer in [
            "https://id.example/t/acme/oauth2/token",
            "http://localhost:9443/t/carbon.super/oauth2/token",
        ] {
            assert!(is_tenant_issuer(issuer), "{issuer}");
        }
        for issuer in [
            "https://id.example/t//oauth2/token",
            "https://id.example/t/a/b/oauth2/token",
            "https://id.example/oauth2/token",
            "https://login.example.com/tenant/v2.0",
            "https://id.example/t/acme/oauth2/token?x=1",
            "not a url",
        ] {
            assert!(!is_tenant_issuer(issuer), "{issuer}");
        }
    }
}
