//! The length of an H.264 slice header (ISO/IEC 14496-10, 7.3.3), for `cbcs`: its protected
//! range begins after the slice header (ISO/IEC 23001-7, 10.4 and 9.5; decoders that parse the
//! header before decrypting, such as Apple's, need it clear). Read from the SPS and PPS of the
//! track's `avcC`; every read bounded (Exp-Golomb codes of at most 32 leading zeros, lists and
//! loops capped), a header that does not parse is an error.

use crate::nal::rbsp;
use std::collections::HashMap;

use crate::{FormatError, Result};

/// Slice header bytes read at most (emulation prevention removed): a header is tens of bytes,
/// a few hundred with large weight tables.
const MAX_HEADER_BYTES: usize = 4096;

/// What a slice header's syntax depends on, from the SPS and PPS.
#[derive(Debug, Clone, Default)]
struct Sps {
    separate_colour_plane: bool,
    chroma_array_type: u32,
    log2_max_frame_num: u32,
    poc_type: u32,
    log2_max_poc_lsb: u32,
    delta_pic_order_always_zero: bool,
    frame_mbs_only: bool,
}

#[derive(Debug, Clone, Default)]
struct Pps {
    sps_id: u32,
    cabac: bool,
    bottom_field_pic_order_in_frame_present: bool,
    num_ref_idx_default: [u32; 2],
    weighted_pred: bool,
    weighted_bipred_idc: u32,
    deblocking_filter_control_present: bool,
    redundant_pic_cnt_present: bool,
}

/// The parameter sets of a track, by id.
#[derive(Debug, Clone, Default)]
pub struct ParameterSets {
    sps: HashMap<u32, Sps>,
    pps: HashMap<u32, Pps>,
}

impl ParameterSets {
    /// Reads the SPS and PPS NAL units (header byte first) of an `avcC`.
    pub fn new(sps: &[Vec<u8>], pps: &[Vec<u8>]) -> Result<ParameterSets> {
        let mut out = ParameterSets::default();
        for nal in sps {
            let (id, s) = read_sps(&rbsp(nal.get(1..).unwrap_or_default()))?;
            out.sps.insert(id, s);
        }
        for nal in pps {
            let (id, p) = read_pps(&rbsp(nal.get(1..).unwrap_or_default()))?;
            out.pps.insert(id, p);
        }
        Ok(out)
    }

    /// Bytes of the slice NAL unit `nal` (its header byte first) that lie before its slice data:
    /// the NAL header and the slice header, emulation prevention bytes counted, a partial last
    /// byte (CAVLC slice data need not start on a byte) included.
    pub fn clear_leader(&self, nal: &[u8]) -> Result<usize> {
        let header = *nal.first().ok_or_else(|| FormatError::new("an empty slice NAL unit"))?;
        let body = &nal[1..];
        let limit = body.len().min(MAX_HEADER_BYTES + MAX_HEADER_BYTES / 2);
        let bits = self.slice_header_bits(header, &rbsp(&body[..limit]))?;
        Ok(1 + nal_bytes_for(body, bits.div_ceil(8)))
    }

    fn slice_header_bits(&self, nal_header: u8, rbsp: &[u8]) -> Result<usize> {
        let nal_ref_idc = nal_header >> 5;
        let idr = nal_header & 0x1f == 5;
        let mut r = Bits::new(rbsp);
        r.ue()?; // first_mb_in_slice
        let slice_type = r.ue()? % 5;
        let (p, b, i, sp, si) = (slice_type == 0, slice_type == 1, slice_type == 2, slice_type == 3, slice_type == 4);
        let pps_id = r.ue()?;
        let pps = self
            .pps
            .get(&pps_id)
            .ok_or_else(|| FormatError::new(format!("a slice names PPS {pps_id}, not in avcC")))?;
        let sps = self
            .sps
            .get(&pps.sps_id)
            .ok_or_else(|| FormatError::new(format!("PPS {pps_id} names SPS {}, not in avcC", pps.sps_id)))?;
        if sps.separate_colour_plane {
            r.skip(2)?;
        }
        r.skip(sps.log2_max_frame_num)?;
        let mut field_pic = false;
        if !sps.frame_mbs_only {
            field_pic = r.flag()?;
            if field_pic {
                r.skip(1)?;
            }
        }
        if idr {
            r.ue()?;
        }
        if sps.poc_type == 0 {
            r.skip(sps.log2_max_poc_lsb)?;
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                r.ue()?;
            }
        }
        if sps.poc_type == 1 && !sps.delta_pic_order_always_zero {
            r.ue()?;
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                r.ue()?;
            }
        }
        if pps.redundant_pic_cnt_present {
            r.ue()?;
        }
        if b {
            r.skip(1)?; // direct_spatial_mv_pred_flag
        }
        let mut refs = pps.num_ref_idx_default;
        if (p || sp || b) && r.flag()? {
            refs[0] = r.ue()?.saturating_add(1);
            if b {
                refs[1] = r.ue()?.saturating_add(1);
            }
        }
        if refs[0] > 32 || refs[1] > 32 {
            return Err(FormatError::new(format!("a slice with {refs:?} reference pictures; at most 32")));
        }
        if !i && !si {
            modification(&mut r)?;
            if b {
                modification(&mut r)?;
            }
        }
        if (pps.weighted_pred && (p || sp)) || (pps.weighted_bipred_idc == 1 && b) {
            r.ue()?; // luma_log2_weight_denom
            if sps.chroma_array_type != 0 {
                r.ue()?;
            }
            for &count in &refs[..if b { 2 } else { 1 }] {
                for _ in 0..count {
                    if r.flag()? {
                        r.ue()?;
                        r.ue()?;
                    }
                    if sps.chroma_array_type != 0 && r.flag()? {
                        for _ in 0..4 {
                            r.ue()?;
                        }
                    }
                }
            }
        }
        if nal_ref_idc != 0 {
            if idr {
                r.skip(2)?;
            } else if r.flag()? {
                for n in 0.. {
                    let op = r.ue()?;
                    if op == 0 {
                        break;
                    }
                    if n > 66 {
                        return Err(FormatError::new("a slice with more than 66 memory management operations"));
                    }
                    if matches!(op, 1 | 3) {
                        r.ue()?;
                    }
                    if op == 2 {
                        r.ue()?;
                    }
                    if matches!(op, 3 | 6) {
                        r.ue()?;
                    }
                    if op == 4 {
                        r.ue()?;
                    }
                }
            }
        }
        if pps.cabac && !i && !si {
            r.ue()?; // cabac_init_idc
        }
        r.ue()?; // slice_qp_delta
        if sp || si {
            if sp {
                r.skip(1)?;
            }
            r.ue()?;
        }
        if pps.deblocking_filter_control_present && r.ue()? != 1 {
            r.ue()?;
            r.ue()?;
        }
        if pps.cabac {
            r.align();
        }
        Ok(r.pos)
    }
}

/// `ref_pic_list_modification` for one list.
fn modification(r: &mut Bits<'_>) -> Result<()> {
    if !r.flag()? {
        return Ok(());
    }
    for _ in 0..=33 {
        match r.ue()? {
            3 => return Ok(()),
            0..=2 | 4 | 5 => {
                r.ue()?;
            }
            op => return Err(FormatError::new(format!("modification_of_pic_nums_idc {op}"))),
        }
    }
    Err(FormatError::new("a reference list modified more than 33 times"))
}

fn read_sps(rbsp: &[u8]) -> Result<(u32, Sps)> {
    let mut r = Bits::new(rbsp);
    let profile = r.bits(8)?;
    r.skip(16)?; // constraint flags, level
    let id = r.ue()?;
    let mut s = Sps { chroma_array_type: 1, ..Sps::default() };
    if matches!(profile, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        let chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            s.separate_colour_plane = r.flag()?;
        }
        s.chroma_array_type = if s.separate_colour_plane { 0 } else { chroma_format_idc };
        r.ue()?;
        r.ue()?;
        r.skip(1)?;
        if r.flag()? {
            for list in 0..if chroma_format_idc == 3 { 12 } else { 8 } {
                if r.flag()? {
                    scaling_list(&mut r, if list < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    s.log2_max_frame_num = bounded(r.ue()?, 12)? + 4;
    s.poc_type = r.ue()?;
    match s.poc_type {
        0 => s.log2_max_poc_lsb = bounded(r.ue()?, 12)? + 4,
        1 => {
            s.delta_pic_order_always_zero = r.flag()?;
            r.ue()?;
            r.ue()?;
            for _ in 0..bounded(r.ue()?, 255)? {
                r.ue()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.skip(1)?;
    r.ue()?;
    r.ue()?;
    s.frame_mbs_only = r.flag()?;
    Ok((id, s))
}

fn scaling_list(r: &mut Bits<'_>, size: usize) -> Result<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

fn read_pps(rbsp: &[u8]) -> Result<(u32, Pps)> {
    let mut r = Bits::new(rbsp);
    let id = r.ue()?;
    let mut p =
        Pps { sps_id: r.ue()?, cabac: r.flag()?, bottom_field_pic_order_in_frame_present: r.flag()?, ..Pps::default() };
    if r.ue()? != 0 {
        return Err(FormatError::new("a PPS with slice groups (FMO): its slice headers are not read here"));
    }
    p.num_ref_idx_default = [bounded(r.ue()?, 31)? + 1, bounded(r.ue()?, 31)? + 1];
    p.weighted_pred = r.flag()?;
    p.weighted_bipred_idc = r.bits(2)?;
    r.se()?;
    r.se()?;
    r.se()?;
    p.deblocking_filter_control_present = r.flag()?;
    r.skip(1)?;
    p.redundant_pic_cnt_present = r.flag()?;
    Ok((id, p))
}

fn bounded(v: u32, max: u32) -> Result<u32> {
    if v > max {
        return Err(FormatError::new(format!("a parameter set value {v} above its limit {max}")));
    }
    Ok(v)
}

/// The bytes of `nal` holding its first `rbsp_len` RBSP bytes, emulation prevention bytes counted.
fn nal_bytes_for(nal: &[u8], rbsp_len: usize) -> usize {
    let (mut taken, mut zeros) = (0, 0);
    for (i, &b) in nal.iter().enumerate() {
        if taken == rbsp_len {
            return i;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        taken += 1;
    }
    nal.len()
}

/// A bit reader over RBSP bytes.
struct Bits<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(b: &'a [u8]) -> Self {
        Bits { b, pos: 0 }
    }

    fn bit(&mut self) -> Result<u32> {
        let byte =
            self.b.get(self.pos / 8).ok_or_else(|| FormatError::new("a slice or parameter set header ends early"))?;
        let v = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(v as u32)
    }

    fn flag(&mut self) -> Result<bool> {
        Ok(self.bit()? == 1)
    }

    fn bits(&mut self, n: u32) -> Result<u32> {
        (0..n).try_fold(0u32, |v, _| Ok(v << 1 | self.bit()?))
    }

    fn skip(&mut self, n: u32) -> Result<()> {
        let end = self.pos + n as usize;
        if end > self.b.len() * 8 {
            return Err(FormatError::new("a slice or parameter set header ends early"));
        }
        self.pos = end;
        Ok(())
    }

    /// Exp-Golomb, unsigned; more than 31 leading zeros is refused.
    fn ue(&mut self) -> Result<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(FormatError::new("an Exp-Golomb code longer than 32 bits"));
            }
        }
        Ok(((1u64 << zeros) - 1 + self.bits(zeros)? as u64).min(u32::MAX as u64) as u32)
    }

    fn se(&mut self) -> Result<i64> {
        let k = self.ue()? as i64;
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }

    fn align(&mut self) {
        self.pos = self.pos.div_ceil(8) * 8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulation_prevention_is_removed_and_counted_back() {
        let nal = [0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x05];
        assert_eq!(rbsp(&nal), [0, 0, 1, 0, 0, 0, 5]);
        assert_eq!(nal_bytes_for(&nal, 3), 4);
        assert_eq!(nal_bytes_for(&nal, 6), 8);
    }

    #[test]
    fn hostile_headers_are_errors() {
        let sets = ParameterSets::default();
        assert!(sets.clear_leader(&[]).is_err());
        assert!(sets.clear_leader(&[0x65, 0x88]).is_err(), "PPS 0 unknown");
        assert!(read_sps(&[0; 3]).is_err());
        let mut r = Bits::new(&[0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(r.ue().is_err(), "63 leading zeros");
        assert!(read_pps(&[0b1100_0000]).is_err(), "truncated");
        assert!(ParameterSets::new(&[vec![0x67]], &[]).is_err(), "an SPS of its header byte alone");
        assert!(ParameterSets::new(&[], &[vec![]]).is_err(), "an empty PPS");
        // A PPS with slice groups (FMO) is refused by name.
        let fmo = ParameterSets::new(&[], &[vec![0x68, 0b1110_0100]]).unwrap_err().to_string();
        assert!(fmo.contains("FMO"), "{fmo}");
    }

    /// Our slice header lengths are ffmpeg's (its `trace_headers` bitstream filter prints every
    /// slice header element with its bit position): for CAVLC with B-frames (x264 ultrafast) and
    /// CABAC with weighted prediction and several references (x264 medium).
    #[test]
    fn slice_header_lengths_match_ffmpegs_trace() {
        let dir = tempfile::tempdir().unwrap();
        for preset in ["ultrafast", "medium"] {
            let path = dir.path().join(format!("{preset}.mp4"));
            let status = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "2"])
                .args(["-c:v", "libx264", "-preset", preset, "-bf", "2", "-g", "25", "-refs", "3"])
                .args(["-x264-params", "slices=2", "-movflags", "+faststart", "-y"])
                .arg(&path)
                .status()
                .expect("ffmpeg is needed for this test");
            assert!(status.success());
            // ffmpeg's: the bit after the last slice header element (its position plus its bits).
            let out = std::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-i"])
                .arg(&path)
                .args(["-map", "0:v", "-c", "copy", "-bsf:v", "trace_headers", "-f", "null", "-"])
                .output()
                .unwrap();
            let log = String::from_utf8_lossy(&out.stderr);
            let mut want: Vec<usize> = Vec::new();
            let mut in_slice = false;
            let mut last_end = 0;
            for line in log.lines() {
                let text = line.split("] ").nth(1).unwrap_or("");
                if text.starts_with("Slice Header") {
                    if in_slice {
                        want.push(last_end);
                    }
                    in_slice = true;
                    continue;
                }
                let fields: Vec<&str> = text.split_whitespace().collect();
                match fields.as_slice() {
                    [pos, _name, bits, "=", _value] if in_slice && pos.parse::<usize>().is_ok() => {
                        last_end = pos.parse::<usize>().unwrap() + bits.len();
                    }
                    _ if in_slice && !text.is_empty() && !text.chars().next().unwrap().is_ascii_digit() => {
                        want.push(last_end);
                        in_slice = false;
                    }
                    _ => {}
                }
            }
            if in_slice {
                want.push(last_end);
            }
            // Ours, over every slice NAL unit of the track.
            let file = std::fs::read(&path).unwrap();
            let index = crate::fragment::Index::from_moov(crate::fragment::tests::moov_of(&file)).unwrap();
            let track = index.by_handler("vide").unwrap();
            let avc = track.info.avc.as_ref().unwrap();
            let sets = ParameterSets::new(&avc.sps, &avc.pps).unwrap();
            let mut got = Vec::new();
            for (i, &at) in track.offsets.iter().enumerate() {
                let mut rest = &file[at as usize..at as usize + track.info.sample_sizes[i] as usize];
                while rest.len() > 4 {
                    let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                    let nal = &rest[4..4 + len];
                    if (1..=5).contains(&(nal[0] & 0x1f)) {
                        let bits = sets.slice_header_bits(nal[0], &rbsp(&nal[1..])).unwrap();
                        got.push(8 + bits);
                    }
                    rest = &rest[4 + len..];
                }
            }
            assert!(got.len() >= 100, "{preset}: two slices a frame: {}", got.len());
            assert_eq!(got, want, "{preset}");
        }
    }
}
