//! Presentation manifests made from the renditions' indexes: HLS (master and
//! media playlists, fMP4 segments) and DASH (SegmentTimeline). Pure: indexes in, text out.

use std::fmt::Write as _;

use mirrorcast_media::fragment::TrackIndex;
use mirrorcast_media::ism::TrackKind;

use crate::audio_labels;
use crate::request::Format;

/// One stream of one file, as the `.ism` names it.
#[derive(Debug, Clone, Copy)]
pub struct Rendition<'a> {
    /// Video, audio or text: which adaptation set or rendition group it goes in.
    pub kind: TrackKind,
    /// `video`, `audio` or the track name: the key in `Fragments(<stream>=…)`.
    pub stream: &'a str,
    /// The `.ism`'s `systemBitrate`: the key in `QualityLevels(…)`.
    pub bitrate: u64,
    /// The `.ism`'s `systemLanguage` (a plain tag, checked when the `.ism` was read).
    pub language: Option<&'a str>,
    /// The track's samples and fragments, read from its MP4: what segment times and durations come from.
    pub track: &'a TrackIndex,
}

/// A name for an HLS quoted-string attribute: no quote, no line break.
fn quoted(name: &str) -> String {
    name.chars().filter(|c| *c != '"' && !c.is_control()).collect()
}

fn seconds(track: &TrackIndex, units: u64) -> f64 {
    units as f64 / track.info.timescale.max(1) as f64
}

fn total_seconds(track: &TrackIndex) -> f64 {
    seconds(track, track.presentation_duration())
}

pub(crate) fn playlist_url(r: &Rendition<'_>, format: Format) -> String {
    format!("QualityLevels({})/Manifest({},format={})", r.bitrate, r.stream, format.name())
}

/// The HLS master playlist: one variant per video rendition, audio as a rendition group.
pub fn hls_master(renditions: &[Rendition<'_>], format: Format) -> String {
    let mut s = format!("#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-INDEPENDENT-SEGMENTS\n", format.hls_version());
    let audio: Vec<&Rendition<'_>> = renditions.iter().filter(|r| r.kind == TrackKind::Audio).collect();
    // One group: its renditions are alternatives (languages, mixes) a player picks among, by
    // LANGUAGE when they have one; the first is the default.
    let (names, default) = (audio_labels::hls_names(&audio), audio_labels::hls_default(&audio));
    for (i, (a, name)) in audio.iter().zip(&names).enumerate() {
        let _ = write!(s, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"{}\"", quoted(name));
        if let Some(language) = a.language {
            let _ = write!(s, ",LANGUAGE=\"{language}\"");
        }
        let _ = write!(s, ",DEFAULT={},AUTOSELECT=YES", if i == default { "YES" } else { "NO" });
        if let Some(characteristics) = audio_labels::hls_characteristics(a) {
            let _ = write!(s, ",CHARACTERISTICS=\"{characteristics}\"");
        }
        if let Some(channels) = a.track.info.audio.as_ref().and_then(|c| c.output_channels()) {
            let _ = write!(s, ",CHANNELS=\"{channels}\"");
        }
        let _ = writeln!(s, ",URI=\"{}\"", playlist_url(a, format));
    }
    let first_audio = audio.first();
    let videos: Vec<&Rendition<'_>> = renditions.iter().filter(|r| r.kind == TrackKind::Video).collect();
    for v in &videos {
        let (mut peak, mut average) = (v.track.peak_bitrate(), v.track.info.bitrate());
        let mut codecs = v.track.codecs();
        if let Some(a) = first_audio {
            peak += a.track.peak_bitrate();
            average += a.track.info.bitrate();
            codecs = format!("{codecs},{}", a.track.codecs());
        }
        let _ = write!(
            s,
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS=\"{codecs}\",RESOLUTION={}x{}",
            v.track.info.width, v.track.info.height
        );
        if first_audio.is_some() {
            s.push_str(",AUDIO=\"audio\"");
        }
        let _ = writeln!(s, "\n{}", playlist_url(v, format));
    }
    if videos.is_empty() {
        for a in &audio {
            s.push_str(&crate::audio_only::stream_inf(a, format));
        }
    }
    s
}

/// One stream's media playlist; segment URLs are relative to it.
pub fn hls_media(r: &Rendition<'_>, format: Format) -> String {
    let target = r.track.fragments.iter().map(|f| seconds(r.track, f.duration).ceil() as u64).max().unwrap_or(1);
    let version = format.hls_version();
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    // TS segments carry their own program tables: no init segment.
    if !format.is_ts() {
        let _ = writeln!(s, "#EXT-X-MAP:URI=\"{}\"", segment_uri(r.stream, None, format));
    }
    for f in &r.track.fragments {
        let _ = writeln!(
            s,
            "#EXTINF:{:.3},\n{}",
            seconds(r.track, f.duration),
            segment_uri(r.stream, Some(f.start), format)
        );
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

/// A segment's URL relative to its media playlist (`time: None`: the init segment), ending in its bytes' extension.
pub(crate) fn segment_uri(stream: &str, time: Option<u64>, format: Format) -> String {
    let at = time.map_or_else(|| "i".to_owned(), |t| t.to_string());
    format!("Fragments({stream}={at},format={}){}", format.name(), format.segment_extension(time.is_none()))
}

/// `PT12.345S`, rounded up: a player may drop a last sample that ends past the stated duration.
fn iso_duration(secs: f64) -> String {
    format!("PT{:.3}S", (secs * 1000.0).ceil() / 1000.0)
}

/// The DASH MPD: an adaptation set per kind, each representation with its own SegmentTimeline.
pub fn dash(renditions: &[Rendition<'_>], format: Format) -> String {
    let duration = renditions.iter().map(|r| total_seconds(r.track)).fold(0.0, f64::max);
    // A time-filtered presentation starts where its earliest kept fragment does: every
    // representation states that instant as its presentationTimeOffset (in its own timescale),
    // so the period starts there and audio and video stay together.
    let earliest = renditions
        .iter()
        .filter_map(|r| Some((r.track.fragments.first()?.start as u128, r.track.info.timescale.max(1) as u128)))
        .min_by(|(a, a_scale), (b, b_scale)| (a * b_scale).cmp(&(b * a_scale)))
        .filter(|(units, _)| *units > 0);
    let profile = match format {
        Format::DashCmaf => "urn:mpeg:dash:profile:cmaf:2019,urn:mpeg:dash:profile:isoff-live:2011",
        _ => "urn:mpeg:dash:profile:isoff-live:2011",
    };
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"{profile}\" type=\"static\" mediaPresentationDuration=\"{}\" minBufferTime=\"PT4S\">\n  <Period id=\"0\" start=\"PT0S\">\n",
        iso_duration(duration)
    );
    // The main audio is the one its MP4 says is; failing that, the first set with a language.
    let mut main_audio =
        !renditions.iter().any(|r| r.kind == TrackKind::Audio && audio_labels::role(r) == Some("main"));
    for (id, (kind, set)) in adaptation_sets(renditions).into_iter().enumerate() {
        let (content, mime) = match kind {
            TrackKind::Video => ("video", "video/mp4"),
            _ => ("audio", "audio/mp4"),
        };
        let lang = set[0].language.map(|l| format!(" lang=\"{l}\"")).unwrap_or_default();
        let _ = writeln!(
            s,
            "    <AdaptationSet id=\"{id}\" contentType=\"{content}\" mimeType=\"{mime}\"{lang} segmentAlignment=\"true\" startWithSAP=\"1\">"
        );
        // Several audio sets (languages, codecs): the first is the main one, as the HLS default is.
        let stated = if kind == TrackKind::Audio { audio_labels::role(set[0]) } else { None };
        if let Some(role) = stated {
            let _ = writeln!(s, "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\" />");
        } else if kind == TrackKind::Audio && set[0].language.is_some() {
            let role = if main_audio { "main" } else { "alternate" };
            let _ = writeln!(s, "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\" />");
        }
        main_audio &= kind != TrackKind::Audio;
        for r in set {
            let _ = write!(
                s,
                "      <Representation id=\"{}_{}\" bandwidth=\"{}\" codecs=\"{}\"",
                r.stream,
                r.bitrate,
                r.bitrate,
                r.track.codecs()
            );
            if kind == TrackKind::Video {
                let _ = write!(s, " width=\"{}\" height=\"{}\"", r.track.info.width, r.track.info.height);
            } else if let Some(a) = &r.track.info.audio {
                let _ = write!(s, " audioSamplingRate=\"{}\"", a.sample_rate);
            }
            s.push('>');
            if let Some((scheme, value)) = r.track.info.audio.as_ref().and_then(|a| a.dash_channel_configuration()) {
                let _ = write!(s, "\n        <AudioChannelConfiguration schemeIdUri=\"{scheme}\" value=\"{value}\" />");
            }
            let offset = earliest.map_or_else(String::new, |(units, scale)| {
                let own = units * r.track.info.timescale.max(1) as u128 / scale;
                format!(" presentationTimeOffset=\"{own}\"")
            });
            let _ = writeln!(
                s,
                "\n        <SegmentTemplate timescale=\"{}\"{offset} initialization=\"QualityLevels({b})/Fragments({n}=i,format={f}){init}\" media=\"QualityLevels({b})/Fragments({n}=$Time$,format={f}){media}\">\n          <SegmentTimeline>",
                r.track.info.timescale,
                b = r.bitrate,
                n = r.stream,
                f = format.name(),
                init = format.segment_extension(true),
                media = format.segment_extension(false),
            );
            for (t, d, repeat) in timeline(r.track) {
                let _ = match repeat {
                    0 => writeln!(s, "            <S t=\"{t}\" d=\"{d}\" />"),
                    n => writeln!(s, "            <S t=\"{t}\" d=\"{d}\" r=\"{n}\" />"),
                };
            }
            s.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n      </Representation>\n");
        }
        s.push_str("    </AdaptationSet>\n");
    }
    s.push_str("  </Period>\n</MPD>\n");
    s
}

/// The MPD's adaptation sets: one of video, then one per audio language, codec and role, so a
/// player switches bitrate within a language, never language with the bandwidth.
fn adaptation_sets<'r, 'a>(renditions: &'r [Rendition<'a>]) -> Vec<(TrackKind, Vec<&'r Rendition<'a>>)> {
    let mut sets: Vec<(TrackKind, Vec<&Rendition<'_>>)> = Vec::new();
    let video: Vec<&Rendition<'_>> = renditions.iter().filter(|r| r.kind == TrackKind::Video).collect();
    if !video.is_empty() {
        sets.push((TrackKind::Video, video));
    }
    for r in renditions.iter().filter(|r| r.kind == TrackKind::Audio) {
        let same = |o: &&Rendition<'_>| {
            o.language == r.language
                && o.track.info.codec == r.track.info.codec
                && audio_labels::role(o) == audio_labels::role(r)
        };
        match sets.iter_mut().find(|(kind, set)| *kind == TrackKind::Audio && set.first().is_some_and(same)) {
            Some((_, set)) => set.push(r),
            None => sets.push((TrackKind::Audio, vec![r])),
        }
    }
    sets
}

/// Runs of equal durations: (start, duration, repeats).
pub(crate) fn timeline(track: &TrackIndex) -> Vec<(u64, u64, u32)> {
    let mut out: Vec<(u64, u64, u32)> = Vec::new();
    for f in &track.fragments {
        match out.last_mut() {
            Some((t, d, r)) if *d == f.duration && *t + *d * (*r as u64 + 1) == f.start => *r += 1,
            _ => out.push((f.start, f.duration, 0)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorcast_media::fragment::Index;

    /// A 5 s clip with key frames every 2 s, indexed from its moov.
    fn index() -> Index {
        let dir = tempfile::tempdir().unwrap();
        crate::test_clip::clip(dir.path(), "clip.mp4", "320x180")
    }

    #[test]
    fn hls_and_dash_manifests_name_every_fragment_in_the_media_services_shape() {
        let index = index();
        let (v, a) = (index.by_handler("vide").unwrap(), index.by_handler("soun").unwrap());
        let renditions = [
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: v },
            Rendition { kind: TrackKind::Audio, stream: "audio", bitrate: 128_000, language: None, track: a },
        ];
        let master = hls_master(&renditions, Format::HlsCmaf);
        assert!(master.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\""), "{master}");
        assert!(
            master
                .contains("RESOLUTION=320x180,AUDIO=\"audio\"\nQualityLevels(600000)/Manifest(video,format=m3u8-cmaf)"),
            "{master}"
        );
        assert!(master.contains(&format!("CODECS=\"{},mp4a.40.2\"", v.codecs())), "{master}");

        let media = hls_media(&renditions[0], Format::HlsCmaf);
        assert!(media.contains("#EXT-X-MAP:URI=\"Fragments(video=i,format=m3u8-cmaf).mp4\""), "{media}");
        assert!(media.contains("#EXT-X-TARGETDURATION:2\n"), "{media}");
        let ts = v.info.timescale as u64;
        for start in [0, 2 * ts, 4 * ts] {
            assert!(media.contains(&format!("Fragments(video={start},format=m3u8-cmaf).m4s\n")), "{start}: {media}");
        }
        assert!(media.ends_with("#EXT-X-ENDLIST\n"));
        let v4 = hls_media(&renditions[0], Format::HlsAapl);
        assert!(v4.starts_with("#EXTM3U\n#EXT-X-VERSION:4\n") && !v4.contains("EXT-X-MAP"), "{v4}");
        assert!(v4.contains("Fragments(video=0,format=m3u8-aapl).ts\n"), "{v4}");
        assert!(hls_master(&renditions, Format::HlsAapl).starts_with("#EXTM3U\n#EXT-X-VERSION:4\n"));
        let v3 = hls_media(&renditions[0], Format::HlsTs);
        assert!(v3.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n") && !v3.contains("EXT-X-MAP"), "{v3}");
        assert!(v3.contains("Fragments(video=0,format=m3u8-aapl-v3).ts\n"), "{v3}");

        let mpd = dash(&renditions, Format::DashCsf);
        assert!(
            mpd.contains(&format!("<S t=\"0\" d=\"{}\" r=\"1\" />", 2 * ts)),
            "two 2 s fragments in one run: {mpd}"
        );
        assert!(mpd.contains(&format!("<S t=\"{}\" d=\"{ts}\" />", 4 * ts)), "then the last 1 s: {mpd}");
        assert!(
            mpd.contains("media=\"QualityLevels(600000)/Fragments(video=$Time$,format=mpd-time-csf).m4s\""),
            "{mpd}"
        );
        assert!(
            mpd.contains("initialization=\"QualityLevels(600000)/Fragments(video=i,format=mpd-time-csf).mp4\""),
            "{mpd}"
        );
        assert!(mpd.contains("contentType=\"audio\"") && mpd.contains("audioSamplingRate="), "{mpd}");
        assert!(mpd.contains("mediaPresentationDuration=\"PT5.0"), "{mpd}");
    }

    /// ffmpeg 5.1.9 and 7.1+, at their defaults, fetch no segment whose URL
    /// does not end in an extension of its bytes' format.
    #[test]
    fn every_segment_a_playlist_or_mpd_names_ends_in_its_media_extension() {
        let index = index();
        let (v, a) = (index.by_handler("vide").unwrap(), index.by_handler("soun").unwrap());
        let renditions = [
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: v },
            Rendition { kind: TrackKind::Audio, stream: "audio", bitrate: 128_000, language: None, track: a },
        ];
        for format in [Format::HlsAapl, Format::HlsTs, Format::HlsCmaf] {
            let want = if format.is_ts() { [".ts", ".ts"] } else { [".mp4", ".m4s"] };
            for r in &renditions {
                let media = hls_media(r, format);
                let mut named = 0;
                for line in media.lines() {
                    let uri = match line.strip_prefix("#EXT-X-MAP:URI=\"") {
                        Some(rest) => Some((rest.trim_end_matches('"'), want[0])),
                        None => (!line.starts_with('#') && !line.is_empty()).then_some((line, want[1])),
                    };
                    if let Some((uri, ext)) = uri {
                        assert!(uri.ends_with(ext), "{format:?}: {uri} does not end in {ext}");
                        named += 1;
                    }
                }
                assert_eq!(named, r.track.fragments.len() + usize::from(!format.is_ts()), "{format:?}: {media}");
            }
        }
        for format in [Format::DashCsf, Format::DashCmaf] {
            let mpd = dash(&renditions, format);
            assert_eq!(mpd.matches("=i,format=").count(), mpd.matches("=i,format=mpd-time-").count());
            for attr in mpd.split(['"']).filter(|a| a.contains("Fragments(")) {
                let ext = if attr.contains("=i,") { ".mp4" } else { ".m4s" };
                assert!(attr.ends_with(ext), "{format:?}: {attr}");
            }
        }
    }

    /// Two audio languages: HLS names each with LANGUAGE (and CHANNELS) in one group, the first the
    /// default; DASH puts each language in its own AdaptationSet with `lang` and a Role, so a player
    /// switches bitrate within a language, never language with the bandwidth.
    #[test]
    fn audio_languages_are_alternatives_never_bitrates_of_one_set() {
        let index = index();
        let (v, a) = (index.by_handler("vide").unwrap(), index.by_handler("soun").unwrap());
        let renditions = [
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: v },
            Rendition { kind: TrackKind::Audio, stream: "aac_eng", bitrate: 128_000, language: Some("en"), track: a },
            Rendition {
                kind: TrackKind::Audio,
                stream: "aac_eng_low",
                bitrate: 64_000,
                language: Some("en"),
                track: a,
            },
            Rendition { kind: TrackKind::Audio, stream: "aac_spa", bitrate: 128_000, language: Some("es"), track: a },
        ];
        let master = hls_master(&renditions, Format::HlsCmaf);
        assert!(master.contains("NAME=\"aac_eng\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\""), "{master}");
        assert!(master.contains("NAME=\"aac_spa\",LANGUAGE=\"es\",DEFAULT=NO"), "{master}");
        let mpd = dash(&renditions, Format::DashCsf);
        let sets: Vec<&str> = mpd.split("<AdaptationSet ").skip(1).collect();
        assert_eq!(sets.len(), 3, "video, English, Spanish: {mpd}");
        assert!(sets[1].contains("lang=\"en\"") && sets[1].contains("value=\"main\""), "{mpd}");
        assert_eq!(sets[1].matches("<Representation ").count(), 2, "English at two bitrates: {mpd}");
        assert!(sets[2].contains("lang=\"es\"") && sets[2].contains("value=\"alternate\""), "{mpd}");
        assert_eq!(sets[2].matches("<Representation ").count(), 1, "{mpd}");
        // Without languages, one audio set as before.
        let plain = [
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: v },
            Rendition { kind: TrackKind::Audio, stream: "audio", bitrate: 128_000, language: None, track: a },
        ];
        let mpd = dash(&plain, Format::DashCsf);
        assert_eq!(mpd.matches("<AdaptationSet ").count(), 2, "{mpd}");
        assert!(!mpd.contains("lang=") && !mpd.contains("<Role"), "{mpd}");
        assert!(!hls_master(&plain, Format::HlsCmaf).contains("LANGUAGE="));
    }
}
