//! The audio-only variant Media Services added to every HLS master by default (app stores
//! require one, so a player on a bad link can keep the sound): an `EXT-X-STREAM-INF` whose CODECS
//! name the audio alone, pointing at the default audio rendition's playlist. `audio-only=false`
//! in the manifest URL leaves it out. Pure: renditions in, playlist lines out.

use std::fmt::Write as _;

use mirrorcast_media::ism::TrackKind;

use crate::packaging::{playlist_url, Rendition};
use crate::request::Format;

/// The audio-only variant's lines, to follow the master's video variants; empty when the master
/// has no video (its variants are audio-only already) or no audio.
pub(crate) fn variant(renditions: &[Rendition<'_>], format: Format) -> String {
    let has_video = renditions.iter().any(|r| r.kind == TrackKind::Video);
    // The default audio rendition, as the master's EXT-X-MEDIA DEFAULT=YES is.
    let audio: Vec<&Rendition<'_>> = renditions.iter().filter(|r| r.kind == TrackKind::Audio).collect();
    match audio.get(crate::audio_labels::hls_default(&audio)).filter(|_| has_video) {
        Some(audio) => stream_inf(audio, format),
        None => String::new(),
    }
}

/// An audio rendition as a variant of its own: CODECS of the audio alone, no RESOLUTION.
pub(crate) fn stream_inf(audio: &Rendition<'_>, format: Format) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"\n{}",
        audio.track.peak_bitrate(),
        audio.track.info.bitrate(),
        audio.track.codecs(),
        playlist_url(audio, format)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audio_only_variant_names_the_default_audio_alone_and_only_beside_video() {
        let dir = tempfile::tempdir().unwrap();
        let index = crate::test_clip::clip(dir.path(), "clip.mp4", "320x180");
        let (v, a) = (index.by_handler("vide").unwrap(), index.by_handler("soun").unwrap());
        let video = Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: v };
        let audio = Rendition { kind: TrackKind::Audio, stream: "aac_en", bitrate: 128_000, language: None, track: a };
        let other = Rendition { stream: "aac_es", ..audio };
        let lines = variant(&[video, audio, other], Format::HlsCmaf);
        assert_eq!(lines.matches("#EXT-X-STREAM-INF:").count(), 1, "{lines}");
        assert!(
            lines.contains(",CODECS=\"mp4a.40.2\"\nQualityLevels(128000)/Manifest(aac_en,format=m3u8-cmaf)\n"),
            "{lines}"
        );
        assert!(!lines.contains("RESOLUTION") && !lines.contains("avc1"), "{lines}");
        assert_eq!(variant(&[audio, other], Format::HlsCmaf), "", "no video: every variant is audio-only already");
        assert_eq!(variant(&[video], Format::HlsCmaf), "", "no audio");
    }
}
