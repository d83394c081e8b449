//! HTTP routes (warp). Handlers return replies, never domain rejections; the `recover` at the end
//! turns what warp itself rejects (unknown path, wrong method) into JSON.

pub mod admin;
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
        .and(warp::get())
        .and(with_app.clone())
        .then(|tenant, app| jwks::jwks(app, tenant));

    let metadata = |document: discovery::Document, name: &'static str| {
        tenant_path(".well-known", name)
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
