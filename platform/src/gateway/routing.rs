//! Which API and resource a request is for: the API with the longest context that prefixes the
//! normalised path (whole segments), then its first resource whose method and path template match
//! the rest of the path. Templates are literal segments, `{name}` for any one segment, and a final
//! `/*` for anything below (or nothing). Segments compare case-sensitively, in normal form
//! (`gateway::path`).

use super::path::NormalPath;
use crate::config::{ApiConfig, ResourceConfig};

#[derive(Debug)]
pub struct Route<'a> {
    /// The API's position in the configuration (its upstream client's too).
    pub index: usize,
    pub api: &'a ApiConfig,
    pub resource: &'a ResourceConfig,
    /// The normalised path after the context, starting with `/`: what the upstream gets.
    pub rest: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Unrouted {
    /// No API has this context.
    NoApi,
    /// The API has no resource for this path.
    NoResource,
    /// The API has resources for this path, under other methods (an `Allow` value).
    MethodNotAllowed(String),
}

pub fn route<'a>(
    apis: &'a [ApiConfig],
    method: &str,
    path: &NormalPath,
) -> Result<Route<'a>, Unrouted> {
    let (index, api, context_len) = apis
        .iter()
        .enumerate()
        .filter_map(|(index, api)| {
            let mut context = context_segments(&api.context);
            let len = context.clone().count();
            let mut given = path.segments();
            context
                .all(|c| given.next() == Some(c))
                .then_some((index, api, len))
        })
        .max_by_key(|(_, _, len)| *len)
        .ok_or(Unrouted::NoApi)?;
    let rest_segments: Vec<&str> = path.segments().skip(context_len).collect();
    let resource = api
        .resource
        .iter()
        .find(|r| {
            (r.method == "*" || r.method.eq_ignore_ascii_case(method))
                && matches(&r.path, rest_segments.iter().copied())
        })
        .ok_or_else(|| {
            let mut allowed: Vec<String> = api
                .resource
                .iter()
                .filter(|r| matches(&r.path, rest_segments.iter().copied()))
                .map(|r| r.method.to_ascii_uppercase())
                .collect();
            allowed.sort();
            allowed.dedup();
            if allowed.is_empty() {
                Unrouted::NoResource
            } else {
                Unrouted::MethodNotAllowed(allowed.join(", "))
            }
        })?;
    let mut rest = String::with_capacity(path.as_str().len());
    for segment in &rest_segments {
        rest.push('/');
        rest.push_str(segment);
    }
    if rest.is_empty() || (path.has_trailing_slash() && !rest_segments.is_empty()) {
        rest.push('/');
    }
    Ok(Route {
        index,
        api,
        resource,
        rest,
    })
}

fn context_segments(context: &str) -> impl Iterator<Item = &str> + Clone {
    context.split('/').filter(|s| !s.is_empty())
}

fn matches<'p>(template: &str, mut given: impl Iterator<Item = &'p str>) -> bool {
    let mut wanted = template.split('/').filter(|s| !s.is_empty());
    loop {
        match (wanted.next(), given.next()) {
            (Some("*"), _) => return wanted.next().is_none(),
            (Some(w), Some(_)) if w.starts_with('{') && w.ends_with('}') => {}
            (Some(w), Some(g)) if w == g => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(context: &str, resources: &[(&str, &str)]) -> ApiConfig {
        ApiConfig {
            context: context.into(),
            upstream: "http://127.0.0.1:1".into(),
            upstream_ca_file: None,
            keep_authorization: false,
            introspection: None,
            resource: resources
                .iter()
                .map(|(method, path)| ResourceConfig {
                    method: (*method).into(),
                    path: (*path).into(),
                    scopes: Vec::new(),
                })
                .collect(),
        }
    }

    fn route<'a>(apis: &'a [ApiConfig], method: &str, path: &str) -> Result<Route<'a>, Unrouted> {
        let path = super::super::path::normalise(path, &Default::default()).unwrap();
        super::route(apis, method, &path)
    }

    #[test]
    fn routes_by_longest_context_then_first_matching_resource() {
        let apis = [
            api(
                "/pizzashack/1.0.0",
                &[("GET", "/menu"), ("POST", "/order/{id}"), ("*", "/admin/*")],
            ),
            api("/pizzashack", &[("GET", "/*")]),
        ];
        let r = route(&apis, "GET", "/pizzashack/1.0.0/menu").unwrap();
        assert_eq!(
            (r.api.context.as_str(), r.rest.as_str()),
            ("/pizzashack/1.0.0", "/menu")
        );
        assert_eq!(r.resource.path, "/menu");
        assert_eq!(
            route(&apis, "post", "/pizzashack/1.0.0/order/42")
                .unwrap()
                .resource
                .path,
            "/order/{id}"
        );
        assert_eq!(
            route(&apis, "DELETE", "/pizzashack/1.0.0/admin/a/b")
                .unwrap()
                .resource
                .path,
            "/admin/*"
        );
        assert_eq!(
            route(&apis, "GET", "/pizzashack/1.0.0/admin")
                .unwrap()
                .resource
                .path,
            "/admin/*"
        );
        assert_eq!(
            route(&apis, "GET", "/pizzashack/1.0.0/order/42").unwrap_err(),
            Unrouted::MethodNotAllowed("POST".into())
        );
        assert_eq!(
            route(&apis, "GET", "/pizzashack/1.0.0/nothing").unwrap_err(),
            Unrouted::NoResource
        );
        assert_eq!(
            route(&apis, "GET", "/pizzashack/1.0.0/menu/extra").unwrap_err(),
            Unrouted::NoResource
        );
        assert_eq!(
            route(&apis, "GET", "/pizzashack/2.0/x")
                .unwrap()
                .api
                .context,
            "/pizzashack"
        );
        assert_eq!(
            route(&apis, "GET", "/pizzashackx/menu").unwrap_err(),
            Unrouted::NoApi
        );
        assert_eq!(route(&apis, "GET", "/other").unwrap_err(), Unrouted::NoApi);
    }

    #[test]
    fn matches_normalised_segments_case_sensitively() {
        let apis = [api(
            "/files",
            &[("GET", "/admin"), ("GET", "/items/{id}"), ("GET", "/*")],
        )];
        let resource = |path: &str| route(&apis, "GET", path).unwrap().resource.path.clone();
        assert_eq!(resource("/files/admin"), "/admin");
        assert_eq!(resource("/files/admin;x"), "/admin");
        assert_eq!(resource("/files/%61dmin"), "/admin");
        assert_eq!(resource("/files/./admin"), "/admin");
        assert_eq!(resource("/files/public/../admin"), "/admin");
        assert_eq!(resource("/files;v=1/admin"), "/admin");
        assert_eq!(resource("/files/ADMIN"), "/*");
        assert_eq!(resource("/files/items/1"), "/items/{id}");
        let rest = |path: &str| route(&apis, "GET", path).unwrap().rest;
        assert_eq!(rest("/files/admin;x"), "/admin");
        assert_eq!(rest("/files;v=1/admin"), "/admin");
        assert_eq!(rest("/files/a//b/"), "/a/b/");
        assert_eq!(rest("/files"), "/");
        assert_eq!(rest("/files/"), "/");
    }
}
