//! Smooth Streaming fragments (MS-SSTR 2.2.4, the PIFF wire form): what
//! `QualityLevels(b)/Fragments(video=t)` returns without a `format=`. A
//! `moof` (`mfhd`, `traf` with `tfhd`, `trun` and the `tfxd` uuid box giving
//! the fragment's absolute time and duration; no `tfdt`, no `styp`)
//! followed by its `mdat`, cut at the same sync samples as the CMAF segments
//! of [`crate::fragment`]. Times are in the track's timescale (the manifest
//! states it as the stream's `TimeScale`). Pure: index and bytes in, bytes
//! out; [`SmoothFragment::parse`] reads one back (through [`crate::movie_fragment`]).

use crate::bmff::write_uuid_box;
use crate::fragment::{Fragment, SegmentParts, TrackIndex};
use crate::movie_fragment::MovieFragment;
use crate::{FormatError, Result};

/// The `tfxd` box's user type: 6d1d9b05-42d5-44e6-80e2-141daff757b2.
pub const TFXD: [u8; 16] =
    [0x6d, 0x1d, 0x9b, 0x05, 0x42, 0xd5, 0x44, 0xe6, 0x80, 0xe2, 0x14, 0x1d, 0xaf, 0xf7, 0x57, 0xb2];

/// The Smooth fragment of fragment `number` of `track`, whose bytes are
/// `data`, read from the file at `track.byte_range(fragment)`.
pub fn smooth_fragment(track: &TrackIndex, number: usize, data: &[u8]) -> Result<Vec<u8>> {
    Ok(smooth_fragment_parts(track, number, data.len())?.assemble(data))
}

/// [`smooth_fragment`] as parts: the `moof` and `mdat` header, then where its
/// samples are in the `data_len` bytes read at `track.byte_range(fragment)`.
pub fn smooth_fragment_parts(track: &TrackIndex, number: usize, data_len: usize) -> Result<SegmentParts> {
    let f = track.checked_fragment_len(number, data_len)?;
    Ok(track.fragment_parts(number, f, |_| {}, |b| write_tfxd(b, f)))
}

/// The `tfxd` box of fragment `f`: version 1, its 64-bit absolute time and duration.
pub(crate) fn write_tfxd(out: &mut Vec<u8>, f: &Fragment) {
    write_uuid_box(out, &TFXD, |b| {
        b.extend_from_slice(&(1u32 << 24).to_be_bytes());
        b.extend_from_slice(&f.start.to_be_bytes());
        b.extend_from_slice(&f.duration.to_be_bytes());
    })
}

/// The encrypted Smooth fragment of fragment `number` of `track` (see [`crate::encryption::fragments`]).
pub fn encrypted_smooth_fragment(
    track: &TrackIndex,
    number: usize,
    data: &[u8],
    protection: &crate::encryption::Protection<'_>,
) -> Result<Vec<u8>> {
    crate::encryption::fragments::smooth_fragment(track, number, data, protection)
}

pub use crate::movie_fragment::Sample;

/// A Smooth fragment read back: what a client learns from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmoothFragment {
    /// `mfhd`'s sequence number.
    pub sequence_number: u32,
    /// `tfhd`'s track id.
    pub track_id: u32,
    /// From `tfxd`: the fragment's absolute start and duration.
    pub time: u64,
    /// From `tfxd`: the fragment's duration, in the stream's timescale.
    pub duration: u64,
    /// The `traf`'s child boxes in order (`tfxd` for the uuid box), e.g. to see there is no `tfdt`.
    pub traf_boxes: Vec<String>,
    /// The samples in decode order.
    pub samples: Vec<Sample>,
}

impl SmoothFragment {
    /// Reads a `moof` + `mdat` with one `traf` and a `tfxd`, its samples taken from the
    /// `mdat` where the `trun` says they are.
    pub fn parse(bytes: &[u8]) -> Result<SmoothFragment> {
        let f = MovieFragment::parse(bytes)?;
        let Some((time, duration)) = f.tfxd else {
            return Err(FormatError::new("no tfxd box: not a Smooth fragment"));
        };
        Ok(SmoothFragment {
            sequence_number: f.sequence_number,
            track_id: f.track_id,
            time,
            duration,
            traf_boxes: f.traf_boxes,
            samples: f.samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::tests::{assert_samples_are_the_sources, md5s, test_clip, TestClip};

    /// Every fragment of both tracks, read back: its tfxd time and duration are
    /// the index's, its samples are the source's (count, sizes, durations, bytes),
    /// and it carries no tfdt. Then, wrapped in the CMAF init segment, ffmpeg
    /// reads the fragments in a row and gets the source's packets.
    #[test]
    fn smooth_fragments_carry_the_sources_samples_at_the_indexed_times() {
        let clip = test_clip();
        let TestClip { path: src, file, index, .. } = &clip;
        for (handler, map) in [("vide", "0:v"), ("soun", "0:a")] {
            let track = index.by_handler(handler).unwrap();
            let mut wrapped = index.init_segment(track).unwrap();
            let mut samples = 0;
            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                let bytes = smooth_fragment(track, n, &file[r.start as usize..r.end as usize]).unwrap();
                let back = SmoothFragment::parse(&bytes).unwrap();
                assert_eq!((back.time, back.duration), (f.start, f.duration), "{handler} fragment {n}");
                assert_eq!(back.sequence_number, n as u32 + 1);
                assert_eq!(back.track_id, track.info.track_id);
                assert_eq!(back.traf_boxes, ["tfhd", "trun", "tfxd"], "no tfdt: {handler} {n}");
                assert_samples_are_the_sources(track, f, &back.samples, file, &format!("{handler} {n}"));
                samples += back.samples.len();
                wrapped.extend(bytes);
            }
            assert_eq!(samples, track.info.sample_sizes.len(), "{handler}: every sample once");
            let path = clip.dir().join(format!("smooth-{handler}.mp4"));
            std::fs::write(&path, wrapped).unwrap();
            assert_eq!(md5s(&path, "0"), md5s(src, map), "{handler}");
        }
    }

    #[test]
    fn a_fragment_with_the_wrong_bytes_or_a_lying_trun_is_an_error() {
        let clip = test_clip();
        let TestClip { file, index, .. } = &clip;
        let track = index.by_handler("vide").unwrap();
        assert!(smooth_fragment(track, 0, &file[..10]).is_err(), "too few bytes");
        assert!(smooth_fragment(track, 99, &[]).is_err(), "no such fragment");
        let r = track.byte_range(&track.fragments[0]);
        let mut bytes = smooth_fragment(track, 0, &file[r.start as usize..r.end as usize]).unwrap();
        // Grow the first sample's size in the trun: its bytes now run past the mdat.
        let trun = bytes.windows(4).position(|w| w == b"trun").unwrap();
        let size_at = trun + 4 + 4 + 4 + 4 + 4;
        bytes[size_at..size_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(SmoothFragment::parse(&bytes).is_err());
        assert!(SmoothFragment::parse(b"\0\0\0\x08moof").is_err());
    }
}
