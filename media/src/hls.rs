//! HLS playlists (RFC 8216), read with `m3u8-rs` into the little a player or an audit follows:
//! a master playlist's variants and alternative renditions, a media playlist's segments with
//! their durations and initialization section (`EXT-X-MAP`). Pure: bytes in, model out.

use m3u8_rs::AlternativeMediaType;

use crate::{FormatError, Result};

/// An HLS playlist: a master playlist naming others, or a media playlist naming segments.
#[derive(Debug, Clone, PartialEq)]
pub enum Playlist {
    /// A master playlist: the variants and alternative renditions.
    Master(Master),
    /// A media playlist: the segments.
    Media(MediaPlaylist),
}

/// A master playlist: what a player chooses among.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Master {
    /// `EXT-X-STREAM-INF` and `EXT-X-I-FRAME-STREAM-INF`, in order.
    pub variants: Vec<Variant>,
    /// `EXT-X-MEDIA`.
    pub alternatives: Vec<Alternative>,
}

/// A variant stream: a media playlist and what it needs to be chosen.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Variant {
    /// The media playlist's URI, as written (relative to the master playlist's).
    pub uri: String,
    /// `BANDWIDTH`: peak bits per second.
    pub bandwidth: u64,
    /// Width and height.
    pub resolution: Option<(u64, u64)>,
    /// `CODECS`, as written (RFC 6381 codec strings, comma-separated).
    pub codecs: Option<String>,
    /// An I-frame playlist (`EXT-X-I-FRAME-STREAM-INF`).
    pub i_frame: bool,
}

/// `EXT-X-MEDIA`'s `TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `AUDIO`.
    Audio,
    /// `VIDEO`.
    Video,
    /// `SUBTITLES`.
    Subtitles,
    /// `CLOSED-CAPTIONS` (carried in the video; no URI).
    ClosedCaptions,
    /// A type the reader does not know.
    Other,
}

/// An alternative rendition (`EXT-X-MEDIA`): an audio language, subtitles, another angle.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    /// `TYPE`.
    pub media_type: MediaType,
    /// `NAME`, for people.
    pub name: String,
    /// `LANGUAGE` (RFC 5646 tag), when stated.
    pub language: Option<String>,
    /// `URI` of its media playlist; `None` when the rendition is in the variant's own stream.
    pub uri: Option<String>,
    /// `DEFAULT=YES`: a player picks it when the user has not.
    pub default: bool,
}

/// A media playlist: the segments to fetch in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    /// `EXT-X-ENDLIST`: the playlist is complete (not live).
    pub end_list: bool,
    /// Its segments in play order.
    pub segments: Vec<Segment>,
}

/// A media segment of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The segment's URI, as written (relative to the playlist's).
    pub uri: String,
    /// `EXTINF` seconds, as written (not checked: NaN, negative and infinite are the caller's call).
    pub duration: f64,
    /// The `EXT-X-MAP` URI in force for this segment, when it is stated on it.
    pub map: Option<String>,
}

impl Playlist {
    /// Reads a playlist: it must start with `#EXTM3U`; an error quotes at most 200 characters.
    pub fn parse(bytes: &[u8]) -> Result<Playlist> {
        if !bytes.trim_ascii_start().starts_with(b"#EXTM3U") {
            return Err(FormatError::new("not an HLS playlist: it does not start with #EXTM3U"));
        }
        let parsed = m3u8_rs::parse_playlist_res(bytes).map_err(|e| {
            FormatError::new(format!("not a valid HLS playlist: {e:?}").chars().take(200).collect::<String>())
        })?;
        Ok(match parsed {
            m3u8_rs::Playlist::MasterPlaylist(m) => Playlist::Master(Master {
                variants: m
                    .variants
                    .into_iter()
                    .map(|v| Variant {
                        uri: v.uri,
                        bandwidth: v.bandwidth,
                        resolution: v.resolution.map(|r| (r.width, r.height)),
                        codecs: v.codecs,
                        i_frame: v.is_i_frame,
                    })
                    .collect(),
                alternatives: m
                    .alternatives
                    .into_iter()
                    .map(|a| Alternative {
                        media_type: match a.media_type {
                            AlternativeMediaType::Audio => MediaType::Audio,
                            AlternativeMediaType::Video => MediaType::Video,
                            AlternativeMediaType::Subtitles => MediaType::Subtitles,
                            AlternativeMediaType::ClosedCaptions => MediaType::ClosedCaptions,
                            _ => MediaType::Other,
                        },
                        name: a.name,
                        language: a.language,
                        uri: a.uri,
                        default: a.default,
                    })
                    .collect(),
            }),
            m3u8_rs::Playlist::MediaPlaylist(p) => Playlist::Media(MediaPlaylist {
                end_list: p.end_list,
                segments: p
                    .segments
                    .into_iter()
                    .map(|s| Segment { uri: s.uri, duration: s.duration as f64, map: s.map.map(|m| m.uri) })
                    .collect(),
            }),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The shapes `mirrorcast serve` writes (origin/src/packaging.rs).
    pub(crate) const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,URI=\"QualityLevels(128000)/Manifest(audio,format=m3u8-aapl)\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=700000,AVERAGE-BANDWIDTH=650000,CODECS=\"avc1.64000d,mp4a.40.2\",RESOLUTION=320x180,AUDIO=\"audio\"\n\
QualityLevels(600000)/Manifest(video,format=m3u8-aapl)\n\
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI=\"iframes.m3u8\"\n";

    pub(crate) const MEDIA: &str =
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n\
#EXT-X-MAP:URI=\"Fragments(video=i,format=m3u8-aapl)\"\n\
#EXTINF:2.000,\nFragments(video=0,format=m3u8-aapl)\n#EXTINF:1.500,\nFragments(video=25600,format=m3u8-aapl)\n\
#EXT-X-ENDLIST\n";

    #[test]
    fn a_master_playlist_has_its_variants_i_frame_playlists_and_alternatives() {
        let Playlist::Master(m) = Playlist::parse(MASTER.as_bytes()).unwrap() else { panic!("a master") };
        assert_eq!(m.variants.len(), 2);
        let v = &m.variants[0];
        assert_eq!((v.bandwidth, v.resolution, v.i_frame), (700_000, Some((320, 180)), false));
        assert_eq!(v.uri, "QualityLevels(600000)/Manifest(video,format=m3u8-aapl)");
        assert!(m.variants[1].i_frame);
        let a = &m.alternatives[0];
        assert_eq!((a.media_type, a.name.as_str(), a.default), (MediaType::Audio, "audio", true));
    }

    #[test]
    fn a_media_playlist_has_its_segments_durations_and_map() {
        let Playlist::Media(p) = Playlist::parse(MEDIA.as_bytes()).unwrap() else { panic!("a media playlist") };
        assert!(p.end_list);
        let got: Vec<(&str, f64)> = p.segments.iter().map(|s| (s.uri.as_str(), s.duration)).collect();
        assert_eq!(
            got,
            [("Fragments(video=0,format=m3u8-aapl)", 2.0), ("Fragments(video=25600,format=m3u8-aapl)", 1.5)]
        );
        assert_eq!(p.segments[0].map.as_deref(), Some("Fragments(video=i,format=m3u8-aapl)"));
    }

    #[test]
    fn what_is_not_a_playlist_is_an_error_that_says_so() {
        assert!(Playlist::parse(b"<html>").unwrap_err().0.contains("#EXTM3U"));
        assert!(Playlist::parse(b"\xff\xfe garbage").is_err());
    }
}
