//! Forwarding a validated request to its upstream through the API's pooled HTTP/1.1 client (TLS
//! for an `https://` upstream, its certificate verified): hop-by-hop
//! headers removed both ways (RFC 9110 7.6.1), the client's `Authorization` removed unless the API
//! keeps it, the request body streamed with a size limit, and a bound on the wait for the
//! upstream's answer (502 when it fails, 504 when it is slow) and on each pause in its body.

use std::time::Duration;

use anyhow::Context;
use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt, TryStreamExt};
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::Frame;
use hyper_openssl::client::legacy::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use openssl::ssl::{SslConnector, SslMethod, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use warp::http::{header, HeaderMap, HeaderName, Method, Request};

use super::answers::{bad_gateway, gateway_timeout, payload_too_large, GatewayResponse};
use crate::config::ApiConfig;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type UpstreamBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// The pooled client for `api`'s upstream. An `https://` upstream gets TLS 1.2 or later, its
/// certificate verified (chain and host name or IP) against the API's `upstream_ca_file` when set,
/// else against the system's trusted roots.
pub fn client(api: &ApiConfig) -> anyhow::Result<UpstreamClient> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.enforce_http(false);
    let mut tls = SslConnector::builder(SslMethod::tls_client())?;
    tls.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    match &api.upstream_ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("upstream_ca_file: cannot read {}", path.display()))?;
            let authorities = X509::stack_from_pem(&pem)
                .ok()
                .filter(|certificates| !certificates.is_empty())
                .with_context(|| {
                    format!("upstream_ca_file: no PEM certificate in {}", path.display())
                })?;
            let mut store = X509StoreBuilder::new()?;
            for authority in authorities {
                store.add_cert(authority)?;
            }
            tls.set_cert_store(store.build());
        }
        // OpenSSL is built in (vendored), so its default paths are not the system's: find them.
        None => {
            if let Some(file) = openssl_probe::probe().cert_file {
                tls.set_ca_file(&file).with_context(|| {
                    format!("cannot read the system's roots in {}", file.display())
                })?;
            }
        }
    }
    let connector = HttpsConnector::with_connector(http, tls)?;
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector))
}

/// Headers that describe one connection, never forwarded (plus those its `Connection` names).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `headers` without hop-by-hop ones and without `also`.
pub fn end_to_end(headers: &HeaderMap, also: &[HeaderName]) -> HeaderMap {
    let named_by_connection: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.as_str();
        if HOP_BY_HOP.contains(&lower)
            || named_by_connection.iter().any(|n| n == lower)
            || also.contains(name)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

pub struct Outgoing {
    pub method: Method,
    pub uri: String,
    pub headers: HeaderMap,
}

/// Sends the request with `body` (limited to `max_body_bytes`) and relays the answer.
pub async fn forward<S, B>(
    client: &UpstreamClient,
    outgoing: Outgoing,
    body: S,
    max_body_bytes: usize,
    timeout: Duration,
) -> GatewayResponse
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf + Send + 'static,
{
    let frames = body
        .map_ok(|mut chunk| Frame::data(chunk.copy_to_bytes(chunk.remaining())))
        .map_err(|e| -> BoxError { Box::new(e) });
    let limited = Limited::new(StreamBody::new(frames), max_body_bytes);
    let body: UpstreamBody = limited.boxed_unsync();
    let mut request = match Request::builder()
        .method(outgoing.method)
        .uri(&outgoing.uri)
        .body(body)
    {
        Ok(request) => request,
        Err(e) => {
            tracing::warn!(uri = %outgoing.uri, "cannot build the upstream request: {e}");
            return bad_gateway();
        }
    };
    *request.headers_mut() = outgoing.headers;
    let answer = match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => return gateway_timeout(),
        Ok(Err(e)) => {
            if is_body_limit(&e) {
                return payload_too_large(max_body_bytes);
            }
            tracing::warn!(uri = %outgoing.uri, "upstream request failed: {e}");
            return bad_gateway();
        }
        Ok(Ok(answer)) => answer,
    };
    let (parts, incoming) = answer.into_parts();
    let frames = http_body_util::BodyStream::new(incoming).filter_map(|frame| async move {
        match frame {
            Ok(frame) => frame.into_data().ok().map(Ok),
            Err(e) => Some(Err(BoxError::from(e))),
        }
    });
    let stream = idle_limited(frames, timeout);
    let mut response = warp::reply::Reply::into_response(warp::reply::stream(stream));
    *response.status_mut() = parts.status;
    *response.headers_mut() = end_to_end(&parts.headers, &[]);
    response
}

/// `body` ended with an error when it sends nothing for `idle`: an upstream that stalls halfway
/// through its answer does not hold the client's connection (nor a worker's memory) forever.
fn idle_limited(
    body: impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
    idle: Duration,
) -> impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static {
    futures_util::stream::unfold(Some(Box::pin(body)), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(body))),
            Ok(None) => None,
            Err(_) => {
                tracing::warn!("the upstream sent nothing for {idle:?}: its answer is cut off");
                Some((Err("the upstream's answer stalled".into()), None))
            }
        }
    })
}

fn is_body_limit(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("authorization", HeaderValue::from_static("Bearer t"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let kept = end_to_end(&headers, &[header::AUTHORIZATION]);
        let names: Vec<&str> = kept.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
    }
}
