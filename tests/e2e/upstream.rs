//! A backend for the gateway tests: answers every request with what it received (method, path,
//! query, headers, body) as JSON; `/api/slow` answers after a long pause, and `/api/stall` sends
//! its headers and stops halfway through its body, for the gateway's upstream time limits.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use warp::Filter;

pub struct Upstream {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    _runtime: tokio::runtime::Runtime,
}

impl Upstream {
    pub fn start() -> Upstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                |method: warp::http::Method,
                 path: warp::path::FullPath,
                 query: String,
                 headers: warp::http::HeaderMap,
                 body: bytes::Bytes| async move {
                    if path.as_str().ends_with("/slow") {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    if path.as_str().ends_with("/stall") {
                        // The headers and a first chunk at once, then nothing for 30 s.
                        let chunks =
                            futures_util::stream::iter([0u64, 30]).then(|pause| async move {
                                tokio::time::sleep(Duration::from_secs(pause)).await;
                                Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(
                                    b"partial ",
                                ))
                            });
                        return warp::reply::Reply::into_response(warp::reply::stream(chunks));
                    }
                    let mut seen = Map::new();
                    for (name, value) in &headers {
                        seen.insert(
                            name.as_str().to_owned(),
                            json!(value.to_str().unwrap_or("?")),
                        );
                    }
                    let reply = json!({
                        "method": method.as_str(),
                        "path": path.as_str(),
                        "query": query,
                        "headers": Value::Object(seen),
                        "body": String::from_utf8_lossy(&body),
                    });
                    let response = warp::http::Response::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .header("x-upstream", "echo")
                        .body(reply.to_string())
                        .unwrap();
                    warp::reply::Reply::into_response(response)
                },
            );
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(warp::serve(route).incoming(listener).run());
        Upstream {
            url,
            _runtime: runtime,
        }
    }
}
