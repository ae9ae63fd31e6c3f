//! The tracks a served manifest names, each with a name for people and the URLs `verify --http`
//! samples of it: per HLS media playlist (every variant, audio language, subtitle track, I-frame
//! playlist, the audio-only variant) its init section and first and last segment; per DASH
//! Representation (every AdaptationSet: each language, each text track) its init and first and
//! last media segment, or its one file (a sidecar); per Smooth quality level its first and last
//! fragment. A library of any size costs a few requests per track, never one per segment.
//! Pure: manifest text and its URL in, absolute URLs out.

use mirrorcast_media::dash::{fill, Addressing, Mpd};
use mirrorcast_media::hls::{Master, MediaPlaylist, MediaType};
use mirrorcast_media::ismc::ClientManifest;

/// One track of a manifest: its name for the report and the URLs compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Track {
    /// `audio es "aac_es"`, `subtitles en "English"`, `video 320x180 600000 bps`.
    pub label: String,
    /// Absolute URLs, in play order.
    pub urls: Vec<String>,
}

/// The media playlists an HLS master names: each variant (video, the audio-only variant, each
/// I-frame playlist) and each alternative with a URI (an audio language, a subtitle track).
pub(crate) fn hls_playlists(master: &Master, master_url: &str) -> Vec<Track> {
    let mut out = Vec::new();
    // Alternatives first: the audio-only variant plays a language's playlist, named by its language.
    for a in &master.alternatives {
        let Some(uri) = &a.uri else { continue };
        let kind = match a.media_type {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
            MediaType::Subtitles => "subtitles",
            MediaType::ClosedCaptions => "closed captions",
            MediaType::Other => "media",
        };
        let label = named(kind, a.language.as_deref(), Some(&a.name));
        out.extend(join(master_url, uri).map(|url| Track { label, urls: vec![url] }));
    }
    for v in &master.variants {
        let resolution = v.resolution.map(|(w, h)| format!(" {w}x{h}")).unwrap_or_default();
        let label = if v.i_frame {
            format!("I-frames{resolution} {} bps", v.bandwidth)
        } else if v.resolution.is_none() && !has_video_codec(v.codecs.as_deref()) {
            format!("audio-only variant {} bps", v.bandwidth)
        } else {
            format!("video{resolution} {} bps", v.bandwidth)
        };
        out.extend(join(master_url, &v.uri).map(|url| Track { label, urls: vec![url] }));
    }
    out
}

/// A media playlist's sample: its init section (`EXT-X-MAP`), first and last segment.
pub(crate) fn hls_segments(playlist: &MediaPlaylist, playlist_url: &str) -> Vec<String> {
    let mut wanted: Vec<&str> = Vec::new();
    if let Some(map) = playlist.segments.iter().find_map(|s| s.map.as_deref()) {
        wanted.push(map);
    }
    if let (Some(first), Some(last)) = (playlist.segments.first(), playlist.segments.last()) {
        wanted.push(&first.uri);
        wanted.push(&last.uri);
    }
    dedup(wanted.into_iter().filter_map(|s| join(playlist_url, s)).collect())
}

/// Every Representation of every AdaptationSet, each with its init and first and last media
/// segment (or its one file); an error says why the MPD could not be followed.
pub(crate) fn dash_representations(text: &str, mpd_url: &str) -> Result<Vec<Track>, String> {
    let mpd = Mpd::parse(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for period in &mpd.periods {
        let period_seconds = mpd.period_duration(period);
        for set in &period.adaptation_sets {
            for rep in &set.representations {
                let kind = rep.content(set).split('/').next().unwrap_or("").to_owned();
                let label = format!("{} {}", named(&kind, set.lang.as_deref(), set.label.as_deref()), rep.id);
                let base = mpd.base_urls(period, set, rep).try_fold(mpd_url.to_owned(), |base, b| join(&base, b));
                let Some(base) = base else { continue };
                let fill = |template: &str, number, time| {
                    fill(template, rep, number, time).map_err(|e| format!("{label}: {e}"))
                };
                let mut urls = Vec::new();
                match rep.addressing(set, period) {
                    Addressing::List(list) => {
                        urls.extend(list.initialization.iter().filter_map(|i| join(&base, i)));
                        urls.extend(first_and_last(&list.media).into_iter().filter_map(|m| join(&base, m)));
                    }
                    Addressing::Template(t) => {
                        if let Some(init) = t.initialization() {
                            urls.extend(join(&base, &fill(init, None, None)?));
                        }
                        if let Some(media) = t.media() {
                            let segments = t.segments(period_seconds).map_err(|e| format!("{label}: {e}"))?;
                            for s in first_and_last(&segments) {
                                urls.extend(join(&base, &fill(media, Some(s.number), Some(s.time))?));
                            }
                        }
                    }
                    // SegmentBase or a plain BaseURL (a sidecar): the representation is one file.
                    Addressing::Single if base != mpd_url => urls.push(base.clone()),
                    Addressing::Single => {}
                }
                out.push(Track { label, urls: dedup(urls) });
            }
        }
    }
    Ok(out)
}

/// Every quality level of every Smooth stream, each with its first and last fragment.
pub(crate) fn smooth_fragments(text: &str, manifest_url: &str) -> Result<Vec<Track>, String> {
    let manifest = ClientManifest::parse(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for stream in &manifest.streams {
        let Some((first, last)) = first_and_last_start(stream) else { continue };
        for level in &stream.quality_levels {
            let label = format!(
                "{} {} bps",
                named(&stream.kind, stream.language.as_deref(), Some(&stream.name)),
                level.bitrate
            );
            let url = |start: u64| {
                let bitrate = level.bitrate.to_string();
                let start = start.to_string();
                let path = stream
                    .url
                    .replace("{bitrate}", &bitrate)
                    .replace("{Bitrate}", &bitrate)
                    .replace("{start time}", &start)
                    .replace("{start_time}", &start);
                join(manifest_url, &path)
            };
            let urls = dedup([first, last].into_iter().filter_map(url).collect());
            out.push(Track { label, urls });
        }
    }
    Ok(out)
}

/// A stream's first and last fragment start, without expanding its repeats (`r` may be large).
fn first_and_last_start(stream: &mirrorcast_media::ismc::StreamIndex) -> Option<(u64, u64)> {
    let mut first = None;
    let (mut next, mut last) = (0u64, 0u64);
    for c in &stream.chunks {
        let start = c.t.unwrap_or(next);
        let repeats = u64::from(c.r.unwrap_or(1).max(1));
        first.get_or_insert(start);
        last = start.saturating_add(c.d.saturating_mul(repeats - 1));
        next = start.saturating_add(c.d.saturating_mul(repeats));
    }
    first.map(|f| (f, last))
}

/// `kind language "name"`, the parts present.
fn named(kind: &str, language: Option<&str>, name: Option<&str>) -> String {
    let mut label = if kind.is_empty() { "track".to_owned() } else { kind.to_owned() };
    if let Some(language) = language.filter(|l| !l.is_empty()) {
        label.push(' ');
        label.push_str(language);
    }
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        label.push_str(&format!(" \"{name}\""));
    }
    label
}

/// Whether an HLS `CODECS` list names a video codec (an audio-only variant names none).
fn has_video_codec(codecs: Option<&str>) -> bool {
    codecs.is_none_or(|c| {
        c.split(',').any(|c| ["avc", "hvc", "hev", "dvh", "av01", "vp09"].iter().any(|v| c.trim().starts_with(v)))
    })
}

fn first_and_last<T>(items: &[T]) -> Vec<&T> {
    items.first().into_iter().chain(items.last().filter(|_| items.len() > 1)).collect()
}

fn dedup(mut urls: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    urls.retain(|u| seen.insert(u.clone()));
    urls
}

/// A reference in a manifest at `base`, made absolute (the origin's manifests use relative ones).
pub(crate) fn join(base: &str, reference: &str) -> Option<String> {
    if reference.contains("://") {
        return Some(reference.to_owned());
    }
    let (dir, _) = base.split('?').next()?.rsplit_once('/')?;
    let mut parts: Vec<&str> = dir.split('/').collect();
    for segment in reference.split('/') {
        match segment {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use mirrorcast_media::hls::Playlist;

    use super::*;

    const BASE: &str = "http://a:1/l/Film.ism";

    #[test]
    fn every_hls_track_is_named_by_kind_language_and_name() {
        let master = "#EXTM3U\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"aac_en\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,URI=\"QualityLevels(128000)/Manifest(aac_en,format=m3u8-aapl)\"\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"aac_es\",LANGUAGE=\"es\",DEFAULT=NO,AUTOSELECT=YES,URI=\"QualityLevels(128001)/Manifest(aac_es,format=m3u8-aapl)\"\n\
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=NO,AUTOSELECT=YES,URI=\"QualityLevels(1000)/Manifest(text0,format=m3u8-aapl)\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=700000,CODECS=\"avc1.64000d,mp4a.40.2\",RESOLUTION=320x180,AUDIO=\"audio\"\n\
QualityLevels(600000)/Manifest(video,format=m3u8-aapl)\n\
#EXT-X-STREAM-INF:BANDWIDTH=128000,CODECS=\"mp4a.40.2\",AUDIO=\"audio\"\n\
QualityLevels(128000)/Manifest(aac_en,format=m3u8-aapl)\n\
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,RESOLUTION=320x180,CODECS=\"avc1.64000d\",URI=\"QualityLevels(600000)/Manifest(video,format=m3u8-aapl,type=iframes)\"\n";
        let Ok(Playlist::Master(m)) = Playlist::parse(master.as_bytes()) else { panic!("a master") };
        let tracks = hls_playlists(&m, &format!("{BASE}/manifest(format=m3u8-aapl)"));
        let labels: Vec<&str> = tracks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "audio en \"aac_en\"",
                "audio es \"aac_es\"",
                "subtitles en \"English\"",
                "video 320x180 700000 bps",
                "audio-only variant 128000 bps",
                "I-frames 320x180 90000 bps",
            ]
        );
        assert_eq!(tracks[1].urls, [format!("{BASE}/QualityLevels(128001)/Manifest(aac_es,format=m3u8-aapl)")]);
    }

    #[test]
    fn a_media_playlist_is_sampled_by_its_init_first_and_last_segment() {
        let media = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"Fragments(a=i).mp4\"\n#EXTINF:2,\nFragments(a=0).m4s\n#EXTINF:2,\nFragments(a=1).m4s\n#EXTINF:2,\nFragments(a=2).m4s\n#EXT-X-ENDLIST\n";
        let Ok(Playlist::Media(p)) = Playlist::parse(media.as_bytes()) else { panic!("a media playlist") };
        let url = format!("{BASE}/QualityLevels(1)/Manifest(a)");
        let got = hls_segments(&p, &url);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].ends_with("QualityLevels(1)/Fragments(a=i).mp4") && got[2].ends_with("Fragments(a=2).m4s"));
        let one = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nFragments(t=0).vtt\n#EXT-X-ENDLIST\n";
        let Ok(Playlist::Media(p)) = Playlist::parse(one.as_bytes()) else { panic!("a media playlist") };
        assert_eq!(hls_segments(&p, &url), [format!("{BASE}/QualityLevels(1)/Fragments(t=0).vtt")], "once");
    }

    #[test]
    fn every_dash_representation_gets_init_first_and_last_and_a_sidecar_its_file() {
        let mpd = r#"<MPD mediaPresentationDuration="PT6S"><Period>
  <AdaptationSet contentType="audio" mimeType="audio/mp4" lang="es">
    <Representation id="aac_es_128001" bandwidth="128001">
      <SegmentTemplate timescale="1000" initialization="QualityLevels($Bandwidth$)/Fragments(aac_es=i,format=mpd-time-csf)" media="QualityLevels($Bandwidth$)/Fragments(aac_es=$Time$,format=mpd-time-csf)">
        <SegmentTimeline><S t="0" d="2000" r="999999" /></SegmentTimeline>
      </SegmentTemplate>
    </Representation>
  </AdaptationSet>
  <AdaptationSet contentType="text" mimeType="text/vtt" lang="en"><Label>English</Label>
    <Representation id="text0_1000" bandwidth="1000"><BaseURL>QualityLevels(1000)/Fragments(text0=0,format=mpd-time-csf).vtt</BaseURL></Representation>
  </AdaptationSet>
</Period></MPD>"#;
        let tracks = dash_representations(mpd, &format!("{BASE}/manifest(format=mpd-time-csf)")).unwrap();
        assert_eq!(tracks[0].label, "audio es aac_es_128001");
        assert_eq!(
            tracks[0].urls,
            [
                format!("{BASE}/QualityLevels(128001)/Fragments(aac_es=i,format=mpd-time-csf)"),
                format!("{BASE}/QualityLevels(128001)/Fragments(aac_es=0,format=mpd-time-csf)"),
                format!("{BASE}/QualityLevels(128001)/Fragments(aac_es=1999998000,format=mpd-time-csf)"),
            ],
            "a million segments, three requests"
        );
        assert_eq!(tracks[1].label, "text en \"English\" text0_1000");
        assert_eq!(tracks[1].urls, [format!("{BASE}/QualityLevels(1000)/Fragments(text0=0,format=mpd-time-csf).vtt")]);
        assert!(dash_representations("<html/>", BASE).unwrap_err().contains("<MPD>"));
    }

    #[test]
    fn every_smooth_level_gets_its_first_and_last_fragment_without_expanding_repeats() {
        let manifest = r#"<SmoothStreamingMedia MajorVersion="2" MinorVersion="2" Duration="60000000" TimeScale="10000000">
<StreamIndex Type="audio" Name="aac_es" Language="es" Url="QualityLevels({bitrate})/Fragments(aac_es={start time})" Chunks="3" QualityLevels="1">
<QualityLevel Index="0" Bitrate="128001" FourCC="AACL" SamplingRate="48000" Channels="2" BitsPerSample="16" PacketSize="4" AudioTag="255" CodecPrivateData="1190"/>
<c t="0" d="20000000" r="1000000"/></StreamIndex></SmoothStreamingMedia>"#;
        let tracks = smooth_fragments(manifest, &format!("{BASE}/manifest")).unwrap();
        assert_eq!(tracks[0].label, "audio es \"aac_es\" 128001 bps");
        assert_eq!(
            tracks[0].urls,
            [
                format!("{BASE}/QualityLevels(128001)/Fragments(aac_es=0)"),
                format!("{BASE}/QualityLevels(128001)/Fragments(aac_es={})", 20_000_000u64 * 999_999),
            ]
        );
    }

    #[test]
    fn playlist_references_resolve_against_the_playlist() {
        let master = "http://a:1/l/Clip.ism/manifest(format=m3u8-aapl)";
        assert_eq!(
            join(master, "QualityLevels(600000)/Manifest(video,format=m3u8-aapl)").unwrap(),
            "http://a:1/l/Clip.ism/QualityLevels(600000)/Manifest(video,format=m3u8-aapl)"
        );
        let media = "http://a:1/l/Clip.ism/QualityLevels(600000)/Manifest(video,format=m3u8-aapl)";
        assert_eq!(
            join(media, "Fragments(video=0,format=m3u8-aapl)").unwrap(),
            "http://a:1/l/Clip.ism/QualityLevels(600000)/Fragments(video=0,format=m3u8-aapl)"
        );
        assert_eq!(join(media, "../x.m3u8").unwrap(), "http://a:1/l/Clip.ism/x.m3u8");
        assert_eq!(join(media, "http://elsewhere/s.mp4").unwrap(), "http://elsewhere/s.mp4");
    }
}
