//! What arrived in a media segment: the frames (samples) its `moof` boxes announce,
//! or, in an MPEG-TS segment (HLS `m3u8-aapl`), its audio and video PES packets.

use mirrorcast_media::bmff::{children, BoxRef, Reader};
use mirrorcast_media::ts_reader::pes_packets;

/// The boxes of `bytes` at one level, every byte in one of them; `None` if they do not add up.
fn boxes(bytes: &[u8]) -> Option<Vec<BoxRef<'_>>> {
    children(bytes).exact().collect::<Result<_, _>>().ok()
}

/// The frames a media segment carries: the samples of a fragmented-MP4 segment (the
/// `sample_count` of every `trun` in every `moof`) or the audio and video PES packets
/// of an MPEG-TS segment (one per frame, as origins packetise them); `None` when the
/// bytes are neither well formed.
pub fn frames(segment: &[u8]) -> Option<u64> {
    if segment.first() == Some(&TS_SYNC) {
        return ts_frames(segment);
    }
    fmp4_frames(segment)
}

const TS_SYNC: u8 = 0x47;

/// The audio and video PES packets of a TS segment, read by media's TS reader.
fn ts_frames(segment: &[u8]) -> Option<u64> {
    let total = pes_packets(segment).ok()?.iter().filter(|p| p.is_audio_or_video()).count() as u64;
    (total > 0).then_some(total)
}

fn fmp4_frames(segment: &[u8]) -> Option<u64> {
    let mut total = 0u64;
    let mut moofs = 0;
    for moof in boxes(segment)?.iter().filter(|b| &b.kind == b"moof") {
        moofs += 1;
        for traf in boxes(moof.body)?.iter().filter(|b| &b.kind == b"traf") {
            for trun in boxes(traf.body)?.iter().filter(|b| &b.kind == b"trun") {
                let mut fields = Reader::new(trun.body);
                fields.version_flags().ok()?;
                total += fields.u32().ok()? as u64;
            }
        }
    }
    (moofs > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        mirrorcast_media::bmff::write_box(&mut b, kind, |b| b.extend_from_slice(payload));
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

    #[test]
    fn a_ts_segment_counts_its_audio_and_video_pes_packets() {
        let mut ts = Vec::new();
        // A PAT (PSI, unit start, no PES), then two PES starts and a continuation.
        let packet = |unit_start: bool, payload: &[u8]| {
            let mut p = vec![0x47, if unit_start { 0x41 } else { 0x01 }, 0, 0x10];
            p.extend_from_slice(payload);
            p.resize(188, 0xff);
            p
        };
        ts.extend(packet(true, &[0, 0, 0xb0, 0x0d]));
        ts.extend(packet(true, &[0, 0, 1, 0xe0, 0, 0]));
        ts.extend(packet(false, &[0xaa; 10]));
        ts.extend(packet(true, &[0, 0, 1, 0xc0, 0, 0]));
        assert_eq!(frames(&ts), Some(2));
        assert_eq!(frames(&ts[..300]), None, "not whole packets");
        assert_eq!(frames(&ts[..188]), None, "no frame at all");
    }
}
