//! What arrived in a media segment: the frames (samples) its `moof` boxes announce.

use mirrorcast_media::fragment::box_header;

/// The boxes of `bytes` at one level: (type, payload).
fn boxes(mut bytes: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let h = box_header(bytes)?;
        let size = h.size.unwrap_or(bytes.len() as u64);
        if size < h.header_len || size > bytes.len() as u64 {
            return None;
        }
        out.push((h.kind, &bytes[h.header_len as usize..size as usize]));
        bytes = &bytes[size as usize..];
    }
    Some(out)
}

/// The samples a fragmented-MP4 media segment carries (the `sample_count` of every
/// `trun` in every `moof`), or `None` when the bytes are not a well-formed segment.
pub fn frames(segment: &[u8]) -> Option<u64> {
    let mut total = 0u64;
    let mut moofs = 0;
    for (kind, moof) in boxes(segment)? {
        if &kind != b"moof" {
            continue;
        }
        moofs += 1;
        for (kind, traf) in boxes(moof)? {
            if &kind != b"traf" {
                continue;
            }
            for (kind, trun) in boxes(traf)? {
                if &kind == b"trun" {
                    let count = trun.get(4..8)?;
                    total += u32::from_be_bytes(count.try_into().ok()?) as u64;
                }
            }
        }
    }
    (moofs > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    fn trun(count: u32) -> Vec<u8> {
        let mut p = vec![0, 0, 0, 1];
        p.extend_from_slice(&count.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
        mp4_box(b"trun", &p)
    }

    #[test]
    fn frames_add_up_every_trun_of_every_moof() {
        let traf = mp4_box(b"traf", &[mp4_box(b"tfhd", &[0; 8]), trun(48), trun(2)].concat());
        let moof = mp4_box(b"moof", &[mp4_box(b"mfhd", &[0; 8]), traf].concat());
        let segment = [moof.clone(), mp4_box(b"mdat", &[7; 100]), moof, mp4_box(b"mdat", &[7; 10])].concat();
        assert_eq!(frames(&segment), Some(100));
    }

    #[test]
    fn what_is_not_a_media_segment_has_no_frames() {
        assert_eq!(frames(b"<html>not found</html>"), None);
        assert_eq!(frames(&mp4_box(b"mdat", &[0; 4])), None, "no moof");
        let truncated = mp4_box(b"moof", &mp4_box(b"traf", &trun(5)));
        assert_eq!(frames(&truncated[..truncated.len() - 3]), None);
        assert_eq!(frames(&[]), None);
    }
}
