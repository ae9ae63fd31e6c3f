//! Text tracks (pure): the `.ism`'s `textstream`s — WebVTT and TTML sidecars, fragmented
//! `stpp`/`wvtt` tracks (`.ismt`, `.cmft`) — as HLS subtitle renditions
//! (`EXT-X-MEDIA:TYPE=SUBTITLES`, a WebVTT media playlist whose segments are the reference
//! track's fragments; TTML converted to WebVTT, styling dropped) and DASH text AdaptationSets
//! (the whole sidecar, or the fragmented track's own fMP4 segments). Smooth text streams are
//! [`crate::smooth_text`]'s.
//!
//! The master and the MPD are made by [`crate::packaging`] and completed here (lines added
//! where they belong), so packaging stays one function per format.

use std::fmt::Write as _;

use bytes::Bytes;
use mirrorcast_media::captions::Captions;
use mirrorcast_media::fragment::TrackIndex;
use mirrorcast_media::ism::IsmTrack;
use mirrorcast_media::text_samples::TextCodec;
use mirrorcast_media::ts::PRESENTATION_START_90K;
use mirrorcast_media::webvtt::WebVtt;
use mirrorcast_media::{ttml, ttml_cues, webvtt};

use crate::request::Format;

/// The HLS group every variant names.
const GROUP: &str = "subs";

/// What a text track's file holds, read and checked.
#[derive(Debug)]
pub enum TextBody {
    /// A WebVTT sidecar.
    WebVtt(WebVtt),
    /// A TTML/IMSC1 sidecar, as stored (DASH, Smooth), and its cues (HLS).
    Ttml {
        /// The document as stored.
        document: Bytes,
        /// Its paragraphs as WebVTT cues (styling dropped).
        cues: WebVtt,
    },
    /// A fragmented text track: its samples' cues (HLS); its own fragments go to DASH and
    /// Smooth (TTML only) from the stored file.
    Fragmented {
        /// `stpp` or `wvtt`.
        codec: TextCodec,
        /// The samples' cues (TTML's styling dropped).
        cues: WebVtt,
        /// The track's samples and fragments (the MPD's timeline, Smooth's chunks).
        track: Box<TrackIndex>,
    },
}

/// One text track of an `.ism`, its file read and checked.
#[derive(Debug)]
pub struct TextTrack {
    /// The key in `Fragments(<stream>=…)` and `Manifest(<stream>,…)`: the `trackName` when it is
    /// fit for a URL, else `text<N>`.
    pub stream: String,
    /// The `.ism`'s `systemBitrate`: the key in `QualityLevels(…)`.
    pub bitrate: u64,
    /// The `.ism`'s `systemLanguage` (a plain tag).
    pub language: Option<String>,
    /// What a player shows: the `trackName`, else the language, else the stream.
    pub name: String,
    /// The cues or the document.
    pub body: TextBody,
}

/// Which kind of sidecar a file name says, if any the origin offers.
pub fn sidecar_kind(file: &str) -> Option<&'static str> {
    let lower = file.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
    match ext {
        "vtt" | "webvtt" => Some("webvtt"),
        "ttml" | "dfxp" | "xml" => Some("ttml"),
        _ => None,
    }
}

/// The largest sidecar read (and the most bytes a fragmented text track's samples may span).
pub const MAX_SIDECAR_BYTES: u64 =
    if webvtt::MAX_BYTES > ttml::MAX_BYTES { webvtt::MAX_BYTES } else { ttml::MAX_BYTES } as u64;

impl TextTrack {
    /// The `n`th text track of the `.ism` from its sidecar's bytes, or why it is not offered
    /// (not a sidecar, a malformed or oversized file).
    pub fn read(t: &IsmTrack, n: usize, file: &str, bytes: Bytes) -> Result<TextTrack, String> {
        let body = match sidecar_kind(file) {
            Some("webvtt") => TextBody::WebVtt(WebVtt::parse(&bytes).map_err(|e| e.to_string())?),
            Some(_) => {
                // The streamed, bounded reading first: a hostile document never reaches the tree.
                let cues = ttml_cues::to_webvtt(&bytes).map_err(|e| e.to_string())?;
                ttml::check(&bytes).map_err(|e| e.to_string())?;
                TextBody::Ttml { document: bytes, cues }
            }
            None => return Err("not a .vtt or .ttml sidecar".to_owned()),
        };
        Ok(Self::named(t, n, body))
    }

    /// The `n`th text track of the `.ism`, `body` read from its file.
    pub fn named(t: &IsmTrack, n: usize, body: TextBody) -> TextTrack {
        let url_fit = |s: &&String| {
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        let stream = t.track_name.as_ref().filter(url_fit).cloned().unwrap_or_else(|| format!("text{n}"));
        let name = t.track_name.clone().or_else(|| t.language.clone()).unwrap_or_else(|| stream.clone());
        TextTrack { stream, bitrate: t.system_bitrate, language: t.language.clone(), name, body }
    }

    /// Its cues, as HLS carries them.
    pub fn cues(&self) -> &WebVtt {
        match &self.body {
            TextBody::WebVtt(cues) | TextBody::Ttml { cues, .. } | TextBody::Fragmented { cues, .. } => cues,
        }
    }

    /// The fragmented track, if it is one.
    pub fn fragmented(&self) -> Option<(TextCodec, &TrackIndex)> {
        match &self.body {
            TextBody::Fragmented { codec, track, .. } => Some((*codec, track)),
            _ => None,
        }
    }

    /// Bytes it holds, about: what it weighs in the renditions cache beside the indexes.
    pub fn weight(&self) -> u64 {
        let vtt = self.cues();
        let blocks: usize = vtt.header_blocks.iter().map(String::len).sum();
        let cue = |c: &webvtt::Cue| 64 + c.text.len() + c.settings.len() + c.id.as_ref().map_or(0, String::len);
        let document = match &self.body {
            TextBody::Ttml { document, .. } => document.len(),
            TextBody::Fragmented { track, .. } => track.offsets.len() * 24,
            TextBody::WebVtt(_) => 0,
        };
        (blocks + vtt.cues.iter().map(cue).sum::<usize>() + document) as u64
    }

    fn playlist_url(&self, format: Format) -> String {
        format!("QualityLevels({})/Manifest({},format={})", self.bitrate, self.stream, format.name())
    }

    /// A text segment's URL (HLS: always WebVTT; DASH: the sidecar's own format).
    fn segment_url(&self, time: u64, format: Format) -> String {
        let ext = self.segment_extension(format);
        format!("Fragments({}={time},format={}){ext}", self.stream, format.name())
    }

    /// The extension its segments' URLs end with in `format`, as its manifests name them.
    pub(crate) fn segment_extension(&self, format: Format) -> &'static str {
        match &self.body {
            _ if format.is_hls() => ".vtt",
            TextBody::WebVtt(_) => ".vtt",
            TextBody::Ttml { .. } => ".ttml",
            TextBody::Fragmented { .. } => format.segment_extension(false),
        }
    }
}

/// A name for an HLS quoted-string attribute: no quote, no line break.
fn quoted(name: &str) -> String {
    name.chars().filter(|c| *c != '"' && !c.is_control()).collect()
}

/// The master with a `SUBTITLES` group of every WebVTT track and a `CLOSED-CAPTIONS` group
/// when the video carries captions, named on every variant (`EXT-X-STREAM-INF`; I-frame
/// variants take no group). No `CLOSED-CAPTIONS=NONE`: captions the scan of the first samples
/// missed stay findable by the player.
pub fn hls_master(master: String, texts: &[&TextTrack], captions: Captions, format: Format) -> String {
    let hls = texts;
    if hls.is_empty() && !captions.any() {
        return master;
    }
    let mut media = String::new();
    let mut attributes = String::new();
    if !hls.is_empty() {
        let _ = write!(attributes, ",SUBTITLES=\"{GROUP}\"");
    }
    if captions.any() {
        // INSTREAM-ID names the first service of the kind found: CC1 (608), else SERVICE1 (708).
        let id = if captions.cea608 { "CC1" } else { "SERVICE1" };
        let _ = writeln!(media, "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"{id}\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"{id}\"");
        attributes.push_str(",CLOSED-CAPTIONS=\"cc\"");
    }
    for t in hls {
        let _ = write!(media, "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{GROUP}\",NAME=\"{}\"", quoted(&t.name));
        if let Some(language) = &t.language {
            let _ = write!(media, ",LANGUAGE=\"{language}\"");
        }
        // Subtitles are shown when the viewer's language or settings ask, never forced on.
        let _ = writeln!(media, ",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI=\"{}\"", t.playlist_url(format));
    }
    let mut out = String::with_capacity(master.len() + media.len() + 64);
    let mut placed = false;
    for line in master.lines() {
        if let Some(variant) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            if !placed {
                out.push_str(&media);
                placed = true;
            }
            let _ = writeln!(out, "#EXT-X-STREAM-INF:{variant}{attributes}");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !placed {
        out.push_str(&media);
    }
    out
}

/// Presentation time of sample `i` in milliseconds (its composition time less the edit list's
/// start), rounded down, 0 at the least.
fn presentation_ms(track: &TrackIndex, i: usize) -> u64 {
    let decode = track.info.decode_times.get(i).copied().unwrap_or(0) as i128;
    let offset = match &track.composition_offsets {
        Some(c) if track.signed_offsets => c.get(i).copied().unwrap_or(0) as i32 as i128,
        Some(c) => c.get(i).copied().unwrap_or(0) as i128,
        None => 0,
    };
    let units = (decode + offset - track.media_start as i128).max(0);
    (units * 1000 / track.info.timescale.max(1) as i128) as u64
}

/// The presentation window `[start, end)` in ms of each fragment of `reference`: the first from
/// 0, the last open-ended, so every cue is in some segment.
fn windows(reference: &TrackIndex) -> Vec<(u64, u64, u64)> {
    let f = &reference.fragments;
    (0..f.len())
        .map(|i| {
            let start = if i == 0 { 0 } else { presentation_ms(reference, f[i].first) };
            let end = f.get(i + 1).map_or(u64::MAX, |next| presentation_ms(reference, next.first));
            (f[i].start, start, end.max(start))
        })
        .collect()
}

/// A text track's HLS media playlist: one WebVTT segment per fragment of `reference` (the
/// first video rendition, else the first audio one), with its duration.
pub fn hls_media(text: &TextTrack, reference: &TrackIndex, format: Format) -> String {
    let timescale = reference.info.timescale.max(1) as f64;
    let target = reference.fragments.iter().map(|f| (f.duration as f64 / timescale).ceil() as u64).max().unwrap_or(1);
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
        format.hls_version()
    );
    for f in &reference.fragments {
        let _ = writeln!(s, "#EXTINF:{:.3},\n{}", f.duration as f64 / timescale, text.segment_url(f.start, format));
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

/// The WebVTT segment at `time` (a fragment start of `reference`), or `None` when no fragment
/// starts there. Its `X-TIMESTAMP-MAP` ties presentation time 0 to the media's clock: the TS
/// packager's first PTS; in fMP4, 0: the segments' decode times start at 0 and the init segment's
/// edit list starts presentation there (hls.js in Chromium shows the first frame at 0; a map at
/// the edit's media time put every cue that much late).
pub fn hls_segment(vtt: &WebVtt, reference: &TrackIndex, format: Format, time: u64) -> Option<String> {
    let (_, start, end) = windows(reference).into_iter().find(|(t, _, _)| *t == time)?;
    let mpegts = if format.is_ts() { PRESENTATION_START_90K } else { 0 };
    Some(vtt.segment(start, end, mpegts))
}

/// `Accessibility` descriptors after the video AdaptationSet's opening line.
fn with_accessibility(mpd: String, captions: Captions) -> String {
    let Some(open) = mpd.find("contentType=\"video\"") else { return mpd };
    let Some(line_end) = mpd[open..].find('\n').map(|n| open + n + 1) else { return mpd };
    let mut descriptors = String::new();
    if captions.cea608 {
        descriptors.push_str("      <Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-608:2015\" value=\"CC1\" />\n");
    }
    if captions.cea708 {
        descriptors.push_str("      <Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-708:2015\" value=\"1\" />\n");
    }
    let mut out = mpd;
    out.insert_str(line_end, &descriptors);
    out
}

/// XML text: the five escapes.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// The MPD with a text AdaptationSet per track, added at the end of the period: a sidecar's
/// (WebVTT or TTML) one Representation whose BaseURL is the whole file; a fragmented track's
/// its own segments (`stpp`/`wvtt` in fMP4, a SegmentTimeline of its fragments). The video set
/// says the captions its SEI carries (`Accessibility`, SCTE 214 schemes). Under a time range,
/// `span` is the video's kept span `(start, end, timescale)`: a fragmented track keeps the
/// fragments that span keeps, and every text Representation starts the period where the
/// video's do (its presentationTimeOffset), so cues stay on the video's clock.
pub fn dash(
    mpd: String,
    texts: &[&TextTrack],
    captions: Captions,
    format: Format,
    span: Option<(u64, u64, u64)>,
) -> String {
    let mpd = with_accessibility(mpd, captions);
    let Some(at) = mpd.rfind("  </Period>") else { return mpd };
    if texts.is_empty() {
        return mpd;
    }
    let first_id = mpd.matches("<AdaptationSet ").count();
    let mut sets = String::new();
    for (i, t) in texts.iter().enumerate() {
        // A TTML set names no contentType: its mimeType says text to DASH players, and ffmpeg
        // (5.1), which opens every text set and cannot read a TTML file, fails the whole MPD
        // on one it takes for text, but leaves one of an unknown type alone. A fragmented
        // track's set says its codec instead.
        let (content, mime, codecs) = match &t.body {
            TextBody::WebVtt(_) => (" contentType=\"text\"", "text/vtt", String::new()),
            TextBody::Ttml { .. } => ("", "application/ttml+xml", String::new()),
            TextBody::Fragmented { codec, .. } => {
                (" contentType=\"text\"", "application/mp4", format!(" codecs=\"{}\"", codec.fourcc()))
            }
        };
        let lang = t.language.as_deref().map(|l| format!(" lang=\"{l}\"")).unwrap_or_default();
        let _ = write!(
            sets,
            "    <AdaptationSet id=\"{}\"{content} mimeType=\"{mime}\"{codecs}{lang}>\n      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"subtitle\" />\n      <Label>{}</Label>\n      <Representation id=\"{}_{}\" bandwidth=\"{}\">\n",
            first_id + i,
            xml(&t.name),
            t.stream,
            t.bitrate,
            t.bitrate.max(1),
        );
        // The span's start in `timescale` units, as a presentationTimeOffset attribute.
        let offset = |timescale: u64| {
            span.map_or_else(String::new, |(start, _, scale)| {
                let own = start as u128 * timescale as u128 / scale.max(1) as u128;
                format!(" presentationTimeOffset=\"{own}\"")
            })
        };
        let trimmed = match (t.fragmented(), span) {
            (Some((_, track)), Some(span)) => crate::filtering::trim_to_span(track, span),
            _ => None,
        };
        match t.fragmented() {
            None => {
                let _ = writeln!(
                    sets,
                    "        <BaseURL>QualityLevels({})/{}</BaseURL>",
                    t.bitrate,
                    t.segment_url(0, format)
                );
                if span.is_some() {
                    let _ = writeln!(sets, "        <SegmentBase timescale=\"1000\"{} />", offset(1000));
                }
            }
            Some((_, whole)) => {
                let track = trimmed.as_ref().unwrap_or(whole);
                let _ = writeln!(
                    sets,
                    "        <SegmentTemplate timescale=\"{}\"{} initialization=\"QualityLevels({b})/Fragments({n}=i,format={f}){init}\" media=\"QualityLevels({b})/Fragments({n}=$Time$,format={f}){media}\">\n          <SegmentTimeline>",
                    track.info.timescale,
                    offset(track.info.timescale as u64),
                    b = t.bitrate,
                    n = t.stream,
                    f = format.name(),
                    init = format.segment_extension(true),
                    media = format.segment_extension(false),
                );
                for (start, d, repeat) in crate::packaging::timeline(track) {
                    let _ = match repeat {
                        0 => writeln!(sets, "            <S t=\"{start}\" d=\"{d}\" />"),
                        r => writeln!(sets, "            <S t=\"{start}\" d=\"{d}\" r=\"{r}\" />"),
                    };
                }
                sets.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n");
            }
        }
        sets.push_str("      </Representation>\n    </AdaptationSet>\n");
    }
    let mut out = mpd;
    out.insert_str(at, &sets);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clip::small_clip as index;
    use mirrorcast_media::ism::TrackKind;

    const VTT: &str = "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello\n\n00:00:01.800 --> 00:00:02.500\nAcross\n\n00:00:04.200 --> 00:00:04.900\nLast\n";

    fn text(name: Option<&str>, language: Option<&str>, file: &str, bytes: &str) -> Result<TextTrack, String> {
        let mut t = IsmTrack::new(TrackKind::Text, file, 1000);
        t.track_name = name.map(str::to_owned);
        t.language = language.map(str::to_owned);
        TextTrack::read(&t, 0, file, Bytes::from(bytes.to_owned()))
    }

    #[test]
    fn the_master_names_a_subtitles_group_on_every_variant() {
        let t = text(Some("English"), Some("en"), "subs.vtt", VTT).unwrap();
        let master = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"a\",URI=\"x\"\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"audio\"\nv1\n#EXT-X-STREAM-INF:BANDWIDTH=2,AUDIO=\"audio\"\nv2\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i\"\n";
        let out = hls_master(master.to_owned(), &[&t], Captions::default(), Format::HlsCmaf);
        assert!(out.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI=\"QualityLevels(1000)/Manifest(English,format=m3u8-cmaf)\"\n#EXT-X-STREAM-INF:BANDWIDTH=1"), "{out}");
        assert_eq!(out.matches(",SUBTITLES=\"subs\"\n").count(), 2, "{out}");
        assert!(out.contains("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i\"\n"), "{out}");
        assert_eq!(hls_master(master.to_owned(), &[], Captions::default(), Format::HlsCmaf), master);
        let ttml = text(None, Some("fr"), "s.ttml", "<tt xmlns=\"http://www.w3.org/ns/ttml\"/>").unwrap();
        let out = hls_master(master.to_owned(), &[&ttml], Captions::default(), Format::HlsCmaf);
        assert!(out.contains("NAME=\"fr\",LANGUAGE=\"fr\""), "TTML is in HLS too, as WebVTT: {out}");
    }

    #[test]
    fn captions_in_the_video_are_announced_in_the_master_and_the_mpd() {
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv1\n";
        let cc = Captions { cea608: true, cea708: false };
        let out = hls_master(master.to_owned(), &[], cc, Format::HlsAapl);
        assert!(out.contains("#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC1\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"CC1\"\n#EXT-X-STREAM-INF:BANDWIDTH=1,CLOSED-CAPTIONS=\"cc\"\n"), "{out}");
        let mpd = "<MPD>\n  <Period>\n    <AdaptationSet id=\"0\" contentType=\"video\">\n    </AdaptationSet>\n  </Period>\n</MPD>\n";
        let out = dash(mpd.to_owned(), &[], Captions { cea608: true, cea708: true }, Format::DashCsf, None);
        assert!(out.contains("contentType=\"video\">\n      <Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-608:2015\" value=\"CC1\" />\n      <Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-708:2015\""), "{out}");
        assert_eq!(
            dash(mpd.to_owned(), &[], Captions::default(), Format::DashCsf, None),
            mpd,
            "none found: nothing said"
        );
    }

    #[test]
    fn segments_are_the_video_fragments_with_the_clock_of_each_format() {
        let index = index();
        let v = index.by_handler("vide").unwrap();
        let t = text(Some("English"), Some("en"), "subs.vtt", VTT).unwrap();
        let vtt = t.cues();
        let media = hls_media(&t, v, Format::HlsAapl);
        let ts = v.info.timescale as u64;
        assert_eq!(media.matches("#EXTINF:").count(), v.fragments.len(), "{media}");
        for f in &v.fragments {
            assert!(media.contains(&format!("Fragments(English={},format=m3u8-aapl).vtt\n", f.start)), "{media}");
        }
        let first = hls_segment(vtt, v, Format::HlsAapl, 0).unwrap();
        assert!(first.contains("X-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000"), "{first}");
        assert!(first.contains("Hello") && first.contains("Across"), "{first}");
        let second = hls_segment(vtt, v, Format::HlsAapl, 2 * ts).unwrap();
        assert!(second.contains("Across") && !second.contains("Hello"), "the cue across 2 s is repeated: {second}");
        let last = hls_segment(vtt, v, Format::HlsAapl, 4 * ts).unwrap();
        assert!(last.contains("Last") && !last.contains("Across"), "{last}");
        let cmaf = hls_segment(vtt, v, Format::HlsCmaf, 0).unwrap();
        assert!(cmaf.contains("MPEGTS:0,LOCAL"), "fMP4 presentation starts at 0 (its edit list): {cmaf}");
        assert!(hls_segment(vtt, v, Format::HlsAapl, 1).is_none(), "no fragment starts there");
        assert!(t.weight() > 3 * 64, "its cues weigh in the cache: {}", t.weight());
    }

    #[test]
    fn dash_gets_a_text_adaptation_set_per_sidecar() {
        let vtt = text(Some("English"), Some("en"), "subs.vtt", VTT).unwrap();
        let ttml = text(Some("a&b"), Some("fr"), "s.ttml", "<tt xmlns=\"http://www.w3.org/ns/ttml\"/>").unwrap();
        let mpd = "<MPD>\n  <Period>\n    <AdaptationSet id=\"0\">\n    </AdaptationSet>\n  </Period>\n</MPD>\n";
        let out = dash(mpd.to_owned(), &[&vtt, &ttml], Captions::default(), Format::DashCsf, None);
        assert!(
            out.contains("<AdaptationSet id=\"1\" contentType=\"text\" mimeType=\"text/vtt\" lang=\"en\">"),
            "{out}"
        );
        assert!(
            out.contains("<BaseURL>QualityLevels(1000)/Fragments(English=0,format=mpd-time-csf).vtt</BaseURL>"),
            "{out}"
        );
        assert!(out.contains("<AdaptationSet id=\"2\" mimeType=\"application/ttml+xml\" lang=\"fr\">"), "{out}");
        assert!(out.contains("<Label>a&amp;b</Label>") && out.contains("(text0=0,format=mpd-time-csf).ttml<"), "{out}");
        assert!(
            out.contains("value=\"subtitle\"") && out.ends_with("    </AdaptationSet>\n  </Period>\n</MPD>\n"),
            "{out}"
        );
    }

    /// Under a time range, the fragmented text set lists only the fragments the video's kept
    /// span keeps, and every text Representation starts where the video's do.
    #[test]
    fn a_time_range_trims_the_dash_text_sets_to_the_videos_kept_span() {
        let index = index();
        let v = index.by_handler("vide").unwrap();
        let ts = v.info.timescale as u64;
        let sidecar = text(Some("English"), Some("en"), "subs.vtt", VTT).unwrap();
        let cues = WebVtt::parse(VTT.as_bytes()).unwrap();
        let body = TextBody::Fragmented { codec: TextCodec::WebVtt, cues, track: Box::new(v.clone()) };
        let fragmented = TextTrack::named(&IsmTrack::new(TrackKind::Text, "t.cmft", 2000), 1, body);
        let mpd = "<MPD>\n  <Period>\n    <AdaptationSet id=\"0\">\n    </AdaptationSet>\n  </Period>\n</MPD>\n";
        let whole = dash(mpd.to_owned(), &[&sidecar, &fragmented], Captions::default(), Format::DashCsf, None);
        assert!(whole.contains("<S t=\"0\"") && whole.contains("<SegmentTimeline>"), "{whole}");
        assert!(!whole.contains("presentationTimeOffset"), "{whole}");
        // The video kept the fragment at 2 s.
        let span = Some((2 * ts, 4 * ts, ts));
        let out = dash(mpd.to_owned(), &[&sidecar, &fragmented], Captions::default(), Format::DashCsf, span);
        let starts: Vec<&str> = out.split("<S t=\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
        assert_eq!(starts, [(2 * ts).to_string()], "{out}");
        assert!(out.contains(&format!("timescale=\"{ts}\" presentationTimeOffset=\"{}\"", 2 * ts)), "{out}");
        assert!(out.contains("<SegmentBase timescale=\"1000\" presentationTimeOffset=\"2000\" />"), "{out}");
    }

    #[test]
    fn a_sidecar_that_cannot_be_offered_says_why() {
        assert!(text(None, None, "s.vtt", "WEBVTT\n\n00:00.000 --> 00:0x.000\nx\n").unwrap_err().contains("malformed"));
        assert!(text(None, None, "s.ismt", "").unwrap_err().contains("not a .vtt or .ttml sidecar"));
        assert!(text(None, None, "s.dfxp", "<p/>").unwrap_err().contains("<tt>"));
        let odd = text(Some("Eng \"lish\""), None, "s.vtt", VTT).unwrap();
        assert_eq!((odd.stream.as_str(), odd.name.as_str()), ("text0", "Eng \"lish\""), "a name unfit for a URL");
    }
}
