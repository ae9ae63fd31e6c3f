//! Message framing the front refuses, in viewers' requests and origins' answers.
//!
//! Requests: every path the front serves is a GET,
//! HEAD or OPTIONS, and none of them takes a body, but for `POST /keys/clearkey` (a licence
//! request of at most 8 KiB, read whole and sent on with the front's own framing). A body announced on such a
//! request is refused before anything is forwarded, and the connection is
//! closed after the refusal, so no byte of that body is ever read as the next
//! request (on the viewer's connection or, forwarded, on an origin's).
//!
//! hyper, which parses the viewer's request, already refuses with a 400 and
//! closes: two `Content-Length`s that differ, a `Content-Length` that is not a
//! number, a `Transfer-Encoding` whose last coding is not `chunked`, any
//! `Transfer-Encoding` in HTTP/1.0, an obs-folded header line. It lets through
//! both `Content-Length` and `Transfer-Encoding: chunked` (keeping only the
//! latter and closing afterwards) and equal repeated `Content-Length`s (kept
//! once): a `Transfer-Encoding`, or a `Content-Length` other than 0, is refused here.
//!
//! An origin's answer framed both ways (`Content-Length` and `Transfer-Encoding`)
//! is not relayed either: hyper's client reads the chunked body but keeps the
//! `Content-Length`, which the viewer would get with a body of another length.

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Why a request's headers announce a body, if they do.
pub fn announced_body(headers: &HeaderMap) -> Option<&'static str> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Some("it carries Transfer-Encoding");
    }
    // 1*DIGIT of value 0 ("0", "000"), alone or in a list of equal lengths.
    let zero_digits = |n: &str| !n.is_empty() && n.bytes().all(|b| b == b'0');
    let zero = |v: &header::HeaderValue| v.to_str().is_ok_and(|v| v.split(',').all(|n| zero_digits(n.trim())));
    if headers.get_all(header::CONTENT_LENGTH).iter().any(|v| !zero(v)) {
        return Some("its Content-Length is not 0");
    }
    None
}

/// An origin's answer with both `Content-Length` and `Transfer-Encoding`
/// (RFC 9112 6.3: a sign of response smuggling, to be handled as an error).
pub fn framed_both_ways(headers: &HeaderMap) -> bool {
    headers.contains_key(header::CONTENT_LENGTH) && headers.contains_key(header::TRANSFER_ENCODING)
}

/// A tower middleware: 400 and `Connection: close` for a request announcing a body.
pub async fn refuse_bodies(request: Request, next: Next) -> Response {
    match announced_body(request.headers()) {
        None => next.run(request).await,
        // Read whole (bounded) and sent with the front's own framing: see `proxy::is_licence_request`.
        Some(_) if crate::proxy::is_licence_request(request.method(), request.uri()) => next.run(request).await,
        Some(why) => (
            StatusCode::BAD_REQUEST,
            // The body was not read: the connection cannot carry another request.
            [(header::CONNECTION, "close")],
            format!("the front takes no request body and {why}: send the {} without one\n", request.method()),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(header::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_request_announcing_a_body_is_refused_and_one_without_passes() {
        assert_eq!(announced_body(&headers(&[])), None);
        assert_eq!(announced_body(&headers(&[("content-length", "0")])), None, "an empty body is no body");
        assert_eq!(announced_body(&headers(&[("content-length", "0"), ("content-length", "0")])), None);
        assert_eq!(announced_body(&headers(&[("content-length", "0, 0")])), None);
        assert_eq!(announced_body(&headers(&[("content-length", "000")])), None);
        assert!(announced_body(&headers(&[("content-length", "")])).is_some());
        assert!(announced_body(&headers(&[("content-length", "0,")])).is_some());
        assert!(announced_body(&headers(&[("content-length", "00040")])).is_some());
        assert!(announced_body(&headers(&[("content-length", "40")])).is_some());
        assert!(announced_body(&headers(&[("content-length", "0"), ("content-length", "40")])).is_some());
        assert!(announced_body(&headers(&[("content-length", "0, 4")])).is_some());
        assert!(announced_body(&headers(&[("content-length", "+0")])).is_some(), "not a plain 0");
        assert!(announced_body(&headers(&[("transfer-encoding", "chunked")])).is_some());
        assert!(announced_body(&headers(&[("transfer-encoding", "identity")])).is_some());
    }

    #[test]
    fn an_answer_framed_both_ways_is_told_apart() {
        assert!(framed_both_ways(&headers(&[("content-length", "5"), ("transfer-encoding", "chunked")])));
        assert!(!framed_both_ways(&headers(&[("content-length", "5")])));
        assert!(!framed_both_ways(&headers(&[("transfer-encoding", "chunked")])));
    }
}
