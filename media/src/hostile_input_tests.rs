//! Hostile input for the pure readers and packagers: a real ffmpeg-made MP4
//! whose `moov` fields are overwritten with lies (sizes 0, 1, 2^32-1, 64-bit
//! largesizes, counts of 2^32-1, timescale 0...), truncated, or byte-flipped;
//! mutated `.ism`/`.ismc` text, Smooth and CMAF fragments, MPDs and HLS playlists; files of
//! made-up top-level boxes for the walk and the box iterator. Each must give an error or a valid
//! output, never a panic (proptest reports a panic as a failure) nor a walk that does not end.

use std::sync::OnceLock;

use proptest::prelude::*;

use crate::bmff::{box_header, children, TopLevelWalk, WalkStep};
use crate::dash::{fill, Addressing, Mpd};
use crate::fragment::tests::{make_clip, moov_of};
use crate::fragment::Index;
use crate::hls::Playlist;
use crate::ism::ServerManifest;
use crate::ismc::ClientManifest;
use crate::movie_fragment::MovieFragment;
use crate::mp4::Mp4;
use crate::smooth_fragment::{smooth_fragment, SmoothFragment};
use crate::ts::{ts_segment, Counters};
use crate::ts_reader::pes_packets;

/// The clip's whole file and where its `moov` starts.
fn clip() -> &'static (Vec<u8>, usize) {
    static CLIP: OnceLock<(Vec<u8>, usize)> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::read(make_clip(dir.path())).unwrap();
        let moov = moov_of(&file);
        let at = moov.as_ptr() as usize - file.as_ptr() as usize;
        (file, at)
    })
}

/// Offsets (in the moov) of every box header and of the first words of each
/// box's body: where the sizes, versions, counts and first entries sit.
fn field_offsets(moov: &[u8]) -> Vec<usize> {
    fn walk(b: &[u8], base: usize, out: &mut Vec<usize>) {
        let mut at = 0;
        while at + 8 <= b.len() {
            let Some(h) = box_header(&b[at..]) else { return };
            let size = h.size.unwrap_or((b.len() - at) as u64) as usize;
            if size < 8 || at + size > b.len() {
                return;
            }
            for word in 0..8 {
                out.push(base + at + word * 4);
            }
            let body = &b[at + h.header_len as usize..at + size];
            match &h.kind {
                b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"edts" | b"dinf" => {
                    walk(body, base + at + h.header_len as usize, out)
                }
                // stsd: 8 bytes of version/flags/count, then sample entries (avc1: 78 bytes, then avcC).
                b"stsd" if body.len() > 8 => walk(&body[8..], base + at + h.header_len as usize + 8, out),
                b"avc1" if body.len() > 78 => walk(&body[78..], base + at + h.header_len as usize + 78, out),
                b"mp4a" if body.len() > 28 => walk(&body[28..], base + at + h.header_len as usize + 28, out),
                _ => {}
            }
            at += size;
        }
    }
    let mut out = Vec::new();
    walk(moov, 0, &mut out);
    out
}

#[derive(Debug, Clone)]
enum Lie {
    U32(u32),
    U64(u64),
    Byte(u8),
    Truncate,
}

fn lie() -> impl Strategy<Value = Lie> {
    prop_oneof![
        prop::sample::select(vec![0u32, 1, 2, 7, 8, 9, 16, 0x7fff_ffff, 0x8000_0000, u32::MAX - 1, u32::MAX])
            .prop_map(Lie::U32),
        any::<u32>().prop_map(Lie::U32),
        prop::sample::select(vec![0u64, 16, u64::MAX, u64::MAX - 7, 1 << 32, 1 << 63]).prop_map(Lie::U64),
        any::<u8>().prop_map(Lie::Byte),
        Just(Lie::Truncate),
    ]
}

/// The moov with `lies` applied at field offsets (`pick` chooses among them) and its own size kept.
fn mutate(moov: &[u8], lies: &[(prop::sample::Index, Lie)]) -> Vec<u8> {
    let fields = field_offsets(moov);
    let mut m = moov.to_vec();
    for (pick, lie) in lies {
        let at = fields[pick.index(fields.len())];
        match lie {
            Lie::U32(v) if at + 4 <= m.len() => m[at..at + 4].copy_from_slice(&v.to_be_bytes()),
            Lie::U64(v) if at + 8 <= m.len() => m[at..at + 8].copy_from_slice(&v.to_be_bytes()),
            Lie::Byte(v) if at < m.len() => m[at] ^= v | 1,
            Lie::Truncate if at >= 8 => {
                m.truncate(at);
                let len = m.len() as u32;
                m[..4].copy_from_slice(&len.to_be_bytes());
            }
            _ => {}
        }
    }
    m
}

/// The first fragment of the clip's first track as `write` makes it, with `lies` applied to its
/// boxes' fields (they take the moov's place in the mutator: its fields are the moof's).
fn mutated_fragment(
    lies: &[(prop::sample::Index, Lie)],
    write: impl Fn(&crate::fragment::TrackIndex, &[u8]) -> crate::Result<Vec<u8>>,
) -> Vec<u8> {
    let (file, at) = clip();
    let index = Index::from_moov(&file[*at..*at + moov_of(file).len()]).unwrap();
    let track = &index.tracks[0];
    let r = track.byte_range(&track.fragments[0]);
    let fragment = write(track, &file[r.start as usize..r.end as usize]).unwrap();
    let mut wrapped = Vec::new();
    crate::bmff::write_box(&mut wrapped, b"moov", |b| b.extend_from_slice(&fragment));
    mutate(&wrapped, lies).split_off(8)
}

/// Everything the origin does with an index: init and every fragment in each form, each read back.
fn package(index: &Index, file: &[u8]) {
    for track in &index.tracks {
        let _ = index.init_segment(track);
        let _ = track.codecs();
        let _ = track.peak_bitrate();
        let _ = track.info.codec_private_data();
        let _ = track.info.bitrate();
        for (n, f) in track.fragments.iter().enumerate() {
            let range = track.byte_range(f);
            let span = (range.end - range.start) as usize;
            let data = match file.get(range.start as usize..range.end as usize) {
                Some(d) => d.to_vec(),
                None if span <= 1 << 24 => vec![0; span],
                None => continue,
            };
            let _ = track.media_segment(n, &data);
            let counters = Counters::of(track);
            let _ = counters.as_ref().map(|c| ts_segment(track, n, &data, c));
            if let Ok(smooth) = smooth_fragment(track, n, &data) {
                SmoothFragment::parse(&smooth).expect("a Smooth fragment we wrote reads back");
            }
            // Data of the wrong length is an error, not a panic.
            let _ = track.media_segment(n, &data[..data.len() / 2]);
            let _ = counters.as_ref().map(|c| ts_segment(track, n, &data[..data.len() / 2], c));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_lying_moov_is_indexed_and_packaged_or_refused_never_a_panic(
        lies in prop::collection::vec((any::<prop::sample::Index>(), lie()), 1..4)
    ) {
        let (file, at) = clip();
        let moov = mutate(moov_of(file), &lies);
        let mut whole = file[..*at].to_vec();
        whole.extend_from_slice(&moov);
        let _ = Mp4::read(std::io::Cursor::new(whole));
        if let Ok(index) = Index::from_moov(&moov) {
            package(&index, file);
        }
    }

    #[test]
    fn a_mutated_smooth_fragment_is_read_or_refused_never_a_panic(
        lies in prop::collection::vec((any::<prop::sample::Index>(), lie()), 1..4)
    ) {
        let _ = SmoothFragment::parse(&mutated_fragment(&lies, |track, data| smooth_fragment(track, 0, data)));
    }

    #[test]
    fn a_mutated_cmaf_segment_is_read_or_refused_never_a_panic(
        lies in prop::collection::vec((any::<prop::sample::Index>(), lie()), 1..4)
    ) {
        let _ = MovieFragment::parse(&mutated_fragment(&lies, |track, data| track.media_segment(0, data)));
    }

    /// Files of made-up top-level boxes (sizes 0, 1 with any largesize, below the header, past
    /// the end), read in any first-read size: the walk ends, every box it reports lies in the
    /// file one after the other, and a whole walk that succeeds covers the file exactly.
    #[test]
    fn the_top_level_walk_ends_and_reports_only_boxes_inside_the_file(
        parts in prop::collection::vec((
            prop::sample::select(vec![0u32, 1, 4, 8, 9, 16, 24, 40, 0x7fff_ffff, u32::MAX]),
            prop::sample::select(vec![*b"ftyp", *b"moov", *b"mdat", *b"free", *b"moof", *b"uuid"]),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..48),
        ), 0..8),
        first_read in 0u64..400,
        until_moov in any::<bool>(),
    ) {
        let mut file = Vec::new();
        for (size, kind, large, body) in &parts {
            file.extend_from_slice(&size.to_be_bytes());
            file.extend_from_slice(kind);
            if *size == 1 {
                let large = if large % 2 == 0 { (body.len() as u64 + 16).max(*large % 64) } else { *large };
                file.extend_from_slice(&large.to_be_bytes());
            }
            file.extend_from_slice(body);
        }
        let len = file.len() as u64;
        let mut walk = if until_moov { TopLevelWalk::until_moov(len) } else { TopLevelWalk::whole(len) };
        let read = |r: std::ops::Range<u64>| file[r.start as usize..r.end.min(len) as usize].to_vec();
        let mut fed = (0, read(0..first_read.min(len)));
        let mut steps = 0;
        let outcome = loop {
            steps += 1;
            prop_assert!(steps <= file.len() / 8 + 3, "the walk asks for more reads than the file has boxes");
            match walk.feed(fed.0, &fed.1) {
                Ok(WalkStep::Need(r)) => {
                    prop_assert!(r.start < r.end && r.end <= len, "{r:?} of {len}");
                    fed = (r.start, read(r));
                }
                Ok(WalkStep::Done(layout)) => break Ok(layout),
                Err(e) => break Err(e),
            }
        };
        let _ = Mp4::read(std::io::Cursor::new(file.clone()));
        if let Ok(layout) = outcome {
            let mut at = 0;
            for b in &layout.boxes {
                prop_assert_eq!(b.offset, at);
                prop_assert!(b.size >= b.header_len && b.offset + b.size <= len);
                at += b.size;
            }
            if !until_moov || layout.moov().is_none() {
                prop_assert_eq!(at, len, "a whole walk covers the file");
            }
        }
    }

    /// A TS segment we wrote with bytes overwritten (sync bytes kept or not): read or refused,
    /// and every PES read from it answers its timestamps and payload or refuses.
    #[test]
    fn a_mutated_ts_segment_is_read_or_refused_never_a_panic(
        lies in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let (file, at) = clip();
        let index = Index::from_moov(&file[*at..*at + moov_of(file).len()]).unwrap();
        let track = &index.tracks[0];
        let r = track.byte_range(&track.fragments[0]);
        let counters = Counters::of(track).unwrap();
        let mut ts = ts_segment(track, 0, &file[r.start as usize..r.end as usize], &counters).unwrap();
        for (pick, byte) in &lies {
            let i = pick.index(ts.len());
            ts[i] = *byte;
        }
        let whole = ts.len() / 188;
        ts.truncate(188 * (1 + cut.index(whole)));
        if let Ok(pes) = pes_packets(&ts) {
            for p in &pes {
                let _ = (p.timestamps(), p.payload(), p.is_audio_or_video());
            }
        }
    }

    /// Any bytes as a container's body: every child lies inside it, after the one before.
    #[test]
    fn children_of_any_bytes_lie_inside_them(body in prop::collection::vec(any::<u8>(), 0..256), exact in any::<bool>()) {
        let it = if exact { children(&body).exact() } else { children(&body) };
        let mut at = 0usize;
        for (n, child) in it.enumerate() {
            prop_assert!(n <= body.len() / 8);
            let Ok(child) = child else { break };
            let start = child.raw.as_ptr() as usize - body.as_ptr() as usize;
            prop_assert_eq!(start, at);
            prop_assert!(child.raw.len() >= 8 && start + child.raw.len() <= body.len());
            at += child.raw.len();
        }
    }

    #[test]
    fn mutated_mpds_and_playlists_are_read_or_refused_never_a_panic(
        cut in any::<prop::sample::Index>(),
        insert in prop::sample::select(vec![
            "", "\"", "<", "&", "\0", "-1", "0", "18446744073709551615", "18446744073709551616", "$", "$$",
            "$Number%0999999999d$", "$Time$", " r=\"-1\"", " r=\"9223372036854775807\"", " t=\"18446744073709551615\"",
            " d=\"0\"", "<S d=\"1\" r=\"999999\"/>", " timescale=\"0\"", " duration=\"PT99999999999999H\"",
            "#EXTINF:-1,\n", "#EXTINF:NaN,\n", "#EXT-X-MAP:URI=\"\"\n", "#EXT-X-STREAM-INF:BANDWIDTH=99999999999999999999\n",
            "#EXT-X-BYTERANGE:1@18446744073709551615\n", "\n\n#EXTM3U\n",
        ]),
    ) {
        for text in [crate::dash::tests::MPD, crate::hls::tests::MASTER, crate::hls::tests::MEDIA] {
            let at = cut.index(text.len() + 1);
            let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            let mutated = format!("{}{insert}{}", &text[..at], &text[at..]);
            let _ = Playlist::parse(mutated.as_bytes());
            let Ok(mpd) = Mpd::parse(&mutated) else { continue };
            for period in &mpd.periods {
                for set in &period.adaptation_sets {
                    for rep in &set.representations {
                        if let Addressing::Template(t) = rep.addressing(set, period) {
                            for s in t.segments(mpd.period_duration(period)).unwrap_or_default().iter().take(10) {
                                let _ = t.media().map(|m| fill(m, rep, Some(s.number), Some(s.time)));
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn mutated_server_and_client_manifests_are_read_or_refused_never_a_panic(
        cut in any::<prop::sample::Index>(),
        insert in prop::sample::select(vec![
            "", "\"", "<", "&", "\0", "-1", "18446744073709551616", "4294967295", " r=\"4294967295\"",
            " t=\"18446744073709551615\"", " d=\"18446744073709551615\"", "<c d=\"1\"/>", "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
        ]),
    ) {
        let ism = crate::ism::tests::sample().to_xml();
        let ismc = crate::ismc::tests::sample().to_xml();
        for text in [ism.as_str(), ismc.as_str()] {
            let at = cut.index(text.len() + 1);
            let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            let mutated = format!("{}{insert}{}", &text[..at], &text[at..]);
            let _ = ServerManifest::parse(&mutated);
            if let Ok(m) = ClientManifest::parse(&mutated) {
                for s in &m.streams {
                    let _ = s.fragments();
                }
            }
        }
    }

    /// WebVTT with anything inserted anywhere (timestamps too wide, unit separators, lone
    /// arrows, NULs, a BOM, bytes not UTF-8), read and, when read, cut into segments.
    #[test]
    fn mutated_webvtt_is_read_and_cut_or_refused_never_a_panic(
        cut in any::<prop::sample::Index>(),
        insert in prop::collection::vec(prop::sample::select(vec![
            &b""[..], b"-->", b" --> ", b"\n", b"\r", b"\n\n", b":", b".", b"99", b"999999999999999999999",
            b"\0", b"\xef\xbb\xbf", b"\xff", b"\xc3", b"STYLE\n", b"NOTE", b"WEBVTT", b"00:00:00.000",
        ]), 0..4),
        window in (any::<u64>(), any::<u64>()),
    ) {
        let text = "WEBVTT\n\nSTYLE\n::cue{}\n\n1\n00:00:01.000 --> 00:00:02.500 align:start\nHi\n\n00:03.000 --> 01:00:04.000\nBye\n";
        let at = cut.index(text.len() + 1);
        let mut bytes = text.as_bytes()[..at].to_vec();
        insert.iter().for_each(|i| bytes.extend_from_slice(i));
        bytes.extend_from_slice(&text.as_bytes()[at..]);
        if let Ok(vtt) = crate::webvtt::WebVtt::parse(&bytes) {
            let _ = vtt.segment(window.0.min(window.1), window.0.max(window.1), u64::MAX);
            let _ = vtt.to_text();
        }
        let _ = crate::ttml::check(&bytes);
    }

    /// Any bytes as an H.264 sample, with any NAL length size: the caption scan ends, never a panic.
    #[test]
    fn any_sample_is_scanned_for_captions_never_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        length_size in 0usize..6,
    ) {
        let mut found = crate::captions::Captions::default();
        crate::captions::h264_sample(&bytes, length_size, &mut found);
    }
}

/// The clip's moov with `bytes` written at `offset` of the body of the first box at `path`.
fn patched(path: &[&[u8; 4]], offset: usize, bytes: &[u8]) -> Vec<u8> {
    let (file, _) = clip();
    let mut moov = moov_of(file).to_vec();
    let in_moov: Vec<&[u8; 4]> = std::iter::once(b"moov").chain(path.iter().copied()).collect();
    let at = crate::fragmented_hostile_tests::body_of(&moov, &in_moov);
    moov[at + offset..at + offset + bytes.len()].copy_from_slice(bytes);
    moov
}

const STBL: [&[u8; 4]; 4] = [b"trak", b"mdia", b"minf", b"stbl"];

fn in_stbl(kind: &[u8; 4], offset: usize, bytes: &[u8]) -> Vec<u8> {
    let mut path = STBL.to_vec();
    path.push(kind);
    patched(&path, offset, bytes)
}

#[test]
fn a_fixed_size_stsz_of_2_pow_32_samples_is_refused_not_allocated() {
    // stsz body: version/flags, sample size, sample count.
    let mut lie = 1u32.to_be_bytes().to_vec();
    lie.extend_from_slice(&u32::MAX.to_be_bytes());
    let err = Index::from_moov(&in_stbl(b"stsz", 4, &lie)).unwrap_err();
    assert!(err.0.contains("samples"), "{err}");
}

#[test]
fn an_stts_count_of_2_pow_32_is_capped_at_the_sample_count() {
    // stts body: version/flags, entry count, then (count, delta) entries.
    let index = Index::from_moov(&in_stbl(b"stts", 8, &u32::MAX.to_be_bytes())).unwrap();
    let t = &index.tracks[0];
    assert_eq!(t.info.decode_times.len(), t.info.sample_sizes.len());
}

#[test]
fn an_stsz_with_fewer_samples_than_stts_is_refused_or_cut_not_a_panic() {
    let real = {
        let (file, _) = clip();
        Index::from_moov(moov_of(file)).unwrap().tracks[0].info.sample_sizes.len() as u32
    };
    if let Ok(index) = Index::from_moov(&in_stbl(b"stsz", 8, &(real - 1).to_be_bytes())) {
        package(&index, &clip().0);
    }
}

#[test]
fn a_64_bit_box_size_past_the_end_is_an_error_not_an_overflow() {
    let mut file = b"\0\0\0\x10ftypisom\0\0\0\0".to_vec();
    file.extend_from_slice(b"\0\0\0\x01mdat");
    file.extend_from_slice(&u64::MAX.to_be_bytes());
    assert!(Mp4::read(std::io::Cursor::new(file)).unwrap_err().0.contains("claims"));
}

#[test]
fn samples_placed_on_top_of_each_other_are_refused() {
    // stco body: version/flags, entry count, offsets: every chunk at the first one's offset.
    let first = Index::from_moov(moov_of(&clip().0)).unwrap().tracks[0].offsets[0] as u32;
    let (file, _) = clip();
    let moov = moov_of(file);
    let chunks = {
        let b = in_stbl(b"stco", 0, &[0, 0, 0, 0]);
        let at = b.windows(4).position(|w| w == b"stco").unwrap() + 4;
        u32::from_be_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize
    };
    assert_eq!(moov.len(), in_stbl(b"stco", 0, &[0, 0, 0, 0]).len());
    let same: Vec<u8> = (0..chunks).flat_map(|_| first.to_be_bytes()).collect();
    let err = Index::from_moov(&in_stbl(b"stco", 8, &same)).unwrap_err();
    assert!(err.0.contains("overlap"), "{err}");
}

#[test]
fn a_fragment_spanning_gigabytes_of_the_file_is_refused_at_indexing() {
    // The second chunk 3 GB away: the first fragment would be read as a 3 GB range.
    let err = Index::from_moov(&in_stbl(b"stco", 12, &3_000_000_000u32.to_be_bytes())).unwrap_err();
    assert!(err.0.contains("span"), "{err}");
}

#[test]
fn huge_parameter_sets_are_not_repeated_before_every_ts_key_frame() {
    let (file, _) = clip();
    let mut index = Index::from_moov(moov_of(file)).unwrap();
    let video = index.tracks.iter_mut().find(|t| t.info.handler == "vide").unwrap();
    let counters = Counters::of(video).unwrap();
    video.info.avc.as_mut().unwrap().sps = vec![vec![0x67; 65_535]; 31];
    let f = video.fragments[0];
    let r = video.byte_range(&f);
    let err = ts_segment(video, 0, &file[r.start as usize..r.end as usize], &counters).unwrap_err();
    assert!(err.0.contains("parameter sets"), "{err}");
    assert!(Counters::of(video).unwrap_err().0.contains("parameter sets"), "refused by the counters as well");
}

#[test]
fn a_client_manifest_timeline_near_2_pow_64_saturates_not_overflows() {
    let xml = r#"<SmoothStreamingMedia MajorVersion="2" MinorVersion="2" Duration="1"><StreamIndex Type="video" Name="video"><QualityLevel Bitrate="1"/><c t="18446744073709551615" d="5" r="3"/></StreamIndex></SmoothStreamingMedia>"#;
    let m = ClientManifest::parse(xml).unwrap();
    assert_eq!(m.streams[0].fragments().len(), 3);
}
