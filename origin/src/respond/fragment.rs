//! A packaged segment: a CMAF init segment, or one fragment's samples as a
//! CMAF, Smooth or MPEG-TS segment, cut from a ranged read of its rendition.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mirrorcast_core::catalog::AssetRecord;
use mirrorcast_core::ErrorKind;
use mirrorcast_media::ism::TrackKind;
use mirrorcast_media::smooth_fragment::smooth_fragment_parts;
use mirrorcast_media::ts::ts_segment;

use super::{Pick, MEDIA_CACHE_CONTROL};
use crate::fail::Fail;
use crate::headers::insert;
use crate::renditions::{OwnedRendition, RenditionCache};
use crate::request::{Format, Target};
use crate::segment_body::ChainBody;
use crate::upstream::Upstream;
use crate::validators;

/// The segment of `pick` at `time` (`None`: its init segment).
pub(crate) async fn respond(
    renditions: &RenditionCache,
    upstream: &Upstream,
    asset: &AssetRecord,
    target: &Target,
    pick: Pick<'_>,
    time: Option<u64>,
    headers: &HeaderMap,
) -> Result<Response, Fail> {
    let all = renditions.get(asset, pick.ism).await?;
    if let Some(text) = all.text(pick.bitrate, pick.stream) {
        return super::text::respond(&all, text, target, pick.format, time, headers);
    }
    let r = all.pick(pick.bitrate, pick.stream)?;
    // A fragment's bytes depend on its rendition only, not on the `.ism`.
    let v = validators::packaged(&target.canonical(), &[r.index.version.source()]);
    if validators::not_modified(headers, &v.etag, v.last_modified) {
        return Ok(validators::not_modified_response(&v, MEDIA_CACHE_CONTROL));
    }
    let mut resp = segment(renditions, upstream, asset, r, pick, time).await?;
    validators::set_validators(resp.headers_mut(), &v);
    crate::segment_range::narrow(headers, &v.etag, resp).await
}

async fn segment(
    renditions: &RenditionCache,
    upstream: &Upstream,
    asset: &AssetRecord,
    r: &OwnedRendition,
    pick: Pick<'_>,
    time: Option<u64>,
) -> Result<Response, Fail> {
    let track = r.track()?;
    let format = pick.format;
    crate::ts_carriage::check(format, [track])?;
    let mime = match (format, r.kind) {
        (f, _) if f.is_ts() => "video/MP2T",
        (_, TrackKind::Audio) => "audio/mp4",
        _ => "video/mp4",
    };
    let body = match time {
        // A Smooth client makes its own moov from the manifest's codec private data.
        None if format == Format::Smooth || format.is_ts() => {
            return Err(Fail::NotFound("Smooth and TS have no init segment"))
        }
        None => Body::from(r.index.index.init_segment(track).map_err(|_| Fail::Media)?),
        Some(t) => {
            let (number, fragment) = track.fragment_at(t).ok_or(Fail::NotFound("no fragment at that time"))?;
            let range = track.byte_range(fragment);
            // The blob's metadata alone, no Version (its content tag is a String per segment).
            let (meta, data) = upstream.read_bytes(&asset.asset.container, &r.file, Some(range)).await?;
            if meta.etag != r.index.version.etag {
                // The rendition was replaced: forget the old index, let the client ask again.
                renditions.forget(asset, pick.ism);
                return Err(Fail::Storage(ErrorKind::Transient));
            }
            // CMAF and Smooth: the samples go out as slices of what was read, not copied.
            let parts = match format {
                Format::HlsTs | Format::HlsAapl => {
                    ts_segment(track, number, &data, r.ts_counters(track)?).map(Body::from)
                }
                Format::Smooth => {
                    smooth_fragment_parts(track, number, data.len()).map(|p| Body::new(ChainBody::segment(p, &data)))
                }
                _ => track.media_segment_parts(number, data.len()).map(|p| Body::new(ChainBody::segment(p, &data))),
            };
            parts.map_err(|_| Fail::Media)?
        }
    };
    let length = http_body::Body::size_hint(&body).exact();
    let mut resp = (StatusCode::OK, body).into_response();
    if let Some(length) = length {
        resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    insert(resp.headers_mut(), header::CONTENT_TYPE, mime);
    insert(resp.headers_mut(), header::CACHE_CONTROL, MEDIA_CACHE_CONTROL);
    Ok(resp)
}
