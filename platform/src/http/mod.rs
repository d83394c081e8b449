//! HTTP routes (warp). Handlers return replies, never domain rejections; the `recover` at the end
//! turns what warp itself rejects (unknown path, wrong method) into JSON.

mod discovery;
mod form;
mod health;
mod introspection;
mod jwks;
mod reply;
mod token;

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

    let default_tenant_token = warp::path!("oauth2" / "token").map(|| None::<String>);
    let tenant_token = warp::path!("t" / String / "oauth2" / "token").map(Some);
    // Path before method, so an unknown path is a 404 and not a 405.
    let token = default_tenant_token
        .or(tenant_token)
        .unify()
        .and(warp::post())
        .and(with_app.clone())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::body::stream())
        .then(|tenant, app, query, headers, remote, body| {
            token::token_endpoint(app, tenant, query, headers, remote, Box::pin(body))
        });

    let form_endpoint = |name: &'static str, operation: introspection::Operation| {
        let default_tenant = warp::path("oauth2")
            .and(warp::path(name))
            .and(warp::path::end())
            .map(|| None::<String>);
        let tenant = warp::path("t")
            .and(warp::path::param::<String>())
            .and(warp::path("oauth2"))
            .and(warp::path(name))
            .and(warp::path::end())
            .map(Some);
        default_tenant
            .or(tenant)
            .unify()
            .and(warp::post())
            .and(with_app.clone())
            .and(raw_query)
            .and(warp::header::headers_cloned())
            .and(warp::addr::remote())
            .and(warp::body::stream())
            .then(move |tenant, app, query, headers, remote, body| {
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

    let default_tenant_jwks = warp::path!("oauth2" / "jwks").map(|| None::<String>);
    let tenant_jwks = warp::path!("t" / String / "oauth2" / "jwks").map(Some);
    let jwks = default_tenant_jwks
        .or(tenant_jwks)
        .unify()
        .and(warp::get())
        .and(with_app.clone())
        .then(|tenant, app| jwks::jwks(app, tenant));

    let metadata = |document: discovery::Document, name: &'static str| {
        let default_tenant = warp::path(".well-known")
            .and(warp::path(name))
            .and(warp::path::end())
            .map(|| None::<String>);
        let tenant = warp::path("t")
            .and(warp::path::param::<String>())
            .and(warp::path(".well-known"))
            .and(warp::path(name))
            .and(warp::path::end())
            .map(Some);
        default_tenant
            .or(tenant)
            .unify()
            .and(warp::get())
            .and(with_app.clone())
            .then(move |tenant, app| discovery::metadata(document, app, tenant))
    };
    let oauth_metadata = metadata(
        discovery::Document::AuthorizationServer,
        "oauth-authorization-server",
    );
    let openid_metadata = metadata(discovery::Document::OpenIdProvider, "openid-configuration");
    // Where OpenID clients derive it from the issuer (`.../oauth2/token`).
    let openid_at_issuer =
        warp::path!("t" / String / "oauth2" / "token" / ".well-known" / "openid-configuration")
            .and(warp::get())
            .and(with_app.clone())
            .then(|tenant, app| {
                discovery::metadata(discovery::Document::OpenIdProvider, app, Some(tenant))
            });

    let health = warp::path!("health")
        .and(warp::get())
        .and(with_app)
        .then(health::health);

    token
        .or(introspect)
        .or(revoke)
        .or(jwks)
        .or(oauth_metadata)
        .or(openid_metadata)
        .or(openid_at_issuer)
        .or(health)
        .recover(recover_rejection)
}

async fn recover_rejection(rejection: Rejection) -> Result<reply::HttpResponse, Infallible> {
    let (status, error, description) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "method not allowed on this endpoint",
        )
    } else {
        tracing::debug!("unhandled rejection: {rejection:?}");
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "malformed request",
        )
    };
    Ok(reply::json_response(
        status,
        &ErrorResponse {
            error,
            error_description: description,
        },
    ))
}
