//! A `Range` request on a packaged segment: HLS I-frame playlists address a segment's key frame
//! as an `EXT-X-BYTERANGE` of it, which a client fetches as a `Range` of the segment's URL. The
//! segment is made whole (its length is exact) and the range cut from it: 206 with
//! `Content-Range`, 416 past its end; a header the origin cannot use (several ranges), or an
//! `If-Range` naming another version, gets the whole segment, as RFC 9110 allows.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use mirrorcast_http::range::{self, Ranged};

use crate::fail::Fail;
use crate::headers::insert;

/// A segment is at most a fragment's bytes and its headers.
const MAX_SEGMENT_BYTES: usize = mirrorcast_media::fragment::MAX_FRAGMENT_BYTES as usize * 2;

/// `whole` (a 200 with the segment, its validators set, `etag` among them) narrowed to the range
/// `headers` ask for.
pub(crate) async fn narrow(headers: &HeaderMap, etag: &str, mut whole: Response) -> Result<Response, Fail> {
    whole.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let wanted = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let same_version = headers.get(header::IF_RANGE).is_none_or(|v| v.as_bytes() == etag.as_bytes());
    if wanted.is_none() || !same_version || whole.status() != StatusCode::OK {
        return Ok(whole);
    }
    let (mut parts, body) = whole.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_SEGMENT_BYTES).await.map_err(|_| Fail::Media)?;
    let size = bytes.len() as u64;
    match range::resolve(wanted, size) {
        Ranged::Unsatisfiable | Ranged::AtEnd => Err(Fail::Unsatisfiable(size)),
        Ranged::Whole | Ranged::Unusable => Ok(Response::from_parts(parts, Body::from(bytes))),
        Ranged::Part(r) => {
            parts.status = StatusCode::PARTIAL_CONTENT;
            insert(&mut parts.headers, header::CONTENT_RANGE, &format!("bytes {}-{}/{size}", r.start, r.end - 1));
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(r.end - r.start));
            Ok(Response::from_parts(parts, Body::from(bytes.slice(r.start as usize..r.end as usize))))
        }
    }
}
