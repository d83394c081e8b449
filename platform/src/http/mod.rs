//! HTTP routes (warp). Handlers return replies, never domain rejections; the last route
//! (`not_routed`) answers what no route took (an unknown path, a wrong method) in JSON.

pub mod admin;
mod authorize;
mod browser;
pub mod console;
mod discovery;
mod end_session;
mod form;
mod health;
mod introspection;
mod jwks;
mod reply;
mod token;
mod userinfo;

use std::convert::Infallible;

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use crate::app::SharedApp;
use crate::oauth::wire::ErrorResponse;

pub fn routes(
    app: SharedApp,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let with_app = {
        let app = app.clone();
        warp::any().map(move || app.clone())
    };
    let raw_query = warp::query::raw().or(warp::any().map(String::new)).unify();

    // Path before method, so an unknown path is a 404 and not a 405.
    let form_post = {
        let with_app = with_app.clone();
        move |name: &'static str| {
            tenant_path("oauth2", name)
                .and(warp::post())
                .and(with_app.clone())
                .and(raw_query)
                .and(warp::header::headers_cloned())
                .and(
                    warp::ext::optional::<crate::connections::ClientAddr>()
                        .map(|addr: Option<crate::connections::ClientAddr>| addr.map(|a| a.0)),
                )
                .and(warp::body::stream())
        }
    };
    let token = form_post("token").then(|tenant, app, query, headers, remote, body| {
        token::token_endpoint(app, tenant, query, headers, remote, Box::pin(body))
    });
    let form_endpoint = |name: &'static str, operation: introspection::Operation| {
        form_post(name).then(move |tenant, app, query, headers, remote, body| {
            introspection::endpoint(
                operation,
                app,
                tenant,
                query,
                headers,
                remote,
                Box::pin(body),
            )
        })
    };
    let introspect = form_endpoint("introspect", introspection::Operation::Introspect);
    let revoke = form_endpoint("revoke", introspection::Operation::Revoke);

    let jwks = tenant_path("oauth2", "jwks")
        .and(get_or_head())
        .and(with_app.clone())
        .then(|tenant, app| jwks::jwks(app, tenant));

    let metadata = |document: discovery::Document, name: &'static str| {
        tenant_path(".well-known", name)
            .and(get_or_head())
            .and(with_app.clone())
            .then(move |tenant, app| discovery::metadata(document, app, tenant))
    };
    let oauth_metadata = metadata(
        discovery::Document::AuthorizationServer,
        "oauth-authorization-server",
    );
    let openid_metadata = metadata(discovery::Document::OpenIdProvider, "openid-configuration");
    // Where clients derive the documents from the issuer (`{base}/t/{tenant}/oauth2/token`).
    // OpenID Discovery 4: the issuer, then `/.well-known/openid-configuration`.
    let openid_at_issuer =
        warp::path!("t" / String / "oauth2" / "token" / ".well-known" / "openid-configuration")
            .and(get_or_head())
            .and(with_app.clone())
            .then(|tenant, app| {
                discovery::metadata(discovery::Document::OpenIdProvider, app, Some(tenant))
            });
    // RFC 8414 3.1 (and 5, for the OpenID document): the well-known path between the host and
    // the issuer's path.
    let before_issuer = |document: discovery::Document, name: &'static str| {
        warp::path(".well-known")
            .and(warp::path(name))
            .and(warp::path!("t" / String / "oauth2" / "token"))
            .and(get_or_head())
            .and(with_app.clone())
            .then(move |tenant, app| discovery::metadata(document, app, Some(tenant)))
    };
    let oauth_before_issuer = before_issuer(
        discovery::Document::AuthorizationServer,
        "oauth-authorization-server",
    );
    let openid_before_issuer =
        before_issuer(discovery::Document::OpenIdProvider, "openid-configuration");

    // The browser endpoints: GET, and POST with a form body.
    let remote = || {
        warp::ext::optional::<crate::connections::ClientAddr>()
            .map(|addr: Option<crate::connections::ClientAddr>| addr.map(|a| a.0))
    };
    let authorize_get = tenant_path("oauth2", "authorize")
        .and(warp::get())
        .and(with_app.clone())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(remote())
        .then(|tenant, app, query, headers, remote| {
            authorize::authorize(app, tenant, query, headers, remote, no_body())
        });
    let authorize_post = tenant_path("oauth2", "authorize")
        .and(warp::post())
        .and(with_app.clone())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(remote())
        .and(warp::body::stream())
        .then(|tenant, app, query, headers, remote, body| {
            authorize::authorize(app, tenant, query, headers, remote, Some(Box::pin(body)))
        });
    let userinfo_get = tenant_path("oauth2", "userinfo")
        .and(warp::get())
        .and(with_app.clone())
        .and(warp::header::headers_cloned())
        .then(|tenant, app, headers| userinfo::userinfo_endpoint(app, tenant, headers, no_body()));
    let userinfo_post = tenant_path("oauth2", "userinfo")
        .and(warp::post())
        .and(with_app.clone())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(|tenant, app, headers, body| {
            userinfo::userinfo_endpoint(app, tenant, headers, Some(Box::pin(body)))
        });
    let logout_get = tenant_path("oauth2", "logout")
        .and(warp::get())
        .and(with_app.clone())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .then(|tenant, app, query, headers| {
            end_session::logout_endpoint(app, tenant, query, headers, no_body())
        });
    let logout_post = tenant_path("oauth2", "logout")
        .and(warp::post())
        .and(with_app.clone())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(|tenant, app, query, headers, body| {
            end_session::logout_endpoint(app, tenant, query, headers, Some(Box::pin(body)))
        });

    let health = warp::path!("health")
        .and(get_or_head())
        .and(with_app)
        .then(health::health);

    token
        .or(introspect)
        .or(revoke)
        .or(jwks)
        .or(oauth_metadata)
        .or(openid_metadata)
        .or(openid_at_issuer)
        .or(oauth_before_issuer)
        .or(openid_before_issuer)
        .or(authorize_get)
        .or(authorize_post)
        .or(userinfo_get)
        .or(userinfo_post)
        .or(logout_get)
        .or(logout_post)
        .or(health)
        .or(not_routed())
}

/// The body of a GET: none.
fn no_body() -> Option<futures_util::stream::Empty<Result<bytes::Bytes, warp::Error>>> {
    None
}

/// GET, and HEAD for the same answer without its body (hyper leaves the body out).
fn get_or_head() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::get().or(warp::head()).unify()
}

/// What answers a request no route took: 405 with `Allow` (RFC 9110 15.5.6) for a path that
/// exists under another method, 404 for a path that is no endpoint. warp's own rejections of a
/// route that did match its path and method end here too, as a malformed request.
fn not_routed() -> impl Filter<Extract = (reply::HttpResponse,), Error = Infallible> + Clone {
    warp::path::full().and(warp::method()).map(
        |path: warp::path::FullPath, method: warp::http::Method| {
            let allowed = allowed_methods(path.as_str());
            let (status, error, description) = match allowed {
                None => (StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
                Some(allow) if !allow.split(", ").any(|m| m == method.as_str()) => (
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalid_request",
                    "method not allowed on this endpoint",
                ),
                Some(_) => (
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "malformed request",
                ),
            };
            let mut response = reply::json_response(
                status,
                &ErrorResponse {
                    error,
                    error_description: description,
                },
            );
            if let (StatusCode::METHOD_NOT_ALLOWED, Some(allow)) = (status, allowed) {
                response.headers_mut().insert(
                    warp::http::header::ALLOW,
                    warp::http::HeaderValue::from_static(allow),
                );
            }
            response
        },
    )
}

/// The methods `path` answers, as an `Allow` value; `None` for a path that is no endpoint. It
/// mirrors `routes` (the e2e tests send each route the methods it does not answer).
fn allowed_methods(path: &str) -> Option<&'static str> {
    const READ: Option<&str> = Some("GET, HEAD");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (tenant_named, below_tenant) = match segments.as_slice() {
        ["t", _, rest @ ..] => (true, rest),
        all => (false, all),
    };
    match below_tenant {
        ["oauth2", "token" | "introspect" | "revoke"] => Some("POST"),
        ["oauth2", "authorize" | "userinfo" | "logout"] => Some("GET, POST"),
        ["oauth2", "jwks"]
        | [".well-known", "oauth-authorization-server" | "openid-configuration"] => READ,
        ["oauth2", "token", ".well-known", "openid-configuration"] if tenant_named => READ,
        [".well-known", "oauth-authorization-server" | "openid-configuration", "t", _, "oauth2", "token"]
        | ["health"]
            if !tenant_named =>
        {
            READ
        }
        _ => None,
    }
}

/// `/{first}/{second}` (the default tenant) or `/t/{tenant}/{first}/{second}`: the tenant named,
/// if any.
fn tenant_path(
    first: &'static str,
    second: &'static str,
) -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone {
    let default_tenant = warp::path(first)
        .and(warp::path(second))
        .and(warp::path::end())
        .map(|| None::<String>);
    let tenant = warp::path("t")
        .and(warp::path::param::<String>())
        .and(warp::path(first))
        .and(warp::path(second))
        .and(warp::path::end())
        .map(Some);
    default_tenant.or(tenant).unify()
}

#[cfg(test)]
mod tests {
    use super::allowed_methods;

    #[test]
    fn every_endpoint_names_its_methods() {
        for (path, allow) in [
            ("/oauth2/token", Some("POST")),
            ("/t/acme/oauth2/revoke", Some("POST")),
            ("/oauth2/introspect/", Some("POST")),
            ("/oauth2/jwks", Some("GET, HEAD")),
            (
                "/t/acme/.well-known/openid-configuration",
                Some("GET, HEAD"),
            ),
            (
                "/t/acme/oauth2/token/.well-known/openid-configuration",
                Some("GET, HEAD"),
            ),
            ("/oauth2/token/.well-known/openid-configuration", None),
            (
                "/.well-known/oauth-authorization-server/t/acme/oauth2/token",
                Some("GET, HEAD"),
            ),
            (
                "/t/acme/.well-known/oauth-authorization-server/t/acme/oauth2/token",
                None,
            ),
            ("/health", Some("GET, HEAD")),
            ("/t/acme/health", None),
            ("/oauth2/authorize", Some("GET, POST")),
            ("/t/acme/oauth2/userinfo", Some("GET, POST")),
            ("/oauth2/logout", Some("GET, POST")),
            ("/oauth2/login", None),
            ("/", None),
        ] {
            assert_eq!(allowed_methods(path), allow, "{path}");
        }
    }
}
