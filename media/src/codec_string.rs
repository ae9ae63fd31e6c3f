//! What a manifest says of an audio track's codec and channels (RFC 6381 codec strings, HLS
//! `CHANNELS`, DASH `AudioChannelConfiguration`), read from its decoder configuration:
//! the AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1: `mp4a.40.2` AAC-LC, `.5` HE-AAC with
//! SBR, `.29` HE-AACv2 with parametric stereo, signalled explicitly or by the
//! backward-compatible sync extension `0x2b7`), and Dolby's `dac3` / `dec3` (ETSI TS 102 366
//! Annex F: the channel layout as Dolby's 16-bit channel mask). Pure; a configuration that
//! does not parse says nothing rather than something wrong.

use crate::mp4::{AudioConfig, Track};
use crate::{FormatError, Result};

/// DASH scheme of an AAC track's channel count.
pub const MPEG_CHANNEL_SCHEME: &str = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011";
/// DASH scheme of a Dolby track's channel mask (four hex digits).
pub const DOLBY_CHANNEL_SCHEME: &str = "tag:dolby.com,2014:dash:audio_channel_configuration:2011";

/// An AAC AudioSpecificConfig, as far as a codec string and a channel count need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// The object type the codec string names: 2 (LC), 5 (SBR: HE-AAC), 29 (PS: HE-AACv2), or another.
    pub object_type: u8,
    /// Output channels: the channel configuration's (7 is 7.1: 8), 2 with parametric stereo;
    /// `None` when the configuration leaves it to a program config element.
    pub channels: Option<u16>,
}

/// A Dolby track's channel layout, from `dac3` or `dec3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DolbyLayout {
    /// Dolby's channel mask (ETSI TS 102 366 Table I.1.1): L 0x8000, C 0x4000, R 0x2000, Ls 0x1000,
    /// Rs 0x0800, … LFE 0x0001. Stereo is `A000`, 5.1 `F801`.
    pub mask: u16,
}

/// Mask bits that stand for a pair of channels (Lc/Rc, Lrs/Rrs, Lsd/Rsd, Lw/Rw, Lvh/Rvh, Lts/Rts).
const PAIRS: u16 = 0x0400 | 0x0200 | 0x0040 | 0x0020 | 0x0010 | 0x0004;

impl DolbyLayout {
    /// How many channels the mask names (a pair's bit counts twice).
    pub fn channels(&self) -> u16 {
        (self.mask.count_ones() + (self.mask & PAIRS).count_ones()) as u16
    }

    /// The layout of an AC-3 `acmod` (audio coding mode) with or without the LFE channel.
    fn of_acmod(acmod: u8, lfe: bool) -> DolbyLayout {
        // 1+1 (dual mono, shown as L and R), C, L R, L C R, L R S, L C R S, L R Ls Rs, L C R Ls Rs;
        // a single surround channel is Cs.
        const MASKS: [u16; 8] = [0xA000, 0x4000, 0xA000, 0xE000, 0xA100, 0xE100, 0xB800, 0xF800];
        DolbyLayout { mask: MASKS[(acmod & 7) as usize] | u16::from(lfe) }
    }
}

/// A `dac3` box's body (AC3SpecificBox, 3 bytes): the channel layout.
pub fn read_dac3(body: &[u8]) -> Result<DolbyLayout> {
    let mut bits = Bits::new(body);
    let field = |v: Option<u32>| v.ok_or_else(|| FormatError::new("dac3 is shorter than 3 bytes"));
    field(bits.read(2 + 5 + 3))?; // fscod, bsid, bsmod
    let acmod = field(bits.read(3))? as u8;
    let lfe = field(bits.read(1))? == 1;
    Ok(DolbyLayout::of_acmod(acmod, lfe))
}

/// A `dec3` box's body (EC3SpecificBox): the layout of its first independent substream and the
/// channels its dependent substreams add (`chan_loc`).
pub fn read_dec3(body: &[u8]) -> Result<DolbyLayout> {
    let mut bits = Bits::new(body);
    let short = || FormatError::new("dec3 ends inside its first substream");
    bits.read(13).ok_or_else(short)?; // data_rate
    bits.read(3).ok_or_else(short)?; // num_ind_sub: the first independent substream is the main program
    bits.read(2 + 5 + 1 + 1 + 3).ok_or_else(short)?; // fscod, bsid, reserved, asvc, bsmod
    let acmod = bits.read(3).ok_or_else(short)? as u8;
    let lfe = bits.read(1).ok_or_else(short)? == 1;
    bits.read(3).ok_or_else(short)?; // reserved
    let dependents = bits.read(4).ok_or_else(short)?;
    let mut layout = DolbyLayout::of_acmod(acmod, lfe);
    if dependents > 0 {
        let chan_loc = bits.read(9).ok_or_else(short)? as u16;
        // chan_loc bits 0–7 (Lc/Rc, Lrs/Rrs, Cs, Ts, Lsd/Rsd, Lw/Rw, Lvh/Rvh, Cvh) are the mask's
        // 0x0400 down to 0x0008; bit 8 is LFE2.
        if chan_loc & 0x100 != 0 {
            layout.mask |= 0x0002;
        }
        layout.mask |= map_chan_loc(chan_loc);
    }
    Ok(layout)
}

/// The mask bits of `chan_loc` bits 0–7 (bit 0, Lc/Rc, is 0x0400; bit 7, Cvh, is 0x0008).
fn map_chan_loc(chan_loc: u16) -> u16 {
    (0..8).filter(|i| chan_loc & (1 << i) != 0).fold(0, |mask, i| mask | (0x0400 >> i))
}

/// An AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1); `None` when it does not parse.
pub fn read_audio_specific_config(asc: &[u8]) -> Option<AacConfig> {
    let mut bits = Bits::new(asc);
    let object_type = bits.object_type()?;
    bits.frequency()?;
    let configuration = bits.read(4)? as u16;
    let channels = match configuration {
        0 => None,
        7 => Some(8),
        n @ 1..=6 => Some(n),
        _ => None,
    };
    // Explicit hierarchical signalling: the SBR (or PS) object type first, the core's after it.
    if object_type == 5 || object_type == 29 {
        return Some(AacConfig { object_type, channels: if object_type == 29 { Some(2) } else { channels } });
    }
    let plain = AacConfig { object_type, channels };
    // Backward-compatible signalling: an LC configuration a legacy decoder plays, then the sync
    // extension 0x2b7 saying SBR (and 0x548 saying PS) are present. Only a GASpecificConfig
    // without a program config element is walked past.
    if object_type != 2 || configuration == 0 {
        return Some(plain);
    }
    let walked = (|| {
        bits.read(1)?; // frameLengthFlag
        if bits.read(1)? == 1 {
            bits.read(14)?; // coreCoderDelay
        }
        bits.read(1)?; // extensionFlag: 0 for AAC-LC
        if bits.remaining() < 16 || bits.read(11)? != 0x2b7 || bits.object_type()? != 5 || bits.read(1)? != 1 {
            return Some(plain);
        }
        bits.frequency()?;
        if bits.remaining() >= 12 && bits.read(11)? == 0x548 && bits.read(1)? == 1 {
            return Some(AacConfig { object_type: 29, channels: Some(2) });
        }
        Some(AacConfig { object_type: 5, channels })
    })();
    Some(walked.unwrap_or(plain))
}

/// The RFC 6381 codec string of an audio track: `mp4a.40.2`, `mp4a.40.5`, `mp4a.40.29`,
/// `mp4a.6b` (MPEG-1 audio), `ac-3`, `ec-3`; the sample entry type when nothing more is known.
pub fn audio_codec_string(track: &Track) -> String {
    match (&track.audio, track.codec.as_str()) {
        (Some(a), "mp4a") if a.object_type == 0x40 => {
            let object_type = read_audio_specific_config(&a.specific_config).map_or(2, |c| c.object_type);
            format!("mp4a.40.{object_type}")
        }
        (Some(a), "mp4a") if a.object_type != 0 => format!("mp4a.{:02x}", a.object_type),
        _ => track.codec.clone(),
    }
}

impl AudioConfig {
    /// How many channels a player outputs: the Dolby layout's, the AudioSpecificConfig's (HE-AACv2:
    /// 2), else the sample entry's (which may say 2 for anything); `None` when nothing says.
    pub fn output_channels(&self) -> Option<u16> {
        if let Some(dolby) = &self.dolby {
            return Some(dolby.channels());
        }
        read_audio_specific_config(&self.specific_config)
            .and_then(|c| c.channels)
            .or((self.channels > 0).then_some(self.channels))
    }

    /// DASH's `AudioChannelConfiguration` (scheme, value): Dolby's channel mask in hex for AC-3
    /// and E-AC-3, the channel count for the others.
    pub fn dash_channel_configuration(&self) -> Option<(&'static str, String)> {
        if let Some(dolby) = &self.dolby {
            return Some((DOLBY_CHANNEL_SCHEME, format!("{:04X}", dolby.mask)));
        }
        self.output_channels().map(|n| (MPEG_CHANNEL_SCHEME, n.to_string()))
    }
}

/// A big-endian bit reader over a configuration's bytes.
struct Bits<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Bits { bytes, at: 0 }
    }

    fn remaining(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.at)
    }

    /// The next `n` (≤ 32) bits; `None` past the end.
    fn read(&mut self, n: usize) -> Option<u32> {
        if n > self.remaining() {
            return None;
        }
        let mut v = 0u32;
        for _ in 0..n {
            let bit = (self.bytes[self.at / 8] >> (7 - self.at % 8)) & 1;
            v = (v << 1) | bit as u32;
            self.at += 1;
        }
        Some(v)
    }

    /// An audio object type (5 bits; 31 escapes to 32 + 6 more bits).
    fn object_type(&mut self) -> Option<u8> {
        match self.read(5)? {
            31 => Some(32 + self.read(6)? as u8),
            t => Some(t as u8),
        }
    }

    /// A sampling frequency index (4 bits; 15 is followed by 24 bits of frequency).
    fn frequency(&mut self) -> Option<()> {
        if self.read(4)? == 15 {
            self.read(24)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bits, most significant first, into bytes (the last padded with zeros).
    fn pack(fields: &[(u32, usize)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0usize;
        for &(value, width) in fields {
            for i in (0..width).rev() {
                if at.is_multiple_of(8) {
                    out.push(0);
                }
                *out.last_mut().unwrap() |= (((value >> i) & 1) as u8) << (7 - at % 8);
                at += 1;
            }
        }
        out
    }

    fn aac(object_type: u8, specific_config: Vec<u8>) -> Track {
        Track {
            codec: "mp4a".into(),
            audio: Some(AudioConfig { channels: 2, object_type, specific_config, ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn aac_lc_he_aac_and_he_aac_v2_are_told_apart_when_explicit() {
        // AAC-LC, 48 kHz, stereo: 0x11 0x90.
        let lc = aac(0x40, vec![0x11, 0x90]);
        assert_eq!(audio_codec_string(&lc), "mp4a.40.2");
        assert_eq!(lc.audio.as_ref().unwrap().output_channels(), Some(2));
        // Explicit SBR: object type 5, 24 kHz core (6), stereo, extension 48 kHz (3), core LC (2).
        let he = pack(&[(5, 5), (6, 4), (2, 4), (3, 4), (2, 5), (0, 3)]);
        assert_eq!(audio_codec_string(&aac(0x40, he)), "mp4a.40.5");
        // Explicit PS: object type 29, mono core, two channels out.
        let v2 = aac(0x40, pack(&[(29, 5), (6, 4), (1, 4), (3, 4), (2, 5), (0, 3)]));
        assert_eq!(audio_codec_string(&v2), "mp4a.40.29");
        assert_eq!(v2.audio.as_ref().unwrap().output_channels(), Some(2), "PS makes stereo of a mono core");
        // An escaped object type (31 → 32 + n) still parses: layer 1 (32) stays what it says.
        let escaped = pack(&[(31, 5), (0, 6), (3, 4), (2, 4)]);
        assert_eq!(audio_codec_string(&aac(0x40, escaped)), "mp4a.40.32");
    }

    #[test]
    fn the_backward_compatible_sync_extension_signals_sbr_and_ps() {
        // LC, 24 kHz, stereo, GASpecificConfig (3 zero bits), 0x2b7, SBR (5), present, 48 kHz.
        let sbr = pack(&[(2, 5), (6, 4), (2, 4), (0, 3), (0x2b7, 11), (5, 5), (1, 1), (3, 4)]);
        assert_eq!(audio_codec_string(&aac(0x40, sbr.clone())), "mp4a.40.5");
        // … then 0x548 and PS present.
        let ps = pack(&[(2, 5), (6, 4), (1, 4), (0, 3), (0x2b7, 11), (5, 5), (1, 1), (3, 4), (0x548, 11), (1, 1)]);
        assert_eq!(audio_codec_string(&aac(0x40, ps.clone())), "mp4a.40.29");
        assert_eq!(read_audio_specific_config(&ps).unwrap().channels, Some(2));
        // SBR said absent, and a 0x548 saying PS absent: LC and SBR respectively.
        let absent = pack(&[(2, 5), (6, 4), (2, 4), (0, 3), (0x2b7, 11), (5, 5), (0, 1)]);
        assert_eq!(audio_codec_string(&aac(0x40, absent)), "mp4a.40.2");
        let no_ps = pack(&[(2, 5), (6, 4), (2, 4), (0, 3), (0x2b7, 11), (5, 5), (1, 1), (3, 4), (0x548, 11), (0, 1)]);
        assert_eq!(audio_codec_string(&aac(0x40, no_ps)), "mp4a.40.5");
        // Another sync word after LC is not SBR.
        let other = pack(&[(2, 5), (3, 4), (2, 4), (0, 3), (0x2b8, 11), (5, 5), (1, 1), (3, 4)]);
        assert_eq!(audio_codec_string(&aac(0x40, other)), "mp4a.40.2");
    }

    #[test]
    fn truncated_or_odd_configurations_say_no_more_than_they_hold() {
        for asc in [vec![], vec![0x11], vec![0xff]] {
            let s = audio_codec_string(&aac(0x40, asc.clone()));
            assert!(s.starts_with("mp4a.40."), "{asc:?}: {s}");
        }
        assert_eq!(audio_codec_string(&aac(0x40, vec![])), "mp4a.40.2");
        // A truncated sync extension: LC.
        let cut = pack(&[(2, 5), (6, 4), (2, 4), (0, 3), (0x2b7, 11), (5, 5)]);
        assert_eq!(audio_codec_string(&aac(0x40, cut)), "mp4a.40.2");
        // Channel configuration 0 (a program config element): the sample entry's count.
        let pce = pack(&[(2, 5), (3, 4), (0, 4), (0, 3)]);
        let track = aac(0x40, pce);
        assert_eq!(track.audio.as_ref().unwrap().output_channels(), Some(2));
        // MPEG-1 audio in mp4a: its object type indication alone.
        assert_eq!(audio_codec_string(&aac(0x6b, vec![])), "mp4a.6b");
        let ac3 = Track { codec: "ac-3".into(), audio: Some(AudioConfig::default()), ..Default::default() };
        assert_eq!(audio_codec_string(&ac3), "ac-3");
    }

    #[test]
    fn dac3_gives_the_channel_count_and_dolbys_mask() {
        // fscod 0 (48 kHz), bsid 8, bsmod 0, acmod, lfeon, bit_rate_code, reserved.
        let dac3 = |acmod: u32, lfe: u32| pack(&[(0, 2), (8, 5), (0, 3), (acmod, 3), (lfe, 1), (10, 5), (0, 5)]);
        for (acmod, lfe, mask, channels) in
            [(2, 0, 0xA000, 2), (7, 1, 0xF801, 6), (1, 0, 0x4000, 1), (3, 1, 0xE001, 4), (6, 0, 0xB800, 4)]
        {
            let layout = read_dac3(&dac3(acmod, lfe)).unwrap();
            assert_eq!((layout.mask, layout.channels()), (mask, channels), "acmod {acmod} lfe {lfe}");
        }
        let a = AudioConfig { channels: 2, dolby: Some(read_dac3(&dac3(7, 1)).unwrap()), ..Default::default() };
        assert_eq!(a.output_channels(), Some(6), "the dac3's, not the sample entry's 2");
        assert_eq!(a.dash_channel_configuration(), Some((DOLBY_CHANNEL_SCHEME, "F801".to_owned())));
        assert!(read_dac3(&[0x10]).is_err(), "truncated");
    }

    #[test]
    fn dec3_counts_the_dependent_substreams_channels() {
        // data_rate, num_ind_sub - 1, then one substream: fscod, bsid 16, reserved, asvc, bsmod,
        // acmod, lfeon, reserved, num_dep_sub, reserved bit (no dependents) or chan_loc.
        let dec3 = |acmod: u32, lfe: u32, deps: u32, chan_loc: Option<u32>| {
            let mut fields = vec![
                (640, 13),
                (0, 3),
                (0, 2),
                (16, 5),
                (0, 1),
                (0, 1),
                (0, 3),
                (acmod, 3),
                (lfe, 1),
                (0, 3),
                (deps, 4),
            ];
            fields.push(chan_loc.map_or((0, 1), |c| (c, 9)));
            pack(&fields)
        };
        let stereo = read_dec3(&dec3(2, 0, 0, None)).unwrap();
        assert_eq!((stereo.mask, stereo.channels()), (0xA000, 2));
        let five_one = read_dec3(&dec3(7, 1, 0, None)).unwrap();
        assert_eq!((five_one.mask, five_one.channels()), (0xF801, 6));
        // 7.1: 5.1 and a dependent substream adding Lrs/Rrs (chan_loc bit 1).
        let seven_one = read_dec3(&dec3(7, 1, 1, Some(0b10))).unwrap();
        assert_eq!((seven_one.mask, seven_one.channels()), (0xFA01, 8));
        // LFE2 (bit 8).
        assert_eq!(read_dec3(&dec3(7, 1, 1, Some(0x100))).unwrap().mask, 0xF803);
        assert!(read_dec3(&[0x05]).is_err(), "truncated");
    }

    /// What ffmpeg's own AC-3 and E-AC-3 encoders write into an MP4 reads back as their layout.
    #[test]
    fn ffmpeg_made_dolby_tracks_have_their_codec_and_channels() {
        let dir = tempfile::tempdir().unwrap();
        for (encoder, layout, codec, mask, channels) in [
            ("ac3", "5.1", "ac-3", 0xF801, 6),
            ("eac3", "stereo", "ec-3", 0xA000, 2),
            ("ac3", "mono", "ac-3", 0x4000, 1),
        ] {
            let path = dir.path().join(format!("{encoder}-{layout}.mp4"));
            let status = std::process::Command::new("ffmpeg")
                .args([
                    "-v",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    &format!("sine=duration=1,aformat=channel_layouts={layout}"),
                ])
                .args(["-c:a", encoder, "-y"])
                .arg(&path)
                .status()
                .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
            assert!(status.success());
            let mp4 = crate::mp4::Mp4::open(&path).unwrap();
            let track = mp4.audio().unwrap();
            assert_eq!(audio_codec_string(track), codec, "{encoder} {layout}");
            let audio = track.audio.as_ref().unwrap();
            assert_eq!(audio.dolby.map(|d| d.mask), Some(mask), "{encoder} {layout}");
            assert_eq!(audio.output_channels(), Some(channels), "{encoder} {layout}");
        }
    }
}
