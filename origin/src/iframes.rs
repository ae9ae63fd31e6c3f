//! HLS I-frame playlists, as Media Services offered them: an `EXT-X-I-FRAME-STREAM-INF` per video
//! rendition in the master, and its media playlist (`EXT-X-I-FRAMES-ONLY`) naming, per segment, an
//! `EXT-X-BYTERANGE` of the very segment the media playlist names: the prefix that holds its key
//! frame (media's `key_frame_ranges`, computed from the same pure packaging, so it is exact).
//! `m3u8-aapl-v3` has none (byte ranges need HLS 4). Pure: renditions in, playlist text out.

use std::fmt::Write as _;

use mirrorcast_media::fragment::TrackIndex;
use mirrorcast_media::ism::TrackKind;
use mirrorcast_media::key_frame_ranges::{key_frame_prefix, Segments};

use crate::packaging::{segment_uri, Rendition};
use crate::request::Format;

/// One segment's key frame: its segment's start (track timescale), how long until the next one
/// (seconds), and the bytes of the segment's prefix that hold it.
struct KeyFrame {
    start: u64,
    seconds: f64,
    bytes: u64,
}

/// Every segment's key frame; `None` when one of them cannot be given a range (then the
/// rendition has no I-frame playlist rather than one with holes).
fn key_frames(track: &TrackIndex, format: Format) -> Option<Vec<KeyFrame>> {
    let segments = if format.is_ts() { Segments::Ts } else { Segments::Cmaf };
    let timescale = track.info.timescale.max(1) as f64;
    (0..track.fragments.len())
        .map(|n| {
            let f = &track.fragments[n];
            let bytes = key_frame_prefix(track, n, segments).ok()??;
            Some(KeyFrame { start: f.start, seconds: f.duration as f64 / timescale, bytes })
        })
        .collect::<Option<Vec<_>>>()
        .filter(|frames| !frames.is_empty())
}

fn iframe_playlist_url(r: &Rendition<'_>, format: Format) -> String {
    format!("QualityLevels({})/Manifest({},format={},type=keyframes)", r.bitrate, r.stream, format.name())
}

/// The master's `EXT-X-I-FRAME-STREAM-INF` lines, one per video rendition (BANDWIDTH: the highest
/// of a key frame's bytes over the time it stands for).
pub(crate) fn stream_infs(renditions: &[Rendition<'_>], format: Format) -> String {
    let mut s = String::new();
    if !format.has_iframe_playlists() {
        return s;
    }
    for v in renditions.iter().filter(|r| r.kind == TrackKind::Video) {
        let Some(frames) = key_frames(v.track, format) else { continue };
        let peak = frames.iter().map(|k| (k.bytes as f64 * 8.0 / k.seconds.max(0.001)).ceil() as u64).max();
        let _ = writeln!(
            s,
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={},CODECS=\"{}\",RESOLUTION={}x{},URI=\"{}\"",
            peak.unwrap_or(0),
            v.track.codecs(),
            v.track.info.width,
            v.track.info.height,
            iframe_playlist_url(v, format)
        );
    }
    s
}

/// The I-frame playlist of a video rendition; `None` for what has none (audio, v3, no ranges).
pub(crate) fn media_playlist(r: &Rendition<'_>, format: Format) -> Option<String> {
    if r.kind != TrackKind::Video || !format.has_iframe_playlists() {
        return None;
    }
    let frames = key_frames(r.track, format)?;
    let target = frames.iter().map(|k| k.seconds.ceil() as u64).max().unwrap_or(1).max(1);
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-I-FRAMES-ONLY\n",
        format.hls_version()
    );
    // TS ranges start with their own PAT and PMT; CMAF ones need the init segment.
    if !format.is_ts() {
        let _ = writeln!(s, "#EXT-X-MAP:URI=\"{}\"", segment_uri(r.stream, None, format));
    }
    for k in &frames {
        let uri = segment_uri(r.stream, Some(k.start), format);
        let _ = writeln!(s, "#EXTINF:{:.3},\n#EXT-X-BYTERANGE:{}@0\n{uri}", k.seconds, k.bytes);
    }
    s.push_str("#EXT-X-ENDLIST\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_video_rendition_gets_an_iframe_playlist_of_its_segments_prefixes_in_hls_4_and_7_only() {
        let dir = tempfile::tempdir().unwrap();
        let index = crate::test_clip::clip(dir.path(), "clip.mp4", "320x180");
        let (v, a) = (index.by_handler("vide").unwrap(), index.by_handler("soun").unwrap());
        let video = Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: v };
        let audio = Rendition { kind: TrackKind::Audio, stream: "audio", bitrate: 128_000, language: None, track: a };
        let master = stream_infs(&[video, audio], Format::HlsCmaf);
        assert_eq!(master.lines().count(), 1, "video only: {master}");
        assert!(master.starts_with("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH="), "{master}");
        assert!(
            master.ends_with(&format!(
                ",CODECS=\"{}\",RESOLUTION=320x180,URI=\"QualityLevels(600000)/Manifest(video,format=m3u8-cmaf,type=keyframes)\"\n",
                v.codecs()
            )),
            "{master}"
        );
        assert_eq!(stream_infs(&[video, audio], Format::HlsTs), "", "HLS 3 has no byte ranges");
        assert!(media_playlist(&audio, Format::HlsCmaf).is_none());
        assert!(media_playlist(&video, Format::HlsTs).is_none());

        for format in [Format::HlsCmaf, Format::HlsAapl] {
            let playlist = media_playlist(&video, format).unwrap();
            assert!(playlist.contains("\n#EXT-X-I-FRAMES-ONLY\n"), "{playlist}");
            assert_eq!(playlist.contains("#EXT-X-MAP:URI=\"Fragments(video=i,"), !format.is_ts(), "{playlist}");
            assert_eq!(playlist.matches("#EXT-X-BYTERANGE:").count(), v.fragments.len(), "{playlist}");
            assert_eq!(playlist.matches("@0\nFragments(video=").count(), v.fragments.len(), "{playlist}");
            let segments = if format.is_ts() { Segments::Ts } else { Segments::Cmaf };
            let first = key_frame_prefix(v, 0, segments).unwrap().unwrap();
            assert!(
                playlist.contains(&format!(
                    "#EXTINF:2.000,\n#EXT-X-BYTERANGE:{first}@0\nFragments(video=0,format={}){}\n",
                    format.name(),
                    format.segment_extension(false)
                )),
                "{playlist}"
            );
        }
    }
}
