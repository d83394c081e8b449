//! Forwarding a validated request to its upstream through the API's pooled HTTP/1.1 client (TLS
//! for an `https://` upstream, its certificate verified): hop-by-hop
//! headers removed both ways (RFC 9110 7.6.1), the client's `Authorization` removed unless the API
//! keeps it, the request body streamed with a size limit, and a bound on the wait for the
//! upstream's answer (502 when it fails, 504 when it is slow) and on each pause in its body.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming};
use hyper_openssl::client::legacy::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use openssl::ssl::{SslConnector, SslMethod, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use warp::http::{header, HeaderMap, HeaderName, Method, Request, Response};

use super::answers::{
    bad_gateway, gateway_timeout, payload_too_large, request_timeout, GatewayResponse,
};
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
            let authorities =
                crate::keys::certificates::read_pem_certificates(path, "upstream_ca_file")?;
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

/// Removes from `headers` the hop-by-hop ones (those named by `Connection` included) and `also`.
/// `Content-Length` stays whatever `Connection` says: it frames the message, and without it the
/// body limit's size hint would frame the upstream request instead (cut at the limit).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, also: &[HeaderName]) {
    let named_by_connection: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| name != header::CONTENT_LENGTH)
        .collect();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    for name in named_by_connection.iter().chain(also) {
        headers.remove(name);
    }
}

/// Headers a client may not set for the upstream: the gateway says who the client is and how it
/// came (`set_forwarded_for`).
const CLIENT_FORWARDING_HEADERS: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-real-ip",
];

/// Removes every header with `_` in its name, as nginx does by default: CGI and WSGI backends
/// read `X_JWT_Assertion` and `X-JWT-Assertion` as one variable (`HTTP_X_JWT_ASSERTION`), so a
/// client could otherwise forge what the gateway removes under the dashed name.
pub fn strip_underscored(headers: &mut HeaderMap) {
    if !headers.keys().any(|name| name.as_str().contains('_')) {
        return;
    }
    let underscored: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().contains('_'))
        .cloned()
        .collect();
    for name in underscored {
        tracing::debug!(header = %name, "a client header with _ in its name is not forwarded");
        headers.remove(name);
    }
}

/// Replaces whatever forwarding headers the client sent with what the gateway saw: the client's
/// address, the `Host` it asked for, and `http` (the gateway's listener is plain HTTP).
pub fn set_forwarded_for(
    headers: &mut HeaderMap,
    peer: std::net::SocketAddr,
    host: Option<warp::http::HeaderValue>,
) {
    for name in CLIENT_FORWARDING_HEADERS {
        headers.remove(*name);
    }
    if let Ok(address) = warp::http::HeaderValue::from_str(&peer.ip().to_string()) {
        headers.insert("x-forwarded-for", address);
    }
    if let Some(host) = host {
        headers.insert("x-forwarded-host", host);
    }
    headers.insert(
        "x-forwarded-proto",
        warp::http::HeaderValue::from_static("http"),
    );
}

pub struct Outgoing {
    pub method: Method,
    pub uri: String,
    pub headers: HeaderMap,
}

/// What bounds one forwarded call.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Largest request body (then 413).
    pub max_body_bytes: usize,
    /// Longest wait for the upstream's answer, and for each next part of its body.
    pub upstream_timeout: Duration,
    /// Longest pause in the client's request body (then 408).
    pub body_idle_timeout: Duration,
}

/// Sends the request with `body` (limited in size and in its pauses) and relays the answer.
pub async fn forward(
    client: &UpstreamClient,
    outgoing: Outgoing,
    body: Incoming,
    bounds: Bounds,
) -> GatewayResponse {
    let Bounds {
        max_body_bytes,
        upstream_timeout: timeout,
        body_idle_timeout,
    } = bounds;
    let declared = outgoing
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_body_bytes as u64) {
        return payload_too_large(max_body_bytes);
    }
    let body: UpstreamBody = Limited::new(
        IdleLimited::new(body, body_idle_timeout, Stalled::ClientBody),
        max_body_bytes,
    )
    .boxed_unsync();
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
            if caused_by::<http_body_util::LengthLimitError>(&e) {
                return payload_too_large(max_body_bytes);
            }
            if caused_by::<Stalled>(&e) {
                return request_timeout(body_idle_timeout);
            }
            tracing::warn!(uri = %outgoing.uri, "upstream request failed: {e}");
            return bad_gateway();
        }
        Ok(Ok(answer)) => answer,
    };
    let (mut parts, incoming) = answer.into_parts();
    strip_hop_by_hop(&mut parts.headers, &[]);
    let mut response =
        Response::new(IdleLimited::new(incoming, timeout, Stalled::UpstreamAnswer).boxed_unsync());
    *response.status_mut() = parts.status;
    *response.headers_mut() = parts.headers;
    response
}

/// Which body stalled: an error of its own, so the forwarding can tell a client that stopped
/// sending (408) from an upstream that failed (502).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stalled {
    /// The client stopped sending its request body.
    ClientBody,
    /// The upstream stopped sending its answer.
    UpstreamAnswer,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stalled::ClientBody => "the client's request body stalled",
            Stalled::UpstreamAnswer => "the upstream's answer stalled",
        })
    }
}

impl std::error::Error for Stalled {}

/// `inner`, ended with an error when it sends nothing for `idle`: a client that stops halfway
/// through its body, or an upstream halfway through its answer, does not hold a connection (nor
/// a worker's memory) forever. The timer is armed only while the body waits, so a body that is
/// already there costs none.
struct IdleLimited<B> {
    inner: B,
    idle: Duration,
    which: Stalled,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// The timer runs for the current wait (it is re-armed after each frame).
    armed: bool,
    stalled: bool,
}

impl<B> IdleLimited<B> {
    fn new(inner: B, idle: Duration, which: Stalled) -> IdleLimited<B> {
        IdleLimited {
            inner,
            idle,
            which,
            timer: None,
            armed: false,
            stalled: false,
        }
    }
}

impl<B> hyper::body::Body for IdleLimited<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        use std::future::Future;
        use std::task::Poll;
        let this = self.get_mut();
        if this.stalled {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let deadline = tokio::time::Instant::now() + this.idle;
        let timer = match &mut this.timer {
            Some(timer) => {
                if !this.armed {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => this
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        this.armed = true;
        if timer.as_mut().poll(cx).is_ready() {
            this.stalled = true;
            match this.which {
                Stalled::UpstreamAnswer => tracing::warn!(
                    "the upstream sent nothing for {:?}: its answer is cut off",
                    this.idle
                ),
                // The client's doing, and common: not the operator's concern.
                Stalled::ClientBody => tracing::debug!(
                    "the client sent nothing of its body for {:?}: the request is refused",
                    this.idle
                ),
            }
            return Poll::Ready(Some(Err(Box::new(this.which))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.stalled || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether an error of type `E` is among `error`'s causes.
fn caused_by<E: std::error::Error + 'static>(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if e.is::<E>() {
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
            HeaderValue::from_static("keep-alive, x-secret-hop, content-length"),
        );
        headers.insert("content-length", HeaderValue::from_static("3"));
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("authorization", HeaderValue::from_static("Bearer t"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        strip_hop_by_hop(&mut headers, &[header::AUTHORIZATION]);
        let names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept", "content-length"]);
    }
}
