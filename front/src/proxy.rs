//! A viewer's request, proxied or redirected to the active origin.
//!
//! Proxy: the request goes to the origins in [`crate::route::attempt_order`];
//! an attempt that fails before the response head (no connection, a timeout,
//! a 5xx) is given up and the next origin is tried, so the viewer sees no error
//! while an origin dies. Once a head is relayed the body streams through chunk
//! by chunk: nothing holds a whole segment. A GET body of known length cut
//! mid-way goes on from the next origin when that one answers the same request
//! with the same status, length (and validator or range, when given): its
//! first bytes, already sent, are skipped. The data centers hold the same bytes
//! (what replicate and verify prove), and packaging is deterministic. A body
//! that makes no progress for the upstream timeout counts as cut: a frozen
//! origin never leaves a viewer hanging mid-download.

use std::future::Future as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::uri::PathAndQuery;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use tracing::{debug, info};

use crate::board::Front;
use crate::config::Mode;

/// An origin's answer as the front's client gives it: the head, the body still to come.
type Answer = axum::http::Response<Incoming>;

/// The client the front proxies with: hyper's pooled HTTP/1 client (keep-alive, every idle
/// connection kept), over TLS for `https://` origins. Not reqwest: per request it parsed the URL
/// twice more (its redirect policy, the response's URL) and boxed its layers, about a tenth
/// of the front's CPU in the profile under load.
pub(crate) type Upstream = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    // Empty but for a ClearKey licence request's body, read whole (an empty Full sends no body).
    Full<Bytes>,
>;

/// A client error as a kind (never a URL).
fn failure_kind(e: &hyper_util::client::legacy::Error) -> &'static str {
    if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

/// Names the origin that answered (or was redirected to): drills and operators read it.
pub use mirrorcast_core::streaming::ORIGIN_HEADER;

/// Headers that belong to one connection, never forwarded (RFC 9110 7.6.1), and Host.
fn hop_by_hop(name: &HeaderName, listed: &[String]) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
    ) || listed.iter().any(|l| l == name.as_str())
}

/// Header names a `Connection` header lists (also hop-by-hop).
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Request headers about a body: the front forwards none (see [`crate::framing`]),
/// so the request it sends is framed by its own client, never by the viewer's headers.
fn about_a_body(name: &HeaderName) -> bool {
    matches!(name.as_str(), "content-length" | "expect")
}

/// The viewer's headers as the origin gets them, pruned in place (no header copied):
/// end-to-end ones (Range, If-None-Match, If-Modified-Since, Accept…) as they came, plus
/// X-Forwarded-*. `Host` is the origin's, set per attempt ([`Front::host`]).
fn to_origin(mut headers: HeaderMap, peer: Option<IpAddr>) -> HeaderMap {
    let listed = connection_listed(&headers);
    let earlier = headers.remove("x-forwarded-for");
    let host = headers.remove(header::HOST);
    headers.remove("x-forwarded-host");
    // Most requests carry none of these but Host: only a map that has one is rebuilt.
    if headers.keys().any(|name| hop_by_hop(name, &listed) || about_a_body(name)) {
        let gone: Vec<HeaderName> =
            headers.keys().filter(|name| hop_by_hop(name, &listed) || about_a_body(name)).cloned().collect();
        for name in gone {
            headers.remove(name);
        }
    }
    if let Some(peer) = peer {
        let chain = match earlier.as_ref().and_then(|v| v.to_str().ok()) {
            Some(e) => format!("{e}, {peer}"),
            None => peer.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&chain) {
            headers.insert("x-forwarded-for", v);
        }
    }
    if let Some(host) = host {
        headers.insert("x-forwarded-host", host);
    }
    headers
}

/// The one request with a body the front forwards: a W3C ClearKey licence request, so key
/// delivery fails over with the segments. It is small and safe to send again to the next origin.
pub const LICENCE_PATH: &str = "/keys/clearkey";
/// Longest licence request forwarded (the origin's own bound).
pub const MAX_LICENCE_REQUEST: usize = 8 * 1024;

/// Whether a request is a licence request, the front's one `POST`.
pub fn is_licence_request(method: &Method, uri: &Uri) -> bool {
    method == Method::POST && uri.path() == LICENCE_PATH
}

/// The viewer's request, by the front's mode; `body` is a licence request's (read whole, bounded).
pub async fn dispatch(
    front: &Arc<Front>,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    peer: Option<IpAddr>,
    body: Option<Bytes>,
) -> Response {
    let licence = body.is_some() && is_licence_request(&method, uri);
    if method != Method::GET && method != Method::HEAD && method != Method::OPTIONS && !licence {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD, OPTIONS")], "method not allowed\n")
            .into_response();
    }
    // A clone shares the request's bytes.
    let path_and_query = uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
    match front.config.mode {
        Mode::Proxy => proxy(front, method, path_and_query, headers, peer, body.filter(|_| licence)).await,
        Mode::Redirect => redirect(front, &method, path_and_query.as_str()),
    }
}

/// 302 to the active origin, same path and query.
fn redirect(front: &Front, method: &Method, path_and_query: &str) -> Response {
    if method == Method::OPTIONS {
        // A CORS preflight cannot follow a redirect: answer it here.
        return (
            StatusCode::NO_CONTENT,
            [
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS, POST"),
                (
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "range, if-none-match, if-modified-since, authorization, content-type",
                ),
            ],
        )
            .into_response();
    }
    let origin = front.active().unwrap_or(0);
    front.count_request(origin);
    let spec = &front.config.origins[origin];
    let location = format!("{}{}", spec.base, path_and_query);
    // 307 keeps a licence request's method and body (a 302 turns it into a GET).
    let status = if *method == Method::POST { StatusCode::TEMPORARY_REDIRECT } else { StatusCode::FOUND };
    let mut r = status.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    // The next request must ask the front again: a failover may have happened since.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if let Ok(v) = HeaderValue::from_str(&spec.name) {
        h.insert(ORIGIN_HEADER, v);
    }
    r
}

/// One viewer request as every origin gets it.
#[derive(Debug)]
struct Ask {
    method: Method,
    path_and_query: PathAndQuery,
    /// The viewer's headers as every origin gets them, but for `Host` (each origin's own).
    headers: HeaderMap,
    /// A licence request's body, sent again to each origin tried.
    body: Option<Bytes>,
}

impl Ask {
    /// The request sent to `origin`, bounded by the upstream timeout up to the response
    /// head — and, for an origin usable when asked, by the probes taking it down.
    async fn send(&self, front: &Front, origin: usize) -> Result<Answer, &'static str> {
        // On the origin's parsed base (no host parsed per request: it showed in the profile).
        let Some(uri) = front.uri(origin, &self.path_and_query) else {
            return Err("the URL cannot be sent");
        };
        let mut request = axum::http::Request::new(Full::new(Bytes::new()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        let mut headers = self.headers.clone();
        headers.insert(header::HOST, front.host(origin).clone());
        *request.headers_mut() = headers;
        if let Some(body) = &self.body {
            // A ClearKey licence request, read whole: sent again as it is to the next origin.
            *request.body_mut() = Full::new(body.clone());
        }
        let request = front.upstream.request(request);
        let watch_health = front.health(origin).usable();
        let went_down = async {
            if watch_health {
                front.went_down(origin).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            answered = tokio::time::timeout(front.config.upstream_timeout, request) => match answered {
                Ok(Ok(response)) if crate::framing::framed_both_ways(response.headers()) => {
                    Err("answered with both Content-Length and Transfer-Encoding")
                }
                Ok(Ok(response)) => Ok(response),
                Ok(Err(e)) => Err(failure_kind(&e)),
                Err(_) => Err("no response head in time"),
            },
            () = went_down => Err("went down while the request waited"),
        }
    }
}

async fn proxy(
    front: &Arc<Front>,
    method: Method,
    path_and_query: PathAndQuery,
    headers: HeaderMap,
    peer: Option<IpAddr>,
    body: Option<Bytes>,
) -> Response {
    let headers = to_origin(headers, peer);
    let ask = Arc::new(Ask { method, path_and_query, headers, body });
    let order = front.attempt_order();
    // A 5xx is kept while other origins are tried: if none does better, the viewer gets it.
    let mut server_error: Option<(usize, Answer)> = None;
    for &origin in &order {
        let spec = &front.config.origins[origin];
        match ask.send(front, origin).await {
            Ok(response) if response.status().is_server_error() => {
                debug!(target: "mirrorcast_front", "origin '{}' answered {}; trying the next", spec.name, response.status());
                front.count_failed_attempt(origin);
                server_error.get_or_insert((origin, response));
            }
            Ok(response) => {
                front.count_request(origin);
                return relay(front, &ask, response, origin);
            }
            Err(why) => {
                debug!(target: "mirrorcast_front", "origin '{}': {why}; trying the next", spec.name);
                front.count_failed_attempt(origin);
            }
        }
    }
    match server_error {
        Some((origin, response)) => relay(front, &ask, response, origin),
        None => (StatusCode::BAD_GATEWAY, "no origin answered\n").into_response(),
    }
}

/// What another origin's answer must match for its body to continue one cut mid-way.
#[derive(Debug)]
struct Same {
    status: StatusCode,
    length: u64,
    etag: Option<HeaderValue>,
    content_range: Option<HeaderValue>,
}

impl Same {
    /// A GET with a 200/206 of known length can be continued; nothing else can.
    fn of<B>(ask: &Ask, response: &axum::http::Response<B>) -> Option<Same> {
        let status = response.status();
        let length = response.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()?;
        (ask.method == Method::GET && (status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT)).then(|| {
            Same {
                status,
                length,
                etag: response.headers().get(header::ETAG).cloned(),
                content_range: response.headers().get(header::CONTENT_RANGE).cloned(),
            }
        })
    }

    fn matches<B>(&self, response: &axum::http::Response<B>) -> bool {
        let h = response.headers();
        let length = h.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        response.status() == self.status
            && length == Some(self.length)
            && (self.etag.is_none() || h.get(header::ETAG) == self.etag.as_ref())
            && h.get(header::CONTENT_RANGE) == self.content_range.as_ref()
    }
}

/// A body on its way to the viewer, able to go on from another origin.
struct Flow {
    front: Arc<Front>,
    ask: Arc<Ask>,
    same: Same,
    origin: usize,
    tried: Vec<usize>,
    upstream: BoxStream<'static, std::io::Result<Bytes>>,
    /// Bytes the viewer got.
    sent: u64,
    /// Bytes of the current upstream body the viewer already got from an earlier one.
    skip: u64,
}

impl Flow {
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Flow)> {
        loop {
            match self.upstream.next().await {
                Some(Ok(mut chunk)) => {
                    if self.skip > 0 {
                        let n = self.skip.min(chunk.len() as u64);
                        chunk = chunk.slice(n as usize..);
                        self.skip -= n;
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    self.sent += chunk.len() as u64;
                    return Some((Ok(chunk), self));
                }
                None if self.sent >= self.same.length => return None,
                cut => {
                    let why = match cut {
                        Some(Err(e)) => e.to_string(),
                        _ => "it ended before its length".to_owned(),
                    };
                    let name = &self.front.config.origins[self.origin].name;
                    debug!(target: "mirrorcast_front", "origin '{name}': body cut after {} bytes: {why}", self.sent);
                    self.front.count_failed_attempt(self.origin);
                    // Dropped before the takeover: its connection is closed now, never reused.
                    self.upstream = futures::stream::empty().boxed();
                    if !self.take_over().await {
                        let cut = std::io::Error::other("the origin cut the body and no other could continue it");
                        // The viewer sees a cut connection (as from the origin), and the stream ends.
                        self.upstream = futures::stream::empty().boxed();
                        self.sent = self.same.length;
                        return Some((Err(cut), self));
                    }
                }
            }
        }
    }

    /// Asks the origins not tried yet for the same response; continues from the first that matches.
    async fn take_over(&mut self) -> bool {
        let cut_by = self.front.config.origins[self.origin].name.clone();
        for origin in self.front.attempt_order() {
            if self.tried.contains(&origin) {
                continue;
            }
            self.tried.push(origin);
            match self.ask.send(&self.front, origin).await {
                Ok(response) if self.same.matches(&response) => {
                    let name = &self.front.config.origins[origin].name;
                    info!(target: "mirrorcast_front", "a body cut by '{cut_by}' after {} bytes goes on from '{name}'", self.sent);
                    self.front.count_request(origin);
                    self.origin = origin;
                    self.skip = self.sent;
                    self.upstream = stall_bounded(response.into_body(), self.front.config.upstream_timeout);
                    return true;
                }
                _ => self.front.count_failed_attempt(origin),
            }
        }
        false
    }
}

/// An origin's body, ending with an error when no byte of it comes for `limit`
/// (a frozen origin); after an error nothing more is read from it.
fn stall_bounded(body: Incoming, limit: Duration) -> BoxStream<'static, std::io::Result<Bytes>> {
    StallBounded::new(body, limit).boxed()
}

/// [`stall_bounded`]'s stream. One timer per body, not one per chunk: a chunk only clears
/// `waiting_since`; the alarm, when it rings, is moved on to `limit` after the current wait
/// began, and ends the body if that moment has passed. A wait begins when the viewer's side asks
/// for the next chunk and the origin has none ready (a slow viewer is never the origin's stall).
/// Registering a timer per chunk showed in the front's profile under segment load.
struct StallBounded<B> {
    /// `None` once ended (by the origin, an error or the alarm).
    body: Option<B>,
    limit: Duration,
    /// Since when the viewer's side has waited for a chunk the origin has not sent.
    waiting_since: Option<tokio::time::Instant>,
    alarm: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<B> StallBounded<B> {
    fn new(body: B, limit: Duration) -> StallBounded<B> {
        StallBounded { body: Some(body), limit, waiting_since: None, alarm: Box::pin(tokio::time::sleep(limit)) }
    }
}

impl<B> futures::Stream for StallBounded<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        loop {
            let Some(body) = this.body.as_mut() else { return Poll::Ready(None) };
            match std::pin::Pin::new(body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers are not relayed (as before: a data stream of the body).
                    if let Ok(chunk) = frame.into_data() {
                        this.waiting_since = None;
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.body = None;
                    return Poll::Ready(Some(Err(std::io::Error::other(e.into()))));
                }
                Poll::Ready(None) => {
                    this.body = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        let since = *this.waiting_since.get_or_insert_with(tokio::time::Instant::now);
        let due = since + this.limit;
        loop {
            if this.alarm.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The alarm rang for an earlier wait (or the body's start): moved on to this one's end.
            if due > this.alarm.deadline() {
                this.alarm.as_mut().reset(due);
                continue;
            }
            this.body = None;
            let frozen = format!("no byte of the body for {:?} (the upstream timeout)", this.limit);
            return Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, frozen))));
        }
    }
}

/// The origin's response as the viewer gets it: status, end-to-end headers,
/// the body streamed as it arrives (and continued elsewhere if cut, when it can be).
fn relay(front: &Arc<Front>, ask: &Arc<Ask>, response: Answer, origin_index: usize) -> Response {
    let status = response.status();
    let same = Same::of(ask, &response);
    // The origin's header map, taken out and pruned in place: no header copied.
    let (parts, upstream) = response.into_parts();
    let mut headers = parts.headers;
    let listed = connection_listed(&headers);
    let hop: Vec<HeaderName> = headers.keys().filter(|name| hop_by_hop(name, &listed)).cloned().collect();
    for name in hop {
        headers.remove(name);
    }
    if let Some(v) = front.origin_header(origin_index) {
        headers.insert(ORIGIN_HEADER, v.clone());
    }
    let body = match same {
        Some(same) => {
            let flow = Flow {
                front: front.clone(),
                ask: ask.clone(),
                same,
                origin: origin_index,
                tried: vec![origin_index],
                upstream: stall_bounded(upstream, front.config.upstream_timeout),
                sent: 0,
                skip: 0,
            };
            Body::from_stream(futures::stream::unfold(flow, Flow::next))
        }
        None => Body::from_stream(stall_bounded(upstream, front.config.upstream_timeout)),
    };
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> axum::http::Response<()> {
        let mut b = axum::http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    fn ask(method: Method) -> Ask {
        Ask { method, path_and_query: PathAndQuery::from_static("/x"), headers: HeaderMap::new(), body: None }
    }

    type Sender = futures::channel::mpsc::UnboundedSender<Result<hyper::body::Frame<Bytes>, std::io::Error>>;
    type Receiver = futures::channel::mpsc::UnboundedReceiver<Result<hyper::body::Frame<Bytes>, std::io::Error>>;

    /// An origin's body as a channel, bounded by [`StallBounded`].
    fn origin_body(limit: Duration) -> (Sender, StallBounded<http_body_util::StreamBody<Receiver>>) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        (tx, StallBounded::new(http_body_util::StreamBody::new(rx), limit))
    }

    fn send(tx: &Sender, chunk: &'static [u8]) {
        tx.unbounded_send(Ok(hyper::body::Frame::data(Bytes::from_static(chunk)))).unwrap();
    }

    #[tokio::test]
    async fn a_viewer_slower_than_the_upstream_timeout_is_not_taken_for_a_frozen_origin() {
        let limit = Duration::from_millis(300);
        let (tx, mut body) = origin_body(limit);
        send(&tx, b"a");
        assert_eq!(&body.next().await.unwrap().unwrap()[..], b"a");
        // The viewer asks for more only three limits later (the body's one timer long due by
        // then); the origin sends the next chunk soon after it is asked.
        tokio::time::sleep(limit * 3).await;
        let origin = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            send(&tx, b"b");
            tx
        });
        assert_eq!(&body.next().await.unwrap().unwrap()[..], b"b");
        drop(origin.await.unwrap());
        assert!(body.next().await.is_none(), "the body ends with the origin's");
    }

    #[tokio::test]
    async fn a_body_that_stops_coming_ends_with_a_timeout_a_whole_limit_after_the_viewer_asked() {
        let limit = Duration::from_millis(200);
        let (tx, mut body) = origin_body(limit);
        send(&tx, b"a");
        assert_eq!(&body.next().await.unwrap().unwrap()[..], b"a");
        tokio::time::sleep(limit * 2).await;
        let asked = std::time::Instant::now();
        let frozen = body.next().await.unwrap().unwrap_err();
        assert_eq!(frozen.kind(), std::io::ErrorKind::TimedOut, "{frozen}");
        assert!(asked.elapsed() >= limit, "given up after {:?}, before the upstream timeout", asked.elapsed());
        assert!(body.next().await.is_none(), "nothing is read from a body after its timeout");
        let late = tx.unbounded_send(Ok(hyper::body::Frame::data(Bytes::from_static(b"late"))));
        assert!(late.is_err(), "the frozen body (its connection) is let go");
    }

    #[test]
    fn a_cut_body_goes_on_only_from_the_same_response() {
        let first = response(200, &[("content-length", "20"), ("etag", "\"v1\"")]);
        let same = Same::of(&ask(Method::GET), &first).expect("a GET 200 of known length");
        assert!(same.matches(&response(200, &[("content-length", "20"), ("etag", "\"v1\"")])));
        assert!(!same.matches(&response(200, &[("content-length", "19"), ("etag", "\"v1\"")])), "another length");
        assert!(!same.matches(&response(200, &[("content-length", "20"), ("etag", "\"v2\"")])), "another version");
        assert!(!same.matches(&response(200, &[("content-length", "20")])), "no validator to compare");
        assert!(!same.matches(&response(206, &[("content-length", "20"), ("etag", "\"v1\"")])), "another status");
        let ranged = response(206, &[("content-length", "10"), ("content-range", "bytes 0-9/100")]);
        let same = Same::of(&ask(Method::GET), &ranged).unwrap();
        assert!(same.matches(&response(206, &[("content-length", "10"), ("content-range", "bytes 0-9/100")])));
        assert!(!same.matches(&response(206, &[("content-length", "10"), ("content-range", "bytes 1-10/100")])));
        assert!(Same::of(&ask(Method::HEAD), &response(200, &[("content-length", "20")])).is_none());
        assert!(Same::of(&ask(Method::GET), &response(200, &[])).is_none(), "a length is needed");
        assert!(Same::of(&ask(Method::GET), &response(404, &[("content-length", "20")])).is_none());
    }

    #[test]
    fn the_one_post_the_front_forwards_is_a_licence_request() {
        let uri = |p: &str| p.parse::<Uri>().unwrap();
        assert!(is_licence_request(&Method::POST, &uri("/keys/clearkey")));
        assert!(!is_licence_request(&Method::GET, &uri("/keys/clearkey")));
        assert!(!is_licence_request(&Method::POST, &uri("/keys/clearkey/more")));
        assert!(!is_licence_request(&Method::POST, &uri("/0f8fad5b-d9cb-469f-a165-70867728950e/Clip.ism/manifest")));
    }

    #[test]
    fn end_to_end_headers_pass_and_hop_by_hop_ones_stop() {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-99"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        h.insert(header::HOST, HeaderValue::from_static("front:8000"));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret-hop"));
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        h.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        let out = to_origin(h.clone(), Some("10.0.0.7".parse().unwrap()));
        assert_eq!(out[header::RANGE], "bytes=0-99");
        assert_eq!(out[header::IF_NONE_MATCH], "\"abc\"");
        assert_eq!(out["x-forwarded-for"], "10.0.0.7");
        assert_eq!(out["x-forwarded-host"], "front:8000");
        for gone in ["host", "connection", "x-secret-hop", "te", "content-length", "expect"] {
            assert!(!out.contains_key(gone), "{gone} was forwarded");
        }
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        assert_eq!(to_origin(h.clone(), Some("10.0.0.7".parse().unwrap()))["x-forwarded-for"], "1.2.3.4, 10.0.0.7");
        h.append("x-forwarded-for", HeaderValue::from_static("5.6.7.8"));
        h.insert("x-forwarded-host", HeaderValue::from_static("spoofed"));
        let out = to_origin(h.clone(), None);
        assert!(!out.contains_key("x-forwarded-for"), "a chain without the peer is not passed on");
        assert_eq!(out.get_all("x-forwarded-host").iter().collect::<Vec<_>>(), ["front:8000"]);
    }
}
