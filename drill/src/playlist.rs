//! From manifests to what a player fetches: renditions, each an optional
//! initialization segment and media segments with their durations. Pure: text
//! and the URL it came from in, absolute URLs out (relative references are
//! resolved against the URL the manifest was asked for).

use mirrorcast_media::dash::{fill, Addressing, Mpd, Representation, SegmentList, Template};
use mirrorcast_media::hls::{MediaType, Playlist};
use url::Url;

use crate::envelope::{segment_keys, SegmentKey};

/// What a manifest said that a player cannot follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlaylistError(pub String);

fn bad(why: impl Into<String>) -> PlaylistError {
    PlaylistError(why.into())
}

/// What a rendition carries, which decides what a player plays together (one of each kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Video (an HLS variant with a resolution or a video codec; DASH `video` content).
    Video,
    /// Audio (an audio-only HLS variant or `TYPE=AUDIO` alternative; DASH `audio` content).
    Audio,
    /// Any other DASH content (subtitles, unknown content types).
    Other,
}

/// A media segment to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Absolute, resolved against the manifest's URL.
    pub url: Url,
    /// Seconds of media.
    pub duration: f64,
    /// Its AES-128 key URI and IV (HLS envelope encryption); `None` for a clear segment.
    pub key: Option<SegmentKey>,
}

/// One stream a player follows from start to end.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    /// Stable and readable: `video-640x360`, `audio-audio`, `video-video_600000`.
    pub name: String,
    /// Video, audio or other.
    pub kind: Kind,
    /// Peak bits per second as the manifest states it (HLS `BANDWIDTH`, DASH `bandwidth`); ranks renditions.
    pub bandwidth: u64,
    /// The default among equals (HLS `DEFAULT=YES`).
    pub default: bool,
    /// The initialization segment (HLS `EXT-X-MAP`, DASH init), absolute; `None` for self-contained segments (MPEG-TS).
    pub init: Option<Url>,
    /// The media segments in play order.
    pub segments: Vec<Segment>,
}

impl Rendition {
    /// Seconds of media: its segments' durations summed.
    pub fn duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }
}

/// A variant or alternative of an HLS master playlist: a media playlist to read next.
#[derive(Debug, Clone, PartialEq)]
pub struct HlsEntry {
    /// Stable and readable, as [`Rendition::name`].
    pub name: String,
    /// Video or audio (an audio-only variant, an audio alternative).
    pub kind: Kind,
    /// The variant's `BANDWIDTH`; 0 for an alternative.
    pub bandwidth: u64,
    /// `DEFAULT=YES` on an alternative; false for a variant.
    pub default: bool,
    /// The media playlist, absolute.
    pub playlist: Url,
}

/// The renditions a player plays: the best of each kind, or all of them.
pub trait Choice {
    /// Video, audio or other: one of each is chosen.
    fn kind(&self) -> Kind;
    /// Higher is preferred.
    fn rank(&self) -> (u64, bool);
}

impl Choice for HlsEntry {
    fn kind(&self) -> Kind {
        self.kind
    }
    fn rank(&self) -> (u64, bool) {
        (self.bandwidth, self.default)
    }
}

impl Choice for Rendition {
    fn kind(&self) -> Kind {
        self.kind
    }
    fn rank(&self) -> (u64, bool) {
        (self.bandwidth, self.default)
    }
}

/// The highest-ranked item of each kind (video and audio, as a player shows them together),
/// in the order they came.
pub fn top_of_each_kind<T: Choice + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        match out.iter_mut().find(|o| o.kind() == item.kind()) {
            Some(best) if item.rank() > best.rank() => *best = item.clone(),
            Some(_) => {}
            None => out.push(item.clone()),
        }
    }
    out
}

fn join(base: &Url, reference: &str) -> Result<Url, PlaylistError> {
    base.join(reference).map_err(|e| bad(format!("reference '{reference}' is not a URL: {e}")))
}

fn parse_hls(bytes: &[u8]) -> Result<Playlist, PlaylistError> {
    Playlist::parse(bytes).map_err(|e| bad(e.0))
}

/// An HLS master playlist's variants (video, or audio-only) and audio alternatives.
pub fn hls_master(bytes: &[u8], base: &Url) -> Result<Vec<HlsEntry>, PlaylistError> {
    let master = match parse_hls(bytes)? {
        Playlist::Master(m) => m,
        Playlist::Media(_) => return Err(bad("a media playlist where a master playlist was expected")),
    };
    let mut out = Vec::new();
    for (i, v) in master.variants.iter().filter(|v| !v.i_frame).enumerate() {
        let video =
            v.resolution.is_some() || v.codecs.as_deref().is_some_and(|c| c.contains("avc") || c.contains("hvc"));
        let name = match &v.resolution {
            Some((width, height)) => format!("video-{width}x{height}"),
            None if video => format!("video-{i}"),
            None => format!("variant-{i}"),
        };
        out.push(HlsEntry {
            name,
            kind: if video { Kind::Video } else { Kind::Audio },
            bandwidth: v.bandwidth,
            default: false,
            playlist: join(base, &v.uri)?,
        });
    }
    for a in &master.alternatives {
        let (Some(uri), MediaType::Audio) = (&a.uri, a.media_type) else {
            continue;
        };
        out.push(HlsEntry {
            name: format!("audio-{}", a.name),
            kind: Kind::Audio,
            bandwidth: 0,
            default: a.default,
            playlist: join(base, uri)?,
        });
    }
    // Media Services' audio-only variant (listed by default) is an audio alternative's playlist
    // again: one rendition, under the alternative's name.
    let alternatives: Vec<Url> =
        out.iter().filter(|e| e.name.starts_with("audio-")).map(|e| e.playlist.clone()).collect();
    out.retain(|e| !(e.name.starts_with("variant-") && alternatives.contains(&e.playlist)));
    if out.is_empty() {
        return Err(bad("the master playlist names no variant"));
    }
    Ok(out)
}

/// An HLS media playlist: its initialization segment (`EXT-X-MAP`) and segments.
pub fn hls_media(entry: &HlsEntry, bytes: &[u8]) -> Result<Rendition, PlaylistError> {
    let media = match parse_hls(bytes)? {
        Playlist::Media(m) => m,
        Playlist::Master(_) => return Err(bad("a master playlist where a media playlist was expected")),
    };
    if !media.end_list {
        return Err(bad("a live playlist (no #EXT-X-ENDLIST): the drill plays on-demand streams"));
    }
    let base = &entry.playlist;
    let mut keys = segment_keys(&String::from_utf8_lossy(bytes), base)?;
    if keys.iter().all(Option::is_none) {
        // A clear playlist: nothing to line up.
        keys = vec![None; media.segments.len()];
    } else if keys.len() != media.segments.len() {
        return Err(bad("the media playlist's segment lines do not line up with its AES-128 keys"));
    }
    let mut init = None;
    let mut segments = Vec::new();
    for (s, key) in media.segments.iter().zip(keys) {
        if let Some(map) = &s.map {
            let url = join(base, map)?;
            match &init {
                None => init = Some(url),
                Some(first) if *first == url => {}
                Some(_) => return Err(bad("more than one EXT-X-MAP: the drill follows one initialization segment")),
            }
        }
        if !(s.duration.is_finite() && s.duration >= 0.0) {
            return Err(bad(format!("segment '{}' has no valid duration", s.uri)));
        }
        segments.push(Segment { url: join(base, &s.uri)?, duration: s.duration, key });
    }
    if segments.is_empty() {
        return Err(bad("the media playlist names no segment"));
    }
    Ok(Rendition {
        name: entry.name.clone(),
        kind: entry.kind,
        bandwidth: entry.bandwidth,
        default: entry.default,
        init,
        segments,
    })
}

/// Every Representation of the first Period of a DASH MPD, with its segments
/// (SegmentTemplate with a SegmentTimeline or a fixed duration, or a SegmentList).
pub fn dash(text: &str, base: &Url) -> Result<Vec<Rendition>, PlaylistError> {
    let mpd = Mpd::parse(text).map_err(|e| bad(e.0))?;
    if mpd.dynamic {
        return Err(bad("a live (dynamic) MPD: the drill plays on-demand streams"));
    }
    let period = mpd.periods.first().ok_or_else(|| bad("the MPD has no Period"))?;
    let period_duration = mpd.period_duration(period);
    let mut out = Vec::new();
    for set in &period.adaptation_sets {
        for rep in &set.representations {
            let base = mpd.base_urls(period, set, rep).try_fold(base.clone(), |url, b| join(&url, b))?;
            let content = rep.content(set);
            let kind = if content.starts_with("video") {
                Kind::Video
            } else if content.starts_with("audio") {
                Kind::Audio
            } else {
                Kind::Other
            };
            let id = rep.id.as_str();
            let (init, segments) = match rep.addressing(set, period) {
                Addressing::List(list) => segment_list(list, &base, period_duration)?,
                Addressing::Template(t) => template_segments(&t, rep, &base, period_duration)?,
                // A whole-file sidecar (subtitles) is no stream the viewer's playback waits on.
                Addressing::Single if content.starts_with("text") || content.contains("ttml") => continue,
                Addressing::Single => {
                    return Err(bad(format!("representation '{id}' has no SegmentTemplate or SegmentList")))
                }
            };
            if segments.is_empty() {
                return Err(bad(format!("representation '{id}' has no segment")));
            }
            let label = match kind {
                Kind::Video => "video",
                Kind::Audio => "audio",
                Kind::Other => "other",
            };
            out.push(Rendition {
                name: format!("{label}-{}", if id.is_empty() { rep.bandwidth.to_string() } else { id.to_owned() }),
                kind,
                bandwidth: rep.bandwidth,
                default: false,
                init,
                segments,
            });
        }
    }
    if out.is_empty() {
        return Err(bad("the MPD names no Representation"));
    }
    Ok(out)
}

fn segment_list(
    list: &SegmentList,
    base: &Url,
    period: Option<f64>,
) -> Result<(Option<Url>, Vec<Segment>), PlaylistError> {
    let init = list.initialization.as_deref().map(|u| join(base, u)).transpose()?;
    let each = match list.duration {
        Some(d) => d / list.timescale as f64,
        None => {
            period.ok_or_else(|| bad("a SegmentList with no duration and no period duration"))?
                / list.media.len().max(1) as f64
        }
    };
    let segments = list
        .media
        .iter()
        .map(|u| Ok(Segment { url: join(base, u)?, duration: each, key: None }))
        .collect::<Result<_, _>>()?;
    Ok((init, segments))
}

fn template_segments(
    t: &Template<'_>,
    rep: &Representation,
    base: &Url,
    period: Option<f64>,
) -> Result<(Option<Url>, Vec<Segment>), PlaylistError> {
    let fill = |template: &str, number, time| fill(template, rep, number, time).map_err(|e| bad(e.0));
    let init = t.initialization().map(|i| join(base, &fill(i, None, None)?)).transpose()?;
    let media = t.media().ok_or_else(|| bad("a SegmentTemplate without media"))?;
    let timescale = t.timescale() as f64;
    let segments = t
        .segments(period)
        .map_err(|e| bad(e.0))?
        .iter()
        .map(|s| {
            let url = join(base, &fill(media, Some(s.number), Some(s.time))?)?;
            Ok(Segment { url, duration: s.duration as f64 / timescale, key: None })
        })
        .collect::<Result<_, PlaylistError>>()?;
    Ok((init, segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://front:8000/4b8e0c2a-0000-4000-8000-000000000001/Clip.ism/manifest(format=m3u8-aapl)")
            .unwrap()
    }

    /// The shapes `mirrorcast serve` writes (origin/src/packaging.rs).
    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,URI=\"QualityLevels(128000)/Manifest(audio,format=m3u8-aapl)\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=700000,AVERAGE-BANDWIDTH=650000,CODECS=\"avc1.64000d,mp4a.40.2\",RESOLUTION=320x180,AUDIO=\"audio\"\n\
QualityLevels(600000)/Manifest(video,format=m3u8-aapl)\n\
#EXT-X-STREAM-INF:BANDWIDTH=400000,AVERAGE-BANDWIDTH=350000,CODECS=\"avc1.64000b,mp4a.40.2\",RESOLUTION=160x90,AUDIO=\"audio\"\n\
QualityLevels(300000)/Manifest(video,format=m3u8-aapl)\n\
#EXT-X-STREAM-INF:BANDWIDTH=130000,AVERAGE-BANDWIDTH=128000,CODECS=\"mp4a.40.2\"\n\
QualityLevels(128000)/Manifest(audio,format=m3u8-aapl)\n\
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,CODECS=\"avc1.64000d\",RESOLUTION=320x180,URI=\"QualityLevels(600000)/Manifest(video,format=m3u8-aapl,type=keyframes)\"\n";

    const MEDIA: &str =
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n\
#EXT-X-MAP:URI=\"Fragments(video=i,format=m3u8-aapl)\"\n\
#EXTINF:2.000,\nFragments(video=0,format=m3u8-aapl)\n#EXTINF:2.000,\nFragments(video=25600,format=m3u8-aapl)\n\
#EXTINF:1.500,\nFragments(video=51200,format=m3u8-aapl)\n#EXT-X-ENDLIST\n";

    #[test]
    fn hls_master_names_variants_and_audio_and_top_picks_the_best_of_each_kind() {
        let entries = hls_master(MASTER.as_bytes(), &base()).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["video-320x180", "video-160x90", "audio-audio"]);
        assert_eq!(
            entries[0].playlist.as_str(),
            "http://front:8000/4b8e0c2a-0000-4000-8000-000000000001/Clip.ism/QualityLevels(600000)/Manifest(video,format=m3u8-aapl)"
        );
        let top: Vec<String> = top_of_each_kind(&entries).into_iter().map(|e| e.name).collect();
        assert_eq!(top, ["video-320x180", "audio-audio"]);
    }

    #[test]
    fn hls_media_playlist_gives_the_map_and_every_segment_with_its_duration() {
        let entry = hls_master(MASTER.as_bytes(), &base()).unwrap().remove(0);
        let r = hls_media(&entry, MEDIA.as_bytes()).unwrap();
        assert!(r
            .init
            .as_ref()
            .unwrap()
            .as_str()
            .ends_with("/Clip.ism/QualityLevels(600000)/Fragments(video=i,format=m3u8-aapl)"));
        let durations: Vec<f64> = r.segments.iter().map(|s| s.duration).collect();
        assert_eq!(durations, [2.0, 2.0, 1.5]);
        assert!(r.segments[1].url.as_str().ends_with("QualityLevels(600000)/Fragments(video=25600,format=m3u8-aapl)"));
        assert_eq!(r.duration(), 5.5);
    }

    #[test]
    fn hls_refuses_what_a_vod_player_cannot_follow() {
        let entry = hls_master(MASTER.as_bytes(), &base()).unwrap().remove(0);
        let live = MEDIA.replace("#EXT-X-ENDLIST\n", "");
        assert!(hls_media(&entry, live.as_bytes()).unwrap_err().0.contains("live"));
        assert!(hls_master(b"<html>", &base()).unwrap_err().0.contains("#EXTM3U"));
        assert!(hls_master(MEDIA.as_bytes(), &base()).is_err(), "a media playlist is not a master");
        assert!(hls_media(&entry, MASTER.as_bytes()).is_err(), "a master is not a media playlist");
        assert!(hls_master(b"#EXTM3U\n", &base()).is_err(), "no variant");
    }

    const MPD: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT5.500S" minBufferTime="PT4S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
      <Representation id="video_600000" bandwidth="600000" codecs="avc1.64000d" width="320" height="180">
        <SegmentTemplate timescale="12800" initialization="QualityLevels(600000)/Fragments(video=i,format=mpd-time-csf)" media="QualityLevels(600000)/Fragments(video=$Time$,format=mpd-time-csf)">
          <SegmentTimeline>
            <S t="0" d="25600" r="1" />
            <S t="51200" d="19200" />
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
      <Representation id="video_300000" bandwidth="300000">
        <SegmentTemplate timescale="10" startNumber="5" duration="20" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number%03d$.m4s"/>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4">
      <BaseURL>audio/</BaseURL>
      <SegmentList duration="2" timescale="1">
        <Initialization sourceURL="init.mp4"/>
        <SegmentURL media="a1.m4s"/><SegmentURL media="a2.m4s"/><SegmentURL media="a3.m4s"/>
      </SegmentList>
      <Representation id="aac" bandwidth="128000"/>
    </AdaptationSet>
  </Period>
</MPD>"#;

    /// The origin's text sets are whole-file sidecars (a BaseURL, no segments): the viewer plays on.
    #[test]
    fn a_subtitle_sidecar_in_the_mpd_is_passed_over() {
        let base = Url::parse("http://front/l/Clip.ism/manifest(format=mpd-time-csf)").unwrap();
        let sidecar = "    <AdaptationSet id=\"2\" contentType=\"text\" mimeType=\"text/vtt\" lang=\"en\">\n      <Representation id=\"en\" bandwidth=\"1000\"><BaseURL>QualityLevels(1000)/Fragments(en=0,format=mpd-time-csf).vtt</BaseURL></Representation>\n    </AdaptationSet>\n  </Period>";
        let with_text = MPD.replace("  </Period>", sidecar);
        assert_eq!(dash(&with_text, &base).unwrap().len(), 3, "video, video, audio");
        let no_segments = MPD.replace("<SegmentTemplate timescale=\"10\" startNumber=\"5\" duration=\"20\" initialization=\"$RepresentationID$/init.mp4\" media=\"$RepresentationID$/$Number%03d$.m4s\"/>", "");
        assert!(
            dash(&no_segments, &base).unwrap_err().0.contains("no SegmentTemplate"),
            "a video one is still an error"
        );
    }

    #[test]
    fn dash_timeline_template_and_list_all_become_segments_with_durations() {
        let base = Url::parse("http://front/l/Clip.ism/manifest(format=mpd-time-csf)").unwrap();
        let all = dash(MPD, &base).unwrap();
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["video-video_600000", "video-video_300000", "audio-aac"]);

        let v = &all[0];
        assert_eq!(
            v.init.as_ref().unwrap().as_str(),
            "http://front/l/Clip.ism/QualityLevels(600000)/Fragments(video=i,format=mpd-time-csf)"
        );
        let got: Vec<(String, f64)> =
            v.segments.iter().map(|s| (s.url.path().rsplit('/').next().unwrap().to_owned(), s.duration)).collect();
        assert_eq!(
            got,
            [
                ("Fragments(video=0,format=mpd-time-csf)".to_owned(), 2.0),
                ("Fragments(video=25600,format=mpd-time-csf)".to_owned(), 2.0),
                ("Fragments(video=51200,format=mpd-time-csf)".to_owned(), 1.5)
            ]
        );

        let fixed = &all[1];
        assert_eq!(fixed.segments.len(), 3, "5.5 s in 2 s segments");
        assert!(fixed.segments[0].url.as_str().ends_with("/Clip.ism/video_300000/005.m4s"));
        assert!(fixed.init.as_ref().unwrap().as_str().ends_with("/Clip.ism/video_300000/init.mp4"));

        let audio = &all[2];
        assert_eq!(audio.kind, Kind::Audio);
        assert_eq!(audio.segments[2].url.as_str(), "http://front/l/Clip.ism/audio/a3.m4s");
        assert_eq!(audio.init.as_ref().unwrap().as_str(), "http://front/l/Clip.ism/audio/init.mp4");

        let top: Vec<String> = top_of_each_kind(&all).into_iter().map(|r| r.name).collect();
        assert_eq!(top, ["video-video_600000", "audio-aac"]);
    }

    #[test]
    fn dash_refuses_what_it_cannot_follow() {
        let base = Url::parse("http://front/m.mpd").unwrap();
        for (mpd, why) in [
            ("<html/>", "<MPD>"),
            ("not xml", "XML"),
            (r#"<MPD type="dynamic"><Period/></MPD>"#, "live"),
            (
                r#"<MPD><Period><AdaptationSet><Representation id="x"/></AdaptationSet></Period></MPD>"#,
                "no SegmentTemplate",
            ),
            (
                r#"<MPD><Period><AdaptationSet><Representation id="x"><SegmentTemplate media="$Nope$"><SegmentTimeline><S d="1"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>"#,
                "unknown template variable",
            ),
            (
                r#"<MPD><Period><AdaptationSet><Representation id="x"><SegmentTemplate media="$Time$" duration="2"/></Representation></AdaptationSet></Period></MPD>"#,
                "no presentation duration",
            ),
            (r#"<MPD mediaPresentationDuration="P1X"><Period/></MPD>"#, "ISO 8601"),
            (
                r#"<MPD><Period><AdaptationSet><Representation id="x"><SegmentTemplate media="$Time$"><SegmentTimeline><S d="1" r="2000000"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>"#,
                "more than a million",
            ),
        ] {
            let e = dash(mpd, &base).unwrap_err();
            assert!(e.0.contains(why), "{mpd}: {e}");
        }
    }
}
