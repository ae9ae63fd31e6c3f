//! Movie fragments read back (ISO/IEC 14496-12 8.8): a `moof` (`mfhd`, one `traf`: `tfhd`,
//! `tfdt` or Smooth's `tfxd`, `trun`) and its `mdat`, with each sample's bytes. What the
//! packagers write ([`crate::fragment`], [`crate::smooth_fragment`]) is checked by reading it
//! back here; a client learns the same from it. Pure and bounded: every sample lies in the `mdat`.

use crate::bmff::{children, BoxRef, Reader};
use crate::smooth_fragment::TFXD;
use crate::{FormatError, Result};

/// One sample of a fragment as its `trun` (or `tfhd` defaults) states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// How long the sample plays, in the track's timescale.
    pub duration: u32,
    /// Sample flags (ISO/IEC 14496-12 8.8.3.1): whether it is a sync sample, its dependencies.
    pub flags: u32,
    /// Raw; signed when the `trun` is version 1.
    pub composition_offset: u32,
    /// The sample's bytes, taken from the `mdat`.
    pub data: Vec<u8>,
}

/// A movie fragment read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovieFragment {
    /// `mfhd`'s sequence number: the fragment's place in its track.
    pub sequence_number: u32,
    /// `tfhd`'s track id.
    pub track_id: u32,
    /// From `tfdt`: the first sample's decode time.
    pub decode_time: Option<u64>,
    /// From Smooth's `tfxd`: the fragment's absolute start and duration.
    pub tfxd: Option<(u64, u64)>,
    /// The `traf`'s child boxes in order (`tfxd` for that uuid box).
    pub traf_boxes: Vec<String>,
    /// The samples in decode order.
    pub samples: Vec<Sample>,
}

impl MovieFragment {
    /// Reads a `moof` + `mdat` with one `traf`, its samples taken from the
    /// `mdat` where the `trun` says they are (offsets from the moof: no base data offset).
    pub fn parse(bytes: &[u8]) -> Result<MovieFragment> {
        Self::parse_cut(bytes, false)
    }

    /// Reads the start of a movie fragment, as an I-frame playlist's byte range holds it: the
    /// `moof` whole, the `mdat`'s header, then its data as far as `bytes` go. The samples are those
    /// whose bytes are all there, in order (the first missing byte ends them); the `moof`'s others
    /// are left out.
    pub fn parse_prefix(bytes: &[u8]) -> Result<MovieFragment> {
        let moof = crate::bmff::box_header(bytes)
            .filter(|h| &h.kind == b"moof")
            .and_then(|h| h.size)
            .ok_or_else(|| FormatError::new("a movie fragment starts with a moof"))?;
        let mdat_at = usize::try_from(moof).ok().filter(|m| m + 8 <= bytes.len());
        let mdat_at = mdat_at.ok_or_else(|| FormatError::new("the prefix ends before the mdat's header"))?;
        if &bytes[mdat_at + 4..mdat_at + 8] != b"mdat" {
            return Err(FormatError::new("the moof is not followed by an mdat"));
        }
        // The mdat as far as it goes: its size made what the prefix holds of it.
        let mut cut = bytes.to_vec();
        let held = u32::try_from(bytes.len() - mdat_at).map_err(|_| FormatError::new("prefix too large"))?;
        cut[mdat_at..mdat_at + 4].copy_from_slice(&held.to_be_bytes());
        Self::parse_cut(&cut, true)
    }

    /// [`Self::parse`]; `cut`: samples past the mdat's end end the list rather than fail it.
    fn parse_cut(bytes: &[u8], cut: bool) -> Result<MovieFragment> {
        let top: Vec<BoxRef> = children(bytes).collect::<Result<_>>()?;
        let (moof, mdat) = match top.as_slice() {
            [moof, mdat] if &moof.kind == b"moof" && &mdat.kind == b"mdat" => (moof, mdat),
            _ => return Err(FormatError::new("a movie fragment is one moof and one mdat")),
        };
        let mdat_at = moof.raw.len();
        let payload = (mdat_at + mdat.raw.len() - mdat.body.len())..(mdat_at + mdat.raw.len());
        let mut out = MovieFragment {
            sequence_number: 0,
            track_id: 0,
            decode_time: None,
            tfxd: None,
            traf_boxes: Vec::new(),
            samples: Vec::new(),
        };
        let mut trafs = 0;
        for b in children(moof.body) {
            let b = b?;
            match &b.kind {
                b"mfhd" => {
                    let mut c = Reader::new(b.body);
                    c.skip(4)?;
                    out.sequence_number = c.u32()?;
                }
                b"traf" => {
                    trafs += 1;
                    let mut defaults = (0u32, 0u32, 0u32);
                    for child in children(b.body) {
                        let child = child?;
                        let mut c = Reader::new(child.body);
                        match &child.kind {
                            b"tfhd" => {
                                let flags = c.u32()? & 0xff_ffff;
                                out.track_id = c.u32()?;
                                if flags & 0x1 != 0 {
                                    return Err(FormatError::new("tfhd has a base data offset"));
                                }
                                if flags & 0x2 != 0 {
                                    c.skip(4)?;
                                }
                                if flags & 0x8 != 0 {
                                    defaults.0 = c.u32()?;
                                }
                                if flags & 0x10 != 0 {
                                    defaults.1 = c.u32()?;
                                }
                                if flags & 0x20 != 0 {
                                    defaults.2 = c.u32()?;
                                }
                            }
                            b"trun" => out.samples = read_trun(&mut c, defaults, bytes, &payload, cut)?,
                            b"tfdt" => {
                                let (version, _) = c.version_flags()?;
                                out.decode_time = Some(if version == 1 { c.u64()? } else { c.u32()? as u64 });
                            }
                            b"uuid" if child.user_type == Some(TFXD) => {
                                let (version, _) = c.version_flags()?;
                                out.tfxd = Some(if version == 1 {
                                    (c.u64()?, c.u64()?)
                                } else {
                                    (c.u32()? as u64, c.u32()? as u64)
                                });
                                out.traf_boxes.push("tfxd".into());
                                continue;
                            }
                            _ => {}
                        }
                        out.traf_boxes.push(String::from_utf8_lossy(&child.kind).into_owned());
                    }
                }
                _ => {}
            }
        }
        if trafs != 1 {
            return Err(FormatError::new(format!("{trafs} traf boxes (want one)")));
        }
        Ok(out)
    }
}

fn read_trun(
    c: &mut Reader<'_>,
    defaults: (u32, u32, u32),
    bytes: &[u8],
    payload: &std::ops::Range<usize>,
    cut: bool,
) -> Result<Vec<Sample>> {
    let flags = c.u32()? & 0xff_ffff;
    let count = c.u32()? as usize;
    if flags & 0x1 == 0 {
        return Err(FormatError::new("trun has no data offset"));
    }
    let mut at = c.u32()? as i32 as i64 as usize;
    let first_flags = if flags & 0x4 != 0 { Some(c.u32()?) } else { None };
    let mut samples = Vec::with_capacity(count.min(bytes.len()));
    for i in 0..count {
        let duration = if flags & 0x100 != 0 { c.u32()? } else { defaults.0 };
        let size = if flags & 0x200 != 0 { c.u32()? } else { defaults.1 } as usize;
        let mut sample_flags = if flags & 0x400 != 0 { c.u32()? } else { defaults.2 };
        if i == 0 {
            sample_flags = first_flags.unwrap_or(sample_flags);
        }
        let composition_offset = if flags & 0x800 != 0 { c.u32()? } else { 0 };
        if cut && at >= payload.start && at.saturating_add(size) > payload.end {
            break;
        }
        let end = at.checked_add(size).filter(|&e| at >= payload.start && e <= payload.end).ok_or_else(|| {
            FormatError::new(format!("sample {i} ({size} bytes at {at}) is outside the mdat {payload:?}"))
        })?;
        samples.push(Sample { duration, flags: sample_flags, composition_offset, data: bytes[at..end].to_vec() });
        at = end;
    }
    Ok(samples)
}
