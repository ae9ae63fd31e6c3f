//! CEA-608/708 captions carried in H.264 SEI (ATSC A/53 `GA94` user data, `cc_data`): found in
//! a sample's NAL units so the origin can announce them (HLS `CLOSED-CAPTIONS`, DASH
//! `Accessibility`). Pure and bounded: it reads what it is given, never past it.

use std::ops::Range;

use crate::fragment::TrackIndex;

/// Which caption services a run of samples carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Captions {
    /// CEA-608 (`cc_type` 0 or 1, valid).
    pub cea608: bool,
    /// CEA-708 (`cc_type` 2 or 3, valid).
    pub cea708: bool,
}

impl Captions {
    /// Any caption service.
    pub fn any(self) -> bool {
        self.cea608 || self.cea708
    }
}

/// The most bytes read to look for captions: the first samples of the first fragment.
pub const MAX_SCAN_BYTES: u64 = 2 * 1024 * 1024;
/// The most samples looked at (two seconds at 25 fps).
const MAX_SCAN_SAMPLES: usize = 50;

/// The bytes of `track`'s file to read to find its captions (its first samples, within
/// [`MAX_SCAN_BYTES`]); `None` for a track that is not H.264 or has no sample.
pub fn scan_range(track: &TrackIndex) -> Option<Range<u64>> {
    track.info.avc.as_ref()?;
    let sizes = &track.info.sample_sizes;
    let start = *track.offsets.first()?;
    let mut end = start;
    for (offset, size) in track.offsets.iter().zip(sizes).take(MAX_SCAN_SAMPLES) {
        let sample_end = offset.checked_add(*size as u64)?;
        if *offset < start || sample_end - start > MAX_SCAN_BYTES {
            break;
        }
        end = end.max(sample_end);
    }
    (end > start).then_some(start..end)
}

/// The captions in the samples of `track` that lie wholly in `data`, read from `start` of its file.
pub fn in_track(track: &TrackIndex, start: u64, data: &[u8]) -> Captions {
    let mut found = Captions::default();
    let Some(avc) = &track.info.avc else { return found };
    let length_size = if avc.nal_length_size == 0 { 4 } else { avc.nal_length_size as usize };
    for (offset, size) in track.offsets.iter().zip(&track.info.sample_sizes).take(MAX_SCAN_SAMPLES) {
        let Some(at) = offset.checked_sub(start) else { continue };
        if let Some(sample) = data.get(at as usize..(at as usize).saturating_add(*size as usize)) {
            h264_sample(sample, length_size, &mut found);
        }
    }
    found
}

/// The captions in the SEI NAL units of one H.264 sample (NAL units prefixed by their length,
/// `length_size` bytes, as in MP4), added to `found`. A malformed sample adds nothing.
pub fn h264_sample(sample: &[u8], length_size: usize, found: &mut Captions) {
    if !(1..=4).contains(&length_size) {
        return;
    }
    let mut at = 0;
    while at + length_size <= sample.len() {
        let len = sample[at..at + length_size].iter().fold(0usize, |n, b| (n << 8) | *b as usize);
        at += length_size;
        let Some(nal) = sample.get(at..at.saturating_add(len)) else { return };
        at += len;
        if nal.first().is_some_and(|h| h & 0x1f == 6) {
            sei(&crate::nal::rbsp(&nal[1..]), found);
        }
    }
}

/// Each SEI message; `user_data_registered_itu_t_t35` (type 4) ones read as A/53 `cc_data`.
fn sei(rbsp: &[u8], found: &mut Captions) {
    let mut at = 0;
    let varint = |at: &mut usize| -> Option<usize> {
        let mut n = 0usize;
        loop {
            let b = *rbsp.get(*at)?;
            *at += 1;
            n += b as usize;
            if b != 0xff {
                return Some(n);
            }
        }
    };
    while at < rbsp.len() && rbsp[at] != 0x80 {
        let (Some(kind), Some(size)) = (varint(&mut at), varint(&mut at)) else { return };
        let Some(payload) = rbsp.get(at..at.saturating_add(size)) else { return };
        at += size;
        if kind == 4 {
            cc_data(payload, found);
        }
    }
}

/// ITU-T T.35 United States (0xB5), ATSC provider (0x0031), `GA94`, cc_data (type 3).
fn cc_data(payload: &[u8], found: &mut Captions) {
    let Some(rest) = payload.strip_prefix(&[0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03][..]) else { return };
    let (Some(&flags), Some(data)) = (rest.first(), rest.get(2..)) else { return };
    if flags & 0x40 == 0 {
        return;
    }
    for triple in data.chunks_exact(3).take((flags & 0x1f) as usize) {
        if triple[0] & 0x04 == 0 {
            continue;
        }
        match triple[0] & 0x03 {
            0 | 1 => found.cea608 = true,
            _ => found.cea708 = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SEI NAL of A/53 cc_data with these (cc_valid|cc_type) bytes.
    fn sei_nal(types: &[u8]) -> Vec<u8> {
        let mut cc = vec![0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03, 0x40 | types.len() as u8, 0xff];
        for t in types {
            cc.extend([0xf8 | t, 0x94, 0x20]);
        }
        cc.push(0xff);
        let mut nal = vec![0x06, 0x04, cc.len() as u8];
        nal.extend(cc);
        nal.push(0x80);
        nal
    }

    fn sample(nals: &[Vec<u8>]) -> Vec<u8> {
        nals.iter().flat_map(|n| (n.len() as u32).to_be_bytes().into_iter().chain(n.iter().copied())).collect()
    }

    #[test]
    fn captions_are_found_in_a53_sei_and_nowhere_else() {
        let slice = vec![0x65, 0x88, 0x84, 0x00];
        let mut found = Captions::default();
        h264_sample(&sample(&[sei_nal(&[0x04]), slice.clone()]), 4, &mut found);
        assert_eq!(found, Captions { cea608: true, cea708: false });
        h264_sample(&sample(&[sei_nal(&[0x06])]), 4, &mut found);
        assert!(found.cea608 && found.cea708);
        let mut none = Captions::default();
        h264_sample(&sample(&[sei_nal(&[0x00, 0x01]), slice]), 4, &mut none);
        assert!(!none.any(), "cc_valid 0: padding, no service");
        for hostile in [vec![0xff; 9], vec![0, 0, 0, 200, 6], sample(&[vec![6, 0xff, 0xff]]), vec![]] {
            h264_sample(&hostile, 4, &mut none);
        }
        assert!(!none.any());
        assert_eq!(crate::nal::rbsp(&[0, 0, 3, 1, 0, 0, 3]), [0, 0, 1, 0, 0]);
    }
}
