//! Subsample encryption of NAL-structured video (ISO/IEC 23001-7, 9.5 and 10.4; ISO/IEC 14496-15):
//! each NAL unit's length prefix and header stay clear, non-VCL units (parameter sets, SEI,
//! delimiters) stay clear whole, and a slice's body is protected. Under `cenc` the protected part
//! of a slice is a whole number of 16-byte blocks (the rest joins the clear leader), as decryptors
//! working block by block require; under `cbcs` it runs to the slice's end (its pattern leaves a
//! partial last block clear anyway), and for AVC it starts after the slice header (see
//! [`super::avc_slice`]). Bounded: a NAL length that runs past the sample, a zero
//! length, or more subsamples than `saiz` can describe are errors.

use super::avc_slice::ParameterSets;
use super::Scheme;
use crate::{FormatError, Result};

/// A clear run followed by a protected run, as `senc` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsample {
    /// Bytes left clear.
    pub clear: u16,
    /// Bytes protected after them.
    pub protected: u32,
}

/// The NAL-structured codecs whose slices are protected by subsample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalCodec {
    /// H.264: 1-byte NAL header, VCL types 1–5.
    Avc,
    /// H.265: 2-byte NAL header, VCL types 0–31.
    Hevc,
}

impl NalCodec {
    fn header_len(self) -> usize {
        match self {
            NalCodec::Avc => 1,
            NalCodec::Hevc => 2,
        }
    }

    fn is_slice(self, header: u8) -> bool {
        match self {
            NalCodec::Avc => (1..=5).contains(&(header & 0x1f)),
            NalCodec::Hevc => (header >> 1) & 0x3f < 32,
        }
    }
}

/// Subsamples a sample may have: `saiz` states each sample's auxiliary information in one byte
/// (an 8-byte IV, a 2-byte count, 6 bytes per subsample: at most 40 with 255 bytes).
pub const MAX_SUBSAMPLES: usize = (255 - 8 - 2) / 6;

/// The clear and protected runs of one video sample (length-prefixed NAL units) under `scheme`.
/// With `slice_headers` (AVC under `cbcs`), each slice's header stays clear as well. The runs
/// cover the sample exactly.
pub fn nal_subsamples(
    sample: &[u8],
    length_size: usize,
    codec: NalCodec,
    scheme: Scheme,
    slice_headers: Option<&ParameterSets>,
) -> Result<Vec<Subsample>> {
    if !(1..=4).contains(&length_size) {
        return Err(FormatError::new(format!("a NAL length of {length_size} bytes; 1 to 4 are possible")));
    }
    let mut out = Vec::new();
    let mut clear = 0usize;
    let mut rest = sample;
    while !rest.is_empty() {
        let prefix = rest.get(..length_size).ok_or_else(|| {
            FormatError::new(format!("sample ends inside a NAL length ({} bytes remain)", rest.len()))
        })?;
        let len = prefix.iter().fold(0usize, |n, b| n << 8 | *b as usize);
        if len == 0 {
            return Err(FormatError::new("a NAL unit of length 0 in a sample"));
        }
        let nal = rest.get(length_size..length_size + len).ok_or_else(|| {
            FormatError::new(format!(
                "a NAL unit of {len} bytes runs past its sample ({} bytes remain)",
                rest.len() - length_size
            ))
        })?;
        rest = &rest[length_size + len..];
        let header = codec.header_len();
        if nal.len() < header || !codec.is_slice(nal[0]) {
            clear += length_size + len;
            continue;
        }
        let leader = match slice_headers {
            Some(sets) => sets.clear_leader(nal)?,
            None => header,
        };
        let body = len - leader.min(len);
        let protected = match scheme {
            Scheme::Cenc => body - body % 16,
            Scheme::Cbcs => body,
        };
        clear += length_size + len - protected;
        if protected > 0 {
            push(&mut out, &mut clear, protected)?;
        }
    }
    if clear > 0 {
        push(&mut out, &mut clear, 0)?;
    }
    Ok(out)
}

/// Appends `clear` (split into runs a `u16` holds) and then `protected`.
fn push(out: &mut Vec<Subsample>, clear: &mut usize, protected: usize) -> Result<()> {
    while *clear > u16::MAX as usize {
        out.push(Subsample { clear: u16::MAX, protected: 0 });
        *clear -= u16::MAX as usize;
    }
    let protected = u32::try_from(protected).map_err(|_| FormatError::new("a slice of more than 4 GiB"))?;
    out.push(Subsample { clear: *clear as u16, protected });
    *clear = 0;
    if out.len() > MAX_SUBSAMPLES {
        return Err(FormatError::new(format!(
            "a sample needs more than {MAX_SUBSAMPLES} subsamples (too many slices or clear runs to describe in saiz)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nal(header: u8, len: usize) -> Vec<u8> {
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.push(header);
        v.extend(std::iter::repeat_n(0xaa, len - 1));
        v
    }

    #[test]
    fn headers_and_parameter_sets_stay_clear_and_cenc_protects_whole_blocks() {
        // SPS (7), PPS (8), an IDR slice (5) of 1 + 100 bytes.
        let sample = [nal(0x67, 20), nal(0x68, 5), nal(0x65, 101)].concat();
        let runs = nal_subsamples(&sample, 4, NalCodec::Avc, Scheme::Cenc, None).unwrap();
        // Clear: 24 + 9 + 4 + 1 + (100 % 16 = 4); protected 96.
        assert_eq!(runs, [Subsample { clear: 24 + 9 + 5 + 4, protected: 96 }]);
        let runs = nal_subsamples(&sample, 4, NalCodec::Avc, Scheme::Cbcs, None).unwrap();
        assert_eq!(runs, [Subsample { clear: 24 + 9 + 5, protected: 100 }]);
        let total: usize = runs.iter().map(|r| r.clear as usize + r.protected as usize).sum();
        assert_eq!(total, sample.len());
    }

    #[test]
    fn a_long_clear_run_is_split_into_runs_a_u16_holds() {
        let sample = [nal(0x06, 70_000), nal(0x41, 33)].concat();
        let runs = nal_subsamples(&sample, 4, NalCodec::Avc, Scheme::Cenc, None).unwrap();
        assert_eq!(runs[0], Subsample { clear: u16::MAX, protected: 0 });
        let total: usize = runs.iter().map(|r| r.clear as usize + r.protected as usize).sum();
        assert_eq!(total, sample.len());
    }

    #[test]
    fn hostile_samples_are_errors_not_panics() {
        let slice = nal(0x65, 40);
        // A NAL length past the sample's end.
        let mut lying = slice.clone();
        lying[3] = 200;
        assert!(nal_subsamples(&lying, 4, NalCodec::Avc, Scheme::Cenc, None).unwrap_err().0.contains("runs past"));
        // A sample size that ends inside its NAL lengths.
        assert!(nal_subsamples(&slice[..2], 4, NalCodec::Avc, Scheme::Cenc, None)
            .unwrap_err()
            .0
            .contains("inside a NAL length"));
        // A zero-length NAL unit.
        let zero = [slice.clone(), vec![0, 0, 0, 0]].concat();
        assert!(nal_subsamples(&zero, 4, NalCodec::Avc, Scheme::Cenc, None).unwrap_err().0.contains("length 0"));
        // More slices than saiz can describe.
        let many: Vec<u8> = (0..MAX_SUBSAMPLES + 1).flat_map(|_| nal(0x41, 33)).collect();
        assert!(nal_subsamples(&many, 4, NalCodec::Avc, Scheme::Cenc, None).unwrap_err().0.contains("subsamples"));
        assert!(nal_subsamples(&slice, 3 + 2, NalCodec::Avc, Scheme::Cenc, None).is_err());
        // A one-byte HEVC unit (shorter than its header) stays clear rather than failing.
        assert_eq!(
            nal_subsamples(&[0, 1, 0x02], 2, NalCodec::Hevc, Scheme::Cenc, None).unwrap(),
            [Subsample { clear: 3, protected: 0 }]
        );
    }
}
