//! Where a packaged segment's key frame is, for HLS I-frame playlists (`EXT-X-I-FRAMES-ONLY`,
//! `EXT-X-BYTERANGE` into the very segments the media playlists name). Every segment starts at a
//! sync sample, and the packagers write its bytes first: a CMAF segment's `moof` and `mdat` header
//! are followed by the first sample's bytes (the samples go into the `mdat` in decode order, wherever
//! they were in the file), a TS segment's PAT and PMT by the first sample's PES. So a prefix of the
//! segment holds the key frame whole: its length is computed here from the same pure packaging
//! (the `moof` the CMAF packager makes, the PES the TS packager makes), so the ranges are exact.
//! A CMAF prefix's `moof` still describes the fragment's other samples; a reader of the range
//! takes the samples whose bytes it holds ([`crate::movie_fragment::MovieFragment::parse_prefix`]).
//! Only the key frame that starts each segment is reachable so: a segment's later sync samples
//! (key frames closer than the ~2 s segments) are not listed.

use crate::fragment::TrackIndex;
use crate::Result;

/// The segment format a prefix is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segments {
    /// CMAF: `moof` + `mdat` ([`TrackIndex::media_segment_parts`]).
    Cmaf,
    /// MPEG-TS ([`crate::ts::ts_segment`]).
    Ts,
}

/// The length of the prefix of fragment `number`'s segment that holds its first sample, a key
/// frame, whole; `None` when that sample is not a sync sample or the length does not follow from
/// the index.
pub fn key_frame_prefix(track: &TrackIndex, number: usize, segments: Segments) -> Result<Option<u64>> {
    let f = track.fragments.get(number).ok_or_else(|| crate::FormatError::new("no such fragment"))?;
    if f.first >= f.end || !track.is_sync(f.first) {
        return Ok(None);
    }
    match segments {
        Segments::Cmaf => {
            let range = track.byte_range(f);
            let head = track.media_segment_parts(number, (range.end - range.start) as usize)?.head.len();
            Ok(Some(head as u64 + track.info.sample_sizes[f.first] as u64))
        }
        Segments::Ts => crate::ts::first_sample_prefix(track, number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::tests::{test_clip, TestClip};
    use crate::movie_fragment::MovieFragment;
    use crate::ts::{ts_segment, Counters};
    use crate::ts_reader::pes_packets;

    /// Each segment's prefix, read back, holds exactly one sample: the source's sync sample that
    /// starts the fragment, byte for byte (CMAF) or as one whole PES flagged a random access point
    /// at its time (TS); one byte less does not hold it.
    #[test]
    fn each_prefix_holds_exactly_the_key_frame_that_starts_its_segment() {
        let TestClip { file, index, .. } = &test_clip();
        let track = index.by_handler("vide").unwrap();
        let counters = Counters::of(track).unwrap();
        assert!(track.fragments.len() >= 3);
        for (n, f) in track.fragments.iter().enumerate() {
            let r = track.byte_range(f);
            let data = &file[r.start as usize..r.end as usize];
            let at = track.offsets[f.first] as usize;
            let source = &file[at..at + track.info.sample_sizes[f.first] as usize];

            let segment = track.media_segment(n, data).unwrap();
            let len = key_frame_prefix(track, n, Segments::Cmaf).unwrap().unwrap() as usize;
            assert!(len < segment.len(), "fragment {n}: a prefix, not the segment");
            let back = MovieFragment::parse_prefix(&segment[..len]).unwrap();
            assert_eq!(back.samples.len(), 1, "fragment {n}");
            assert_eq!(back.samples[0].data, source, "fragment {n}: the source's key frame");
            assert_eq!(back.samples[0].flags & 0x0001_0000, 0, "fragment {n}: flagged a sync sample");
            assert_eq!(back.decode_time, Some(f.start));
            assert!(MovieFragment::parse_prefix(&segment[..len - 1]).unwrap().samples.is_empty());

            let ts = ts_segment(track, n, data, &counters).unwrap();
            let len = key_frame_prefix(track, n, Segments::Ts).unwrap().unwrap() as usize;
            assert!(len < ts.len(), "fragment {n}");
            let whole = pes_packets(&ts).unwrap();
            let pes = pes_packets(&ts[..len]).unwrap();
            assert_eq!(pes.len(), 1, "fragment {n}: one PES");
            assert_eq!(pes[0], whole[0], "fragment {n}: the first PES whole");
            assert!(pes[0].random_access, "fragment {n}");
            let pid = |p: usize| u16::from_be_bytes([ts[p * 188 + 1] & 0x1f, ts[p * 188 + 2]]);
            assert_eq!((pid(0), pid(1)), (0, 0x1000), "fragment {n}: PAT and PMT first");
            assert!(ts[len] == 0x47 && ts[len + 1] & 0x40 != 0, "fragment {n}: the next PES starts right after");
        }
        let audio = index.by_handler("soun").unwrap();
        assert!(key_frame_prefix(audio, 0, Segments::Cmaf).unwrap().is_some(), "every AAC frame is a sync sample");
        assert!(key_frame_prefix(track, track.fragments.len(), Segments::Cmaf).is_err());
    }
}
