//! A viewer's request, proxied or redirected to the active origin.
//!
//! Proxy: the request goes to the origins in [`crate::route::attempt_order`];
//! an attempt that fails before the response head (no connection, a timeout,
//! a 5xx) is given up and the next origin is tried, so the viewer sees no error
//! while an origin dies. Once a head is relayed the body streams through chunk
//! by chunk: nothing holds a whole segment.

use std::net::IpAddr;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tracing::debug;

use crate::board::Front;
use crate::config::Mode;
use crate::probe::failure_kind;

/// Names the origin that answered (or was redirected to): drills and operators read it.
pub const ORIGIN_HEADER: &str = "x-mirrorcast-origin";

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

/// The viewer's headers as the origin gets them: end-to-end ones (Range,
/// If-None-Match, If-Modified-Since, Accept…) as they came, plus X-Forwarded-*.
fn to_origin(headers: &HeaderMap, peer: Option<IpAddr>) -> HeaderMap {
    let listed = connection_listed(headers);
    let mut out = HeaderMap::with_capacity(headers.len() + 2);
    for (name, value) in headers {
        if !hop_by_hop(name, &listed) && name.as_str() != "x-forwarded-for" && name.as_str() != "x-forwarded-host" {
            out.append(name.clone(), value.clone());
        }
    }
    let earlier = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    if let Some(peer) = peer {
        let chain = earlier.map_or_else(|| peer.to_string(), |e| format!("{e}, {peer}"));
        if let Ok(v) = HeaderValue::from_str(&chain) {
            out.insert("x-forwarded-for", v);
        }
    }
    if let Some(host) = headers.get(header::HOST) {
        out.insert("x-forwarded-host", host.clone());
    }
    out
}

/// The viewer's request, by the front's mode.
pub async fn dispatch(front: &Front, method: Method, uri: &Uri, headers: &HeaderMap, peer: Option<IpAddr>) -> Response {
    if method != Method::GET && method != Method::HEAD && method != Method::OPTIONS {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD, OPTIONS")], "method not allowed\n")
            .into_response();
    }
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    match front.config.mode {
        Mode::Proxy => proxy(front, method, path_and_query, headers, peer).await,
        Mode::Redirect => redirect(front, &method, path_and_query),
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
                (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, "range, if-none-match, if-modified-since"),
            ],
        )
            .into_response();
    }
    let origin = front.active().unwrap_or(0);
    front.count_request(origin);
    let spec = &front.config.origins[origin];
    let location = format!("{}{}", spec.base, path_and_query);
    let mut r = StatusCode::FOUND.into_response();
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

async fn proxy(
    front: &Front,
    method: Method,
    path_and_query: &str,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Response {
    let forwarded = to_origin(headers, peer);
    let order = front.attempt_order();
    // A 5xx is kept while other origins are tried: if none does better, the viewer gets it.
    let mut server_error: Option<(usize, reqwest::Response)> = None;
    for &origin in &order {
        let spec = &front.config.origins[origin];
        let request = front
            .client
            .request(method.clone(), format!("{}{}", spec.base, path_and_query))
            .headers(forwarded.clone())
            .send();
        match tokio::time::timeout(front.config.upstream_timeout, request).await {
            Ok(Ok(response)) if response.status().is_server_error() => {
                debug!(target: "mirrorcast_front", "origin '{}' answered {}; trying the next", spec.name, response.status());
                front.count_failed_attempt(origin);
                server_error.get_or_insert((origin, response));
            }
            Ok(Ok(response)) => {
                front.count_request(origin);
                return relay(response, &spec.name);
            }
            Ok(Err(e)) => {
                debug!(target: "mirrorcast_front", "origin '{}': {}; trying the next", spec.name, failure_kind(&e));
                front.count_failed_attempt(origin);
            }
            Err(_) => {
                debug!(target: "mirrorcast_front", "origin '{}': no response head in time; trying the next", spec.name);
                front.count_failed_attempt(origin);
            }
        }
    }
    match server_error {
        Some((origin, response)) => relay(response, &front.config.origins[origin].name),
        None => (StatusCode::BAD_GATEWAY, "no origin answered\n").into_response(),
    }
}

/// The origin's response as the viewer gets it: status, end-to-end headers,
/// the body streamed as it arrives.
fn relay(response: reqwest::Response, origin: &str) -> Response {
    let status = response.status();
    let listed = connection_listed(response.headers());
    let mut headers = HeaderMap::with_capacity(response.headers().len() + 1);
    for (name, value) in response.headers() {
        if !hop_by_hop(name, &listed) {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(ORIGIN_HEADER, v);
    }
    let body = Body::from_stream(response.bytes_stream());
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_to_end_headers_pass_and_hop_by_hop_ones_stop() {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-99"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        h.insert(header::HOST, HeaderValue::from_static("front:8000"));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret-hop"));
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        let out = to_origin(&h, Some("10.0.0.7".parse().unwrap()));
        assert_eq!(out[header::RANGE], "bytes=0-99");
        assert_eq!(out[header::IF_NONE_MATCH], "\"abc\"");
        assert_eq!(out["x-forwarded-for"], "10.0.0.7");
        assert_eq!(out["x-forwarded-host"], "front:8000");
        for gone in ["host", "connection", "x-secret-hop", "te"] {
            assert!(!out.contains_key(gone), "{gone} was forwarded");
        }
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        assert_eq!(to_origin(&h, Some("10.0.0.7".parse().unwrap()))["x-forwarded-for"], "1.2.3.4, 10.0.0.7");
    }
}
