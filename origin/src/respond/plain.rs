//! A file of the asset as it is stored: ranges, validators, HEAD.

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::TryStreamExt;
use mirrorcast_core::catalog::AssetRecord;
use mirrorcast_core::ErrorKind;
use mirrorcast_http::range::{self, Ranged};

use super::{MANIFEST_CACHE_CONTROL, MEDIA_CACHE_CONTROL};
use crate::fail::Fail;
use crate::headers::insert;
use crate::records::file_of;
use crate::segment_cache::{Cut, SegmentCache, Source};
use crate::upstream::Upstream;
use crate::validators;

pub(crate) async fn respond(
    upstream: &Upstream,
    cache: &SegmentCache,
    method: &Method,
    asset: &AssetRecord,
    name: &str,
    headers: &HeaderMap,
) -> Result<Response, Fail> {
    let file = file_of(asset, name)?;
    let container = &asset.asset.container;
    let meta = cache.head(container, name).await?;
    let etag = validators::plain_etag(meta.properties.content_md5.as_deref(), &meta.etag);
    let mut h = HeaderMap::new();
    insert(&mut h, header::CONTENT_TYPE, &file.mime_type);
    insert(&mut h, header::ETAG, &etag);
    insert(&mut h, header::ACCEPT_RANGES, "bytes");
    insert(&mut h, header::CACHE_CONTROL, cache_control_for(name));
    if let Some(at) = meta.last_modified {
        insert(&mut h, header::LAST_MODIFIED, &httpdate::fmt_http_date(at.into()));
    }
    if validators::not_modified(headers, &etag, meta.last_modified) {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    let wanted = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, range) = match range::resolve(wanted, meta.size) {
        // A seek to the very end is no byte of the file (RFC 9110).
        Ranged::Unsatisfiable | Ranged::AtEnd => return Err(Fail::Unsatisfiable(meta.size)),
        // A header the origin cannot use is ignored, as RFC 9110 allows.
        Ranged::Whole | Ranged::Unusable => (StatusCode::OK, None),
        Ranged::Part(r) => {
            insert(&mut h, header::CONTENT_RANGE, &format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size));
            (StatusCode::PARTIAL_CONTENT, Some(r))
        }
    };
    let length = range.as_ref().map_or(meta.size, |r| r.end - r.start);
    insert(&mut h, header::CONTENT_LENGTH, &length.to_string());
    if method == Method::HEAD {
        return Ok((status, h).into_response());
    }
    if cache.holds_range_of(length) {
        let (start, end) = range.as_ref().map_or((0, meta.size), |r| (r.start, r.end));
        let source = Source { container, name, etag: &meta.etag };
        // Owned and exact (a store's chunk or a mapped file would hold more than its length).
        let own = |data: Bytes| Ok(Bytes::copy_from_slice(&data));
        let kept = cache.get(source, Cut::Range(start, end), || start..end, own).await?;
        // None: the blob was replaced since its metadata was read; the next request sees the new one.
        let body = kept.ok_or(Fail::Storage(ErrorKind::Transient))?;
        return Ok((status, h, body).into_response());
    }
    let got = upstream.timed(upstream.store.get_blob(container, name, range)).await?;
    let body = Body::from_stream(got.stream.map_err(|e| std::io::Error::other(e.kind().to_string())));
    Ok((status, h, body).into_response())
}

/// Manifests change when an asset is re-encoded; media files do not.
fn cache_control_for(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let manifest = [".ism", ".ismc", ".m3u8", ".mpd", ".xml", ".json"].iter().any(|e| lower.ends_with(e));
    if manifest {
        MANIFEST_CACHE_CONTROL
    } else {
        MEDIA_CACHE_CONTROL
    }
}
