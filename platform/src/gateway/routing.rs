//! Which API and resource a request is for: the API with the longest context that prefixes the
//! path, then its first resource whose method and path template match the rest of the path.
//! Templates are literal segments, `{name}` for any one segment, and a final `/*` for anything
//! below (or nothing).

use crate::config::{ApiConfig, ResourceConfig};

#[derive(Debug)]
pub struct Route<'a> {
    /// The API's position in the configuration (its upstream client's too).
    pub index: usize,
    pub api: &'a ApiConfig,
    pub resource: &'a ResourceConfig,
    /// The path after the context, starting with `/`.
    pub rest: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Unrouted {
    /// No API has this context.
    NoApi,
    /// The API has no resource for this method and path.
    NoResource,
}

pub fn route<'a>(apis: &'a [ApiConfig], method: &str, path: &str) -> Result<Route<'a>, Unrouted> {
    let (index, api) = apis
        .iter()
        .enumerate()
        .filter(|(_, api)| {
            let context = api.context.trim_end_matches('/');
            path == context || path.starts_with(&format!("{context}/"))
        })
        .max_by_key(|(_, api)| api.context.trim_end_matches('/').len())
        .ok_or(Unrouted::NoApi)?;
    let rest = &path[api.context.trim_end_matches('/').len()..];
    let rest = if rest.is_empty() { "/" } else { rest };
    let resource = api
        .resource
        .iter()
        .find(|r| {
            (r.method == "*" || r.method.eq_ignore_ascii_case(method)) && matches(&r.path, rest)
        })
        .ok_or(Unrouted::NoResource)?;
    Ok(Route {
        index,
        api,
        resource,
        rest: rest.to_owned(),
    })
}

fn matches(template: &str, path: &str) -> bool {
    let mut wanted = template
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty());
    let mut given = path.trim_matches('/').split('/').filter(|s| !s.is_empty());
    loop {
        match (wanted.next(), given.next()) {
            (Some("*"), _) => return wanted.next().is_none(),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
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
}
