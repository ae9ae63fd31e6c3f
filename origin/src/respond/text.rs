//! A text track's segment: a WebVTT segment of an HLS subtitle playlist (of a WebVTT or TTML
//! sidecar or a fragmented track's cues), the whole sidecar (WebVTT or TTML) a DASH text
//! Representation names, or a TTML sidecar's one Smooth fragment. A fragmented track's own
//! DASH and Smooth segments are cut as renditions' are ([`super::fragment`]).

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::MEDIA_CACHE_CONTROL;
use crate::fail::Fail;
use crate::headers::insert;
use crate::renditions::Renditions;
use crate::request::{Format, Target};
use crate::subtitles::{self, TextBody, TextTrack};
use crate::upstream::Version;
use crate::validators;

/// The segment of `text` at `time` in `format`: for HLS the WebVTT segment of the reference
/// fragment starting at `time`; for DASH (time 0 only) the whole sidecar.
pub(crate) fn respond(
    all: &Renditions,
    (text, version): &(TextTrack, Version),
    target: &Target,
    format: Format,
    time: Option<u64>,
    headers: &HeaderMap,
) -> Result<Response, Fail> {
    let time = time.ok_or(Fail::NotFound("a text track has no init segment"))?;
    let reference = all.reference()?;
    let sources = [version.source(), reference.index.version.source()];
    let v = validators::packaged(&target.canonical(), &sources);
    if validators::not_modified(headers, &v.etag, v.last_modified) {
        return Ok(validators::not_modified_response(&v, MEDIA_CACHE_CONTROL));
    }
    let (body, mime): (Bytes, &str) = match (&text.body, format) {
        (_, f) if f.is_hls() => {
            let segment = subtitles::hls_segment(text.cues(), reference.track()?, f, time);
            (segment.ok_or(Fail::NotFound("no text segment at that time"))?.into(), "text/vtt; charset=utf-8")
        }
        (TextBody::Ttml { document, .. }, Format::Smooth) => {
            let end = crate::smooth_text::sidecar_end(reference.track()?);
            let fragment = crate::smooth_text::sidecar_fragment(document, time, end);
            (
                fragment.ok_or(Fail::NotFound("a TTML sidecar's Smooth stream is one fragment at 0"))?.into(),
                "application/mp4",
            )
        }
        (_, Format::Smooth) => return Err(Fail::NotFound("no Smooth text stream of WebVTT")),
        (_, _) if time != 0 => return Err(Fail::NotFound("a DASH text track is one segment at 0")),
        (TextBody::WebVtt(vtt), _) => (vtt.to_text().into(), "text/vtt; charset=utf-8"),
        (TextBody::Ttml { document, .. }, _) => (document.clone(), "application/ttml+xml"),
        (TextBody::Fragmented { .. }, _) => {
            return Err(Fail::NotFound("a fragmented text track's segments are its own"))
        }
    };
    let mut r = (StatusCode::OK, body).into_response();
    insert(r.headers_mut(), header::CONTENT_TYPE, mime);
    insert(r.headers_mut(), header::CACHE_CONTROL, MEDIA_CACHE_CONTROL);
    validators::set_validators(r.headers_mut(), &v);
    Ok(r)
}
