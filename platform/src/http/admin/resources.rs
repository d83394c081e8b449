//! The admin REST API under `/api/server/v1/` (WSO2's prefix): tenants, applications (OAuth
//! clients), identity providers, users and their consents, and signing keys, with the validation
//! the command line applies (both call `provisioning`, or `user_consents` for consents), and the
//! audit log those changes are recorded in (`audit`: newest first, paged by `before`). JSON in
//! and out; lists are paged (`limit`, `offset`); errors are `{"code", "message"}` with a 4xx for
//! the caller's mistakes. The OpenAPI document (`openapi.json` beside this file) is served at
//! `/api/server/v1/openapi.json`.

use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use warp::http::{Method, StatusCode};
use warp::Reply;

use super::error;
use crate::app::SharedApp;
use crate::audit::Actor;
use crate::blocking::OnBlockingThread;
use crate::oauth::context::OAuthContext;
use crate::provisioning::{self, ProvisioningError};
use crate::store::{AuditFilter, StoreError, MAX_AUDIT_PAGE};

/// Where the resources live.
pub const PREFIX: &str = "/api/server/v1/";

/// The OpenAPI document of this API, kept in the repository beside this file.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Largest request body: room for a few certificates.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// An admin resource, from the path below `PREFIX` (segments percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    OpenApi,
    Tenants,
    Tenant(String),
    /// `tenants/{t}/applications`: the path keeps WSO2's name for OAuth clients.
    Clients(String),
    Client(String, String),
    IdentityProviders(String),
    IdentityProvider(String, String),
    Users(String),
    User(String, String),
    /// `tenants/{t}/users/{u}/consents`: what the user granted clients (`user_consents`).
    UserConsents(String, String),
    /// `tenants/{t}/users/{u}/consents/{c}`: what the user granted one client.
    UserConsent(String, String, String),
    Keys(String),
    KeyRotation(String),
    /// `audit`: the audit log, newest first (`?tenant=&limit=&before=`).
    Audit,
}

impl Resource {
    pub fn parse(path: &str) -> Option<Resource> {
        let segments: Vec<String> = path
            .trim_end_matches('/')
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let owned = |v: &str| v.to_owned();
        Some(match s.as_slice() {
            ["openapi.json"] => Resource::OpenApi,
            ["audit"] => Resource::Audit,
            ["tenants"] => Resource::Tenants,
            ["tenants", t] => Resource::Tenant(owned(t)),
            ["tenants", t, "applications"] => Resource::Clients(owned(t)),
            ["tenants", t, "applications", c] => Resource::Client(owned(t), owned(c)),
            ["tenants", t, "identity-providers"] => Resource::IdentityProviders(owned(t)),
            ["tenants", t, "identity-providers", n] => {
                Resource::IdentityProvider(owned(t), owned(n))
            }
            ["tenants", t, "users"] => Resource::Users(owned(t)),
            ["tenants", t, "users", u] => Resource::User(owned(t), owned(u)),
            ["tenants", t, "users", u, "consents"] => Resource::UserConsents(owned(t), owned(u)),
            ["tenants", t, "users", u, "consents", c] => {
                Resource::UserConsent(owned(t), owned(u), owned(c))
            }
            ["tenants", t, "keys"] => Resource::Keys(owned(t)),
            ["tenants", t, "keys", "rotate"] => Resource::KeyRotation(owned(t)),
            _ => return None,
        })
        .filter(|r| !r.names().iter().any(|n| n.is_empty()))
    }

    /// The names in the path (none may be empty).
    fn names(&self) -> Vec<&str> {
        match self {
            Resource::OpenApi | Resource::Tenants | Resource::Audit => vec![],
            Resource::Tenant(t)
            | Resource::Clients(t)
            | Resource::IdentityProviders(t)
            | Resource::Users(t)
            | Resource::Keys(t)
            | Resource::KeyRotation(t) => vec![t],
            Resource::Client(t, n)
            | Resource::IdentityProvider(t, n)
            | Resource::User(t, n)
            | Resource::UserConsents(t, n) => vec![t, n],
            Resource::UserConsent(t, u, c) => vec![t, u, c],
        }
    }

    /// The methods this resource answers.
    pub fn methods(&self) -> &'static [Method] {
        match self {
            Resource::OpenApi
            | Resource::Keys(_)
            | Resource::UserConsents(_, _)
            | Resource::Audit => &[Method::GET],
            Resource::Tenants
            | Resource::Clients(_)
            | Resource::IdentityProviders(_)
            | Resource::Users(_) => &[Method::GET, Method::POST],
            Resource::Tenant(_) | Resource::IdentityProvider(_, _) => {
                &[Method::GET, Method::PATCH, Method::DELETE]
            }
            Resource::Client(_, _) => &[Method::GET, Method::DELETE],
            Resource::User(_, _) | Resource::UserConsent(_, _, _) => &[Method::DELETE],
            Resource::KeyRotation(_) => &[Method::POST],
        }
    }
}

/// An answer: status and JSON body (none for 204).
type Answer = Result<(StatusCode, Option<Value>), AdminRefusal>;

/// A refused request: `{"code", "message"}`, and the field for an invalid one.
#[derive(Debug)]
struct AdminRefusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
}

impl AdminRefusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AdminRefusal {
        AdminRefusal {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    fn into_response(self) -> warp::reply::Response {
        match self.field {
            None => error(self.status, self.code, &self.message),
            Some(field) => warp::reply::with_status(
                warp::reply::json(
                    &json!({ "code": self.code, "message": self.message, "field": field }),
                ),
                self.status,
            )
            .into_response(),
        }
    }
}

/// Answers one request below `PREFIX` (already authorised); `actor` is who the audit log names
/// for a change.
pub async fn handle(
    app: SharedApp,
    method: Method,
    path: &str,
    query: Option<String>,
    body: bytes::Bytes,
    actor: Actor,
) -> warp::reply::Response {
    let Some(resource) = Resource::parse(path) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such admin resource");
    };
    if !resource.methods().contains(&method) {
        let allowed: Vec<&str> = resource.methods().iter().map(Method::as_str).collect();
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!(
                "{method} is not allowed here; allowed: {}",
                allowed.join(", ")
            ),
        );
        if let Ok(value) = warp::http::HeaderValue::from_str(&allowed.join(", ")) {
            response
                .headers_mut()
                .insert(warp::http::header::ALLOW, value);
        }
        return response;
    }
    if resource == Resource::OpenApi {
        return warp::reply::with_header(OPENAPI, "content-type", "application/json")
            .into_response();
    }
    let answer = OnBlockingThread::spawn(move |on| {
        answer(
            &app.oauth,
            on,
            &method,
            resource,
            query.as_deref(),
            &body,
            &actor,
        )
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!("admin request failed: {e}");
        Err(AdminRefusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the request failed; see the server log",
        ))
    });
    match answer {
        Ok((status, None)) => status.into_response(),
        Ok((status, Some(body))) => {
            warp::reply::with_status(warp::reply::json(&body), status).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

fn answer(
    app: &OAuthContext,
    on: OnBlockingThread,
    method: &Method,
    resource: Resource,
    query: Option<&str>,
    body: &[u8],
    actor: &Actor,
) -> Answer {
    use provisioning::{clients, identity_providers as idps, keys, tenants, users};
    let now = crate::clock::now_unix();
    let created = |value: Value| Ok((StatusCode::CREATED, Some(value)));
    let ok = |value: Value| Ok((StatusCode::OK, Some(value)));
    match (method.clone(), resource) {
        (Method::GET, Resource::Tenants) => page(query, app.store.list_tenants().map_err(store)?),
        (Method::POST, Resource::Tenants) => created(to_json(
            tenants::add(app, parse(body)?, now, actor).map_err(refused)?,
        )),
        (Method::GET, Resource::Tenant(t)) => ok(to_json(tenants::find(app, &t).map_err(refused)?)),
        (Method::PATCH, Resource::Tenant(t)) => ok(to_json(
            tenants::update(app, &t, parse(body)?, actor).map_err(refused)?,
        )),
        (Method::DELETE, Resource::Tenant(t)) => {
            tenants::remove(app, &t, actor).map_err(refused)?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (Method::GET, Resource::Clients(t)) => {
            page(query, clients::list(app, &t).map_err(refused)?)
        }
        (Method::POST, Resource::Clients(t)) => {
            let registered =
                clients::add(app, &t, parse(body)?, Vec::new(), now, actor).map_err(refused)?;
            let mut value = to_json(&registered.client);
            if let Some(secret) = registered.client_secret {
                value["client_secret"] = Value::String(secret);
            }
            value["warnings"] = json!(registered.warnings);
            created(value)
        }
        (Method::GET, Resource::Client(t, id)) => {
            ok(to_json(clients::find(app, &t, &id).map_err(refused)?))
        }
        (Method::DELETE, Resource::Client(t, id)) => {
            clients::remove(app, &t, &id, actor).map_err(refused)?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (Method::GET, Resource::IdentityProviders(t)) => {
            page(query, idps::list(app, &t).map_err(refused)?)
        }
        (Method::POST, Resource::IdentityProviders(t)) => created(to_json(
            idps::add(app, &t, parse(body)?, Vec::new(), now, actor).map_err(refused)?,
        )),
        (Method::GET, Resource::IdentityProvider(t, n)) => {
            ok(to_json(idps::find(app, &t, &n).map_err(refused)?))
        }
        (Method::PATCH, Resource::IdentityProvider(t, n)) => {
            let (idp, revoked) =
                idps::update(app, &t, &n, parse(body)?, Vec::new(), now, actor).map_err(refused)?;
            let mut value = to_json(idp);
            value["refresh_token_families_revoked"] = json!(revoked);
            ok(value)
        }
        (Method::DELETE, Resource::IdentityProvider(t, n)) => {
            let revoked = idps::remove(app, &t, &n, now, actor).map_err(refused)?;
            ok(json!({ "refresh_token_families_revoked": revoked }))
        }
        (Method::GET, Resource::Users(t)) => page(
            query,
            users::list(app, &t)
                .map_err(refused)?
                .iter()
                .map(users::described)
                .collect(),
        ),
        (Method::POST, Resource::Users(t)) => {
            let user = users::add(app, on, &t, parse(body)?, now, actor).map_err(refused)?;
            created(users::described(&user))
        }
        (Method::DELETE, Resource::User(t, u)) => {
            users::remove(app, &t, &u, actor).map_err(refused)?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (Method::GET, Resource::UserConsents(t, u)) => page(
            query,
            super::user_consents::list(&app.store, &t, &u)
                .map_err(consent_refused)?
                .iter()
                .map(super::user_consents::ListedConsent::described)
                .collect(),
        ),
        (Method::DELETE, Resource::UserConsent(t, u, c)) => {
            super::user_consents::withdraw(&app.store, &t, &u, &c, actor)
                .map_err(consent_refused)?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (Method::GET, Resource::Keys(t)) => page(query, keys::list(app, &t, now).map_err(refused)?),
        (Method::POST, Resource::KeyRotation(t)) => {
            let request: RotationRequest = if body.is_empty() {
                RotationRequest::default()
            } else {
                parse(body)?
            };
            let rotated = keys::rotate(app, &t, now, request.now, actor).map_err(refused)?;
            created(json!({
                "kid": rotated.kid,
                "activates_at": rotated.activates_at,
                "replaced": rotated.replaced.iter()
                    .map(|(kid, until)| json!({ "kid": kid, "published_until": until }))
                    .collect::<Vec<_>>(),
                "withdrawn": rotated.withdrawn,
            }))
        }
        (Method::GET, Resource::Audit) => {
            let filter = audit_filter(query)?;
            let entries = app.store.list_audit(&filter).map_err(store)?;
            // The next page is what is older than the last entry, while pages come back full.
            let next_before = (entries.len() == filter.limit)
                .then(|| entries.last().map(|e| e.id))
                .flatten();
            ok(json!({ "items": entries, "next_before": next_before }))
        }
        (method, resource) => Err(AdminRefusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {resource:?}"),
        )),
    }
}

/// `POST .../keys/rotate`: no body, or `{"now": true}` for an immediate rotation.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationRequest {
    #[serde(default)]
    now: bool,
}

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The request body as `T`; a body that is not it is a 400 naming what is wrong.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminRefusal> {
    serde_json::from_slice(body).map_err(|e| {
        AdminRefusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not the expected JSON: {e}"),
        )
    })
}

/// `{"total", "offset", "limit", "items"}`: `items` from `offset`, at most `limit` of them.
fn page<T: serde::Serialize>(query: Option<&str>, all: Vec<T>) -> Answer {
    let (mut offset, mut limit) = (0usize, DEFAULT_PAGE);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let number = |name: &str| {
            value.parse::<usize>().map_err(|_| {
                AdminRefusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("{name} must be a whole number"),
                )
            })
        };
        match key.as_ref() {
            "offset" => offset = number("offset")?,
            "limit" => limit = number("limit")?,
            _ => {
                return Err(AdminRefusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("unknown query parameter '{}'", key.escape_default()),
                ))
            }
        }
    }
    if limit == 0 || limit > MAX_PAGE {
        return Err(AdminRefusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let total = all.len();
    let items: Vec<T> = all.into_iter().skip(offset).take(limit).collect();
    Ok((
        StatusCode::OK,
        Some(json!({ "total": total, "offset": offset, "limit": limit, "items": items })),
    ))
}

/// `audit?tenant=T&limit=N&before=ID`: one tenant's entries or all, the newest `limit` (default
/// 100, at most 1000), older than entry `before`.
fn audit_filter(query: Option<&str>) -> Result<AuditFilter, AdminRefusal> {
    let mut filter = AuditFilter {
        limit: DEFAULT_PAGE,
        ..Default::default()
    };
    let invalid =
        |message: String| AdminRefusal::new(StatusCode::BAD_REQUEST, "invalid_query", message);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "tenant" => filter.tenant = Some(value.into_owned()),
            "limit" => {
                filter.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_AUDIT_PAGE).contains(n))
                    .ok_or_else(|| invalid(format!("limit must be 1 to {MAX_AUDIT_PAGE}")))?;
            }
            "before" => {
                filter.before_id = Some(value.parse::<i64>().map_err(|_| {
                    invalid("before must be an entry's id (a whole number)".to_owned())
                })?);
            }
            _ => {
                return Err(invalid(format!(
                    "unknown query parameter '{}'",
                    key.escape_default()
                )))
            }
        }
    }
    Ok(filter)
}

fn store(e: StoreError) -> AdminRefusal {
    refused(e.into())
}

/// `404 not_found` for a consent that is not there, as for an unknown user or client.
fn consent_refused(e: super::user_consents::ConsentError) -> AdminRefusal {
    use super::user_consents::ConsentError;
    match e {
        ConsentError::Store(e) => store(e),
        e @ ConsentError::NotAudited { .. } => not_audited(e),
        e @ ConsentError::NoConsent { .. } => {
            AdminRefusal::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
    }
}

/// 500 for a change that was made but could not be recorded in the audit log: the caller is
/// told the change stands; the store's detail goes to the server log only.
fn not_audited(e: impl std::fmt::Display) -> AdminRefusal {
    tracing::error!("{e}");
    AdminRefusal::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "not_audited",
        "the change was made but could not be recorded in the audit log; see the server log",
    )
}

/// The status and code for a provisioning refusal; a failure of the server is logged, and the
/// caller gets no detail of it.
fn refused(e: ProvisioningError) -> AdminRefusal {
    let (status, code) = match &e {
        ProvisioningError::Invalid { .. } | ProvisioningError::Store(StoreError::Invalid(_)) => {
            (StatusCode::BAD_REQUEST, "invalid_input")
        }
        ProvisioningError::Store(StoreError::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
        ProvisioningError::Store(StoreError::Conflict(_)) => (StatusCode::CONFLICT, "conflict"),
        ProvisioningError::Store(e) if e.is_unavailable() => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
        ProvisioningError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        e @ ProvisioningError::NotAudited { .. } => return not_audited(e),
        ProvisioningError::Store(e) => {
            tracing::error!("admin request failed: {e}");
            return AdminRefusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the request failed; see the server log",
            );
        }
    };
    AdminRefusal {
        status,
        code,
        message: e.to_string(),
        field: match &e {
            ProvisioningError::Invalid { field, .. } => Some(field.name),
            ProvisioningError::Store(_)
            | ProvisioningError::Busy(_)
            | ProvisioningError::NotAudited { .. } => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_resources() {
        assert_eq!(Resource::parse("tenants"), Some(Resource::Tenants));
        assert_eq!(
            Resource::parse("tenants/acme.com/identity-providers/corp%20idp"),
            Some(Resource::IdentityProvider(
                "acme.com".into(),
                "corp idp".into()
            ))
        );
        assert_eq!(
            Resource::parse("tenants/acme/keys/rotate"),
            Some(Resource::KeyRotation("acme".into()))
        );
        assert_eq!(
            Resource::parse("tenants/acme/users/alice/consents/"),
            Some(Resource::UserConsents("acme".into(), "alice".into()))
        );
        assert_eq!(
            Resource::parse("tenants/acme/users/alice/consents/com.example%2Fweb"),
            Some(Resource::UserConsent(
                "acme".into(),
                "alice".into(),
                "com.example/web".into()
            ))
        );
        assert_eq!(Resource::parse("audit/"), Some(Resource::Audit));
        assert_eq!(Resource::parse("tenants/acme/users//consents"), None);
        assert_eq!(Resource::parse("tenants//users"), None);
        assert_eq!(Resource::parse("nothing"), None);
    }

    #[test]
    fn lists_are_paged_and_bad_paging_is_refused() {
        let (_, body) = page(Some("offset=1&limit=2"), vec![1, 2, 3, 4]).unwrap();
        assert_eq!(
            body.unwrap(),
            json!({"total": 4, "offset": 1, "limit": 2, "items": [2, 3]})
        );
        for bad in ["limit=0", "limit=5000", "offset=-1", "page=2"] {
            let refused = page(Some(bad), vec![1]).unwrap_err();
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn the_audit_query_is_read_and_bad_ones_refused() {
        assert_eq!(
            audit_filter(None).unwrap(),
            AuditFilter {
                tenant: None,
                before_id: None,
                limit: DEFAULT_PAGE
            }
        );
        assert_eq!(
            audit_filter(Some("tenant=acme.com&limit=5&before=42")).unwrap(),
            AuditFilter {
                tenant: Some("acme.com".into()),
                before_id: Some(42),
                limit: 5
            }
        );
        for bad in ["limit=0", "limit=1001", "before=x", "offset=3"] {
            let refused = audit_filter(Some(bad)).unwrap_err();
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(refused.code, "invalid_query", "{bad}");
        }
    }

    /// The document and the router agree: every path and method of the document is routed,
    /// and every resource's methods are documented.
    #[test]
    fn the_openapi_document_describes_every_route() {
        let document: Value = serde_json::from_str(OPENAPI).unwrap();
        let paths = document["paths"].as_object().unwrap();
        let mut documented = 0;
        for (template, operations) in paths {
            let concrete = template
                .trim_start_matches("/api/server/v1/")
                .replace("{tenant}", "acme")
                .replace("{client}", "app")
                .replace("{name}", "corp")
                .replace("{username}", "alice");
            if template.ends_with("/plugins/reload") {
                continue;
            }
            let resource = Resource::parse(&concrete)
                .unwrap_or_else(|| panic!("{template} is documented but not routed"));
            let mut methods: Vec<String> = operations
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .map(|k| k.to_ascii_uppercase())
                .collect();
            methods.sort();
            let mut routed: Vec<String> = resource
                .methods()
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect();
            routed.sort();
            assert_eq!(methods, routed, "{template}");
            documented += 1;
        }
        // Every kind of resource above is in the document.
        assert_eq!(documented, 14);
    }
}
