//! MPEG-2 transport stream segments for HLS version 3 (`format=m3u8-aapl-v3`):
//! one elementary stream per segment (H.264 video or AAC audio, as the HLS
//! master names them), cut at the same sync samples as the CMAF segments.
//! Each segment starts with a PAT and a PMT; H.264 samples become Annex B
//! access units (an access unit delimiter, SPS and PPS before each key frame,
//! start codes for the length prefixes), AAC frames get ADTS headers; PTS and
//! DTS are the samples' times at 90 kHz. Pure: index and bytes in, bytes out.
//!
//! Continuity counters run on across the segments of a rendition, so a reader
//! that concatenates them sees no discontinuity. A segment's counters start
//! where the previous segments' packets leave them, counted from the index
//! alone (no read of earlier segments): each PES is as long as its sample plus
//! what is added around it (a 4-byte NAL length becomes a 4-byte start code,
//! a dropped access unit delimiter of the sample's own comes back as trailing
//! zero bytes, which Annex B allows after a NAL unit). With other NAL length
//! sizes the lengths change, and each later segment's first packet says so
//! with the discontinuity indicator instead.

use crate::fragment::TrackIndex;
use crate::{FormatError, Result};

const PACKET: usize = 188;
const PMT_PID: u16 = 0x1000;
const ES_PID: u16 = 0x0100;
/// SPS and PPS are repeated before every key frame: more than this (real ones
/// are tens of bytes; avcC may state 31 SPS and 255 PPS of 64 KiB each) is refused.
pub const MAX_PARAMETER_SET_BYTES: usize = 64 * 1024;

/// What the samples of a track become in a PES payload.
enum Stream<'a> {
    Avc {
        nal_length_size: usize,
        parameter_sets: Vec<&'a [u8]>,
    },
    /// The fixed part of the ADTS header: profile, sampling frequency index, channel configuration.
    Aac {
        profile: u8,
        frequency_index: u8,
        channels: u8,
    },
}

/// The elementary stream's continuity counter at the start of each fragment of a track:
/// the packets of every earlier fragment, counted from the index in one pass. Made once
/// per track and kept beside its index, so a segment request counts nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters(Vec<u8>);

impl Counters {
    /// Refused for a track MPEG-TS cannot carry (as [`ts_segment`] would refuse it).
    pub fn of(track: &TrackIndex) -> Result<Counters> {
        let stream = stream_of(track)?;
        let mut packets = 0usize;
        let mut starts = Vec::with_capacity(track.fragments.len());
        for f in &track.fragments {
            starts.push((packets % 16) as u8);
            packets += (f.first..f.end).map(|i| pes_packets(pes_length(track, &stream, i))).sum::<usize>();
        }
        Ok(Counters(starts))
    }
}

/// The TS segment of fragment `number` of `track`, whose bytes are `data`,
/// read from the file at `track.byte_range(fragment)`; `counters` are the track's.
pub fn ts_segment(track: &TrackIndex, number: usize, data: &[u8], counters: &Counters) -> Result<Vec<u8>> {
    segment(track, number, data, counters, None)
}

/// The TS segment of fragment `number` with HLS SAMPLE-AES (`METHOD=SAMPLE-AES`, see
/// [`crate::encryption::sample_aes`]) under `key` and `iv` (the playlist's `IV`): H.264 or AAC,
/// the PMT saying so (stream type 0xdb with `zavc`; 0xcf with `aacd` and the audio setup).
pub fn sample_aes_ts_segment(
    track: &TrackIndex,
    number: usize,
    data: &[u8],
    counters: &Counters,
    key: &crate::encryption::ContentKey,
    iv: &[u8; 16],
) -> Result<Vec<u8>> {
    segment(track, number, data, counters, Some((key, iv)))
}

fn segment(
    track: &TrackIndex,
    number: usize,
    data: &[u8],
    counters: &Counters,
    sample_aes: Option<(&crate::encryption::ContentKey, &[u8; 16])>,
) -> Result<Vec<u8>> {
    use crate::encryption::sample_aes as senc;
    let f = track.checked_fragment(number, data)?;
    let stream = stream_of(track)?;
    let es_counter = *counters.0.get(number).ok_or_else(|| FormatError::new("counters of another track"))?;
    let (stream_type, stream_id, descriptors) = match (&stream, sample_aes) {
        // The private data indicator naming the format (Apple's 'zavc').
        (Stream::Avc { .. }, Some(_)) => (0xdb, 0xe0, vec![0x0f, 4, b'z', b'a', b'v', b'c']),
        (Stream::Avc { .. }, None) => (0x1b, 0xe0, vec![]),
        (Stream::Aac { .. }, Some(_)) => (0xcf, 0xc0, senc::aac_setup_descriptors(aac_config(track), priming(track))?),
        (Stream::Aac { .. }, None) => (0x0f, 0xc0, vec![]),
    };
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 4 * PACKET);
    // One PAT and one PMT per segment; the stream's packets counted from the index.
    let tables = (number % 16) as u8;
    let mut cc = [tables, tables, es_counter];
    write_psi(&mut out, 0, &mut cc[0], &pat());
    write_psi(&mut out, PMT_PID, &mut cc[1], &pmt(stream_type, &descriptors));
    // Emulation prevention makes encrypted access units' lengths unpredictable from the index
    // (encrypted AAC frames keep theirs).
    let escaped = sample_aes.is_some() && matches!(stream, Stream::Avc { .. });
    let mut discontinuity = number > 0 && (!stream.lengths_predictable() || escaped);
    let start = track.byte_range(f).start;
    for i in f.first..f.end {
        let at = (track.offsets[i] - start) as usize;
        let sample = &data[at..at + track.info.sample_sizes[i] as usize];
        let (dts, pts) = times_90k(track, i);
        let sync = track.is_sync(i);
        let payload = match &stream {
            Stream::Avc { nal_length_size, parameter_sets } => {
                let au = annex_b(sample, *nal_length_size, sync.then_some(parameter_sets.as_slice()))?;
                match sample_aes {
                    Some((key, iv)) => {
                        // Each segment's last access unit ends with the next one's delimiter (the
                        // next segment's first then has none): a reader's H.264 parser ends an
                        // access unit at the next delimiter, and ffmpeg decrypts a frame only
                        // while a segment is being read (none after the playlist's last), so
                        // every frame is complete within its segment. Read in order, the stream
                        // is the clear one's byte for byte.
                        let own = if i == f.first && number > 0 { &au[AUD.len()..] } else { &au[..] };
                        let mut sealed = senc::encrypt_access_unit(key, iv, own);
                        if i + 1 == f.end {
                            sealed.extend_from_slice(&AUD);
                        }
                        sealed
                    }
                    None => au,
                }
            }
            Stream::Aac { profile, frequency_index, channels } => {
                let mut frame = adts(sample, *profile, *frequency_index, *channels)?;
                if let Some((key, iv)) = sample_aes {
                    senc::encrypt_adts_frame(key, iv, &mut frame);
                }
                frame
            }
        };
        // SAMPLE-AES video states its PES lengths, so a reader hands a segment's last access
        // unit over without reading on into the next segment (see the delimiter above).
        let pes = pes(stream_id, pts, (dts != pts).then_some(dts), &payload, escaped);
        write_pes(&mut out, &mut cc[2], &pes, dts, Flags { random_access: sync, discontinuity });
        discontinuity = false;
    }
    Ok(out)
}

/// An AAC track's AudioSpecificConfig ([`stream_of`] has checked there is one).
fn aac_config(track: &TrackIndex) -> &[u8] {
    track.info.audio.as_ref().map_or(&[], |a| a.specific_config.as_slice())
}

/// The AAC priming the edit list skips, in samples at the sampling rate (SAMPLE-AES's audio setup).
fn priming(track: &TrackIndex) -> u16 {
    let rate = track.info.audio.as_ref().map_or(0, |a| a.sample_rate) as i128;
    let skipped = track.media_start.max(0) as i128 * rate / track.info.timescale.max(1) as i128;
    skipped.min(u16::MAX as i128) as u16
}

/// The TS segment of fragment `number`, AES-128 encrypted whole (HLS `METHOD=AES-128`, see
/// [`crate::encryption::aes128`]): the IV is the segment's media sequence number, which is
/// `number` in the origin's playlists (`EXT-X-MEDIA-SEQUENCE:0`, no `IV` attribute).
pub fn aes128_ts_segment(
    track: &TrackIndex,
    number: usize,
    data: &[u8],
    counters: &Counters,
    key: &crate::encryption::ContentKey,
) -> Result<Vec<u8>> {
    let clear = ts_segment(track, number, data, counters)?;
    let iv = crate::encryption::aes128::sequence_iv(number as u64);
    Ok(crate::encryption::aes128::encrypt_segment(key, &iv, &clear))
}

/// How many bytes at the start of fragment `number`'s segment hold its program tables (PAT, PMT)
/// and its first sample's PES whole: with a key frame first, an I-frame playlist's byte range.
/// From the index alone; `None` when the PES lengths do not follow from it (see [`Counters`]).
pub fn first_sample_prefix(track: &TrackIndex, number: usize) -> Result<Option<u64>> {
    let f = track.fragments.get(number).ok_or_else(|| FormatError::new("no such fragment"))?;
    let stream = stream_of(track)?;
    if f.first >= f.end || !stream.lengths_predictable() {
        return Ok(None);
    }
    Ok(Some(((2 + pes_packets(pes_length(track, &stream, f.first))) * PACKET) as u64))
}

/// Where presentation starts on the TS clock (ffmpeg's mpegts muxer starts there too): room
/// before it for the AAC priming and the B-frame delay, which come before presentation starts.
const START_90K: i128 = 126_000;
/// [`START_90K`] for the HLS subtitle segments' `X-TIMESTAMP-MAP`: the TS PTS of presentation time 0.
pub const PRESENTATION_START_90K: u64 = START_90K as u64;

/// A sample's decode and presentation times at 90 kHz. The track's edit list is applied (TS has
/// none): presentation starts at [`START_90K`] in every track, so audio and video start together
/// as in the source, the priming and the B-frame delay just before.
fn times_90k(track: &TrackIndex, i: usize) -> (u64, u64) {
    let timescale = track.info.timescale.max(1) as i128;
    let start = track.media_start as i128;
    let to_90k = |t: i128| ((t - start) * 90_000 / timescale + START_90K).max(0) as u64;
    let decode = track.info.decode_times[i] as i128;
    let offset = match &track.composition_offsets {
        Some(c) if track.signed_offsets => c[i] as i32 as i128,
        Some(c) => c[i] as i128,
        None => 0,
    };
    (to_90k(decode), to_90k(decode + offset))
}

/// Room for PES bytes in the first packet of a PES (its adaptation field holds the PCR: 8 bytes) and in the others.
const FIRST_PAYLOAD: usize = PACKET - 4 - 8;
const PAYLOAD: usize = PACKET - 4;

/// TS packets a PES of `len` bytes takes in [`write_pes`].
fn pes_packets(len: usize) -> usize {
    1 + len.saturating_sub(FIRST_PAYLOAD).div_ceil(PAYLOAD)
}

/// The length of sample `i`'s PES, from the index alone (exact when
/// [`Stream::lengths_predictable`]).
fn pes_length(track: &TrackIndex, stream: &Stream<'_>, i: usize) -> usize {
    let size = track.info.sample_sizes[i] as usize;
    let payload = match stream {
        Stream::Avc { parameter_sets, .. } => {
            let sets: usize =
                if track.is_sync(i) { parameter_sets.iter().map(|p| START_CODE.len() + p.len()).sum() } else { 0 };
            AUD.len() + sets + size
        }
        Stream::Aac { .. } => ADTS_HEADER + size,
    };
    let (dts, pts) = times_90k(track, i);
    9 + if dts != pts { 10 } else { 5 } + payload
}

impl Stream<'_> {
    /// Whether every PES is as long as [`pes_length`] says, so later segments' counters follow from the index.
    fn lengths_predictable(&self) -> bool {
        match self {
            Stream::Avc { nal_length_size, .. } => *nal_length_size == START_CODE.len(),
            Stream::Aac { .. } => true,
        }
    }
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// An access unit delimiter (any slice types) with its start code.
const AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];
const ADTS_HEADER: usize = 7;

/// Whether this packager can carry `track` (H.264, AAC that fits ADTS); the error says why not.
pub fn carries(track: &TrackIndex) -> Result<()> {
    stream_of(track).map(|_| ())
}

fn stream_of(track: &TrackIndex) -> Result<Stream<'_>> {
    if let Some(avc) = &track.info.avc {
        let nal_length_size = match avc.nal_length_size {
            0 => 4,
            n => n as usize,
        };
        let parameter_sets: Vec<&[u8]> = avc.sps.iter().chain(&avc.pps).map(Vec::as_slice).collect();
        let bytes: usize = parameter_sets.iter().map(|p| p.len()).sum();
        if bytes > MAX_PARAMETER_SET_BYTES {
            return Err(FormatError::new(format!(
                "avcC's parameter sets are {bytes} bytes; at most {MAX_PARAMETER_SET_BYTES} are repeated in MPEG-TS"
            )));
        }
        return Ok(Stream::Avc { nal_length_size, parameter_sets });
    }
    match &track.info.audio {
        Some(a) if a.object_type == 0x40 && a.specific_config.len() >= 2 => {
            let c = &a.specific_config;
            let object_type = c[0] >> 3;
            let frequency_index = ((c[0] & 0x7) << 1) | (c[1] >> 7);
            let channels = (c[1] >> 3) & 0xf;
            // ADTS carries AAC Main, LC, SSR, LTP only (profile = object type - 1); HE-AAC is signalled implicitly.
            if !(1..=4).contains(&object_type) || frequency_index > 12 {
                return Err(FormatError::new(format!("AAC object type {object_type} cannot be put in ADTS")));
            }
            Ok(Stream::Aac { profile: object_type - 1, frequency_index, channels })
        }
        _ => Err(FormatError::new(format!("a '{}' track cannot be put in MPEG-TS", track.info.codec))),
    }
}

/// An H.264 sample (length-prefixed NAL units) as an Annex B access unit.
fn annex_b(sample: &[u8], length_size: usize, parameter_sets: Option<&[&[u8]]>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(sample.len() + 64);
    out.extend_from_slice(&AUD);
    for ps in parameter_sets.unwrap_or_default() {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(ps);
    }
    let mut dropped = 0;
    let mut rest = sample;
    while !rest.is_empty() {
        let (len, body) = rest
            .split_at_checked(length_size)
            .map(|(l, b)| (l.iter().fold(0usize, |n, &x| n << 8 | x as usize), b))
            .ok_or_else(|| FormatError::new("an H.264 sample ends inside a NAL length"))?;
        let nal = body.get(..len).ok_or_else(|| FormatError::new("an H.264 NAL runs past its sample"))?;
        // An access unit delimiter of the sample's own would be a second one.
        if nal.first().is_some_and(|h| h & 0x1f != 9) {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        } else {
            dropped += length_size + len;
        }
        rest = &body[len..];
    }
    // Trailing zero bytes where a delimiter was: the access unit keeps its length
    // (the counters of later segments are computed from it).
    out.resize(out.len() + dropped, 0);
    Ok(out)
}

/// An AAC frame with its 7-byte ADTS header (no CRC).
fn adts(frame: &[u8], profile: u8, frequency_index: u8, channels: u8) -> Result<Vec<u8>> {
    let len = frame.len() + 7;
    if len >= 1 << 13 {
        return Err(FormatError::new(format!("an AAC frame of {} bytes does not fit ADTS", frame.len())));
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&[
        0xff,
        0xf1,
        (profile << 6) | (frequency_index << 2) | (channels >> 2),
        ((channels & 0x3) << 6) | (len >> 11) as u8,
        (len >> 3) as u8,
        (((len & 0x7) as u8) << 5) | 0x1f,
        0xfc,
    ]);
    out.extend_from_slice(frame);
    Ok(out)
}

fn timestamp(marker: u8, t: u64) -> [u8; 5] {
    let t = t & 0x1_ffff_ffff;
    [
        (marker << 4) | (((t >> 30) as u8 & 0x7) << 1) | 1,
        (t >> 22) as u8,
        (((t >> 15) as u8) << 1) | 1,
        (t >> 7) as u8,
        ((t as u8) << 1) | 1,
    ]
}

/// A PES packet: header with PTS (and DTS when it differs), then `payload`.
/// `bounded`: the PES length stated for video too where it fits (else 0, "unbounded").
fn pes(stream_id: u8, pts: u64, dts: Option<u64>, payload: &[u8], bounded: bool) -> Vec<u8> {
    let header_len = if dts.is_some() { 10 } else { 5 };
    let length = 3 + header_len + payload.len();
    // Video may exceed 16 bits: 0 means "unbounded", allowed for video only.
    let unbounded = (stream_id == 0xe0 && !bounded) || length > 0xffff;
    let length = if unbounded { 0 } else { length as u16 };
    let mut out = Vec::with_capacity(9 + header_len + payload.len());
    out.extend_from_slice(&[0, 0, 1, stream_id]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&[0x80, if dts.is_some() { 0xc0 } else { 0x80 }, header_len as u8]);
    match dts {
        Some(dts) => {
            out.extend_from_slice(&timestamp(0x3, pts));
            out.extend_from_slice(&timestamp(0x1, dts));
        }
        None => out.extend_from_slice(&timestamp(0x2, pts)),
    }
    out.extend_from_slice(payload);
    out
}

/// The flags of a PES's first packet's adaptation field.
#[derive(Debug, Clone, Copy)]
struct Flags {
    /// A key frame starts here.
    random_access: bool,
    /// The continuity counter does not follow the previous segment's.
    discontinuity: bool,
}

/// A PES in TS packets; the first carries the PCR (the DTS) and the random access and discontinuity flags.
fn write_pes(out: &mut Vec<u8>, cc: &mut u8, pes: &[u8], dts: u64, flags: Flags) {
    let mut pos = 0;
    let mut first = true;
    while pos < pes.len() {
        let mut adaptation: Vec<u8> = Vec::new();
        if first {
            let discontinuity = if flags.discontinuity { 0x80 } else { 0 };
            adaptation.push(0x10 | discontinuity | if flags.random_access { 0x40 } else { 0 });
            let base = dts & 0x1_ffff_ffff;
            adaptation.extend_from_slice(&[
                (base >> 25) as u8,
                (base >> 17) as u8,
                (base >> 9) as u8,
                (base >> 1) as u8,
                (((base & 1) as u8) << 7) | 0x7e,
                0,
            ]);
        }
        // The adaptation field's whole size: its length byte and its content.
        let mut field = if first { 1 + adaptation.len() } else { 0 };
        let remaining = pes.len() - pos;
        let room = PACKET - 4 - field;
        if remaining < room {
            let stuffing = room - remaining;
            if field == 0 && stuffing >= 2 {
                adaptation.push(0);
            }
            let fill = if field == 0 { stuffing.saturating_sub(2) } else { stuffing };
            adaptation.extend(std::iter::repeat_n(0xff, fill));
            field += stuffing;
        }
        let take = remaining.min(PACKET - 4 - field);
        out.push(0x47);
        out.push(if first { 0x40 } else { 0 } | (ES_PID >> 8) as u8);
        out.push(ES_PID as u8);
        out.push(if field > 0 { 0x30 } else { 0x10 } | *cc);
        *cc = (*cc + 1) & 0xf;
        if field > 0 {
            out.push((field - 1) as u8);
            out.extend_from_slice(&adaptation);
        }
        out.extend_from_slice(&pes[pos..pos + take]);
        pos += take;
        first = false;
    }
}

/// A PSI section in one TS packet (pointer field, section, 0xff padding).
fn write_psi(out: &mut Vec<u8>, pid: u16, cc: &mut u8, section: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | *cc, 0]);
    *cc = (*cc + 1) & 0xf;
    out.extend_from_slice(section);
    out.resize(start + PACKET, 0xff);
}

/// A PSI section: table id, the 16-bit section header, `body`, its CRC.
fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let length = 5 + body.len() + 4;
    let mut s = vec![table_id, 0xb0 | (length >> 8) as u8, length as u8];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&[0xc1, 0, 0]);
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

fn pat() -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    body.extend_from_slice(&(0xe000 | PMT_PID).to_be_bytes());
    section(0x00, 1, &body)
}

/// A PMT of one elementary stream; its descriptors must fit the one packet [`write_psi`] writes.
fn pmt(stream_type: u8, es_descriptors: &[u8]) -> Vec<u8> {
    let mut body = (0xe000 | ES_PID).to_be_bytes().to_vec(); // PCR PID: the stream itself
    body.extend_from_slice(&[0xf0, 0]);
    body.push(stream_type);
    body.extend_from_slice(&(0xe000 | ES_PID).to_be_bytes());
    body.extend_from_slice(&(0xf000 | es_descriptors.len() as u16).to_be_bytes());
    body.extend_from_slice(es_descriptors);
    section(0x02, 1, &body)
}

fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= (b as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::tests::{test_clip, TestClip};

    /// MD5s (the sixth framemd5 column) of what ffmpeg reads from `path`: decoded frames, or packets with `copy`.
    fn hashes(path: &std::path::Path, map: &str, copy: &[&str]) -> Vec<String> {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-map", map])
            .args(copy)
            .args(["-f", "framemd5", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(',').nth(5))
            .map(|s| s.trim().to_owned())
            .collect()
    }

    /// Every fragment as a TS segment, the segments in a row: ffmpeg decodes the
    /// source's very frames from the video, and finds the source's AAC packets
    /// (ADTS headers taken off again) in the audio.
    #[test]
    fn ts_segments_carry_the_sources_frames_and_packets() {
        let clip = test_clip();
        let TestClip { path: src, file, index, .. } = &clip;
        for handler in ["vide", "soun"] {
            let track = index.by_handler(handler).unwrap();
            let counters = Counters::of(track).unwrap();
            let mut ts = Vec::new();
            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                let segment = ts_segment(track, n, &file[r.start as usize..r.end as usize], &counters).unwrap();
                assert_eq!(segment.len() % PACKET, 0);
                assert!(segment.chunks(PACKET).all(|p| p[0] == 0x47), "sync bytes");
                ts.extend(segment);
            }
            let path = clip.dir().join(format!("{handler}.ts"));
            std::fs::write(&path, ts).unwrap();
            let (got, want) = if handler == "vide" {
                (hashes(&path, "0:v", &[]), hashes(src, "0:v", &[]))
            } else {
                (hashes(&path, "0:a", &["-c", "copy", "-bsf:a", "aac_adtstoasc"]), hashes(src, "0:a", &["-c", "copy"]))
            };
            assert!(want.len() > 50, "{}", want.len());
            assert_eq!(got, want, "{handler}");
        }
    }

    /// The TS packager's output read back: per segment one PES per sample, in order, at the
    /// sample's 90 kHz times, a random access point exactly at key frames, carrying the sample
    /// (AAC: behind its 7-byte ADTS header; H.264: as the Annex B access unit made of it).
    #[test]
    fn ts_segments_read_back_as_one_pes_per_sample_at_its_times() {
        use crate::ts_reader::pes_packets;
        let clip = test_clip();
        let TestClip { file, index, .. } = &clip;
        for track in &index.tracks {
            let counters = Counters::of(track).unwrap();
            let stream = stream_of(track).unwrap();
            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                let data = &file[r.start as usize..r.end as usize];
                let segment = ts_segment(track, n, data, &counters).unwrap();
                let pes = pes_packets(&segment).unwrap();
                assert_eq!(pes.len(), f.end - f.first, "track {} segment {n}", track.info.track_id);
                for (p, i) in pes.iter().zip(f.first..f.end) {
                    let (dts, pts) = times_90k(track, i);
                    assert_eq!((p.pid, p.timestamps().unwrap()), (ES_PID, Some((pts, dts))), "sample {i}");
                    assert_eq!(p.random_access, track.is_sync(i), "sample {i}");
                    let at = (track.offsets[i] - r.start) as usize;
                    let sample = &data[at..at + track.info.sample_sizes[i] as usize];
                    let payload = p.payload().unwrap();
                    match &stream {
                        Stream::Aac { .. } => {
                            assert_eq!(p.stream_id(), Some(0xc0));
                            assert_eq!(&payload[7..], sample, "sample {i}");
                            let frame_len = ((payload[3] as usize & 3) << 11)
                                | (payload[4] as usize) << 3
                                | (payload[5] as usize) >> 5;
                            assert_eq!(frame_len, payload.len(), "the ADTS length, sample {i}");
                        }
                        Stream::Avc { nal_length_size, parameter_sets } => {
                            assert_eq!(p.stream_id(), Some(0xe0));
                            let sets = track.is_sync(i).then_some(parameter_sets.as_slice());
                            assert_eq!(payload, annex_b(sample, *nal_length_size, sets).unwrap(), "sample {i}");
                            assert_eq!(payload.len(), pes_length(track, &stream, i) - 9 - p.bytes[8] as usize);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn psi_crc_and_pes_timestamps_follow_iso_13818_1() {
        // The CRC of a PAT for program 1 at PID 0x1000, as muxers write it.
        let pat = pat();
        assert_eq!(crc32_mpeg2(&pat), 0, "a section with its CRC sums to 0");
        assert_eq!(timestamp(0x2, 0), [0x21, 0, 1, 0, 1]);
        assert_eq!(timestamp(0x2, (1 << 33) - 1), [0x2f, 0xff, 0xff, 0xff, 0xff]);
        let mut out = Vec::new();
        let flags = Flags { random_access: false, discontinuity: false };
        write_pes(&mut out, &mut 0, &pes(0xc0, 90_000, None, &[0xaa; 400], false), 90_000, flags);
        assert_eq!(out.len(), 3 * PACKET, "414 bytes of PES: three packets, the last stuffed");
        assert!(annex_b(&[0, 0, 0, 9, 0x65], 4, None).is_err(), "a NAL longer than its sample");
    }

    /// The continuity counters of every PID, read across `ts` (consecutive segments):
    /// the packets whose counter is not the previous one's plus one.
    fn counter_breaks(ts: &[u8]) -> Vec<(usize, u16)> {
        let mut last: std::collections::HashMap<u16, u8> = Default::default();
        let mut breaks = Vec::new();
        for (n, p) in ts.chunks(PACKET).enumerate() {
            let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
            let cc = p[3] & 0xf;
            if let Some(prev) = last.insert(pid, cc) {
                if cc != (prev + 1) & 0xf {
                    breaks.push((n, pid));
                }
            }
        }
        breaks
    }

    #[test]
    fn continuity_counters_run_on_across_segments_counted_from_the_index() {
        let clip = test_clip();
        let TestClip { file, index, .. } = &clip;
        for handler in ["vide", "soun"] {
            let track = index.by_handler(handler).unwrap();
            let stream = stream_of(track).unwrap();
            assert!(stream.lengths_predictable());
            let counters = Counters::of(track).unwrap();
            let mut ts = Vec::new();
            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                let segment = ts_segment(track, n, &file[r.start as usize..r.end as usize], &counters).unwrap();
                let predicted: usize = (f.first..f.end).map(|i| pes_packets(pes_length(track, &stream, i))).sum();
                assert_eq!(
                    segment.len() / PACKET,
                    predicted + 2,
                    "{handler} {n}: PAT, PMT and the predicted PES packets"
                );
                ts.extend(segment);
            }
            assert!(track.fragments.len() >= 3, "{handler}");
            assert_eq!(
                counter_breaks(&ts),
                vec![],
                "{handler}: a reader of the segments in a row sees no discontinuity"
            );
        }
    }

    #[test]
    fn a_samples_own_delimiter_is_replaced_and_the_access_unit_keeps_its_length() {
        // [AUD][IDR slice], 4-byte lengths.
        let sample = [0, 0, 0, 2, 0x09, 0x10, 0, 0, 0, 3, 0x65, 0x88, 0x84];
        let unit = annex_b(&sample, 4, None).unwrap();
        assert_eq!(unit.len(), AUD.len() + sample.len());
        assert_eq!(&unit[..6], &AUD, "one delimiter, ours");
        assert_eq!(&unit[6..13], &[0, 0, 0, 1, 0x65, 0x88, 0x84]);
        assert!(unit[13..].iter().all(|&b| b == 0), "trailing zero bytes where the sample's delimiter was");
        assert_eq!(unit.windows(5).filter(|w| w == &[0, 0, 0, 1, 0x09]).count(), 1);
    }

    #[test]
    fn pes_packet_counts_match_what_write_pes_writes() {
        let flags = Flags { random_access: true, discontinuity: false };
        for len in [1, 175, 176, 177, 360, 361, 544, 545, 5000] {
            let mut out = Vec::new();
            write_pes(&mut out, &mut 0, &vec![0xaa; len], 0, flags);
            assert_eq!(out.len() / PACKET, pes_packets(len), "{len}");
        }
    }

    /// The first packet's presentation time of `stream` (`v`, `a`) in `path`, by ffprobe.
    fn first_pts(path: &std::path::Path, stream: &str) -> f64 {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .expect("ffprobe is needed for this test: apt-get install ffmpeg");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok()).fold(f64::INFINITY, f64::min)
    }

    /// TS has no edit list: the priming of AAC and the B-frame delay of video are taken off
    /// the timestamps, so audio and video start together as in the source (they were ~59 ms apart).
    #[test]
    fn audio_and_video_start_together_as_in_the_source() {
        let clip = test_clip();
        let TestClip { path: src, file, index, .. } = &clip;
        let mut starts = Vec::new();
        for handler in ["vide", "soun"] {
            let track = index.by_handler(handler).unwrap();
            assert!(track.media_start > 0, "{handler}: the clip has an edit list (B-frames, AAC priming)");
            let f = &track.fragments[0];
            let r = track.byte_range(f);
            let path = clip.dir().join(format!("start-{handler}.ts"));
            let counters = Counters::of(track).unwrap();
            let segment = ts_segment(track, 0, &file[r.start as usize..r.end as usize], &counters).unwrap();
            std::fs::write(&path, segment).unwrap();
            starts.push(first_pts(&path, if handler == "vide" { "v" } else { "a" }));
        }
        let (video, audio) = (first_pts(src, "v"), first_pts(src, "a"));
        let (ts_gap, source_gap) = (starts[0] - starts[1], video - audio);
        assert!(
            (ts_gap - source_gap).abs() < 0.002,
            "video - audio: {ts_gap:.4} s in TS, {source_gap:.4} s in the source"
        );
        assert!((starts[0] - 1.4).abs() < 0.001, "video presentation starts at 1.4 s: {}", starts[0]);
    }
}
