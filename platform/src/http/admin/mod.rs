//! The admin listener (`[admin] bind`): `GET /metrics`, `POST /api/server/v1/plugins/reload`
//! and the provisioning resources under `/api/server/v1/` (`resources`), all behind the admin
//! credentials, and the operators' console under `/console/` (`http::console`), which signs in
//! with them. The
//! listener does not start without credentials. They are a bearer token: its SHA-256 in
//! `admin.token_sha256`, or the token itself in the environment variable `admin.token_env`
//! names. The configuration never holds the token.

pub mod resources;
pub mod user_consents;

use warp::http::StatusCode;
use warp::{Filter, Reply};

use super::form::BodyError;
use crate::app::SharedApp;
use crate::config::AdminConfig;
use crate::plugin_host::PluginReloader;

/// The stored form of the admin token (as `secrets::hash_secret` writes it).
#[derive(Clone)]
pub struct AdminCredentials {
    token_hash: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminCredentials(..)")
    }
}

impl AdminCredentials {
    /// The configured credentials; an error says what to set.
    pub fn from_config(admin: &AdminConfig) -> Result<AdminCredentials, String> {
        match (&admin.token_sha256, &admin.token_env) {
            (Some(hex), None) => {
                let hex = hex.trim().trim_start_matches("sha256:").to_ascii_lowercase();
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(
                        "admin.token_sha256 must be 64 hex digits (printf %s TOKEN | sha256sum)"
                            .into(),
                    );
                }
                Ok(AdminCredentials {
                    token_hash: format!("sha256:{hex}"),
                })
            }
            (None, Some(variable)) => match std::env::var(variable) {
                Ok(token) if token.len() >= 16 => Ok(AdminCredentials {
                    token_hash: crate::secrets::hash_secret(&token),
                }),
                Ok(_) => Err(format!(
                    "admin.token_env: the token in {variable} must be at least 16 characters"
                )),
                Err(_) => Err(format!("admin.token_env: {variable} is not set")),
            },
            (Some(_), Some(_)) => Err("give admin.token_sha256 or admin.token_env, not both".into()),
            (None, None) => Err(
                "admin.bind is set but no admin credentials are: set admin.token_sha256 or admin.token_env"
                    .into(),
            ),
        }
    }

    fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && self.accepts_token(token)
    }

    /// Whether `token` is the admin token (the console's sign-in form posts it).
    pub fn accepts_token(&self, token: &str) -> bool {
        crate::secrets::verify_secret(token.trim(), &self.token_hash)
    }

    /// Names the admin token without revealing it (a digest of its stored digest): a console
    /// session keeps it, so that a new admin token ends the sessions the old one opened.
    pub fn fingerprint(&self) -> String {
        crate::secrets::hash_secret(&format!("console-credential\n{}", self.token_hash))
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> warp::reply::Response {
    let body = warp::reply::json(&serde_json::json!({ "code": code, "message": message }));
    let mut response = warp::reply::with_status(body, status).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            warp::http::header::WWW_AUTHENTICATE,
            warp::http::HeaderValue::from_static("Bearer realm=\"grantor-admin\""),
        );
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // RFC 9110 10.2.3: when to try again (a busy password hashing, a database out of reach).
        response.headers_mut().insert(
            warp::http::header::RETRY_AFTER,
            warp::http::HeaderValue::from_static("1"),
        );
    }
    response
}

/// What the admin listener serves besides `/metrics`: the server's state for the provisioning
/// resources, and what reloads its grant plugins.
#[derive(Clone)]
pub struct Served {
    pub app: SharedApp,
    pub plugins: PluginReloader,
    /// The console's templates (`/console/`).
    pub console_theme: std::sync::Arc<super::console::ConsoleTheme>,
    /// The console's OpenID sign-in (`[admin.console]`), when configured.
    pub console_openid: Option<std::sync::Arc<super::console::openid::OpenIdSignIn>>,
}

/// The admin resources for a request with the admin token; 401 without it, JSON 404 elsewhere.
pub fn routes(
    credentials: AdminCredentials,
    served: Option<Served>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
       + Clone
       + Send
       + Sync
       + 'static {
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::header::optional::<String>("authorization")
        .and(warp::path::full())
        .and(warp::method())
        .and(query)
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<crate::connections::ClientAddr>())
        .and(warp::body::stream())
        .then(
            move |authorization: Option<String>,
                  path: warp::path::FullPath,
                  method: warp::http::Method,
                  query: Option<String>,
                  length: Option<u64>,
                  headers: warp::http::HeaderMap,
                  peer: Option<crate::connections::ClientAddr>,
                  body| {
                let accepted = credentials.accepts(authorization.as_deref());
                let served = served.clone();
                // The client: behind a trusted proxy, the one it names (as the server's listener
                // does). The audit log and the console's sign-in limit name it.
                let client = match (peer, &served) {
                    (Some(peer), Some(served)) => Some(crate::client_network::client_address(
                        peer.0.ip(),
                        &headers,
                        &served.app.config.server.trusted_proxies,
                    )),
                    (peer, None) => peer.map(|p| p.0.ip()),
                    (None, Some(_)) => None,
                };
                let actor = crate::audit::Actor::api(client);
                let credentials = credentials.clone();
                async move {
                    // The console signs in with the admin token itself and keeps a session.
                    if let Some(below) = super::console::below_prefix(path.as_str()) {
                        let Some(served) = served else {
                            return error(StatusCode::NOT_FOUND, "not_found", "no console here");
                        };
                        let console = super::console::Console {
                            app: served.app,
                            plugins: served.plugins,
                            credentials,
                            theme: served.console_theme,
                            openid: served.console_openid,
                        };
                        return super::console::serve(
                            console,
                            method,
                            below,
                            query,
                            headers,
                            peer.map(|p| p.0),
                            client,
                            length,
                            body,
                        )
                        .await;
                    }
                    if !accepted {
                        return error(
                            StatusCode::UNAUTHORIZED,
                            "unauthorized",
                            "the admin API needs Authorization: Bearer <admin token>",
                        );
                    }
                    let path = match path.as_str() {
                        "/" => "/",
                        path => path.trim_end_matches('/'),
                    };
                    match (method, path, served) {
                        (warp::http::Method::GET, "/metrics", _) => warp::reply::with_header(
                            crate::metrics::metrics().render(),
                            "content-type",
                            "text/plain; version=0.0.4; charset=utf-8",
                        )
                        .into_response(),
                        (warp::http::Method::POST, PLUGINS_RELOAD, Some(served)) => {
                            reload_plugins(&served, actor).await
                        }
                        (_, PLUGINS_RELOAD, Some(_)) => error(
                            StatusCode::METHOD_NOT_ALLOWED,
                            "method_not_allowed",
                            "plugins/reload answers POST only",
                        ),
                        (method, path, Some(served)) if path.starts_with(resources::PREFIX) => {
                            let body = match super::form::read_bounded_body(
                                length,
                                body,
                                resources::MAX_BODY_BYTES,
                                std::time::Duration::from_millis(
                                    served.app.config.server.body_read_timeout_ms,
                                ),
                            )
                            .await
                            {
                                Ok(body) => body.freeze(),
                                Err(e @ BodyError::TooLarge { .. }) => {
                                    return error(
                                        StatusCode::PAYLOAD_TOO_LARGE,
                                        "body_too_large",
                                        &e.to_string(),
                                    )
                                }
                                Err(e @ BodyError::TooSlow { .. }) => {
                                    return error(
                                        StatusCode::REQUEST_TIMEOUT,
                                        "body_timeout",
                                        &e.to_string(),
                                    )
                                }
                                Err(e @ BodyError::Unreadable(_)) => {
                                    return error(
                                        StatusCode::BAD_REQUEST,
                                        "invalid_body",
                                        &e.to_string(),
                                    )
                                }
                            };
                            let below = &path[resources::PREFIX.len()..];
                            resources::handle(served.app, method, below, query, body, actor).await
                        }
                        _ => error(StatusCode::NOT_FOUND, "not_found", "no such admin resource"),
                    }
                }
            },
        )
}

/// Where `grantor plugins reload` asks a running server to reload its grant plugins.
pub const PLUGINS_RELOAD: &str = "/api/server/v1/plugins/reload";

/// 200 with what changed, recorded in the audit log; 409 when the reload is refused, since the
/// old plugins keep serving.
async fn reload_plugins(served: &Served, actor: crate::audit::Actor) -> warp::reply::Response {
    match served.plugins.reload().await {
        Ok(report) => {
            let change = crate::audit::Change {
                action: "plugins.reload",
                tenant: None,
                target: "grant plugins".to_owned(),
                detail: serde_json::to_value(&report).unwrap_or_default(),
            };
            let app = served.app.clone();
            let recorded = crate::blocking::OnBlockingThread::spawn(move |_| {
                crate::audit::record(&app.oauth.store, &actor, change, crate::clock::now_unix())
            })
            .await;
            match recorded {
                Ok(Ok(())) => warp::reply::json(&report).into_response(),
                Ok(Err(e)) => not_audited("plugins.reload", &e),
                Err(e) => not_audited("plugins.reload", &e),
            }
        }
        Err(e) => error(
            StatusCode::CONFLICT,
            "reload_refused",
            &format!("{e}\nthe grant plugins loaded before keep serving"),
        ),
    }
}

/// 500 for a change that was made but could not be recorded in the audit log: the caller must
/// know it happened; the detail goes to the server log.
fn not_audited(action: &str, e: &dyn std::fmt::Display) -> warp::reply::Response {
    tracing::error!("{action} was made but could not be recorded in the audit log: {e}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "not_audited",
        &format!(
            "{action} was made but could not be recorded in the audit log; see the server log"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(token_sha256: Option<&str>, token_env: Option<&str>) -> AdminConfig {
        AdminConfig {
            token_sha256: token_sha256.map(str::to_owned),
            token_env: token_env.map(str::to_owned),
            ..AdminConfig::default()
        }
    }

    #[test]
    fn credentials_are_required_and_checked() {
        assert!(AdminCredentials::from_config(&config(None, None))
            .unwrap_err()
            .contains("no admin credentials"));
        assert!(AdminCredentials::from_config(&config(Some("abc"), None)).is_err());
        let token = "correct-horse-battery-staple";
        let hex = crate::secrets::hash_secret(token)
            .trim_start_matches("sha256:")
            .to_owned();
        let credentials = AdminCredentials::from_config(&config(Some(&hex), None)).unwrap();
        assert!(credentials.accepts(Some(&format!("Bearer {token}"))));
        assert!(credentials.accepts(Some(&format!("bearer  {token} "))));
        assert!(!credentials.accepts(Some("Bearer correct-horse")));
        assert!(!credentials.accepts(Some(&format!("Basic {token}"))));
        assert!(!credentials.accepts(None));
        assert!(
            AdminCredentials::from_config(&config(None, Some("GRANTOR_TEST_UNSET_VARIABLE")))
                .unwrap_err()
                .contains("is not set")
        );
    }
}
