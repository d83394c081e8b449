//! A JWKS endpoint for tests: serves whatever body, status, delay and `Cache-Control` the test
//! sets, and counts the requests it gets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use warp::Filter;

#[derive(Clone)]
pub struct Behaviour {
    pub body: Vec<u8>,
    pub status: u16,
    pub delay: Duration,
    pub max_age: Option<u64>,
}

pub struct JwksServer {
    pub url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    hits: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl JwksServer {
    pub fn start(keys: &[serde_json::Value]) -> JwksServer {
        let behaviour = Arc::new(Mutex::new(Behaviour {
            body: Vec::new(),
            status: 200,
            delay: Duration::ZERO,
            max_age: None,
        }));
        let hits = Arc::new(AtomicU64::new(0));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (b, h) = (behaviour.clone(), hits.clone());
        let route = warp::path!("jwks").and(warp::get()).then(move || {
            let (b, h) = (b.clone(), h.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                let now = b.lock().unwrap().clone();
                tokio::time::sleep(now.delay).await;
                let mut reply = warp::http::Response::builder()
                    .status(now.status)
                    .header("content-type", "application/json");
                if let Some(age) = now.max_age {
                    reply = reply.header("cache-control", format!("max-age={age}"));
                }
                reply.body(now.body).unwrap()
            }
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        runtime.spawn(warp::serve(route).incoming(listener).run());
        let server = JwksServer {
            url,
            behaviour,
            hits,
            _runtime: runtime,
        };
        server.serve_keys(keys);
        server
    }

    pub fn serve_keys(&self, keys: &[serde_json::Value]) {
        self.set(|b| {
            b.body = serde_json::json!({ "keys": keys }).to_string().into_bytes();
            b.status = 200;
        });
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}
