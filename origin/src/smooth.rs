//! The Smooth Streaming client manifest (`<Base>.ism/manifest`) made from the
//! renditions' indexes, as the Media Services origin made it: one
//! `StreamIndex` per video stream and per audio stream, a `QualityLevel` per
//! rendition with its codec private data, and the chunk timeline of the very
//! fragments the origin cuts (the HLS and DASH segments' boundaries). Pure:
//! indexes in, a [`ClientManifest`] out.
//!
//! Times stay in each track's own timescale, stated as the stream's
//! `TimeScale` (MS-SSTR StreamTimeScale): chunk times are then exact and
//! equal to the DASH `$Time$` of the same fragment, where 100 ns ticks would
//! round every 1/48000 s of audio. The presentation's `Duration` is in
//! 100 ns ticks (`TimeScale="10000000"`).

use mirrorcast_media::fragment::TrackIndex;
use mirrorcast_media::ism::TrackKind;
use mirrorcast_media::ismc::{Chunk, ClientManifest, QualityLevel, StreamIndex, TIMESCALE};

use crate::packaging::{timeline, Rendition};

/// The client manifest of `renditions`. The quality levels of one stream
/// share one timeline: a rendition whose fragments differ from the stream's
/// first rendition's (key frames elsewhere, another timescale) is left out,
/// since a Smooth client switches levels at chunk boundaries.
pub fn client_manifest(renditions: &[Rendition<'_>]) -> ClientManifest {
    let mut streams: Vec<(TrackKind, &str, Vec<&Rendition<'_>>)> = Vec::new();
    for r in renditions.iter().filter(|r| r.kind != TrackKind::Text && !r.track.fragments.is_empty()) {
        let stream = if r.kind == TrackKind::Video { "video" } else { r.stream };
        // A stream's levels are switched by bandwidth: one language and role per stream.
        let same_labels = |l: &[&Rendition<'_>]| {
            l[0].language == r.language && crate::audio_labels::role(l[0]) == crate::audio_labels::role(r)
        };
        match streams.iter_mut().find(|(k, s, l)| *k == r.kind && s.eq_ignore_ascii_case(stream) && same_labels(l)) {
            Some((_, _, levels)) if same_timeline(levels[0].track, r.track) => levels.push(r),
            Some(_) => {}
            None => streams.push((r.kind, stream, vec![r])),
        }
    }
    // Video first, as Media Services listed them.
    streams.sort_by_key(|(kind, _, _)| *kind != TrackKind::Video);
    let mut duration = 0;
    let streams = streams
        .into_iter()
        .map(|(kind, name, levels)| {
            let first = levels[0].track;
            let timescale = first.info.timescale.max(1) as u64;
            // The span of the chunks listed: a manifest trimmed by a time range lasts what it keeps.
            let span = match (first.fragments.first(), first.fragments.last()) {
                (Some(a), Some(z)) => (z.start + z.duration).saturating_sub(a.start),
                _ => 0,
            };
            duration = duration.max((span as u128 * TIMESCALE as u128).div_ceil(timescale as u128) as u64);
            stream_index(kind, name, &levels)
        })
        .collect();
    ClientManifest { major_version: 2, minor_version: 2, duration, timescale: TIMESCALE, streams }
}

fn same_timeline(a: &TrackIndex, b: &TrackIndex) -> bool {
    a.info.timescale == b.info.timescale
        && a.fragments.len() == b.fragments.len()
        && a.fragments.iter().zip(&b.fragments).all(|(x, y)| (x.start, x.duration) == (y.start, y.duration))
}

fn stream_index(kind: TrackKind, name: &str, levels: &[&Rendition<'_>]) -> StreamIndex {
    let video = kind == TrackKind::Video;
    let quality_levels: Vec<QualityLevel> = levels
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let info = &r.track.info;
            let mut q = QualityLevel {
                index: i as u32,
                bitrate: r.bitrate,
                fourcc: fourcc(r.track),
                codec_private_data: info.codec_private_data(),
                ..Default::default()
            };
            if video {
                (q.max_width, q.max_height) = (Some(info.width as u32), Some(info.height as u32));
            } else if let Some(a) = &info.audio {
                q.sampling_rate = Some(a.sample_rate);
                q.channels = Some(a.channels as u32);
                q.bits_per_sample = Some(if a.sample_size == 0 { 16 } else { a.sample_size as u32 });
                // Media Services' values for AAC: 4-byte packets, WAVE_FORMAT_RAW_AAC1's tag 255.
                q.packet_size = Some(4);
                q.audio_tag = Some(255);
            }
            q
        })
        .collect();
    let chunks = timeline(levels[0].track)
        .into_iter()
        .map(|(t, d, repeats)| Chunk { t: Some(t), d, r: (repeats > 0).then_some(repeats + 1) })
        .collect();
    StreamIndex {
        kind: if video { "video" } else { "audio" }.to_owned(),
        subtype: None,
        name: name.to_owned(),
        language: levels[0].language.map(str::to_owned),
        url: format!("QualityLevels({{bitrate}})/Fragments({name}={{start time}})"),
        timescale: Some(levels[0].track.info.timescale as u64),
        max_width: video.then(|| quality_levels.iter().filter_map(|q| q.max_width).max()).flatten(),
        max_height: video.then(|| quality_levels.iter().filter_map(|q| q.max_height).max()).flatten(),
        quality_levels,
        chunks,
    }
}

/// Smooth's FourCC: `AVC1` for H.264, `AACL`/`AACH` for AAC LC/HE, else the sample entry's.
fn fourcc(track: &TrackIndex) -> String {
    if track.info.avc.is_some() {
        return "AVC1".to_owned();
    }
    match &track.info.audio {
        Some(a) if a.object_type == 0x40 => match a.specific_config.first().map(|b| b >> 3) {
            Some(5) | Some(29) => "AACH".to_owned(),
            _ => "AACL".to_owned(),
        },
        _ => track.info.codec.to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clip::clip;

    #[test]
    fn the_smooth_manifest_names_every_fragment_the_origin_cuts_with_each_levels_codec() {
        let dir = tempfile::tempdir().unwrap();
        let (high, low) = (clip(dir.path(), "high.mp4", "320x180"), clip(dir.path(), "low.mp4", "160x90"));
        let (hv, lv, ha) =
            (high.by_handler("vide").unwrap(), low.by_handler("vide").unwrap(), high.by_handler("soun").unwrap());
        let renditions = [
            Rendition { kind: TrackKind::Audio, stream: "audio", bitrate: 128_000, language: None, track: ha },
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: hv },
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 300_000, language: None, track: lv },
        ];
        let xml = client_manifest(&renditions).to_xml();
        let m = ClientManifest::parse(&xml).unwrap();
        assert_eq!((m.major_version, m.minor_version, m.timescale), (2, 2, TIMESCALE));
        assert!((m.duration as f64 / TIMESCALE as f64 - 5.0).abs() < 0.05, "{}", m.duration);
        let kinds: Vec<&str> = m.streams.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["video", "audio"], "{xml}");

        let (video, audio) = (&m.streams[0], &m.streams[1]);
        assert_eq!(video.url, "QualityLevels({bitrate})/Fragments(video={start time})");
        assert_eq!(audio.url, "QualityLevels({bitrate})/Fragments(audio={start time})");
        assert_eq!((video.max_width, video.max_height), (Some(320), Some(180)));
        for (stream, track) in [(video, hv), (audio, ha)] {
            assert_eq!(stream.timescale, Some(track.info.timescale as u64));
            let indexed: Vec<(u64, u64)> = track.fragments.iter().map(|f| (f.start, f.duration)).collect();
            assert_eq!(stream.fragments(), indexed, "the timeline is the index's fragments: {xml}");
        }
        let ts = hv.info.timescale;
        assert!(xml.contains(&format!("<c t=\"0\" d=\"{}\" r=\"2\" />", 2 * ts)), "two 2 s chunks in one run: {xml}");

        let levels: Vec<(u64, &str, Option<u32>)> =
            video.quality_levels.iter().map(|q| (q.bitrate, q.fourcc.as_str(), q.max_width)).collect();
        assert_eq!(levels, [(600_000, "AVC1", Some(320)), (300_000, "AVC1", Some(160))]);
        let avc = hv.info.avc.as_ref().unwrap();
        let want = format!(
            "00000001{}00000001{}",
            avc.sps[0].iter().map(|b| format!("{b:02X}")).collect::<String>(),
            avc.pps[0].iter().map(|b| format!("{b:02X}")).collect::<String>()
        );
        assert_eq!(video.quality_levels[0].codec_private_data, want, "Annex B SPS and PPS");
        assert_ne!(video.quality_levels[1].codec_private_data, want, "each level its own SPS");

        let a = &audio.quality_levels[0];
        assert_eq!(
            (a.fourcc.as_str(), a.sampling_rate, a.channels, a.bits_per_sample, a.packet_size, a.audio_tag),
            ("AACL", Some(48_000), Some(2), Some(16), Some(4), Some(255))
        );
        assert!(a.codec_private_data.starts_with("1190"), "AAC LC, 48 kHz, stereo: {}", a.codec_private_data);
    }

    #[test]
    fn a_level_cut_elsewhere_is_left_out_of_its_stream() {
        let dir = tempfile::tempdir().unwrap();
        let high = clip(dir.path(), "high.mp4", "320x180");
        let hv = high.by_handler("vide").unwrap();
        let mut shifted = hv.clone();
        shifted.fragments[1].start += 1;
        let renditions = [
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: hv },
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 300_000, language: None, track: &shifted },
        ];
        let m = client_manifest(&renditions);
        assert_eq!(m.streams.len(), 1);
        assert_eq!(m.streams[0].quality_levels.len(), 1, "the misaligned level is not offered");
        assert_eq!(m.streams[0].quality_levels[0].bitrate, 600_000);
    }
}
