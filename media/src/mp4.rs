//! Reading an MP4 (ISO BMFF) file's structure: the top-level boxes in order,
//! and per track what a manifest needs: handler, timescale, duration, codec
//! and its private data (avcC, esds), sample sizes, decode times and sync samples.
//!
//! Only `moov` is read into memory (bounded by [`MAX_MOOV_BYTES`]); media
//! data is skipped by seeking. Progressive (non-fragmented) files only.

use std::io::{Read, Seek, SeekFrom};

pub use crate::bmff::MAX_MOOV_BYTES;
use crate::bmff::{children, find, fourcc, need, Reader, TopBox, TopLevelWalk, WalkStep};
use crate::{FormatError, Result};

/// A track with more samples is refused: a fixed-size `stsz` or one `stts` entry
/// states a count in 4 bytes, and the index holds ~30 bytes per sample
/// (a day at 60 fps is 5.2 million samples).
pub const MAX_SAMPLES: u32 = 1 << 23;

/// An MP4's structure: where its top-level boxes are and what its tracks hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mp4 {
    /// The top-level boxes in file order.
    pub boxes: Vec<TopBox>,
    /// One per `trak`, in `moov` order.
    pub tracks: Vec<Track>,
}

/// H.264 decoder configuration (from `avcC`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AvcConfig {
    /// `AVCProfileIndication` (66 Baseline, 77 Main, 100 High…).
    pub profile: u8,
    /// `profile_compatibility`: the constraint flags between profile and level.
    pub compatibility: u8,
    /// `AVCLevelIndication`, ten times the level (31 is level 3.1).
    pub level: u8,
    /// Bytes of each NAL unit's length prefix in a sample (1, 2 or 4).
    pub nal_length_size: u8,
    /// Sequence parameter sets, raw NAL units (no start code or length prefix).
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets, raw NAL units.
    pub pps: Vec<Vec<u8>>,
}

/// HEVC profile, tier and level (from `hvcC`): what its RFC 6381 codec string names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HevcConfig {
    /// `general_profile_space` (0–3; A, B, C in the codec string).
    pub profile_space: u8,
    /// `general_tier_flag`: the high tier.
    pub tier: bool,
    /// `general_profile_idc` (1 Main, 2 Main 10…).
    pub profile_idc: u8,
    /// `general_profile_compatibility_flags`, as stored (the codec string writes them bit-reversed).
    pub compatibility_flags: u32,
    /// The 48 bits of general constraint indicator flags.
    pub constraint_flags: [u8; 6],
    /// `general_level_idc`, thirty times the level (93 is level 3.1).
    pub level_idc: u8,
    /// Bytes of each NAL unit's length prefix in a sample (1, 2 or 4; 0 when the `hvcC` is too short to say).
    pub nal_length_size: u8,
}

impl HevcConfig {
    /// ISO/IEC 14496-15 Annex E: `<entry>.<space><profile>.<compatibility, bits reversed, hex>.<L|H><level>`
    /// then the constraint bytes in hex, trailing zero bytes left out (`hvc1.1.6.L93.B0`).
    pub fn codec_string(&self, entry: &str) -> String {
        let space = ["", "A", "B", "C"][(self.profile_space & 3) as usize];
        let mut s = format!(
            "{entry}.{space}{}.{:X}.{}{}",
            self.profile_idc,
            self.compatibility_flags.reverse_bits(),
            if self.tier { 'H' } else { 'L' },
            self.level_idc
        );
        let used = self.constraint_flags.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        for b in &self.constraint_flags[..used] {
            s.push_str(&format!(".{b:X}"));
        }
        s
    }
}

/// AAC configuration (from `mp4a` and its `esds`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AudioConfig {
    /// Channels, from the sample entry.
    pub channels: u16,
    /// Bits per sample, from the sample entry.
    pub sample_size: u16,
    /// Samples per second (Hz), the integer part of the sample entry's 16.16 value.
    pub sample_rate: u32,
    /// MPEG-4 object type indication (0x40: MPEG-4 audio).
    pub object_type: u8,
    /// The AudioSpecificConfig.
    pub specific_config: Vec<u8>,
    /// AC-3 / E-AC-3 channel layout (from `dac3` / `dec3`).
    pub dolby: Option<crate::codec_string::DolbyLayout>,
}

/// One track: what a manifest or a packager needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Track {
    /// `tkhd`'s track id, which fragment and Smooth manifests name.
    pub track_id: u32,
    /// `vide`, `soun`, `text`…
    pub handler: String,
    /// Units per second of this track's durations and decode times (`mdhd`).
    pub timescale: u32,
    /// In `timescale` units.
    pub duration: u64,
    /// The sample entry type: `avc1`, `mp4a`…
    pub codec: String,
    /// Width in pixels from the visual sample entry; 0 for audio.
    pub width: u16,
    /// Height in pixels from the visual sample entry; 0 for audio.
    pub height: u16,
    /// H.264 configuration, when the video sample entry has an `avcC`.
    pub avc: Option<AvcConfig>,
    /// HEVC profile, tier and level, when the video sample entry has an `hvcC`.
    pub hevc: Option<HevcConfig>,
    /// Audio configuration (channels, rate; AAC's from `esds`), for a sound track.
    pub audio: Option<AudioConfig>,
    /// Each sample's size in bytes, in decode order.
    pub sample_sizes: Vec<u32>,
    /// Decode time of each sample, in `timescale` units.
    pub decode_times: Vec<u64>,
    /// 1-based numbers of the sync samples; `None`: every sample is one.
    pub sync_samples: Option<Vec<u32>>,
    /// The language (`mdhd`, `elng`) and roles (`udta/kind`) the track states, for manifests whose `.ism` says nothing.
    pub labels: crate::track_labels::TrackLabels,
}

impl Mp4 {
    /// Reads the layout and the `moov` of `reader`.
    pub fn read<R: Read + Seek>(mut reader: R) -> Result<Mp4> {
        let end = reader.seek(SeekFrom::End(0)).map_err(io)?;
        let mut walk = TopLevelWalk::whole(end);
        let mut at = 0;
        let mut bytes = Vec::new();
        let layout = loop {
            match walk.feed(at, &bytes).map_err(|e| FormatError::new(e.to_string()))? {
                WalkStep::Need(range) => {
                    at = range.start;
                    bytes = read_at(&mut reader, range)?;
                }
                WalkStep::Done(layout) => break layout,
            }
        };
        let moov = layout.moov().ok_or_else(|| FormatError::new("no moov box: not a progressive MP4"))?;
        let body = read_at(&mut reader, moov.body_range())?;
        Ok(Mp4 { tracks: tracks(&body)?, boxes: layout.boxes })
    }

    /// Reads the MP4 at `path`; an error names the file when it cannot be opened.
    pub fn open(path: &std::path::Path) -> Result<Mp4> {
        let file = std::fs::File::open(path)
            .map_err(|e| FormatError::new(format!("cannot open '{}': {e}", path.display())))?;
        Mp4::read(std::io::BufReader::new(file))
    }

    /// Whether `moov` comes before `mdat` (a progressive download can start playing at once).
    pub fn moov_first(&self) -> bool {
        let at = |k: &[u8; 4]| self.boxes.iter().position(|b| &b.kind == k);
        matches!((at(b"moov"), at(b"mdat")), (Some(m), Some(d)) if m < d)
    }

    /// The first video (`vide`) track.
    pub fn video(&self) -> Option<&Track> {
        self.tracks.iter().find(|t| t.handler == "vide")
    }

    /// The first audio (`soun`) track.
    pub fn audio(&self) -> Option<&Track> {
        self.tracks.iter().find(|t| t.handler == "soun")
    }
}

impl Track {
    /// The track's duration in seconds (0 when the timescale is 0).
    pub fn duration_seconds(&self) -> f64 {
        if self.timescale == 0 {
            0.0
        } else {
            self.duration as f64 / self.timescale as f64
        }
    }

    /// Average bits per second of the media data.
    pub fn bitrate(&self) -> u64 {
        let bytes: u64 = self.sample_sizes.iter().map(|&s| s as u64).sum();
        let secs = self.duration_seconds();
        if secs <= 0.0 {
            0
        } else {
            (bytes as f64 * 8.0 / secs).round() as u64
        }
    }

    /// Decode times of the sync samples (key frames), in `timescale` units.
    pub fn sync_times(&self) -> Vec<u64> {
        match &self.sync_samples {
            None => self.decode_times.clone(),
            Some(numbers) => {
                numbers.iter().filter_map(|&n| self.decode_times.get((n as usize).checked_sub(1)?).copied()).collect()
            }
        }
    }

    /// Smooth's `CodecPrivateData`, hex: `00000001 SPS 00000001 PPS` for
    /// H.264, the AudioSpecificConfig for AAC; empty if unknown.
    pub fn codec_private_data(&self) -> String {
        let mut bytes = Vec::new();
        if let Some(avc) = &self.avc {
            for nal in avc.sps.iter().chain(&avc.pps) {
                bytes.extend_from_slice(&[0, 0, 0, 1]);
                bytes.extend_from_slice(nal);
            }
        } else if let Some(a) = &self.audio {
            bytes.extend_from_slice(&a.specific_config);
        }
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }
}

/// The tracks described by a `moov`'s body.
pub(crate) fn tracks(moov_body: &[u8]) -> Result<Vec<Track>> {
    let mut out = Vec::new();
    for b in children(moov_body) {
        let b = b?;
        if &b.kind == b"trak" {
            out.push(read_trak(b.body)?);
        }
    }
    Ok(out)
}

fn io(e: std::io::Error) -> FormatError {
    FormatError::new(format!("cannot read the MP4: {e}"))
}

/// The bytes of `range` (within the file: the walk checked it).
fn read_at<R: Read + Seek>(reader: &mut R, range: std::ops::Range<u64>) -> Result<Vec<u8>> {
    reader.seek(SeekFrom::Start(range.start)).map_err(io)?;
    let len = usize::try_from(range.end - range.start).map_err(|_| FormatError::new("box too large"))?;
    let mut out = vec![0u8; len];
    reader.read_exact(&mut out).map_err(io)?;
    Ok(out)
}

fn read_trak(trak: &[u8]) -> Result<Track> {
    let mut t = Track::default();
    let mut tkhd = Reader::new(need(trak, b"tkhd", "trak")?);
    let version = tkhd.u32()? >> 24;
    tkhd.skip(if version == 1 { 16 } else { 8 })?;
    t.track_id = tkhd.u32()?;

    let mdia = need(trak, b"mdia", "trak")?;
    let mut mdhd = Reader::new(need(mdia, b"mdhd", "mdia")?);
    let version = mdhd.u32()? >> 24;
    if version == 1 {
        mdhd.skip(16)?;
        t.timescale = mdhd.u32()?;
        t.duration = mdhd.u64()?;
    } else {
        mdhd.skip(8)?;
        t.timescale = mdhd.u32()?;
        t.duration = mdhd.u32()? as u64;
    }
    // A short mdhd states no language, which is no reason to refuse the track.
    t.labels = crate::track_labels::TrackLabels::read(trak, mdhd.u16().ok());
    let mut hdlr = Reader::new(need(mdia, b"hdlr", "mdia")?);
    hdlr.skip(8)?;
    t.handler = fourcc(hdlr.take(4)?);

    let stbl = need(need(mdia, b"minf", "mdia")?, b"stbl", "minf")?;
    read_stsd(need(stbl, b"stsd", "stbl")?, &mut t)?;

    // stsz first: its count bounds what the other tables may make us hold.
    let mut stsz = Reader::new(need(stbl, b"stsz", "stbl")?);
    stsz.skip(4)?;
    let (fixed, count) = (stsz.u32()?, stsz.u32()?);
    if count > MAX_SAMPLES {
        return Err(FormatError::new(format!("stsz states {count} samples; at most {MAX_SAMPLES} are indexed")));
    }
    t.sample_sizes =
        if fixed != 0 { vec![fixed; count as usize] } else { (0..count).map(|_| stsz.u32()).collect::<Result<_>>()? };

    let mut stts = Reader::new(need(stbl, b"stts", "stbl")?);
    stts.skip(4)?;
    let mut time = 0u64;
    'entries: for _ in 0..stts.u32()? {
        let (count, delta) = (stts.u32()?, stts.u32()? as u64);
        for _ in 0..count {
            if t.decode_times.len() == t.sample_sizes.len() {
                break 'entries;
            }
            t.decode_times.push(time);
            time = time.checked_add(delta).ok_or_else(|| FormatError::new("stts: decode times overflow 64 bits"))?;
        }
    }
    if let Some(stss) = find(stbl, b"stss")?.map(|b| b.body) {
        let mut c = Reader::new(stss);
        c.skip(4)?;
        let n = c.u32()?;
        t.sync_samples = Some((0..n).map(|_| c.u32()).collect::<Result<_>>()?);
    }
    Ok(t)
}

fn read_stsd(stsd: &[u8], t: &mut Track) -> Result<()> {
    let mut c = Reader::new(stsd);
    c.skip(8)?; // version, flags, entry count: the first entry describes the track
    let Some(entry) = children(c.rest()).next().transpose()? else {
        return Err(FormatError::new("'stsd' has no sample entry"));
    };
    t.codec = fourcc(&entry.kind);
    let mut e = Reader::new(entry.body);
    e.skip(8)?; // reserved, data reference index
    match t.handler.as_str() {
        "vide" => {
            e.skip(16)?;
            t.width = e.u16()?;
            t.height = e.u16()?;
            e.skip(50)?;
            if let Some(avcc) = find(e.rest(), b"avcC")?.map(|b| b.body) {
                t.avc = Some(read_avcc(avcc)?);
            }
            if let Some(hvcc) = find(e.rest(), b"hvcC")?.map(|b| b.body) {
                t.hevc = Some(read_hvcc(hvcc)?);
            }
        }
        "soun" => {
            e.skip(8)?;
            let channels = e.u16()?;
            let sample_size = e.u16()?;
            e.skip(4)?;
            let sample_rate = e.u32()? >> 16;
            let mut audio = AudioConfig { channels, sample_size, sample_rate, ..Default::default() };
            if let Some(esds) = find(e.rest(), b"esds")?.map(|b| b.body) {
                read_esds(esds, &mut audio)?;
            }
            // A Dolby configuration that does not parse says nothing (the sample entry's channels
            // stand), rather than making the whole rendition unreadable.
            if let Some(dac3) = find(e.rest(), b"dac3")? {
                audio.dolby = crate::codec_string::read_dac3(dac3.body).ok();
            }
            if let Some(dec3) = find(e.rest(), b"dec3")? {
                audio.dolby = crate::codec_string::read_dec3(dec3.body).ok();
            }
            t.audio = Some(audio);
        }
        _ => {}
    }
    Ok(())
}

fn read_hvcc(b: &[u8]) -> Result<HevcConfig> {
    let mut c = Reader::new(b);
    c.skip(1)?; // configurationVersion
    let first = c.u8()?;
    let compatibility_flags = c.u32()?;
    let mut constraint_flags = [0u8; 6];
    constraint_flags.copy_from_slice(c.take(6)?);
    let level_idc = c.u8()?;
    // Segmentation, parallelism, chroma, bit depths, frame rate: 8 bytes, then lengthSizeMinusOne's byte.
    let nal_length_size = c.skip(8).and_then(|_| c.u8()).map_or(0, |b| (b & 0x3) + 1);
    Ok(HevcConfig {
        profile_space: first >> 6,
        tier: first & 0x20 != 0,
        profile_idc: first & 0x1f,
        compatibility_flags,
        constraint_flags,
        level_idc,
        nal_length_size,
    })
}

fn read_avcc(b: &[u8]) -> Result<AvcConfig> {
    let mut c = Reader::new(b);
    c.skip(1)?;
    let mut cfg = AvcConfig { profile: c.u8()?, compatibility: c.u8()?, level: c.u8()?, ..Default::default() };
    cfg.nal_length_size = (c.u8()? & 0x3) + 1;
    for _ in 0..(c.u8()? & 0x1f) {
        let n = c.u16()? as usize;
        cfg.sps.push(c.take(n)?.to_vec());
    }
    for _ in 0..c.u8()? {
        let n = c.u16()? as usize;
        cfg.pps.push(c.take(n)?.to_vec());
    }
    Ok(cfg)
}

/// An MPEG-4 descriptor: tag and length (7 bits per byte, high bit continues).
fn descriptor<'a>(c: &mut Reader<'a>) -> Result<(u8, Reader<'a>)> {
    let tag = c.u8()?;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = c.u8()?;
        len = (len << 7) | (b & 0x7f) as usize;
        if b & 0x80 == 0 {
            break;
        }
    }
    Ok((tag, Reader::new(c.take(len)?)))
}

fn read_esds(b: &[u8], audio: &mut AudioConfig) -> Result<()> {
    let mut c = Reader::new(b);
    c.skip(4)?;
    let (tag, mut es) = descriptor(&mut c)?;
    if tag != 0x03 {
        return Err(FormatError::new(format!("esds starts with descriptor {tag:#x}, not ES_Descriptor")));
    }
    es.skip(2)?;
    let flags = es.u8()?;
    if flags & 0x80 != 0 {
        es.skip(2)?;
    }
    if flags & 0x40 != 0 {
        let n = es.u8()? as usize;
        es.skip(n)?;
    }
    if flags & 0x20 != 0 {
        es.skip(2)?;
    }
    while !es.rest().is_empty() {
        let (tag, mut d) = descriptor(&mut es)?;
        if tag != 0x04 {
            continue;
        }
        audio.object_type = d.u8()?;
        d.skip(12)?;
        while !d.rest().is_empty() {
            let (tag, inner) = descriptor(&mut d)?;
            if tag == 0x05 {
                audio.specific_config = inner.rest().to_vec();
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_lying_files_are_errors_not_panics() {
        assert!(Mp4::read(std::io::Cursor::new(b"\0\0\0\x10ftypisom".to_vec())).is_err());
        assert!(Mp4::read(std::io::Cursor::new(b"\0\0\0\x08free".to_vec())).unwrap_err().0.contains("no moov"));
        let mut lying = b"\0\0\0\x10moov".to_vec();
        lying.extend_from_slice(&[0, 0, 0, 0xff, b't', b'r', b'a', b'k']);
        assert!(Mp4::read(std::io::Cursor::new(lying)).is_err());
    }

    /// A real file made by ffmpeg: the reader must find what ffprobe finds.
    #[test]
    fn an_ffmpeg_made_mp4_yields_codecs_timescales_and_key_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=3"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0"])
            .args(["-c:a", "aac", "-ac", "2", "-b:a", "96k", "-movflags", "+faststart", "-y"])
            .arg(&path)
            .status()
            .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
        assert!(status.success());
        let mp4 = Mp4::open(&path).unwrap();
        assert!(mp4.moov_first(), "{:?}", mp4.boxes);
        let v = mp4.video().unwrap();
        assert_eq!((v.codec.as_str(), v.width, v.height), ("avc1", 320, 180));
        assert_eq!(v.sample_sizes.len(), 75);
        let keys: Vec<f64> = v.sync_times().iter().map(|&t| t as f64 / v.timescale as f64).collect();
        assert_eq!(keys, [0.0, 1.0, 2.0]);
        let avc = v.avc.as_ref().unwrap();
        assert_eq!((avc.sps.len(), avc.pps.len()), (1, 1));
        assert_eq!(avc.sps[0][0] & 0x1f, 7, "an SPS NAL unit");
        assert!(v.codec_private_data().starts_with("00000001"));
        assert!((v.duration_seconds() - 3.0).abs() < 0.05, "{}", v.duration_seconds());
        let a = mp4.audio().unwrap();
        let cfg = a.audio.as_ref().unwrap();
        assert_eq!((a.codec.as_str(), cfg.channels, cfg.sample_rate, cfg.object_type), ("mp4a", 2, 48_000, 0x40));
        // AAC-LC (object type 2), 48 kHz (index 3), 2 channels: 0x11 0x90 (ffmpeg may
        // add a backward-compatible extension after it).
        assert!(a.codec_private_data().starts_with("1190"), "{}", a.codec_private_data());
        assert!(a.bitrate() > 50_000 && a.bitrate() < 150_000, "{}", a.bitrate());
    }
}
