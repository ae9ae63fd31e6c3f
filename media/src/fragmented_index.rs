//! The packaging index of a fragmented rendition (samples in `moof`s: live archives,
//! Smooth-encoded `.ismv`/`.isma`, fragmented MP4, CMAF tracks), built with ranged reads of
//! its `moof` boxes only: sans-I/O like [`crate::bmff::TopLevelWalk`]. Fed the bytes it asks
//! for, it reads the `mfra` (its `tfra`s say where the `moof`s are) or a `sidx`, walks the
//! top-level boxes after the `moov` reading each `moof` and the header of the `mdat` after it
//! (never an `mdat`'s body, except between `moof`s close enough to fetch in one read), and
//! returns the same [`Index`] a progressive file gets, so every packager takes it as it is.
//!
//! Bounded against hostile input: at most [`MAX_MOOFS`] `moof`s of at most [`MAX_MOOF_BYTES`],
//! [`crate::mp4::MAX_SAMPLES`] samples per track (a `trun`'s count is checked against its bytes
//! and that cap before anything is allocated), every sample inside the `mdat` that follows its
//! `moof`, every `tfra` entry a `moof` of this file, decode times increasing.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::bmff::{box_header, children, find, fourcc, whole, Reader, HEADER_READ};
use crate::fragment::Index;
use crate::mp4::MAX_SAMPLES;
use crate::smooth_fragment::TFXD;
use crate::stored_fragments::StoredFragment;
use crate::{FormatError, Result};

/// A file with more `moof`s is refused (two hours of 2 s fragments of two tracks is 7,200).
pub const MAX_MOOFS: usize = 1 << 17;
/// A larger `moof` is refused rather than read (a `trun` entry is at most 16 bytes: a million samples).
pub const MAX_MOOF_BYTES: u64 = 16 * 1024 * 1024;
/// A larger `mfra` or `sidx` is refused rather than read.
pub const MAX_RANDOM_ACCESS_BYTES: u64 = 16 * 1024 * 1024;
/// `moof`s starting within this many bytes of each other are fetched in one read (the `mdat`
/// bytes between them are read and dropped: cheaper than a request per small audio fragment).
pub const COALESCE_BYTES: u64 = 256 * 1024;
/// What a read of a `moof` asks for before its size is known (a 2 s video `moof` is ~1 KiB).
const FIRST_MOOF_READ: u64 = 8 * 1024;

/// What the indexer wants next.
#[derive(Debug)]
pub enum FragmentStep {
    /// Feed at least these bytes (more, from the same start, is fine).
    Need(Range<u64>),
    /// The index, every sample of every track placed.
    Done(Box<Index>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the `mfro` at the end of the file (it says how long the `mfra` is).
    Mfro,
    /// Reading the `mfra` itself.
    Mfra { len: u64 },
    /// Walking the top-level boxes after the `moov`.
    Walk,
}

/// Defaults for a track's samples: `trex`'s, overridden per fragment by `tfhd`.
#[derive(Debug, Clone, Copy, Default)]
struct Defaults {
    duration: u32,
    size: u32,
    flags: u32,
}

/// A `moof` that may be served as a Smooth fragment as stored: one `traf`, no absolute base
/// offset, a `tfxd` (its start as stored, not moved, and duration).
#[derive(Debug, Clone, Copy)]
struct SmoothMoof {
    track: usize,
    tfxd: (u64, u64),
}

/// One sample a `moof` places, before its `mdat` is checked to hold it.
#[derive(Debug, Clone, Copy)]
struct Placed {
    track: usize,
    offset: u64,
    size: u32,
    duration: u32,
    decode_time: u64,
    sync: bool,
    composition_offset: Option<u32>,
}

/// Builds the [`Index`] of a fragmented rendition from its `moov` and ranged reads of its `moof`s.
#[derive(Debug)]
pub struct FragmentedIndexer {
    index: Index,
    defaults: Vec<Defaults>,
    /// Where each track's next sample is decoded (after the last one placed).
    next_time: Vec<Option<u64>>,
    /// How far each track was moved so that it starts at 0 (a Smooth track starting before 0).
    shift: Vec<u64>,
    file_len: u64,
    phase: Phase,
    /// The next top-level box of the walk.
    pos: u64,
    /// Samples of the last `moof`, waiting for the `mdat` after it, and what makes it a stored
    /// Smooth fragment when it is one.
    pending: Option<(u64, Vec<Placed>, Option<SmoothMoof>)>,
    /// Each track's stored Smooth fragments so far.
    stored: Vec<Vec<StoredFragment>>,
    /// `moof` offsets the `tfra`s or a `sidx` name: read together when close, checked to be `moof`s.
    announced: BTreeSet<u64>,
    seen: BTreeSet<u64>,
    moofs: usize,
    /// The largest `moof` so far, for the size of the next read.
    largest_moof: u64,
    /// The last `moof`+`mdat` pair's size: small ones are read several at a time.
    last_pair: u64,
    /// The range asked for last, so a short read is told from a box that is not there.
    asked: Option<Range<u64>>,
}

impl FragmentedIndexer {
    /// An indexer for a file of `file_len` bytes whose whole `moov` box is `moov`, at `moov_range`.
    pub fn new(moov: &[u8], moov_range: Range<u64>, file_len: u64) -> Result<FragmentedIndexer> {
        if moov_range.end > file_len || moov_range.end - moov_range.start != moov.len() as u64 {
            return Err(FormatError::new("the moov's place does not match its bytes"));
        }
        let index = Index::from_moov(moov)?;
        let mut defaults = vec![Defaults::default(); index.tracks.len()];
        if let Some(mvex) = find(whole(moov)?.body, b"mvex")? {
            for trex in children(mvex.body) {
                let trex = trex?;
                if &trex.kind != b"trex" {
                    continue;
                }
                let mut c = Reader::new(trex.body);
                c.skip(4)?;
                let track_id = c.u32()?;
                c.skip(4)?;
                let d = Defaults { duration: c.u32()?, size: c.u32()?, flags: c.u32()? };
                if let Some(i) = index.tracks.iter().position(|t| t.info.track_id == track_id) {
                    defaults[i] = d;
                }
            }
        }
        let next_time: Vec<_> = index
            .tracks
            .iter()
            .map(|t| t.info.decode_times.last().map(|d| d + *t.durations.last().unwrap_or(&0) as u64))
            .collect();
        let phase = if file_len - moov_range.end >= 16 { Phase::Mfro } else { Phase::Walk };
        Ok(FragmentedIndexer {
            index,
            defaults,
            shift: vec![0; next_time.len()],
            stored: vec![Vec::new(); next_time.len()],
            next_time,
            file_len,
            phase,
            pos: moov_range.end,
            pending: None,
            announced: BTreeSet::new(),
            seen: BTreeSet::new(),
            moofs: 0,
            largest_moof: 0,
            last_pair: u64::MAX,
            asked: None,
        })
    }

    /// The range to read first.
    pub fn first_read(&self) -> Range<u64> {
        match self.phase {
            Phase::Mfro => self.file_len - 16..self.file_len,
            _ => self.walk_read(),
        }
    }

    /// Takes `bytes`, read at offset `at` (a read it asked for, or any other), and says what it needs next.
    pub fn feed(&mut self, at: u64, bytes: &[u8]) -> Result<FragmentStep> {
        let asked = self.asked.take();
        if let Some(asked) = &asked {
            let wanted = asked.end - asked.start;
            if at == asked.start && (bytes.len() as u64) < wanted {
                return Err(FormatError::new(format!(
                    "short read at {at}: asked for {wanted} bytes, got {}",
                    bytes.len()
                )));
            }
        }
        loop {
            match self.phase {
                Phase::Mfro => {
                    let Some(tail) = slice(at, bytes, self.file_len - 16..self.file_len) else {
                        return Ok(self.need(self.file_len - 16..self.file_len));
                    };
                    self.phase = match mfra_len(tail)? {
                        Some(len) => {
                            let room = self.file_len - self.pos;
                            if len > room || len > MAX_RANDOM_ACCESS_BYTES {
                                return Err(FormatError::new(format!(
                                    "mfro says the mfra has {len} bytes; at most {} are after the moov",
                                    room.min(MAX_RANDOM_ACCESS_BYTES)
                                )));
                            }
                            Phase::Mfra { len }
                        }
                        None => Phase::Walk,
                    };
                }
                Phase::Mfra { len } => {
                    let range = self.file_len - len..self.file_len;
                    let Some(mfra) = slice(at, bytes, range.clone()) else { return Ok(self.need(range)) };
                    for offset in moof_offsets_of_mfra(mfra)? {
                        if offset < self.pos || offset >= range.start {
                            return Err(FormatError::new(format!(
                                "a tfra names a moof at {offset}, outside the fragments (bytes {}..{})",
                                self.pos, range.start
                            )));
                        }
                        self.announce(offset)?;
                    }
                    self.phase = Phase::Walk;
                }
                Phase::Walk => return self.walk(at, bytes),
            }
        }
    }

    fn announce(&mut self, offset: u64) -> Result<()> {
        if self.announced.len() >= MAX_MOOFS {
            return Err(FormatError::new(format!("more than {MAX_MOOFS} moofs announced")));
        }
        self.announced.insert(offset);
        Ok(())
    }

    fn need(&mut self, range: Range<u64>) -> FragmentStep {
        self.asked = Some(range.clone());
        FragmentStep::Need(range)
    }

    /// What to read at the walk's position: the next `moof` and the header after it, and the
    /// `moof`s announced close after it (or, when fragments are small, the next few).
    fn walk_read(&self) -> Range<u64> {
        let one = (self.largest_moof.max(FIRST_MOOF_READ / 2) * 2).saturating_add(HEADER_READ);
        let mut end = self.pos.saturating_add(one);
        if let Some(&last_close) = self.announced.range(self.pos..=self.pos.saturating_add(COALESCE_BYTES)).next_back()
        {
            end = end.max(last_close.saturating_add(one));
        } else if self.announced.is_empty() && self.last_pair <= COALESCE_BYTES / 4 {
            end = end.max(self.pos.saturating_add(COALESCE_BYTES));
        }
        self.pos..end.min(self.file_len)
    }

    fn walk(&mut self, at: u64, bytes: &[u8]) -> Result<FragmentStep> {
        loop {
            let pos = self.pos;
            let left = self.file_len - pos;
            if left == 0 {
                return self.finish().map(|i| FragmentStep::Done(Box::new(i)));
            }
            if left < 8 {
                return Err(FormatError::new(format!("{left} stray bytes after the last box at {pos}")));
            }
            let Some(h) = slice_from(at, bytes, pos).and_then(box_header) else {
                return Ok(self.need(self.walk_read()));
            };
            let size = h.size.unwrap_or(left);
            if size < h.header_len || size > left {
                return Err(FormatError::new(format!(
                    "box '{}' at {pos} claims {size} bytes; {left} are left in the file",
                    fourcc(&h.kind)
                )));
            }
            if self.pending.is_some() && &h.kind != b"mdat" {
                return Err(FormatError::new(format!("the moof before {pos} is not followed by its mdat")));
            }
            match &h.kind {
                b"moof" => {
                    if size > MAX_MOOF_BYTES {
                        return Err(FormatError::new(format!(
                            "moof at {pos} of {size} bytes; at most {MAX_MOOF_BYTES}"
                        )));
                    }
                    self.moofs += 1;
                    if self.moofs > MAX_MOOFS {
                        return Err(FormatError::new(format!("more than {MAX_MOOFS} moofs")));
                    }
                    self.largest_moof = self.largest_moof.max(size);
                    let Some(moof) = slice(at, bytes, pos..pos + size) else {
                        let with_next_header = (pos + size + HEADER_READ).min(self.file_len);
                        return Ok(self.need(pos..with_next_header.max(self.walk_read().end)));
                    };
                    let (placed, smooth) = self.read_moof(moof, pos)?;
                    self.seen.insert(pos);
                    self.pending = Some((pos, placed, smooth));
                }
                b"mdat" => {
                    if let Some((moof_at, placed, smooth)) = self.pending.take() {
                        let data = pos + h.header_len..pos + size;
                        let first = smooth.map(|m| self.index.tracks[m.track].offsets.len());
                        self.place(placed, &data)?;
                        if let (Some(m), Some(first)) = (smooth, first) {
                            let end = self.index.tracks[m.track].offsets.len();
                            let bytes = moof_at..pos + size;
                            self.stored[m.track].push(StoredFragment { bytes, first, end, tfxd: m.tfxd });
                        }
                        self.last_pair = pos + size - moof_at;
                    }
                }
                b"sidx" if size <= MAX_RANDOM_ACCESS_BYTES => {
                    let Some(sidx) = slice(at, bytes, pos..pos + size) else {
                        return Ok(self.need(pos..(pos + size + FIRST_MOOF_READ).min(self.file_len)));
                    };
                    for offset in moof_offsets_of_sidx(sidx, pos + size)? {
                        if offset < self.file_len {
                            self.announce(offset)?;
                        }
                    }
                }
                // The mfra closes the file; anything else (free, styp, emsg, prft) carries no samples.
                _ => {}
            }
            self.pos = pos + size;
        }
    }

    /// The samples a `moof` at `moof_at` places, each track's defaults and times applied, and
    /// whether it is a Smooth fragment that may be served as stored.
    fn read_moof(&mut self, moof: &[u8], moof_at: u64) -> Result<(Vec<Placed>, Option<SmoothMoof>)> {
        let moof = whole(moof)?;
        let mut placed = Vec::new();
        let mut trafs = 0;
        let mut smooth = None;
        // Without a base data offset or default-base-is-moof, the first traf's data starts at the
        // moof and each next traf's where the previous one's ended.
        let mut previous_traf_end = moof_at;
        let mut in_this_moof = vec![0usize; self.index.tracks.len()];
        for traf in children(moof.body) {
            let traf = traf?;
            if &traf.kind != b"traf" {
                continue;
            }
            trafs += 1;
            let tfhd = find(traf.body, b"tfhd")?.ok_or_else(|| FormatError::new("traf has no tfhd"))?;
            let mut c = Reader::new(tfhd.body);
            let flags = c.u32()? & 0xff_ffff;
            let track_id = c.u32()?;
            let track = self.index.tracks.iter().position(|t| t.info.track_id == track_id).ok_or_else(|| {
                FormatError::new(format!("a traf names track {track_id}, which the moov does not have"))
            })?;
            let mut base = previous_traf_end;
            if flags & 0x1 != 0 {
                base = c.u64()?;
            } else if flags & 0x2_0000 != 0 {
                base = moof_at;
            }
            if flags & 0x2 != 0 {
                c.skip(4)?;
            }
            let mut d = self.defaults[track];
            if flags & 0x8 != 0 {
                d.duration = c.u32()?;
            }
            if flags & 0x10 != 0 {
                d.size = c.u32()?;
            }
            if flags & 0x20 != 0 {
                d.flags = c.u32()?;
            }
            let mut time = None;
            let mut tfxd = None;
            for b in children(traf.body) {
                let b = b?;
                let mut c = Reader::new(b.body);
                match &b.kind {
                    b"tfdt" => {
                        let (version, _) = c.version_flags()?;
                        time = Some(if version == 1 { c.u64()? } else { c.u32()? as u64 });
                    }
                    b"uuid" if b.user_type == Some(TFXD) && time.is_none() => {
                        let (version, _) = c.version_flags()?;
                        let t = if version == 1 { c.u64()? as i64 } else { c.u32()? as i32 as i64 };
                        let duration = if version == 1 { c.u64()? } else { c.u32()? as u64 };
                        tfxd = u64::try_from(t).ok().map(|t| (t, duration));
                        // ffmpeg's ismv starts AAC before 0 by its priming: the track is moved to
                        // start at 0 and presentation starts that much later, as an edit list says.
                        if self.next_time[track].is_none() && t < 0 && self.index.tracks[track].media_start == 0 {
                            self.shift[track] = t.unsigned_abs();
                            self.index.tracks[track].media_start = -t;
                        }
                        let shifted = (t as i128) + self.shift[track] as i128;
                        time = Some(u64::try_from(shifted).map_err(|_| {
                            FormatError::new(format!("a fragment of track {track_id} starts at {t}, before 0"))
                        })?);
                    }
                    _ => {}
                }
            }
            let mut time = match (time, self.next_time[track]) {
                (Some(t), Some(next)) if t < next => {
                    return Err(FormatError::new(format!(
                        "a fragment of track {track_id} starts at {t}, before the previous one ends ({next})"
                    )))
                }
                (Some(t), _) => t,
                (None, next) => next.unwrap_or(0),
            };
            smooth = tfxd.filter(|_| flags & 0x1 == 0).map(|tfxd| SmoothMoof { track, tfxd });
            let mut data_at = base;
            for trun in children(traf.body) {
                let trun = trun?;
                if &trun.kind != b"trun" {
                    continue;
                }
                let mut c = Reader::new(trun.body);
                let (version, flags) = c.version_flags()?;
                let count = c.u32()?;
                if flags & 0x1 != 0 {
                    data_at = base
                        .checked_add_signed(c.u32()? as i32 as i64)
                        .ok_or_else(|| FormatError::new("a trun's data offset is outside the file"))?;
                }
                let first_flags = if flags & 0x4 != 0 { Some(c.u32()?) } else { None };
                let entry = [0x100, 0x200, 0x400, 0x800].iter().filter(|&&f| flags & f != 0).count() * 4;
                let already = self.index.tracks[track].offsets.len() + in_this_moof[track];
                // Without a size per sample, each takes the default size (at least a byte, or a
                // 100-byte moof could claim millions of empty samples): they must fit in the file.
                let sized_by_default = flags & 0x200 == 0;
                if count as usize > MAX_SAMPLES as usize - already.min(MAX_SAMPLES as usize)
                    || (entry > 0 && count as usize > c.rest().len() / entry)
                    || (sized_by_default && count as u64 * d.size.max(1) as u64 > self.file_len - moof_at)
                {
                    return Err(FormatError::new(format!(
                        "a trun of track {track_id} claims {count} samples in {} bytes (at most {MAX_SAMPLES} per track)",
                        c.rest().len()
                    )));
                }
                in_this_moof[track] += count as usize;
                for i in 0..count {
                    let duration = if flags & 0x100 != 0 { c.u32()? } else { d.duration };
                    let size = if flags & 0x200 != 0 { c.u32()? } else { d.size };
                    let mut sample_flags = if flags & 0x400 != 0 { c.u32()? } else { d.flags };
                    if i == 0 {
                        sample_flags = first_flags.unwrap_or(sample_flags);
                    }
                    let composition_offset = if flags & 0x800 != 0 { Some(c.u32()?) } else { None };
                    if version == 1 && composition_offset.is_some() {
                        self.index.tracks[track].signed_offsets = true;
                    }
                    placed.push(Placed {
                        track,
                        offset: data_at,
                        size,
                        duration,
                        decode_time: time,
                        sync: sample_flags & 0x0001_0000 == 0,
                        composition_offset,
                    });
                    data_at =
                        data_at.checked_add(size as u64).ok_or_else(|| FormatError::new("a sample ends past 2^64"))?;
                    time =
                        time.checked_add(duration as u64).ok_or_else(|| FormatError::new("decode time past 2^64"))?;
                }
            }
            self.next_time[track] = Some(time);
            previous_traf_end = data_at;
        }
        Ok((placed, smooth.filter(|_| trafs == 1)))
    }

    /// The samples of a `moof`, each checked to lie in the `mdat` after it, added to their tracks.
    fn place(&mut self, placed: Vec<Placed>, data: &Range<u64>) -> Result<()> {
        for p in placed {
            let end = p.offset + p.size as u64;
            if p.offset < data.start || end > data.end {
                return Err(FormatError::new(format!(
                    "a sample of {} bytes at {} is outside its mdat (bytes {}..{})",
                    p.size, p.offset, data.start, data.end
                )));
            }
            let t = &mut self.index.tracks[p.track];
            let n = t.offsets.len();
            if t.composition_offsets.is_none() && p.composition_offset.is_some() {
                t.composition_offsets = Some(vec![0; n]);
            }
            if let Some(c) = &mut t.composition_offsets {
                c.push(p.composition_offset.unwrap_or(0));
            }
            if !p.sync && t.info.sync_samples.is_none() {
                t.info.sync_samples = Some((1..=n as u32).collect());
            }
            if p.sync {
                if let Some(s) = &mut t.info.sync_samples {
                    s.push(n as u32 + 1);
                }
            }
            t.offsets.push(p.offset);
            t.info.sample_sizes.push(p.size);
            t.durations.push(p.duration);
            t.info.decode_times.push(p.decode_time);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Index> {
        if self.pending.is_some() {
            return Err(FormatError::new("the last moof is not followed by its mdat"));
        }
        if let Some(missing) = self.announced.difference(&self.seen).next() {
            return Err(FormatError::new(format!("the mfra or sidx names a moof at {missing}, which is not one")));
        }
        let mut index = std::mem::replace(&mut self.index, Index::from_moov(EMPTY_MOOV).expect("a valid moov"));
        for (t, stored) in index.tracks.iter_mut().zip(std::mem::take(&mut self.stored)) {
            t.stored_fragments = stored;
            let end = t.info.decode_times.last().map_or(0, |d| d + *t.durations.last().unwrap_or(&0) as u64);
            t.info.duration = t.info.duration.max(end - t.info.decode_times.first().copied().unwrap_or(0));
            t.recut()?;
        }
        index.fragmented = false;
        Ok(index)
    }
}

/// A `moov` with an `mvhd` and nothing else: what the indexer holds once it handed its index out.
const EMPTY_MOOV: &[u8] = b"\0\0\0\x10moov\0\0\0\x08mvhd";

/// The bytes of `range` if `bytes` (read at `at`) holds all of them.
fn slice(at: u64, bytes: &[u8], range: Range<u64>) -> Option<&[u8]> {
    let from = usize::try_from(range.start.checked_sub(at)?).ok()?;
    let to = usize::try_from(range.end.checked_sub(at)?).ok()?;
    bytes.get(from..to)
}

/// What `bytes` (read at `at`) holds from `pos` on.
fn slice_from(at: u64, bytes: &[u8], pos: u64) -> Option<&[u8]> {
    bytes.get(usize::try_from(pos.checked_sub(at)?).ok()?..)
}

/// The `mfra`'s length from the file's last 16 bytes, when they are an `mfro`.
fn mfra_len(tail: &[u8]) -> Result<Option<u64>> {
    match box_header(tail) {
        Some(h) if &h.kind == b"mfro" && h.size == Some(16) => {
            let mut c = Reader::new(&tail[8..]);
            c.skip(4)?;
            let len = c.u32()? as u64;
            if len < 16 + 8 {
                return Err(FormatError::new(format!("mfro says the mfra has {len} bytes")));
            }
            Ok(Some(len))
        }
        _ => Ok(None),
    }
}

/// Every `moof` offset the `tfra`s of an `mfra` (the whole box) name.
fn moof_offsets_of_mfra(mfra: &[u8]) -> Result<Vec<u64>> {
    let mfra = whole(mfra)?;
    if &mfra.kind != b"mfra" {
        return Err(FormatError::new("mfro points at a box that is not an mfra"));
    }
    let mut out = Vec::new();
    for tfra in children(mfra.body) {
        let tfra = tfra?;
        if &tfra.kind != b"tfra" {
            continue;
        }
        let mut c = Reader::new(tfra.body);
        let (version, _) = c.version_flags()?;
        c.skip(4)?;
        let sizes = c.u32()?;
        let count = c.u32()? as usize;
        let numbers = ((sizes >> 4 & 3) + (sizes >> 2 & 3) + (sizes & 3) + 3) as usize;
        let entry = if version == 1 { 16 } else { 8 } + numbers;
        if count > c.rest().len() / entry || out.len() + count > MAX_MOOFS {
            return Err(FormatError::new(format!("a tfra claims {count} entries in {} bytes", c.rest().len())));
        }
        for _ in 0..count {
            let offset = if version == 1 {
                c.skip(8)?;
                c.u64()?
            } else {
                c.skip(4)?;
                c.u32()? as u64
            };
            c.skip(numbers)?;
            out.push(offset);
        }
    }
    Ok(out)
}

/// The offsets of the `moof`s a `sidx` (the whole box, ending at `end` in the file) references
/// (media references only; a `sidx` of `sidx`s names no `moof`).
fn moof_offsets_of_sidx(sidx: &[u8], end: u64) -> Result<Vec<u64>> {
    let mut c = Reader::new(whole(sidx)?.body);
    let (version, _) = c.version_flags()?;
    // reference_ID, timescale, then earliest_presentation_time and first_offset (32 or 64 bits).
    c.skip(8)?;
    let first = if version == 0 {
        c.skip(4)?;
        c.u32()? as u64
    } else {
        c.skip(8)?;
        c.u64()?
    };
    c.skip(2)?;
    let count = c.u16()? as usize;
    let mut at = end.saturating_add(first);
    let mut out = Vec::new();
    for _ in 0..count {
        let reference = c.u32()?;
        c.skip(8)?;
        if reference >> 31 == 0 {
            out.push(at);
        }
        at = at.saturating_add((reference & 0x7fff_ffff) as u64);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bmff::{TopLevelWalk, WalkStep};
    use crate::fragment::tests::md5s;

    /// Indexes `file` as the origin does: the moov from a walk, then only the ranges the
    /// indexer asks for (each read counted, with the bytes it fetched).
    pub(crate) fn index_by_ranges(file: &[u8]) -> (Result<Index>, Vec<Range<u64>>) {
        let len = file.len() as u64;
        let WalkStep::Done(layout) = TopLevelWalk::until_moov(len).feed(0, file).unwrap() else { panic!("fed whole") };
        let moov = layout.moov().unwrap().range();
        let mut indexer = match FragmentedIndexer::new(&file[moov.start as usize..moov.end as usize], moov.clone(), len)
        {
            Ok(i) => i,
            Err(e) => return (Err(e), Vec::new()),
        };
        let mut reads = vec![indexer.first_read()];
        loop {
            let r = reads.last().unwrap().clone();
            let end = (r.end as usize).min(file.len());
            match indexer.feed(r.start, &file[(r.start as usize).min(end)..end]) {
                Ok(FragmentStep::Need(next)) => {
                    assert!(reads.len() < 10_000, "the walk ends");
                    reads.push(next)
                }
                Ok(FragmentStep::Done(index)) => return (Ok(*index), reads),
                Err(e) => return (Err(e), reads),
            }
        }
    }

    /// A fragmented rendition of ffmpeg's test pattern with audio, made with `args`.
    pub(crate) fn make_fragmented(dir: &std::path::Path, name: &str, args: &[&str]) -> std::path::PathBuf {
        let path = dir.join(name);
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine"])
            .args(["-t", "7", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "50", "-keyint_min", "50"])
            .args(["-sc_threshold", "0", "-c:a", "aac"])
            .args(args)
            .arg("-y")
            .arg(&path)
            .status()
            .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
        assert!(status.success());
        path
    }

    /// Every way ffmpeg fragments (Smooth's ismv with tfxd and an mfra; fMP4 with an mfra,
    /// without one, with a sidx; the first fragment in the moov) indexed by ranged reads and
    /// packaged as CMAF: ffmpeg reads back the source's very packets, track by track.
    #[test]
    fn fragmented_renditions_index_and_package_to_the_sources_packets() {
        let dir = tempfile::tempdir().unwrap();
        let cmaf = "frag_keyframe+empty_moov+default_base_moof";
        let skip = format!("{cmaf}+skip_trailer");
        let kinds: [(&str, &[&str]); 5] = [
            ("smooth.ismv", &["-f", "ismv"]),
            ("mfra.mp4", &["-movflags", cmaf]),
            ("plain.mp4", &["-movflags", &skip]),
            ("sidx.mp4", &["-movflags", "frag_keyframe+empty_moov+default_base_moof+global_sidx+skip_trailer"]),
            ("moov_first.mp4", &["-movflags", "frag_keyframe"]),
        ];
        for (name, args) in kinds {
            let src = make_fragmented(dir.path(), name, args);
            let file = std::fs::read(&src).unwrap();
            let (index, reads) = index_by_ranges(&file);
            let index = index.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!index.fragmented, "{name}");
            let read: u64 = reads.iter().map(|r| r.end - r.start).sum();
            let WalkStep::Done(layout) = TopLevelWalk::whole(file.len() as u64).feed(0, &file).unwrap() else {
                panic!("fed whole")
            };
            let moofs = layout.moofs().count();
            eprintln!("{name}: {moofs} moofs, {} reads, {read} of {} bytes", reads.len(), file.len());
            assert!(reads.len() <= moofs + 3, "{name}: at most a read per moof, the mfra's two, a last one: {reads:?}");
            for (handler, map) in [("vide", "0:v"), ("soun", "0:a")] {
                let track = index.by_handler(handler).unwrap();
                if handler == "vide" {
                    assert_eq!(track.fragments.len(), 4, "{name}: 7 s cut at the 2 s key frames");
                }
                let decoded: u64 = track.fragments.iter().map(|f| f.duration).sum();
                let delay = match (name, handler) {
                    // No edit list: the B-frame delay (2 frames at 25 fps) is presented after the last decode end.
                    ("mfra.mp4" | "plain.mp4" | "sidx.mp4" | "moov_first.mp4", "vide") => {
                        track.info.timescale as u64 * 2 / 25
                    }
                    _ => 0,
                };
                assert_eq!(track.presentation_duration(), decoded + delay, "{name} {handler}");
                let mut out = index.init_segment(track).unwrap();
                for (n, f) in track.fragments.iter().enumerate() {
                    let r = track.byte_range(f);
                    out.extend(track.media_segment(n, &file[r.start as usize..r.end as usize]).unwrap());
                }
                let packaged = dir.path().join(format!("{name}.{handler}.mp4"));
                std::fs::write(&packaged, out).unwrap();
                let (want, got) = (md5s(&src, map), md5s(&packaged, "0"));
                assert!(want.len() > 100, "{name}: {}", want.len());
                assert_eq!(got, want, "{name} {handler}");
            }
        }
    }
}
