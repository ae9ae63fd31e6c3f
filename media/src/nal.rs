//! NAL unit payloads (H.264, HEVC): what the captions scan and the encryptor's slice-header
//! reader both need.

/// `nal` as its RBSP: the emulation prevention bytes (the 3 in `00 00 03`) taken out.
pub(crate) fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}
