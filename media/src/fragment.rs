//! Dynamic packaging of a progressive MP4: a sample index built from its
//! `moov` alone, fragments cut at sync samples, and the CMAF boxes an HLS or
//! DASH player fetches (an init segment, `ftyp`+`moov` with `mvex`, and media
//! segments, `moof`+`mdat`). Pure: bytes in, bytes out; the caller does the I/O.

use crate::bmff::{children, find, need, whole, write_box, write_full_box, BoxRef, Reader};
use crate::mp4::Track;
use crate::{FormatError, Result};

// The origin's moov walk still reads headers through this path; it moves to
// `bmff::TopLevelWalk` with the origin's split, then this re-export goes.

/// One track's samples, in decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackIndex {
    /// Handler, codec and its configuration, timescale (sample vectors included).
    pub info: Track,
    /// Each sample's byte offset in the file, in decode order.
    pub offsets: Vec<u64>,
    /// Each sample's duration in the track's timescale, in decode order.
    pub durations: Vec<u32>,
    /// Composition offsets (`ctts`), raw; `None` when every sample is shown as decoded.
    pub composition_offsets: Option<Vec<u32>>,
    /// Whether the offsets are signed (`ctts` version 1).
    pub signed_offsets: bool,
    /// The raw `trak` box, for the init segment.
    trak: Vec<u8>,
    /// Where presentation starts in the track's media time: the edit list's first
    /// non-empty edit (`elst` media_time: the B-frame delay of video, the AAC priming),
    /// 0 without one. fMP4 init segments carry the edit list; formats without one (MPEG-TS)
    /// subtract it so audio and video start together, as in the source.
    pub media_start: i64,
    /// The fragments the samples are cut into (see [`FRAGMENT_SECONDS`]), in time order.
    pub fragments: Vec<Fragment>,
    /// A fragmented rendition's stored Smooth fragments (see [`crate::stored_fragments`]).
    pub stored_fragments: Vec<crate::stored_fragments::StoredFragment>,
}

/// A run of samples played as one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Decode time of its first sample, in the track's timescale.
    pub start: u64,
    /// How long it plays (its samples' durations summed), in the track's timescale.
    pub duration: u64,
    /// Sample numbers, 0-based, `first..end`.
    pub first: usize,
    /// One past its last sample (exclusive).
    pub end: usize,
}

/// The packaging index of one rendition file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    mvhd: Vec<u8>,
    /// One index per `trak`, in `moov` order.
    pub tracks: Vec<TrackIndex>,
    /// The moov declares movie fragments (`mvex`): the samples, or most of them, are in
    /// `moof`s after it (live archives, Smooth-encoded `.ismv`/`.isma`, CMAF tracks), which
    /// [`Index::from_moov`] does not hold: such a file cannot be cut from its moov alone
    /// ([`crate::fragmented_index`] reads its moofs into an index that is not fragmented).
    pub fragmented: bool,
}

/// A segment as the bytes made for it (`head`: `moof` and `mdat` header)
/// followed by `ranges` of the fragment's data as read from the file, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentParts {
    /// The `moof` and the `mdat` header, made for this segment.
    pub head: Vec<u8>,
    /// Byte ranges within the fragment's data (see [`TrackIndex::byte_range`]), to follow `head` in order.
    pub ranges: Vec<std::ops::Range<usize>>,
}

impl SegmentParts {
    /// The whole segment's length in bytes.
    pub fn len(&self) -> usize {
        self.head.len() + self.ranges.iter().map(|r| r.len()).sum::<usize>()
    }

    /// Whether the segment has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The segment in one buffer, its samples copied from `data` (the fragment's byte range).
    pub fn assemble(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.head);
        for r in &self.ranges {
            out.extend_from_slice(&data[r.clone()]);
        }
        out
    }
}

/// Fragments are cut at the first sync sample at or after this many seconds.
pub const FRAGMENT_SECONDS: u64 = 2;

/// A fragment whose samples span more of the file is refused at indexing: the
/// origin reads a fragment's byte range into memory (10 s between key frames
/// at 50 Mb/s is 63 MB).
pub const MAX_FRAGMENT_BYTES: u64 = 128 * 1024 * 1024;

impl Index {
    /// The index of a file whose whole `moov` box (header included) is `moov`.
    pub fn from_moov(moov: &[u8]) -> Result<Index> {
        let moov = whole(moov)?;
        if &moov.kind != b"moov" {
            return Err(FormatError::new("not a moov box"));
        }
        // The codec details come from the shared reader.
        let described = crate::mp4::tracks(moov.body)?;
        let mut mvhd = None;
        let mut tracks = Vec::new();
        let mut fragmented = false;
        let mut infos = described.into_iter();
        for b in children(moov.body) {
            let b = b?;
            match &b.kind {
                b"mvhd" => mvhd = Some(b.raw.to_vec()),
                b"mvex" => fragmented = true,
                b"trak" => {
                    let info = infos.next().ok_or_else(|| FormatError::new("trak without a description"))?;
                    tracks.push(TrackIndex::read(info, b)?);
                }
                _ => {}
            }
        }
        Ok(Index { mvhd: mvhd.ok_or_else(|| FormatError::new("moov has no mvhd"))?, tracks, fragmented })
    }

    /// The track with this `track_id` (from its `tkhd`).
    pub fn track(&self, track_id: u32) -> Option<&TrackIndex> {
        self.tracks.iter().find(|t| t.info.track_id == track_id)
    }

    /// The first track with this handler (`vide`, `soun`).
    pub fn by_handler(&self, handler: &str) -> Option<&TrackIndex> {
        self.tracks.iter().find(|t| t.info.handler == handler)
    }

    /// Roughly how many bytes the index holds (for a cache's weight).
    pub fn weight(&self) -> u64 {
        let track =
            |t: &TrackIndex| t.trak.len() as u64 + t.offsets.len() as u64 * 40 + t.stored_fragments.len() as u64 * 48;
        self.tracks.iter().map(track).sum::<u64>() + 256
    }

    /// The encrypted CMAF init segment of one track (see [`crate::encryption::fragments`]):
    /// its sample entry protected, `pssh` (whole boxes) in its `moov`.
    pub fn encrypted_init_segment(
        &self,
        track: &TrackIndex,
        protection: &crate::encryption::Protection<'_>,
        pssh: &[Vec<u8>],
    ) -> Result<Vec<u8>> {
        crate::encryption::fragments::init_segment(self, track, protection, pssh)
    }

    /// The CMAF init segment of one track: `ftyp` + `moov` (sample tables
    /// emptied, `mvex` added).
    pub fn init_segment(&self, track: &TrackIndex) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        write_box(&mut out, b"ftyp", |b| {
            b.extend_from_slice(b"iso6");
            b.extend_from_slice(&0u32.to_be_bytes());
            for brand in [b"iso6", b"cmfc", b"mp41", b"dash"] {
                b.extend_from_slice(brand);
            }
        });
        let trak = empty_sample_tables(whole(&track.trak)?)?.unwrap_or_default();
        write_box(&mut out, b"moov", |b| {
            b.extend_from_slice(&self.mvhd);
            b.extend_from_slice(&trak);
            write_box(b, b"mvex", |b| {
                write_full_box(b, b"trex", 0, 0, |b| {
                    b.extend_from_slice(&track.info.track_id.to_be_bytes());
                    b.extend_from_slice(&1u32.to_be_bytes());
                    b.extend_from_slice(&[0; 12]);
                })
            })
        });
        Ok(out)
    }
}

impl TrackIndex {
    fn read(info: Track, trak: BoxRef<'_>) -> Result<TrackIndex> {
        let mdia = need(trak.body, b"mdia", "trak")?;
        let minf = need(mdia, b"minf", "mdia")?;
        let stbl = need(minf, b"stbl", "minf")?;
        let n = info.sample_sizes.len();

        let mut durations = Vec::with_capacity(n);
        let mut c = Reader::new(need(stbl, b"stts", "stbl")?);
        c.skip(4)?;
        for _ in 0..c.u32()? {
            let (count, delta) = (c.u32()?, c.u32()?);
            for _ in 0..count {
                if durations.len() == n {
                    break;
                }
                durations.push(delta);
            }
        }
        if durations.len() != n || info.decode_times.len() != n {
            return Err(FormatError::new(format!("stts covers {} of {n} samples", durations.len())));
        }

        let (composition_offsets, signed_offsets) = match find(stbl, b"ctts")?.map(|b| b.body) {
            None => (None, false),
            Some(ctts) => {
                let mut c = Reader::new(ctts);
                let version = c.u8()?;
                c.skip(3)?;
                let mut out = Vec::with_capacity(n);
                for _ in 0..c.u32()? {
                    let (count, offset) = (c.u32()?, c.u32()?);
                    for _ in 0..count {
                        if out.len() < n {
                            out.push(offset);
                        }
                    }
                }
                out.resize(n, 0);
                (Some(out), version == 1)
            }
        };

        let mut chunk_offsets = Vec::new();
        if let Some(stco) = find(stbl, b"stco")?.map(|b| b.body) {
            let mut c = Reader::new(stco);
            c.skip(4)?;
            for _ in 0..c.u32()? {
                chunk_offsets.push(c.u32()? as u64);
            }
        } else {
            let mut c = Reader::new(need(stbl, b"co64", "stbl")?);
            c.skip(4)?;
            for _ in 0..c.u32()? {
                chunk_offsets.push(c.u64()?);
            }
        }
        let mut c = Reader::new(need(stbl, b"stsc", "stbl")?);
        c.skip(4)?;
        let mut runs = Vec::new();
        for _ in 0..c.u32()? {
            let (first_chunk, per_chunk) = (c.u32()?, c.u32()?);
            c.skip(4)?;
            runs.push((first_chunk.max(1) as usize, per_chunk as usize));
        }
        let mut offsets = Vec::with_capacity(n);
        let mut sample = 0usize;
        for (i, &(first, per_chunk)) in runs.iter().enumerate() {
            let last = runs.get(i + 1).map_or(chunk_offsets.len(), |r| r.0 - 1);
            for chunk in first..=last.min(chunk_offsets.len()) {
                let mut at = chunk_offsets[chunk - 1];
                for _ in 0..per_chunk {
                    if sample == n {
                        break;
                    }
                    offsets.push(at);
                    at = at
                        .checked_add(info.sample_sizes[sample] as u64)
                        .ok_or_else(|| FormatError::new(format!("sample {sample} ends past 2^64")))?;
                    sample += 1;
                }
            }
        }
        if offsets.len() != n {
            return Err(FormatError::new(format!("stsc/stco place {} of {n} samples", offsets.len())));
        }
        let media_start = match find(trak.body, b"edts")? {
            Some(edts) => find(edts.body, b"elst")?.map(|b| first_media_time(b.body)).transpose()?.unwrap_or(0),
            None => 0,
        };
        let mut track = TrackIndex {
            info,
            offsets,
            durations,
            composition_offsets,
            signed_offsets,
            trak: trak.raw.to_vec(),
            media_start,
            fragments: Vec::new(),
            stored_fragments: Vec::new(),
        };
        track.recut()?;
        Ok(track)
    }

    /// Cuts the samples into fragments again (after [`crate::fragmented_index`] added the
    /// samples of the moofs) and checks each fragment's bytes.
    pub(crate) fn recut(&mut self) -> Result<()> {
        let track = self;
        track.fragments = track.cut(FRAGMENT_SECONDS);
        for f in &track.fragments {
            let range = track.byte_range(f);
            let span = range.end - range.start;
            if span > MAX_FRAGMENT_BYTES {
                return Err(FormatError::new(format!(
                    "a fragment's samples span {span} bytes of the file; at most {MAX_FRAGMENT_BYTES} are read"
                )));
            }
            // Overlapping samples would make a segment larger than the bytes read for it.
            if track.fragment_bytes(f) > span {
                return Err(FormatError::new("samples of a fragment overlap in the file"));
            }
        }
        Ok(())
    }

    pub(crate) fn is_sync(&self, sample: usize) -> bool {
        match &self.info.sync_samples {
            None => true,
            Some(s) => s.binary_search(&(sample as u32 + 1)).is_ok(),
        }
    }

    /// Fragments starting at sync samples, each at least `seconds` long (the last may be shorter).
    fn cut(&self, seconds: u64) -> Vec<Fragment> {
        let target = seconds * self.info.timescale as u64;
        let times = &self.info.decode_times;
        let mut out: Vec<Fragment> = Vec::new();
        let mut first = 0;
        for i in 1..=times.len() {
            let boundary = i == times.len() || (self.is_sync(i) && times[i] - times[first] >= target);
            if boundary && first < i {
                let end_time = times[i - 1] + self.durations[i - 1] as u64;
                out.push(Fragment { start: times[first], duration: end_time - times[first], first, end: i });
                first = i;
            }
        }
        out
    }

    /// The fragment starting exactly at `start` (track timescale) and its index in `fragments`;
    /// `None` when none starts there.
    pub fn fragment_at(&self, start: u64) -> Option<(usize, &Fragment)> {
        // Fragments are in time order: a binary search, not a walk over two hours of them per request.
        let i = self.fragments.partition_point(|f| f.start < start);
        self.fragments.get(i).filter(|f| f.start == start).map(|f| (i, f))
    }

    /// The byte range of the file holding a fragment's samples.
    pub fn byte_range(&self, f: &Fragment) -> std::ops::Range<u64> {
        let s = &self.info.sample_sizes;
        if f.first >= f.end {
            return 0..0;
        }
        // One pass (it runs on every segment request).
        let (start, end) = (f.first..f.end).fold((u64::MAX, 0), |(start, end), i| {
            (start.min(self.offsets[i]), end.max(self.offsets[i] + s[i] as u64))
        });
        start..end
    }

    /// The bytes of a fragment's samples (their sizes summed; its byte range can be larger when tracks interleave).
    pub fn fragment_bytes(&self, f: &Fragment) -> u64 {
        (f.first..f.end).map(|i| self.info.sample_sizes[i] as u64).sum()
    }

    /// How long the track's fragments are presented, in its timescale: their samples' durations
    /// summed, or longer when composition offsets put samples past that and no edit list takes it
    /// back (a fragmented MP4 without an edit list presents its B-frame delay after its last
    /// decode end). Only the samples of `fragments` count: a trimmed copy is its kept span.
    pub fn presentation_duration(&self) -> u64 {
        let decoded: u64 = self.fragments.iter().map(|f| f.duration).sum();
        let Some(cto) = &self.composition_offsets else { return decoded };
        let (Some(first), Some(last)) = (self.fragments.first(), self.fragments.last()) else { return decoded };
        let times = &self.info.decode_times;
        let kept_end = last.end.min(cto.len()).min(times.len()).min(self.durations.len());
        let end = (first.first.min(kept_end)..kept_end)
            .map(|i| {
                let offset = if self.signed_offsets { cto[i] as i32 as i128 } else { cto[i] as i128 };
                times[i] as i128 + offset + self.durations[i] as i128
            })
            .max()
            .unwrap_or(0);
        let shown = end - times.get(first.first).copied().unwrap_or(0) as i128 - self.media_start as i128;
        decoded.max(u64::try_from(shown).unwrap_or(0))
    }

    /// Highest bits per second over the fragments.
    pub fn peak_bitrate(&self) -> u64 {
        let ts = self.info.timescale.max(1) as f64;
        self.fragments
            .iter()
            .map(|f| (self.fragment_bytes(f) as f64 * 8.0 / (f.duration.max(1) as f64 / ts)).ceil() as u64)
            .max()
            .unwrap_or(0)
    }

    /// A media segment (`moof` + `mdat`) of fragment `number`, whose bytes are
    /// `data`, read from the file at `self.byte_range(fragment)`.
    pub fn media_segment(&self, number: usize, data: &[u8]) -> Result<Vec<u8>> {
        Ok(self.media_segment_parts(number, data.len())?.assemble(data))
    }

    /// The encrypted media segment of fragment `number` (`senc`, `saiz`, `saio` in its `traf`; the
    /// samples encrypted), whose bytes are `data` (see [`crate::encryption::fragments`]).
    pub fn encrypted_media_segment(
        &self,
        number: usize,
        data: &[u8],
        protection: &crate::encryption::Protection<'_>,
    ) -> Result<Vec<u8>> {
        crate::encryption::fragments::media_segment(self, number, data, protection)
    }

    /// The media segment of fragment `number` as parts: its `moof` and `mdat`
    /// header, then where in the `data_len` bytes read at `self.byte_range(fragment)`
    /// its samples are (so a server can send them without copying them).
    pub fn media_segment_parts(&self, number: usize, data_len: usize) -> Result<SegmentParts> {
        let f = self.checked_fragment_len(number, data_len)?;
        let tfdt = |b: &mut Vec<u8>| write_full_box(b, b"tfdt", 1, 0, |b| b.extend_from_slice(&f.start.to_be_bytes()));
        Ok(self.fragment_parts(number, f, tfdt, |_| {}))
    }

    /// A `moof` (its `mfhd`, one `traf`: `tfhd`, what `before` writes, the
    /// `trun`, what `after` writes) and the `mdat` of fragment `f`, as parts.
    pub(crate) fn fragment_parts(
        &self,
        number: usize,
        f: &Fragment,
        before: impl FnOnce(&mut Vec<u8>),
        after: impl FnOnce(&mut Vec<u8>),
    ) -> SegmentParts {
        // The boxes around the trun, then 16 bytes per sample at most: written without regrowing.
        let mut out = Vec::with_capacity(256 + (f.end - f.first) * 16);
        let mut data_offset_at = 0;
        write_box(&mut out, b"moof", |b| {
            write_full_box(b, b"mfhd", 0, 0, |b| b.extend_from_slice(&(number as u32 + 1).to_be_bytes()));
            write_box(b, b"traf", |b| {
                // default-base-is-moof: data offsets count from the moof (as they
                // do anyway for a moof's first traf; the flag says so outright).
                write_full_box(b, b"tfhd", 0, 0x02_0000, |b| b.extend_from_slice(&self.info.track_id.to_be_bytes()));
                before(b);
                data_offset_at = self.write_trun(b, f);
                after(b);
            });
        });
        self.with_mdat(out, data_offset_at, f)
    }

    /// Fragment `number`, after checking that `data` holds exactly its byte range.
    pub(crate) fn checked_fragment(&self, number: usize, data: &[u8]) -> Result<&Fragment> {
        self.checked_fragment_len(number, data.len())
    }

    /// Fragment `number`, after checking that `data_len` is the length of its byte range.
    pub(crate) fn checked_fragment_len(&self, number: usize, data_len: usize) -> Result<&Fragment> {
        let f = self.fragments.get(number).ok_or_else(|| FormatError::new("no such fragment"))?;
        let range = self.byte_range(f);
        if data_len as u64 != range.end - range.start {
            return Err(FormatError::new(format!("fragment wants {} bytes, got {data_len}", range.end - range.start)));
        }
        Ok(f)
    }

    /// A `trun` with every sample's duration, size, flags (and composition offset);
    /// returns where its data offset sits in `out`, to be set by [`Self::with_mdat`].
    fn write_trun(&self, out: &mut Vec<u8>, f: &Fragment) -> usize {
        let with_cto = self.composition_offsets.is_some();
        let flags = 0x1 | 0x100 | 0x200 | 0x400 | if with_cto { 0x800 } else { 0 };
        let version = u8::from(self.signed_offsets);
        let mut data_offset_at = 0;
        write_full_box(out, b"trun", version, flags, |b| {
            b.extend_from_slice(&((f.end - f.first) as u32).to_be_bytes());
            data_offset_at = b.len();
            b.extend_from_slice(&0u32.to_be_bytes());
            for i in f.first..f.end {
                b.extend_from_slice(&self.durations[i].to_be_bytes());
                b.extend_from_slice(&self.info.sample_sizes[i].to_be_bytes());
                let flags: u32 = if self.is_sync(i) { 0x0200_0000 } else { 0x0101_0000 };
                b.extend_from_slice(&flags.to_be_bytes());
                if let Some(cto) = &self.composition_offsets {
                    b.extend_from_slice(&cto[i].to_be_bytes());
                }
            }
        });
        data_offset_at
    }

    /// `moof` (a whole box, first in `out`) and the header of an `mdat` of the
    /// fragment's samples, with the samples' places in its data (samples that
    /// follow each other in the file make one range); the `trun`'s data offset is set to the first.
    fn with_mdat(&self, mut out: Vec<u8>, data_offset_at: usize, f: &Fragment) -> SegmentParts {
        let moof_len = out.len();
        out[data_offset_at..data_offset_at + 4].copy_from_slice(&((moof_len + 8) as u32).to_be_bytes());
        let payload: u64 = self.fragment_bytes(f);
        out.extend_from_slice(&((payload + 8) as u32).to_be_bytes());
        out.extend_from_slice(b"mdat");
        let start = self.byte_range(f).start;
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        for i in f.first..f.end {
            let at = (self.offsets[i] - start) as usize;
            let end = at + self.info.sample_sizes[i] as usize;
            match ranges.last_mut() {
                Some(last) if last.end == at => last.end = end,
                _ => ranges.push(at..end),
            }
        }
        SegmentParts { head: out, ranges }
    }

    /// RFC 6381 codec string: `avc1.64001f`, `hvc1.1.6.L93.B0`, `mp4a.40.2` (see [`crate::codec_string`]).
    pub fn codecs(&self) -> String {
        if let Some(avc) = &self.info.avc {
            return format!("{}.{:02x}{:02x}{:02x}", self.info.codec, avc.profile, avc.compatibility, avc.level);
        }
        if let Some(hevc) = &self.info.hevc {
            return hevc.codec_string(&self.info.codec);
        }
        crate::codec_string::audio_codec_string(&self.info)
    }
}

/// The trak with its sample tables emptied (the samples live in fragments).
fn empty_sample_tables(trak: BoxRef<'_>) -> Result<Option<Vec<u8>>> {
    rebuild(trak, b"trak", &|kind, raw| match kind {
        b"mdia" => rebuild(raw, b"mdia", &|kind, raw| match kind {
            b"minf" => rebuild(raw, b"minf", &|kind, raw| match kind {
                b"stbl" => {
                    let stsd = find(raw.body, b"stsd")?
                        .map(|b| b.raw.to_vec())
                        .ok_or_else(|| FormatError::new("stbl has no stsd"))?;
                    let mut out = Vec::new();
                    write_box(&mut out, b"stbl", |b| {
                        b.extend_from_slice(&stsd);
                        write_full_box(b, b"stts", 0, 0, |b| b.extend_from_slice(&[0; 4]));
                        write_full_box(b, b"stsc", 0, 0, |b| b.extend_from_slice(&[0; 4]));
                        write_full_box(b, b"stsz", 0, 0, |b| b.extend_from_slice(&[0; 8]));
                        write_full_box(b, b"stco", 0, 0, |b| b.extend_from_slice(&[0; 4]));
                    });
                    Ok(Some(out))
                }
                _ => Ok(None),
            }),
            _ => Ok(None),
        }),
        // The edit list stays (it says where presentation starts, past the AAC priming, say), but
        // its durations become 0, "the whole media", as the samples now come in fragments: a
        // player would otherwise stop at the progressive file's edit and drop the last sample.
        b"edts" => rebuild(raw, b"edts", &|kind, raw| match kind {
            b"elst" => Ok(Some(open_ended(raw)?)),
            _ => Ok(None),
        }),
        _ => Ok(None),
    })
}

/// The media time of an `elst`'s (body's) first non-empty edit (an empty one, `-1`, only
/// delays presentation and is skipped); 0 when every edit is empty.
fn first_media_time(elst: &[u8]) -> Result<i64> {
    let mut c = Reader::new(elst);
    let version = c.u8()?;
    c.skip(3)?;
    for _ in 0..c.u32()?.min(1024) {
        let media_time = if version == 1 {
            c.skip(8)?;
            c.u64()? as i64
        } else {
            c.skip(4)?;
            c.u32()? as i32 as i64
        };
        c.skip(4)?;
        if media_time >= 0 {
            return Ok(media_time);
        }
    }
    Ok(0)
}

/// An `elst` with every segment duration set to 0.
fn open_ended(elst: BoxRef<'_>) -> Result<Vec<u8>> {
    let mut out = elst.raw.to_vec();
    let header = elst.raw.len() - elst.body.len();
    let mut c = Reader::new(elst.body);
    let version = c.u8()?;
    c.skip(3)?;
    let count = c.u32()? as usize;
    let (duration_len, entry_len) = if version == 1 { (8, 20) } else { (4, 12) };
    for i in 0..count {
        let at = header + 8 + i * entry_len;
        let field = out.get_mut(at..at + duration_len).ok_or_else(|| FormatError::new("elst truncated"))?;
        field.fill(0);
    }
    Ok(out)
}

type Rewrite<'a> = dyn Fn(&[u8; 4], BoxRef<'_>) -> Result<Option<Vec<u8>>> + 'a;

/// The container box `raw` with each child replaced by `rewrite`'s answer (`None`: kept).
fn rebuild(raw: BoxRef<'_>, kind: &[u8; 4], rewrite: &Rewrite<'_>) -> Result<Option<Vec<u8>>> {
    let mut kept = Vec::new();
    for child in children(raw.body) {
        let child = child?;
        kept.push(rewrite(&child.kind, child)?.unwrap_or_else(|| child.raw.to_vec()));
    }
    let mut out = Vec::new();
    write_box(&mut out, kind, |b| kept.iter().for_each(|c| b.extend_from_slice(c)));
    Ok(Some(out))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn make_clip(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("clip.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine"])
            .args(["-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "50", "-keyint_min", "50"])
            .args(["-sc_threshold", "0", "-c:a", "aac", "-movflags", "+faststart", "-y"])
            .arg(&path)
            .status()
            .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
        assert!(status.success());
        path
    }

    /// The test clip, made in a temp folder that lives as long as it, with its bytes and index.
    pub(crate) struct TestClip {
        dir: tempfile::TempDir,
        pub(crate) path: std::path::PathBuf,
        pub(crate) file: Vec<u8>,
        pub(crate) index: Index,
    }

    pub(crate) fn test_clip() -> TestClip {
        let dir = tempfile::tempdir().unwrap();
        let path = make_clip(dir.path());
        let file = std::fs::read(&path).unwrap();
        let index = Index::from_moov(moov_of(&file)).unwrap();
        TestClip { dir, path, file, index }
    }

    impl TestClip {
        /// The clip's temp folder, for what a test writes beside it.
        pub(crate) fn dir(&self) -> &std::path::Path {
            self.dir.path()
        }
    }

    pub(crate) fn md5s(path: &std::path::Path, map: &str) -> Vec<String> {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-map", map, "-c", "copy", "-f", "framemd5", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        framemd5_hashes(&out.stdout)
    }

    /// The packets' hashes in ffmpeg's framemd5 output.
    pub(crate) fn framemd5_hashes(framemd5: &[u8]) -> Vec<String> {
        // stream, dts, pts, duration, size, hash[, side data…]: the packet's own hash is the sixth.
        String::from_utf8_lossy(framemd5)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(',').nth(5))
            .map(|s| s.trim().to_owned())
            .collect()
    }

    pub(crate) fn moov_of(file: &[u8]) -> &[u8] {
        let walk = crate::bmff::TopLevelWalk::until_moov(file.len() as u64).feed(0, file).unwrap();
        let crate::bmff::WalkStep::Done(layout) = walk else { panic!("the whole file was fed") };
        let r = layout.moov().unwrap().range();
        &file[r.start as usize..r.end as usize]
    }

    /// The packaging proof without HTTP: init + every media segment of a
    /// track, played by ffmpeg, yields the source's packets, byte for byte.
    #[test]
    fn packaged_fragments_carry_the_sources_packets() {
        let clip = test_clip();
        let TestClip { path: src, file, index, .. } = &clip;
        for (handler, map) in [("vide", "0:v"), ("soun", "0:a")] {
            let track = index.by_handler(handler).unwrap();
            if handler == "vide" {
                let starts: Vec<u64> = track.fragments.iter().map(|f| f.start / track.info.timescale as u64).collect();
                assert_eq!(starts, [0, 2, 4], "cut at the key frames every 2 s");
            }
            let mut out = index.init_segment(track).unwrap();
            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                out.extend(track.media_segment(n, &file[r.start as usize..r.end as usize]).unwrap());
            }
            let packaged = clip.dir().join(format!("{handler}.mp4"));
            std::fs::write(&packaged, out).unwrap();
            let (want, got) = (md5s(src, map), md5s(&packaged, "0"));
            assert!(want.len() > 50, "{}", want.len());
            assert_eq!(got, want, "{handler}");
        }
        let v = index.by_handler("vide").unwrap();
        assert!(v.codecs().starts_with("avc1.") && v.codecs().len() == 11, "{}", v.codecs());
        assert_eq!(index.by_handler("soun").unwrap().codecs(), "mp4a.40.2");
        assert!(v.peak_bitrate() > 0);
    }

    /// A fragment read back holds the source's samples: bytes, durations, sync flags, composition offsets.
    pub(crate) fn assert_samples_are_the_sources(
        track: &TrackIndex,
        f: &Fragment,
        samples: &[crate::movie_fragment::Sample],
        file: &[u8],
        at: &str,
    ) {
        assert_eq!(samples.len(), f.end - f.first, "{at}");
        for (s, i) in samples.iter().zip(f.first..f.end) {
            let offset = track.offsets[i] as usize;
            assert_eq!(s.data, &file[offset..offset + track.info.sample_sizes[i] as usize], "{at}: sample {i}");
            assert_eq!(s.duration, track.durations[i], "{at}: sample {i}");
            assert_eq!(s.flags & 0x0001_0000 == 0, track.is_sync(i), "{at}: sample {i}");
            let cto = track.composition_offsets.as_ref().map_or(0, |c| c[i]);
            assert_eq!(s.composition_offset, cto, "{at}: sample {i}");
        }
    }

    /// The packager's output read back: the init segment's moov describes the source's track
    /// (id, handler, timescale, codec and its configuration, no samples) and declares fragments
    /// for it; each media segment holds the source's samples (bytes, durations, sync flags,
    /// composition offsets) at the indexed decode time.
    #[test]
    fn packaged_init_and_segments_read_back_as_the_sources_track_and_samples() {
        use crate::bmff::{find, TopLevelWalk, WalkStep};
        use crate::movie_fragment::MovieFragment;
        let clip = test_clip();
        let TestClip { file, index, .. } = &clip;
        for track in &index.tracks {
            let init = index.init_segment(track).unwrap();
            let WalkStep::Done(layout) = TopLevelWalk::whole(init.len() as u64).feed(0, &init).unwrap() else {
                panic!("the whole init segment was fed")
            };
            let kinds: Vec<String> = layout.boxes.iter().map(|b| b.name()).collect();
            assert_eq!(kinds, ["ftyp", "moov"]);
            let r = layout.moov().unwrap().body_range();
            let moov = &init[r.start as usize..r.end as usize];
            let described = crate::mp4::tracks(moov).unwrap();
            assert_eq!(described.len(), 1);
            let (got, want) = (&described[0], &track.info);
            assert_eq!(
                (got.track_id, &got.handler, got.timescale, &got.codec, got.width, got.height),
                (want.track_id, &want.handler, want.timescale, &want.codec, want.width, want.height)
            );
            assert_eq!((&got.avc, &got.hevc, &got.audio), (&want.avc, &want.hevc, &want.audio));
            assert!(got.sample_sizes.is_empty(), "the samples are in the fragments");
            let mvex = find(moov, b"mvex").unwrap().expect("mvex");
            let trex = find(mvex.body, b"trex").unwrap().expect("trex");
            assert_eq!(&trex.body[4..8], &track.info.track_id.to_be_bytes());

            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                let segment = track.media_segment(n, &file[r.start as usize..r.end as usize]).unwrap();
                let back = MovieFragment::parse(&segment).unwrap();
                let at = format!("track {} fragment {n}", track.info.track_id);
                assert_eq!((back.sequence_number, back.track_id), (n as u32 + 1, track.info.track_id), "{at}");
                assert_eq!((back.decode_time, back.tfxd), (Some(f.start), None), "{at}");
                assert_samples_are_the_sources(track, f, &back.samples, file, &at);
            }
        }
        assert!(index.by_handler("vide").unwrap().composition_offsets.is_some(), "B-frames: offsets were checked");
    }

    /// A trimmed copy (a time-range filter's kept fragments) of a track with B-frames is
    /// presented for its kept span, not to the last sample of the whole track.
    #[test]
    fn presentation_duration_with_b_frames_is_the_kept_fragments_span() {
        let clip = test_clip();
        let video = clip.index.by_handler("vide").unwrap();
        assert!(video.composition_offsets.is_some(), "the clip has B-frames");
        let whole = video.presentation_duration();
        assert!(whole >= video.fragments.iter().map(|f| f.duration).sum::<u64>(), "{whole}");
        let mut middle = video.clone();
        middle.fragments = video.fragments[1..2].to_vec();
        let kept = middle.fragments[0].duration;
        let got = middle.presentation_duration();
        // At most the B-frame delay beyond the kept samples' durations (2 frames at 25 fps).
        let delay = 2 * video.info.timescale as u64 / 25;
        assert!(got >= kept && got <= kept + delay, "kept {kept}, presented {got}, whole {whole}");
        let mut first = video.clone();
        first.fragments.truncate(1);
        let got = first.presentation_duration();
        assert!(got >= first.fragments[0].duration && got < whole / 2, "{got} of {whole}");
    }

    /// The parts a server sends without copying (a header, then slices of the bytes read)
    /// are the segment the copying path makes, for every fragment of both tracks of an
    /// interleaved file (ffmpeg alternates audio and video chunks), whose samples of one
    /// track are not contiguous in a fragment's byte range.
    #[test]
    fn segment_parts_are_the_copied_segment_even_when_tracks_interleave() {
        let clip = test_clip();
        let TestClip { file, index, .. } = &clip;
        let mut split = 0;
        for track in &index.tracks {
            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                let data = &file[r.start as usize..r.end as usize];
                let parts = track.media_segment_parts(n, data.len()).unwrap();
                // The reference: the samples copied one by one from the file.
                let mut samples = Vec::new();
                for i in f.first..f.end {
                    let at = track.offsets[i] as usize;
                    samples.extend_from_slice(&file[at..at + track.info.sample_sizes[i] as usize]);
                }
                let sliced: Vec<u8> = parts.ranges.iter().flat_map(|r| data[r.clone()].iter().copied()).collect();
                assert_eq!(sliced, samples, "fragment {n} of track {}", track.info.track_id);
                assert_eq!(&parts.head[parts.head.len() - 4..], b"mdat");
                assert_eq!(parts.assemble(data), track.media_segment(n, data).unwrap());
                assert_eq!(parts.len(), parts.head.len() + samples.len());
                assert!(parts.ranges.windows(2).all(|w| w[0].end < w[1].start), "merged and in order");
                split += usize::from(parts.ranges.len() > 1);
            }
        }
        assert!(split > 0, "the clip interleaves its tracks: some fragment's samples are not contiguous");
    }

    #[test]
    fn a_lying_moov_is_an_error_not_a_panic() {
        assert!(Index::from_moov(b"\0\0\0\x08moov").is_err());
        assert!(Index::from_moov(b"\0\0\0\x10moov\0\0\0\xffmvhd").is_err());
        assert!(Index::from_moov(b"\0\0").is_err());
        assert!(crate::bmff::box_header(b"\0\0\0\x01mdat").is_none());
    }

    #[test]
    fn a_moov_with_mvex_is_fragmented_and_a_progressive_one_is_not() {
        assert!(!test_clip().index.fragmented, "faststart progressive MP4");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frag.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-t", "2"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
            .args(["-movflags", "frag_keyframe+empty_moov+default_base_moof", "-y"])
            .arg(&path)
            .status()
            .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
        assert!(status.success());
        let file = std::fs::read(&path).unwrap();
        let index = Index::from_moov(moov_of(&file)).unwrap();
        assert!(index.fragmented);
        assert!(index.tracks.iter().all(|t| t.fragments.is_empty()), "its samples are in moofs, not in the moov");
    }

    /// An HEVC rendition's codec string names its profile, tier and level, as players need
    /// (a bare `hvc1` is refused by MSE's isTypeSupported).
    #[test]
    fn an_hevc_rendition_has_a_full_codec_string() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hevc.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "1"])
            .args(["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1"])
            .args(["-movflags", "+faststart", "-y"])
            .arg(&path)
            .status()
            .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
        assert!(status.success());
        let file = std::fs::read(&path).unwrap();
        let index = Index::from_moov(moov_of(&file)).unwrap();
        let codecs = index.by_handler("vide").unwrap().codecs();
        // Main profile (1), compatible with Main and Main 10 (flags 0x60000000 reversed: 6), Main tier.
        assert!(codecs.starts_with("hvc1.1.6.L"), "{codecs}");
        let level: u32 = codecs["hvc1.1.6.L".len()..].split('.').next().unwrap().parse().unwrap();
        assert!(level.is_multiple_of(3) && (30..=186).contains(&level), "a level_idc (30 × level): {codecs}");
    }
}
