//! Packaged manifests (HLS master, DASH MPD, Smooth client manifest) and HLS
//! media playlists, made from the renditions' indexes and kept by ETag.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mirrorcast_core::catalog::AssetRecord;

use super::{Pick, MANIFEST_CACHE_CONTROL};
use crate::bodies::BodyCache;
use crate::encrypted::{manifests as encrypted, Packing};
use crate::fail::Fail;
use crate::filtering::{self, Filters};
use crate::headers::insert;
use crate::packaging::{self, Rendition};
use crate::renditions::{OwnedRendition, RenditionCache};
use crate::request::{Format, Target};
use crate::subtitles::{self, TextTrack};
use crate::validators::{self, Validators};
use crate::{encoding, smooth};
use mirrorcast_media::fragment::TrackIndex;

/// What a packaged response is made from: the renditions and the bodies already made.
pub(crate) struct Packager<'a> {
    pub(crate) renditions: &'a RenditionCache,
    pub(crate) bodies: &'a BodyCache,
    /// A protected locator's encryption: its signalling goes into every manifest.
    pub(crate) packing: Option<&'a Packing>,
}

/// The kept span `(start, end, timescale)` of the reference rendition (the first video, else
/// the first audio) of a time-range selection.
fn kept_span(kept: &[Rendition<'_>]) -> Option<(u64, u64, u64)> {
    use mirrorcast_media::ism::TrackKind;
    let first = |kind| kept.iter().find(|r| r.kind == kind);
    let track = first(TrackKind::Video).or_else(|| first(TrackKind::Audio))?.track;
    let (start, last) = (track.fragments.first()?, track.fragments.last()?);
    Some((start.start, last.start + last.duration, track.info.timescale.max(1) as u64))
}

impl Packager<'_> {
    /// The manifest of every rendition of `ism` `filters` keep, in `format`.
    pub(crate) async fn manifest(
        &self,
        asset: &AssetRecord,
        target: &Target,
        ism: &str,
        format: Format,
        filters: &Filters,
        headers: &HeaderMap,
    ) -> Result<Response, Fail> {
        let all = self.renditions.get(asset, ism).await?;
        let unfiltered: Vec<Rendition<'_>> =
            all.list.iter().map(OwnedRendition::as_rendition).collect::<Result<_, _>>()?;
        let sources: Vec<_> = std::iter::once(all.parsed.version.source())
            .chain(all.list.iter().map(|o| o.index.version.source()))
            .chain(all.texts.iter().map(|(_, v)| v.source()))
            .collect();
        let texts: Vec<&TextTrack> = all.texts.iter().map(|(t, _)| t).collect();
        let v = validators::packaged(&validators::filtered_target(&target.canonical(), &self.tag(filters)), &sources);
        if unfiltered.is_empty() || unfiltered.iter().any(|r| r.track.fragments.is_empty()) {
            // Nothing to cut: a manifest of no segments would be a 200 that plays nothing.
            return Err(Fail::Media);
        }
        let selection = filtering::select(&unfiltered, filters, format.is_hls()).map_err(Fail::BadFilter)?;
        crate::ts_carriage::check(format, unfiltered.iter().map(|r| r.track))?;
        if let Some(packing) = self.packing {
            // Checked before any body is made: a body is never a manifest without its signalling.
            encrypted::check(packing)?;
        }
        // A time range's trimmed tracks are made only when a body is (never for a cached one).
        Ok(match format {
            Format::Smooth => {
                self.packaged_text(headers, &v, "text/xml; charset=utf-8", || {
                    let trimmed = selection.trimmed();
                    let manifest = smooth::client_manifest(&selection.renditions(&trimmed));
                    let manifest = match all.reference().and_then(|r| r.track()) {
                        Ok(reference) => crate::smooth_text::with_text_streams(manifest, &texts, reference).to_xml(),
                        Err(_) => manifest.to_xml(),
                    };
                    Ok(self.protected(format, manifest, None))
                })
                .await?
            }
            f if f.is_hls() => {
                self.packaged_text(headers, &v, "application/vnd.apple.mpegurl", || {
                    let trimmed = selection.trimmed();
                    let kept = selection.renditions(&trimmed);
                    // Subtitles and captions go on the video variants; the audio-only variant and the
                    // I-frame streams follow them; the URL's filters go on to every child URL.
                    let mut master =
                        subtitles::hls_master(packaging::hls_master(&kept, format), &texts, all.captions, format);
                    if matches!(target, Target::Manifest { audio_only: true, .. }) {
                        master.push_str(&crate::audio_only::variant(&kept, format));
                    }
                    master.push_str(&crate::iframes::stream_infs(&kept, format));
                    Ok(self.protected(format, filtering::carry_url_filters(master, &filters.from_url), None))
                })
                .await?
            }
            _ => {
                self.packaged_text(headers, &v, "application/dash+xml", || {
                    let trimmed = selection.trimmed();
                    let kept = selection.renditions(&trimmed);
                    let mpd = packaging::dash(&kept, format);
                    // The text sets follow the reference rendition's kept span (as HLS subtitles do).
                    let span = (!trimmed.is_empty()).then(|| kept_span(&kept)).flatten();
                    Ok(self.protected(format, subtitles::dash(mpd, &texts, all.captions, format, span), None))
                })
                .await?
            }
        })
    }

    /// The HLS media playlist of one rendition, of the fragments `filters` keep (a
    /// rendition they remove is not found).
    pub(crate) async fn playlist(
        &self,
        asset: &AssetRecord,
        target: &Target,
        pick: Pick<'_>,
        filters: &Filters,
        headers: &HeaderMap,
    ) -> Result<Response, Fail> {
        let renditions = self.renditions.get(asset, pick.ism).await?;
        if let Some((text, version)) = renditions.text(pick.bitrate, pick.stream) {
            // Its segments follow the reference rendition's fragments: under a time range, the
            // ones the video keeps (the same rule), so subtitles and video cover one span.
            let reference = renditions.reference()?;
            let track = reference.track()?;
            let range = filtering::range_of(&reference.as_rendition()?, filters).map_err(Fail::BadFilter)?;
            let sources = [renditions.parsed.version.source(), version.source(), reference.index.version.source()];
            let v =
                validators::packaged(&validators::filtered_target(&target.canonical(), &self.tag(filters)), &sources);
            return self
                .packaged_text(headers, &v, "application/vnd.apple.mpegurl", || {
                    Ok(match range {
                        Some(range) => subtitles::hls_media(text, &filtering::trim(track, range), pick.format),
                        None => subtitles::hls_media(text, track, pick.format),
                    })
                })
                .await;
        }
        let r = renditions.pick(pick.bitrate, pick.stream)?;
        let rendition = r.as_rendition()?;
        crate::ts_carriage::check(pick.format, [rendition.track])?;
        if !filtering::keeps(&rendition, filters) {
            return Err(Fail::NotFound("a quality level the filters remove"));
        }
        let range = filtering::range_of(&rendition, filters).map_err(Fail::BadFilter)?;
        let v = validators::packaged(
            &validators::filtered_target(&target.canonical(), &self.tag(filters)),
            &[renditions.parsed.version.source(), r.index.version.source()],
        );
        if let Some(packing) = self.packing {
            encrypted::check(packing)?;
        }
        if matches!(target, Target::IFrames { .. }) {
            return self
                .packaged_text(headers, &v, "application/vnd.apple.mpegurl", || {
                    let trimmed = range.map(|range| filtering::trim(rendition.track, range));
                    let kept = match &trimmed {
                        Some(track) => Rendition { track, ..rendition },
                        None => rendition,
                    };
                    crate::iframes::media_playlist(&kept, pick.format).ok_or(Fail::NotFound("no I-frames"))
                })
                .await;
        }
        self.packaged_text(headers, &v, "application/vnd.apple.mpegurl", || {
            let playlist = match range {
                Some(range) => {
                    let track = filtering::trim(rendition.track, range);
                    packaging::hls_media(&Rendition { track: &track, ..rendition }, pick.format)
                }
                None => packaging::hls_media(&rendition, pick.format),
            };
            Ok(self.protected(pick.format, playlist, Some((rendition.track, r.file.as_str()))))
        })
        .await
    }

    /// The name part of an ETag beyond the target: the filters' content, then the encryption's
    /// (an encrypted manifest or segment is never the clear one's entity, nor another key's).
    fn tag(&self, filters: &Filters) -> String {
        match self.packing {
            Some(p) => format!("{}|{}", filters.tag(), p.tag()),
            None => filters.tag(),
        }
    }

    /// `text` with the packing's signalling (a media playlist's track and rendition for the IVs).
    fn protect(
        &self,
        format: Format,
        text: &str,
        packing: &Packing,
        track: Option<(&TrackIndex, &str)>,
    ) -> Result<String, Fail> {
        match (format, track) {
            (Format::Smooth, _) => encrypted::smooth(text, packing),
            (f, None) if f.is_hls() => encrypted::hls_master(text, packing),
            (_, Some((track, rendition))) => encrypted::hls_media(text, packing, track, rendition),
            _ => encrypted::dash(text, packing),
        }
    }

    /// [`Self::protect`] where a body is made (its signalling checked before, by
    /// `encrypted::check`): a failure left would give an empty body, never a clear manifest.
    fn protected(&self, format: Format, text: String, track: Option<(&TrackIndex, &str)>) -> String {
        match self.packing {
            None => text,
            Some(packing) => self.protect(format, &text, packing, track).unwrap_or_default(),
        }
    }

    /// A packaged manifest or playlist: 304 when the client's copy is current, else
    /// its text, made (and gzipped) once per ETag (which names its target, sources
    /// and packager; concurrent requests wait for the one making it); gzipped for a
    /// client that accepts it, under its own ETag.
    async fn packaged_text(
        &self,
        headers: &HeaderMap,
        v: &Validators,
        content_type: &str,
        make: impl FnOnce() -> Result<String, Fail>,
    ) -> Result<Response, Fail> {
        let gzip = encoding::accepts_gzip(headers);
        let coded;
        let chosen = if gzip {
            coded = Validators { etag: encoding::gzip_etag(&v.etag), last_modified: v.last_modified };
            &coded
        } else {
            v
        };
        let packaged = match validators::not_modified(headers, &chosen.etag, chosen.last_modified) {
            true => None,
            false => Some(self.bodies.get_or_make(&v.etag, make).await?),
        };
        let mut response = validators::conditional(headers, chosen, MANIFEST_CACHE_CONTROL, || {
            let Some(packaged) = packaged else { return StatusCode::NOT_MODIFIED.into_response() };
            let mut r = (StatusCode::OK, packaged.body(gzip)).into_response();
            insert(r.headers_mut(), header::CONTENT_TYPE, content_type);
            if gzip {
                r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        });
        // Either coding may be sent for this URL: caches key on the request's Accept-Encoding.
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        Ok(response)
    }
}
