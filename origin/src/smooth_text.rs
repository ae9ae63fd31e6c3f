//! Smooth text streams (pure): the client manifest's `StreamIndex Type="text"` of each TTML
//! text track — a fragmented `stpp` track's own fragments as its chunks, a TTML sidecar as one
//! chunk covering the presentation — as Media Services listed them (`Subtype="SUBT"`,
//! `FourCC="TTML"`). WebVTT (sidecar or `wvtt`) has no Smooth form: left out of Smooth.

use mirrorcast_media::fragment::TrackIndex;
use mirrorcast_media::ismc::{Chunk, ClientManifest, QualityLevel, StreamIndex, TIMESCALE};
use mirrorcast_media::text_samples::{smooth_text_fragment, TextCodec};

use crate::packaging::timeline;
use crate::subtitles::{TextBody, TextTrack};

/// A TTML sidecar's stream counts in milliseconds.
const SIDECAR_TIMESCALE: u64 = 1000;

/// Where a TTML sidecar's one chunk ends: the reference rendition's end, in ms.
pub fn sidecar_end(reference: &TrackIndex) -> u64 {
    let units = reference.fragments.last().map_or(0, |f| f.start + f.duration) as u128;
    (units * SIDECAR_TIMESCALE as u128).div_ceil(reference.info.timescale.max(1) as u128) as u64
}

/// The Smooth fragment of a TTML sidecar: the document as stored, one sample from 0 to `end`
/// (ms); `None` at any other time.
pub fn sidecar_fragment(document: &[u8], time: u64, end: u64) -> Option<Vec<u8>> {
    (time == 0).then(|| smooth_text_fragment(0, end.max(1), document.to_vec()))
}

/// `manifest` with a text stream per TTML track of `texts` after its video and audio.
pub fn with_text_streams(mut manifest: ClientManifest, texts: &[&TextTrack], reference: &TrackIndex) -> ClientManifest {
    for t in texts {
        let (timescale, chunks) = match &t.body {
            TextBody::Fragmented { codec: TextCodec::Ttml, track, .. } => {
                let chunks = timeline(track)
                    .into_iter()
                    .map(|(t, d, repeats)| Chunk { t: Some(t), d, r: (repeats > 0).then_some(repeats + 1) })
                    .collect();
                (track.info.timescale as u64, chunks)
            }
            TextBody::Ttml { .. } => {
                (SIDECAR_TIMESCALE, vec![Chunk { t: Some(0), d: sidecar_end(reference).max(1), r: None }])
            }
            _ => continue,
        };
        let end: u64 = chunks.last().map_or(0, |c: &Chunk| c.t.unwrap_or(0) + c.d * c.r.unwrap_or(1) as u64);
        manifest.duration = manifest.duration.max((end as u128 * TIMESCALE as u128 / timescale.max(1) as u128) as u64);
        manifest.streams.push(StreamIndex {
            kind: "text".to_owned(),
            subtype: Some("SUBT".to_owned()),
            name: t.stream.clone(),
            language: t.language.clone(),
            url: format!("QualityLevels({{bitrate}})/Fragments({}={{start time}})", t.stream),
            timescale: Some(timescale),
            max_width: None,
            max_height: None,
            quality_levels: vec![QualityLevel {
                index: 0,
                bitrate: t.bitrate,
                fourcc: "TTML".to_owned(),
                ..Default::default()
            }],
            chunks,
        });
    }
    manifest
}
