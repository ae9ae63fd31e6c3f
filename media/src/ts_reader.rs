//! MPEG-2 transport stream segments read back (ISO/IEC 13818-1): the PES packets of a segment,
//! each with its PID, stream id, PTS/DTS and payload, reassembled from 188-byte packets. What
//! [`crate::ts`] writes is checked by reading it back here; a client (the drill) counts the
//! frames it received with it. Pure and bounded: every field is read inside its packet.

use crate::{FormatError, Result};

const PACKET: usize = 188;
const SYNC: u8 = 0x47;

/// One PES packet, as reassembled from the TS packets of its PID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pes {
    /// The TS packets' PID: which elementary stream it belongs to.
    pub pid: u16,
    /// The whole PES packet: start code, stream id, length, header, payload.
    pub bytes: Vec<u8>,
    /// The first TS packet's adaptation field said a random access point starts here.
    pub random_access: bool,
}

impl Pes {
    /// The PES stream id (0xC0–0xDF audio, 0xE0–0xEF video); `None` when `bytes` is too short to
    /// hold one (never so from [`pes_packets`], but the fields are public).
    pub fn stream_id(&self) -> Option<u8> {
        self.bytes.get(3).copied()
    }

    /// An audio (0xC0–0xDF) or video (0xE0–0xEF) elementary stream.
    pub fn is_audio_or_video(&self) -> bool {
        self.stream_id().is_some_and(|id| (0xc0..=0xef).contains(&id))
    }

    /// PTS and DTS at 90 kHz (the DTS is the PTS when it is not stated); `None` without a PTS.
    pub fn timestamps(&self) -> Result<Option<(u64, u64)>> {
        let header = self.bytes.get(6..9).ok_or_else(|| truncated("PES header"))?;
        let fields = self.bytes.get(9..9 + header[2] as usize).ok_or_else(|| truncated("PES header"))?;
        let read = |at: usize| -> Result<u64> {
            let b = fields.get(at..at + 5).ok_or_else(|| truncated("PES timestamp"))?;
            Ok(((b[0] as u64 >> 1) & 0x7) << 30
                | (b[1] as u64) << 22
                | (b[2] as u64 >> 1) << 15
                | (b[3] as u64) << 7
                | b[4] as u64 >> 1)
        };
        Ok(match header[1] >> 6 {
            0b10 => Some((read(0)?, read(0)?)),
            0b11 => Some((read(0)?, read(5)?)),
            _ => None,
        })
    }

    /// What follows the PES header (cut at the stated PES length, when one is stated).
    pub fn payload(&self) -> Result<&[u8]> {
        let head = self.bytes.get(..9).ok_or_else(|| truncated("PES header"))?;
        let header_len = head[8] as usize;
        let body = self.bytes.get(9 + header_len..).ok_or_else(|| truncated("PES header"))?;
        let stated = u16::from_be_bytes([head[4], head[5]]) as usize;
        match stated {
            0 => Ok(body),
            n => body.get(..n.saturating_sub(3 + header_len)).ok_or_else(|| truncated("PES payload")),
        }
    }
}

fn truncated(what: &str) -> FormatError {
    FormatError::new(format!("MPEG-TS: {what} truncated"))
}

/// The PES packets of `segment` in the order they start. A TS packet whose payload starts a unit
/// (`payload_unit_start_indicator`) with `00 00 01` starts a PES on its PID; the next packets of
/// that PID continue it. PSI sections (PAT, PMT) are not PES and are skipped.
pub fn pes_packets(segment: &[u8]) -> Result<Vec<Pes>> {
    if !segment.len().is_multiple_of(PACKET) {
        return Err(FormatError::new(format!("MPEG-TS: {} bytes are not whole 188-byte packets", segment.len())));
    }
    let mut out: Vec<Pes> = Vec::new();
    // The index in `out` of the PES each PID is continuing.
    let mut open: Vec<(u16, usize)> = Vec::new();
    for (n, packet) in segment.chunks(PACKET).enumerate() {
        if packet[0] != SYNC {
            return Err(FormatError::new(format!("MPEG-TS: packet {n} has no sync byte")));
        }
        let unit_start = packet[1] & 0x40 != 0;
        let pid = u16::from_be_bytes([packet[1] & 0x1f, packet[2]]);
        let (payload_at, random_access) = match (packet[3] >> 4) & 0x3 {
            0b01 => (4, false),
            0b11 => (5 + packet[4] as usize, packet[4] > 0 && packet[5] & 0x40 != 0),
            _ => continue,
        };
        let payload = packet
            .get(payload_at..)
            .ok_or_else(|| FormatError::new(format!("MPEG-TS: packet {n}'s adaptation field runs past it")))?;
        let slot = open.iter().position(|(p, _)| *p == pid);
        if unit_start {
            if let Some(at) = slot {
                open.remove(at);
            }
            if payload.len() >= 4 && payload[..3] == [0, 0, 1] {
                open.push((pid, out.len()));
                out.push(Pes { pid, bytes: payload.to_vec(), random_access });
            }
        } else if let Some(at) = slot {
            out[open[at].1].bytes.extend_from_slice(payload);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(unit_start: bool, pid: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![SYNC, if unit_start { 0x40 } else { 0 } | (pid >> 8) as u8, pid as u8, 0x10];
        p.extend_from_slice(payload);
        p.resize(PACKET, 0xff);
        p
    }

    #[test]
    fn pes_packets_are_reassembled_per_pid_and_psi_is_skipped() {
        let mut ts = packet(true, 0, &[0, 0, 0xb0, 0x0d]);
        ts.extend(packet(true, 0x100, &[0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1, 0xaa]));
        ts.extend(packet(true, 0x101, &[0, 0, 1, 0xc0, 0, 0]));
        ts.extend(packet(false, 0x100, &[0xbb; 10]));
        let pes = pes_packets(&ts).unwrap();
        assert_eq!(pes.len(), 2);
        assert_eq!((pes[0].pid, pes[0].stream_id(), pes[0].bytes.len()), (0x100, Some(0xe0), 184 + 184));
        assert_eq!(pes[0].timestamps().unwrap(), Some((0, 0)));
        assert_eq!(&pes[0].payload().unwrap()[..2], &[0xaa, 0xff]);
        assert!(pes.iter().all(Pes::is_audio_or_video));
        assert!(pes_packets(&ts[..300]).is_err(), "not whole packets");
        let mut lying = packet(true, 0x100, &[]);
        lying[3] = 0x30;
        lying[4] = 200;
        assert!(pes_packets(&lying).is_err(), "an adaptation field past the packet");
    }
}
