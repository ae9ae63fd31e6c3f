//! Hostile fragmented renditions for [`crate::fragmented_index`]: a real ffmpeg-made fragmented
//! MP4 (with its `mfra`) whose `moof`, `trun` and `tfra` fields are overwritten with lies. Each
//! must give an error that names what lies, before anything the lie sizes is allocated, or an
//! index that packages; never a panic nor a walk that does not end.

use std::sync::OnceLock;

use proptest::prelude::*;

use crate::bmff::box_header;
use crate::fragment::Index;
use crate::fragmented_index::tests::{index_by_ranges, make_fragmented};

/// A fragmented MP4 with default-base-is-moof and an mfra, made once.
fn fragmented() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let args = ["-movflags", "frag_keyframe+empty_moov+default_base_moof"];
        std::fs::read(make_fragmented(dir.path(), "hostile.mp4", &args)).unwrap()
    })
}

/// Where the body of the first box at `path` (top-level first) starts in `file`.
pub(crate) fn body_of(file: &[u8], path: &[&[u8; 4]]) -> usize {
    let (mut at, mut end) = (0, file.len());
    for kind in path {
        loop {
            assert!(at + 8 <= end, "no {} box", String::from_utf8_lossy(*kind));
            let h = box_header(&file[at..]).unwrap();
            let size = h.size.unwrap() as usize;
            if &h.kind == *kind {
                end = at + size;
                at += h.header_len as usize;
                break;
            }
            at += size;
        }
    }
    at
}

fn with(file: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = file.to_vec();
    out[at..at + bytes.len()].copy_from_slice(bytes);
    out
}

fn refused(file: &[u8]) -> String {
    match index_by_ranges(file).0 {
        Ok(_) => panic!("a lying file was indexed"),
        Err(e) => e.0,
    }
}

const TRUN: [&[u8; 4]; 3] = [b"moof", b"traf", b"trun"];

#[test]
fn a_moof_claiming_2_pow_32_samples_is_refused_not_allocated() {
    let file = fragmented();
    // trun body: version/flags, sample_count, data_offset, then one entry per sample.
    let at = body_of(file, &TRUN);
    let e = refused(&with(file, at + 4, &u32::MAX.to_be_bytes()));
    assert!(e.contains("claims 4294967295 samples"), "{e}");
    // The same count with no per-sample fields at all (every sample the tfhd's defaults):
    // nothing in the trun's bytes bounds it, the per-track cap does.
    let flags_only_data_offset = [0, 0, 0, 1];
    let lie = with(file, at, &flags_only_data_offset);
    let e = refused(&with(&lie, at + 4, &u32::MAX.to_be_bytes()));
    assert!(e.contains("claims 4294967295 samples") && e.contains("per track"), "{e}");
    // Under the per-track cap, but more empty default-sized samples than the file has bytes.
    let e = refused(&with(&lie, at + 4, &(crate::mp4::MAX_SAMPLES - 1).to_be_bytes()));
    assert!(e.contains(&format!("claims {} samples", crate::mp4::MAX_SAMPLES - 1)), "{e}");
}

/// A moof of many one-sample truns is read in time proportional to it (the per-track sample
/// count is kept, not recounted per trun: 200,000 truns took minutes that way). Their samples
/// sit at the moof (data offset 0), outside its mdat.
#[test]
fn a_moof_of_many_truns_is_read_through_and_refused() {
    let file = fragmented();
    let moof = body_of(file, &[b"moof"]) - 8;
    let traf = body_of(file, &[b"moof", b"traf"]) - 8;
    let size = |at: usize| u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    // 200,000 truns of one default sample each appended to the first traf (moof and traf resized).
    let trun = [&20u32.to_be_bytes()[..], b"trun", &[0, 0, 0, 1], &1u32.to_be_bytes(), &0u32.to_be_bytes()].concat();
    let extra = trun.len() * 200_000;
    let mut lie = file[..traf + size(traf)].to_vec();
    lie.extend(std::iter::repeat_n(&trun[..], 200_000).flatten());
    lie.extend_from_slice(&file[traf + size(traf)..]);
    lie[moof..moof + 4].copy_from_slice(&((size(moof) + extra) as u32).to_be_bytes());
    lie[traf..traf + 4].copy_from_slice(&((size(traf) + extra) as u32).to_be_bytes());
    let e = refused(&lie);
    assert!(e.contains("outside its mdat"), "{e}");
}

#[test]
fn a_tfra_pointing_past_the_end_is_refused() {
    let file = fragmented();
    // tfra body: version/flags, track_ID, lengths, entry count, then (time, moof_offset, …).
    let at = body_of(file, &[b"mfra", b"tfra"]);
    assert_eq!(file[at], 1, "ffmpeg writes 64-bit tfra entries");
    let e = refused(&with(file, at + 16 + 8, &(file.len() as u64 + 1000).to_be_bytes()));
    assert!(e.contains("a tfra names a moof at"), "{e}");
    // Inside the file but not at a moof: found out by the walk.
    let e = refused(&with(file, at + 16 + 8, &(file.len() as u64 / 2).to_be_bytes()));
    assert!(e.contains("which is not one"), "{e}");
    let e = refused(&with(file, at + 12, &u32::MAX.to_be_bytes()));
    assert!(e.contains("a tfra claims 4294967295 entries"), "{e}");
}

#[test]
fn a_trun_data_offset_outside_its_mdat_is_refused() {
    let file = fragmented();
    let at = body_of(file, &TRUN);
    for offset in [i32::MAX, -1, -100_000, 0] {
        let e = refused(&with(file, at + 8, &offset.to_be_bytes()));
        assert!(e.contains("outside"), "{offset}: {e}");
    }
}

#[test]
fn a_moof_with_a_track_the_moov_lacks_or_time_going_back_is_refused() {
    let file = fragmented();
    let tfhd = body_of(file, &[b"moof", b"traf", b"tfhd"]);
    let e = refused(&with(file, tfhd + 4, &77u32.to_be_bytes()));
    assert!(e.contains("track 77"), "{e}");
    // The second moof's first tfdt set back to 0.
    let first = body_of(file, &[b"moof"]) - 8;
    let second_moof = {
        let mut at = first;
        loop {
            let h = box_header(&file[at..]).unwrap();
            at += h.size.unwrap() as usize;
            if &box_header(&file[at..]).unwrap().kind == b"moof" {
                break at;
            }
        }
    };
    let tfdt = second_moof + body_of(&file[second_moof..], &[b"moof", b"traf", b"tfdt"]);
    let e = refused(&with(file, tfdt + 4, &0u64.to_be_bytes()));
    assert!(e.contains("before the previous one ends"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any word of the first two moofs or the mfra overwritten: indexed and packaged, or refused.
    #[test]
    fn a_mutated_fragmented_file_is_indexed_or_refused_never_a_panic(
        lies in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![
            0u32, 1, 7, 8, 16, 0x100, 0x7fff_ffff, 0x8000_0000, u32::MAX - 1, u32::MAX,
        ])), 1..4),
        whole_region in any::<bool>(),
    ) {
        let file = fragmented();
        let moof = body_of(file, &[b"moof"]) - 8;
        let mfra = body_of(file, &[b"mfra"]) - 8;
        let mut m = file.to_vec();
        for (pick, value) in &lies {
            // The moof region, or the mfra (and mfro).
            let (start, len) = if whole_region { (moof, 4096) } else { (mfra, file.len() - mfra) };
            let at = start + pick.index(len.saturating_sub(4)) / 4 * 4;
            m[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        if let (Ok(index), _) = index_by_ranges(&m) {
            package(&index, &m);
        }
    }
}

/// Init and every media segment of every track (what the origin makes of an index).
fn package(index: &Index, file: &[u8]) {
    for track in &index.tracks {
        let _ = index.init_segment(track);
        for (n, f) in track.fragments.iter().enumerate() {
            let r = track.byte_range(f);
            let data = &file[r.start as usize..r.end as usize];
            let _ = track.media_segment(n, data);
            let _ = crate::smooth_fragment::smooth_fragment(track, n, data);
        }
    }
}
