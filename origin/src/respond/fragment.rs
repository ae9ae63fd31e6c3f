//! A packaged segment: a CMAF init segment, or one fragment's samples as a
//! CMAF, Smooth or MPEG-TS segment, cut from a ranged read of its rendition (a stored
//! Smooth fragment that is the announced one: its stored bytes, as they are).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mirrorcast_core::catalog::AssetRecord;
use mirrorcast_core::ErrorKind;
use mirrorcast_media::fragment::TrackIndex;
use mirrorcast_media::ism::TrackKind;
use mirrorcast_media::smooth_fragment::smooth_fragment_parts;
use mirrorcast_media::text_samples::TextCodec;
use mirrorcast_media::ts::ts_segment;

use super::{Pick, MEDIA_CACHE_CONTROL};
use crate::encrypted::{segments as encrypted, Packing};
use crate::fail::Fail;
use crate::renditions::{OwnedRendition, RenditionCache};
use crate::request::{Format, Target};
use crate::segment_body::ChainBody;
use crate::segment_cache::{Cut, Packaging, SegmentCache, Source};
use crate::validators;

/// The segment of `pick` at `time` (`None`: its init segment). A rendition found replaced
/// while the segment is cut is indexed again and the segment cut from the new one; replaced
/// again meanwhile, the client gets 503 and asks again.
pub(crate) async fn respond(
    renditions: &RenditionCache,
    cache: &SegmentCache,
    asset: &AssetRecord,
    target: &Target,
    pick: Pick<'_>,
    time: Option<u64>,
    headers: &HeaderMap,
) -> Result<Response, Fail> {
    let packing = pick.packing;
    let text_name = match target {
        Target::Fragment { text_name, .. } => *text_name,
        _ => None,
    };
    for _ in 0..2 {
        let all = renditions.get(asset, pick.ism).await?;
        // A `.vtt` or `.ttml` name is a text track's segment under the name its manifest gives,
        // never another track's samples under a text name.
        if let Some(name) = text_name {
            let named_so = all
                .text(pick.bitrate, pick.stream)
                .is_some_and(|(text, _)| text.segment_extension(pick.format).eq_ignore_ascii_case(name.extension()));
            if !named_so {
                return Err(Fail::NotFound("a .vtt or .ttml segment URL that names no text track's segment"));
            }
        }
        if let Some(text) = all.text(pick.bitrate, pick.stream) {
            match text.0.fragmented() {
                // A fragmented track's DASH and Smooth segments are cut from its file as a rendition's.
                Some((codec, _)) if !pick.format.is_hls() => {
                    if pick.format == Format::Smooth && codec != TextCodec::Ttml {
                        return Err(Fail::NotFound("Smooth text streams are TTML"));
                    }
                }
                _ => return super::text::respond(&all, text, target, pick.format, time, headers),
            }
        }
        let r = all.pick(pick.bitrate, pick.stream)?;
        // A fragment's bytes depend on its rendition only, not on the `.ism`.
        let name = match packing {
            Some(p) => validators::filtered_target(&target.canonical(), p.tag()),
            None => target.canonical(),
        };
        let v = validators::packaged(&name, &[r.index.version.source()]);
        if validators::not_modified(headers, &v.etag, v.last_modified) {
            return Ok(validators::not_modified_response(&v, MEDIA_CACHE_CONTROL));
        }
        if let Some(mut resp) = segment(cache, asset, r, pick, time, packing).await? {
            validators::set_validators(resp.headers_mut(), &v);
            return crate::segment_range::narrow(headers, &v.etag, resp).await;
        }
        // Replaced since it was indexed: forget the old index, so the next try reads the new one.
        renditions.forget(asset, pick.ism);
    }
    Err(Fail::Storage(ErrorKind::Transient))
}

/// Headers a segment's response ends up with, about.
const RESPONSE_HEADERS: usize = 12;

/// `None`: the rendition's blob is no longer the one indexed.
async fn segment(
    cache: &SegmentCache,
    asset: &AssetRecord,
    r: &OwnedRendition,
    pick: Pick<'_>,
    time: Option<u64>,
    packing: Option<&Packing>,
) -> Result<Option<Response>, Fail> {
    let track = r.track()?;
    let format = pick.format;
    crate::ts_carriage::check(format, [track])?;
    let mime = match (format, r.kind) {
        (f, _) if f.is_ts() => "video/MP2T",
        (_, TrackKind::Audio) => "audio/mp4",
        (_, TrackKind::Text) => "application/mp4",
        _ => "video/mp4",
    };
    let body = match time {
        // A Smooth client makes its own moov from the manifest's codec private data.
        None if format == Format::Smooth || format.is_ts() => {
            return Err(Fail::NotFound("Smooth and TS have no init segment"))
        }
        None => match packing {
            Some(p) => Body::from(encrypted::init(&r.index.index, track, p, &r.file)?),
            None => Body::from(r.index.index.init_segment(track).map_err(|_| Fail::Media)?),
        },
        Some(t) => {
            let (number, fragment) = track.fragment_at(t).ok_or(Fail::NotFound("no fragment at that time"))?;
            // A stored Smooth fragment that is exactly the announced one goes out as stored.
            let stored = if format == Format::Smooth { track.stored_fragment(number) } else { None };
            let as_stored = stored.is_some();
            // Its bytes' range in the blob: worked out on a cache miss only (a loop over its samples).
            let range = || stored.unwrap_or_else(|| track.byte_range(fragment));
            let source = Source { container: &asset.asset.container, name: &r.file, etag: &r.index.version.etag };
            let made = if let Some(p) = packing {
                let make = |data: Bytes| {
                    let clear = || packaged(r, track, number, format, &data).map(Vec::from);
                    let counters = || r.ts_counters(track);
                    encrypted::media(track, number, &data, p, &r.file, clear, counters).map(Bytes::from)
                };
                if cache.enabled() {
                    let (track, packaging) = (track.info.track_id, Packaging::of(format));
                    let cut = Cut::Encrypted { track, number, packaging, protection: p.tag().to_owned() };
                    cache.get(source, cut, range, make).await?.map(Body::from)
                } else {
                    let (meta, data) =
                        cache.upstream().read_bytes(source.container, source.name, Some(range())).await?;
                    (meta.etag == source.etag).then(|| make(data)).transpose()?.map(Body::from)
                }
            } else if cache.enabled() {
                let cut = Cut::Segment { track: track.info.track_id, number, packaging: Packaging::of(format) };
                let make = |data: Bytes| if as_stored { Ok(data) } else { packaged(r, track, number, format, &data) };
                cache.get(source, cut, range, make).await?.map(Body::from)
            } else {
                // The blob's metadata alone, no Version (its content tag is a String per segment).
                let (meta, data) = cache.upstream().read_bytes(source.container, source.name, Some(range())).await?;
                let body = |data: &Bytes| match as_stored {
                    true => Ok(Body::from(data.clone())),
                    false => sliced(r, track, number, format, data),
                };
                (meta.etag == source.etag).then(|| body(&data)).transpose()?
            };
            let Some(body) = made else { return Ok(None) };
            body
        }
    };
    let length = http_body::Body::size_hint(&body).exact();
    let mut resp = (StatusCode::OK, body).into_response();
    let headers = resp.headers_mut();
    // Room for what this and the layers above add (validators, CORS, nosniff, the origin's
    // name): the map is not grown twice per segment.
    headers.reserve(RESPONSE_HEADERS);
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(MEDIA_CACHE_CONTROL));
    Ok(Some(resp))
}

/// Fragment `number` of `track` in `format` from `data` (its byte range as read), its samples
/// going out as slices of `data`, not copied (CMAF and Smooth).
fn sliced(r: &OwnedRendition, track: &TrackIndex, number: usize, format: Format, data: &Bytes) -> Result<Body, Fail> {
    let body = match format {
        f if f.is_ts() => ts_segment(track, number, data, r.ts_counters(track)?).map(Body::from),
        Format::Smooth => {
            smooth_fragment_parts(track, number, data.len()).map(|p| Body::new(ChainBody::segment(p, data)))
        }
        _ => track.media_segment_parts(number, data.len()).map(|p| Body::new(ChainBody::segment(p, data))),
    };
    body.map_err(|_| Fail::Media)
}

/// [`sliced`]'s segment as one buffer of its own, as the segment cache keeps it.
fn packaged(
    r: &OwnedRendition,
    track: &TrackIndex,
    number: usize,
    format: Format,
    data: &Bytes,
) -> Result<Bytes, Fail> {
    let made = match format {
        f if f.is_ts() => ts_segment(track, number, data, r.ts_counters(track)?),
        Format::Smooth => smooth_fragment_parts(track, number, data.len()).map(|p| p.assemble(data)),
        _ => track.media_segment_parts(number, data.len()).map(|p| p.assemble(data)),
    };
    let mut made = made.map_err(|_| Fail::Media)?;
    // Weighed by its length: no spare capacity held beyond it.
    made.shrink_to_fit();
    Ok(Bytes::from(made))
}
