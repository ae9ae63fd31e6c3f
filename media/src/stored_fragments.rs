//! Smooth fragments served from a fragmented rendition's stored bytes (pure): a stored
//! Smooth-encoded rendition's (`.ismv`, `.isma`) `moof`+`mdat` is already the fragment a Smooth
//! client asks for, as IIS and Media Services served it. It is served as stored — no byte
//! rewritten — only when it is exactly the fragment the manifest announces: one `traf` (this
//! track's), data offsets from the `moof` (no absolute base offset), a `tfxd` stating the
//! announced start and duration, and the very samples of the origin's fragment. Any other
//! stored fragmentation (CMAF's `tfdt`, several tracks per `moof`, cut elsewhere, an AAC track
//! moved to start at 0) is cut as a progressive rendition is.

use std::ops::Range;

use crate::fragment::TrackIndex;

/// One stored `moof`+`mdat` of a single track, as [`crate::fragmented_index`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFragment {
    /// The `moof`'s first byte to the `mdat`'s last, in the file.
    pub bytes: Range<u64>,
    /// Its samples: numbers `first..end` of the track.
    pub first: usize,
    /// One past its last sample.
    pub end: usize,
    /// Its `tfxd`'s start and duration, in the track's timescale.
    pub tfxd: (u64, u64),
}

impl TrackIndex {
    /// The stored bytes of fragment `number` when they are exactly the Smooth fragment the
    /// manifest announces (see the module), else `None`: cut it.
    pub fn stored_fragment(&self, number: usize) -> Option<Range<u64>> {
        let f = self.fragments.get(number)?;
        let i = self.stored_fragments.binary_search_by_key(&f.first, |s| s.first).ok()?;
        let s = &self.stored_fragments[i];
        (s.end == f.end && s.tfxd == (f.start, f.duration)).then(|| s.bytes.clone())
    }
}

#[cfg(test)]
mod tests {
    use crate::bmff::{TopLevelWalk, WalkStep};
    use crate::fragment::tests::md5s;
    use crate::fragmented_index::tests::{index_by_ranges, make_fragmented};
    use crate::smooth_fragment::SmoothFragment;

    /// ffmpeg's `.ismv` (a moof per track per fragment, tfxd, 2 s): every video fragment is
    /// served as stored, byte for byte, and its samples are the source's; a CMAF file's are not
    /// (tfdt, no tfxd): cut.
    #[test]
    fn a_stored_smooth_fragment_is_served_as_stored_when_it_is_the_announced_one() {
        let dir = tempfile::tempdir().unwrap();
        let src = make_fragmented(dir.path(), "smooth.ismv", &["-f", "ismv"]);
        let file = std::fs::read(&src).unwrap();
        let index = index_by_ranges(&file).0.unwrap();
        let WalkStep::Done(layout) = TopLevelWalk::whole(file.len() as u64).feed(0, &file).unwrap() else {
            panic!("fed whole")
        };
        let moofs: Vec<u64> = layout.moofs().map(|m| m.offset).collect();
        let video = index.by_handler("vide").unwrap();
        let mut served = Vec::new();
        for n in 0..video.fragments.len() {
            let range = video.stored_fragment(n).unwrap_or_else(|| panic!("video fragment {n} is stored as announced"));
            assert!(moofs.contains(&range.start), "{n}: starts at a stored moof");
            let bytes = &file[range.start as usize..range.end as usize];
            let f = SmoothFragment::parse(bytes).unwrap();
            let announced = video.fragments[n];
            assert_eq!((f.time, f.duration), (announced.start, announced.duration));
            served.extend_from_slice(bytes);
        }
        // The fragments in a row behind the CMAF init of the track: ffmpeg reads the source's packets.
        let mut out = index.init_segment(video).unwrap();
        out.extend(served);
        let packaged = dir.path().join("served.mp4");
        std::fs::write(&packaged, out).unwrap();
        assert_eq!(md5s(&packaged, "0"), md5s(&src, "0:v"));

        let cmaf =
            make_fragmented(dir.path(), "cmaf.mp4", &["-movflags", "frag_keyframe+empty_moov+default_base_moof"]);
        let index = index_by_ranges(&std::fs::read(&cmaf).unwrap()).0.unwrap();
        let video = index.by_handler("vide").unwrap();
        assert!((0..video.fragments.len()).all(|n| video.stored_fragment(n).is_none()), "tfdt, no tfxd: cut");
    }
}
