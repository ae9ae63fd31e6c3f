//! The manifests of an encoded set, made from what the renditions really
//! hold (read back with mirrorcast-media): the `.ism` with measured
//! bitrates, the `.ismc` with codec private data and the key-frame chunk
//! timeline, and Media Encoder Standard's `<Base>_manifest.xml`.

use mirrorcast_core::{Error, ErrorKind, Result};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};
use mirrorcast_media::ismc::{Chunk, ClientManifest, QualityLevel, StreamIndex, TIMESCALE};
use mirrorcast_media::mp4::{Mp4, Track};

use crate::command::{Output, OutputKind};

/// The manifests' file names and texts.
#[derive(Debug, Clone)]
pub struct Manifests {
    /// (blob name, text) of the `.ism`, the `.ismc` and `<Base>_manifest.xml`, to upload as they are.
    pub files: Vec<(String, String)>,
    /// The `.ism` as a value: what its text in `files` says, without parsing it back.
    pub server: ServerManifest,
    /// The `.ismc` as a value, likewise.
    pub client: ClientManifest,
}

fn ticks(t: u64, timescale: u32) -> u64 {
    (t as u128 * TIMESCALE as u128 / timescale.max(1) as u128) as u64
}

/// Chunks starting at `starts` (track units) and ending at `end`, in ticks.
fn chunks(starts: &[u64], end: u64, timescale: u32) -> Vec<Chunk> {
    let mut out = Vec::new();
    for (i, &s) in starts.iter().enumerate() {
        let next = starts.get(i + 1).copied().unwrap_or(end.max(s));
        let d = ticks(next, timescale) - ticks(s, timescale);
        let t = if i == 0 { Some(ticks(s, timescale)) } else { None };
        if d > 0 {
            out.push(Chunk { t, d, r: None });
        }
    }
    out
}

/// Audio has no key frames: cut it at every GOP boundary instead.
fn audio_starts(track: &Track, gop_seconds: u32) -> Vec<u64> {
    let gop = track.timescale as u64 * gop_seconds as u64;
    let mut out: Vec<u64> = Vec::new();
    for &t in &track.decode_times {
        if out.last().is_none_or(|&last| t / gop.max(1) > last / gop.max(1)) {
            out.push(t);
        }
    }
    out
}

fn track_of<'a>(mp4: &'a Mp4, out: &Output) -> Result<&'a Track> {
    let track = match out.kind {
        OutputKind::Video(_) => mp4.video(),
        OutputKind::Audio { .. } => mp4.audio(),
        OutputKind::Text => None,
    };
    track.ok_or_else(|| Error::new(ErrorKind::Corrupt, format!("ffmpeg made '{}' without its track", out.name)))
}

/// The `systemBitrate` the `.ism` gives a WebVTT sidecar (its segments are a few hundred bytes a second).
pub const TEXT_BITRATE: u64 = 1000;

/// Builds the manifests for `base` from the renditions ffmpeg made and the WebVTT sidecars
/// (`texts`), and checks them: every video rendition must have its key frames at the same
/// times (GOP-aligned), or the set cannot switch bitrates.
pub fn build(
    base: &str,
    source_name: &str,
    gop_seconds: u32,
    renditions: &[(Output, Mp4)],
    texts: &[Output],
) -> Result<Manifests> {
    let mut server = ServerManifest {
        title: Some(base.to_owned()),
        client_manifest: Some(format!("{base}.ismc")),
        tracks: Vec::new(),
    };
    let mut video = StreamIndex {
        kind: "video".into(),
        subtype: None,
        name: "video".into(),
        language: None,
        url: "QualityLevels({bitrate})/Fragments(video={start time})".into(),
        timescale: None,
        max_width: None,
        max_height: None,
        quality_levels: Vec::new(),
        chunks: Vec::new(),
    };
    let mut audio: Vec<StreamIndex> = Vec::new();
    let mut first_keys: Option<(String, Vec<u64>)> = None;
    let mut duration = 0;
    let mut metadata = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AssetFiles xmlns=\"http://schemas.microsoft.com/windowsazure/mediaservices/2014/07/mediaencoder/manifest\">\n",
    );
    for (out, mp4) in renditions {
        let track = track_of(mp4, out)?;
        let bitrate = track.bitrate();
        duration = duration.max(ticks(track.duration, track.timescale));
        let size = std::fs::metadata(&out.path).map(|m| m.len()).unwrap_or(0);
        metadata.push_str(&format!(
            "  <AssetFile Name=\"{}\" Size=\"{size}\" Duration=\"PT{:.3}S\">\n    <Sources>\n      <Source Name=\"{}\" />\n    </Sources>\n",
            xml(&out.name),
            track.duration_seconds(),
            xml(source_name)
        ));
        match out.kind {
            OutputKind::Video(rung) => {
                let keys: Vec<u64> = track.sync_times().iter().map(|&t| ticks(t, track.timescale)).collect();
                match &first_keys {
                    None => {
                        video.chunks = chunks(&track.sync_times(), track.duration, track.timescale);
                        first_keys = Some((out.name.clone(), keys));
                    }
                    Some((name, first)) if *first != keys => {
                        return Err(Error::new(
                            ErrorKind::Corrupt,
                            format!("'{}' and '{name}' have key frames at different times: not GOP-aligned", out.name),
                        ))
                    }
                    Some(_) => {}
                }
                let hevc = track.hevc.is_some();
                server.tracks.push(IsmTrack {
                    kind: TrackKind::Video,
                    src: out.name.clone(),
                    system_bitrate: bitrate,
                    track_id: track.track_id,
                    track_name: None,
                    language: None,
                });
                video.max_width = video.max_width.max(Some(track.width as u32));
                video.max_height = video.max_height.max(Some(track.height as u32));
                video.quality_levels.push(QualityLevel {
                    index: video.quality_levels.len() as u32,
                    bitrate,
                    fourcc: if hevc { "HVC1" } else { "H264" }.into(),
                    max_width: Some(track.width as u32),
                    max_height: Some(track.height as u32),
                    codec_private_data: track.codec_private_data(),
                    ..Default::default()
                });
                let (profile, level) = match (&track.avc, &track.hevc) {
                    (Some(a), _) => (profile_name(a.profile), format!("{}.{}", a.level / 10, a.level % 10)),
                    // HEVC's level_idc is thirty times the level.
                    (None, Some(h)) => (
                        if h.profile_idc == 2 { "Main10" } else { "Main" },
                        format!("{:.1}", h.level_idc as f64 / 30.0),
                    ),
                    (None, None) => ("Other", "0.0".to_owned()),
                };
                metadata.push_str(&format!(
                    "    <VideoTracks>\n      <VideoTrack Id=\"{}\" FourCC=\"{}\" Profile=\"{}\" Level=\"{}\" Width=\"{}\" Height=\"{}\" TargetBitrate=\"{}\" Bitrate=\"{}\" />\n    </VideoTracks>\n",
                    track.track_id,
                    xml(&track.codec),
                    profile,
                    level,
                    track.width,
                    track.height,
                    rung.kbps,
                    bitrate / 1000
                ));
            }
            OutputKind::Audio { kbps } => {
                let cfg = track.audio.clone().unwrap_or_default();
                let name = out.track_name.clone().unwrap_or_else(|| "audio".into());
                server.tracks.push(IsmTrack {
                    kind: TrackKind::Audio,
                    src: out.name.clone(),
                    system_bitrate: bitrate,
                    track_id: track.track_id,
                    track_name: Some(name.clone()),
                    language: out.language.clone(),
                });
                audio.push(StreamIndex {
                    kind: "audio".into(),
                    subtype: None,
                    url: format!("QualityLevels({{bitrate}})/Fragments({name}={{start time}})"),
                    name,
                    language: out.language.clone(),
                    timescale: None,
                    max_width: None,
                    max_height: None,
                    quality_levels: vec![QualityLevel {
                        index: 0,
                        bitrate,
                        fourcc: "AACL".into(),
                        codec_private_data: track.codec_private_data(),
                        sampling_rate: Some(cfg.sample_rate),
                        channels: Some(cfg.channels as u32),
                        bits_per_sample: Some(cfg.sample_size as u32),
                        packet_size: Some(4),
                        audio_tag: Some(255),
                        ..Default::default()
                    }],
                    chunks: chunks(&audio_starts(track, gop_seconds), track.duration, track.timescale),
                });
                metadata.push_str(&format!(
                    "    <AudioTracks>\n      <AudioTrack Id=\"{}\" Codec=\"AacLc\" Channels=\"{}\" SamplingRate=\"{}\" Bitrate=\"{}\" TargetBitrate=\"{kbps}\" />\n    </AudioTracks>\n",
                    track.track_id,
                    cfg.channels,
                    cfg.sample_rate,
                    bitrate / 1000
                ));
            }
            OutputKind::Text => {}
        }
        metadata.push_str("  </AssetFile>\n");
    }
    for text in texts {
        server.tracks.push(IsmTrack {
            track_name: text.track_name.clone(),
            language: text.language.clone(),
            ..IsmTrack::new(TrackKind::Text, text.name.clone(), TEXT_BITRATE)
        });
    }
    metadata.push_str("</AssetFiles>\n");
    let mut streams = vec![video];
    streams.extend(audio);
    let client = ClientManifest { major_version: 2, minor_version: 2, duration, timescale: TIMESCALE, streams };
    let files = vec![
        (format!("{base}.ism"), server.to_xml()),
        (format!("{base}.ismc"), client.to_xml()),
        (format!("{base}_manifest.xml"), metadata),
    ];
    Ok(Manifests { files, server, client })
}

fn profile_name(p: u8) -> &'static str {
    match p {
        66 => "Baseline",
        77 => "Main",
        100 => "High",
        _ => "Other",
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_run_from_key_frame_to_key_frame_and_audio_is_cut_per_gop() {
        let c = chunks(&[0, 50, 100], 120, 25);
        assert_eq!(
            c,
            [
                Chunk { t: Some(0), d: 20_000_000, r: None },
                Chunk { t: None, d: 20_000_000, r: None },
                Chunk { t: None, d: 8_000_000, r: None }
            ]
        );
        let audio =
            Track { timescale: 48_000, decode_times: (0..300).map(|i| i * 1024).collect(), ..Default::default() };
        let starts = audio_starts(&audio, 2);
        assert_eq!(starts.len(), 4, "{starts:?}");
        assert!(starts.windows(2).all(|w| w[1] - w[0] <= 96_000 + 1024));
    }
}
