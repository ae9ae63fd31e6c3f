//! Encrypted CMAF and Smooth packaging (ISO/IEC 23001-7; CMAF; PIFF 1.1 for Smooth): the init
//! segment's sample entry becomes `encv`/`enca` with a `sinf` (`frma` naming the codec, `schm`,
//! `schi`/`tenc` with the default KID and IV size or constant IV) and the moov carries the given
//! `pssh` boxes; each fragment's `traf` gets `saiz`, `saio` (offset from the moof, as the trun's)
//! and `senc` (PIFF's `uuid` sample encryption box for Smooth), and its `mdat` the encrypted samples.

use aes::cipher::KeyInit;

use super::avc_slice::ParameterSets;
use super::cbcs::{self, Direction, Pattern, VIDEO_PATTERN};
use super::subsamples::{nal_subsamples, NalCodec, Subsample};
use super::{cenc, Protection, Scheme};
use crate::bmff::{children, whole, write_box, write_full_box, write_uuid_box, BoxRef, Reader};
use crate::fragment::{Index, TrackIndex};
use crate::{FormatError, Result};

/// PIFF's SampleEncryptionBox user type (a2394f52-5a9b-4f14-a244-6c427c648df4).
pub const PIFF_SAMPLE_ENCRYPTION: [u8; 16] =
    [0xa2, 0x39, 0x4f, 0x52, 0x5a, 0x9b, 0x4f, 0x14, 0xa2, 0x44, 0x6c, 0x42, 0x7c, 0x64, 0x8d, 0xf4];

/// `senc` flag: entries list subsamples.
const USE_SUBSAMPLES: u32 = 0x2;

/// How a track's samples are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Video: subsamples around the NAL units.
    Nal { codec: NalCodec, length_size: usize },
    /// Audio: the whole sample.
    Whole,
}

fn layout(track: &TrackIndex) -> Result<Layout> {
    let info = &track.info;
    let nal = |codec, size: u8| match size {
        1 | 2 | 4 => Ok(Layout::Nal { codec, length_size: size as usize }),
        n => Err(FormatError::new(format!("the {} track states NAL lengths of {n} bytes", info.codec))),
    };
    match (info.handler.as_str(), &info.avc, &info.hevc) {
        ("vide", Some(avc), _) => nal(NalCodec::Avc, avc.nal_length_size),
        ("vide", None, Some(hevc)) => nal(NalCodec::Hevc, hevc.nal_length_size),
        ("soun", _, _) => Ok(Layout::Whole),
        (handler, _, _) => Err(FormatError::new(format!(
            "a '{handler}' track of codec '{}' cannot be encrypted: AVC and HEVC video and audio can",
            info.codec
        ))),
    }
}

/// The `cbcs` pattern `tenc` states: 1:9 for video, none (whole-block full-sample) otherwise.
fn pattern(layout: Layout) -> Pattern {
    match layout {
        Layout::Nal { .. } => VIDEO_PATTERN,
        Layout::Whole => Pattern { crypt: 0, skip: 0 },
    }
}

/// The encrypted CMAF init segment of `track`: the clear one with its sample entry protected and
/// `pssh` (whole boxes, e.g. from [`super::pssh`]) added to its `moov`.
pub fn init_segment(
    index: &Index,
    track: &TrackIndex,
    protection: &Protection<'_>,
    pssh: &[Vec<u8>],
) -> Result<Vec<u8>> {
    let layout = layout(track)?;
    let clear = index.init_segment(track)?;
    let mut out = Vec::with_capacity(clear.len() + 256);
    for b in children(&clear) {
        let b = b?;
        if &b.kind != b"moov" {
            out.extend_from_slice(b.raw);
            continue;
        }
        let mut body = Vec::new();
        for child in children(b.body) {
            let child = child?;
            if &child.kind == b"trak" {
                body.extend(protect_trak(child, track, protection, layout)?);
            } else {
                body.extend_from_slice(child.raw);
            }
        }
        pssh.iter().for_each(|p| body.extend_from_slice(p));
        write_box(&mut out, b"moov", |o| o.extend_from_slice(&body));
    }
    Ok(out)
}

/// The `trak` with its (first) sample entry protected: trak/mdia/minf/stbl/stsd rebuilt.
fn protect_trak(trak: BoxRef<'_>, track: &TrackIndex, protection: &Protection<'_>, layout: Layout) -> Result<Vec<u8>> {
    let path: [&[u8; 4]; 4] = [b"mdia", b"minf", b"stbl", b"stsd"];
    rebuild_along(trak, &path, &|stsd| {
        let mut c = Reader::new(stsd.body);
        let head = c.take(8)?; // version, flags, entry count
        let mut body = head.to_vec();
        let mut first = true;
        for entry in children(c.rest()) {
            let entry = entry?;
            if first {
                body.extend(protect_entry(entry, track, protection, layout)?);
                first = false;
            } else {
                body.extend_from_slice(entry.raw);
            }
        }
        if first {
            return Err(FormatError::new("'stsd' has no sample entry"));
        }
        let mut out = Vec::new();
        write_box(&mut out, b"stsd", |o| o.extend_from_slice(&body));
        Ok(out)
    })
}

/// `raw` rebuilt with the box at `path` (a chain of first children of these types) replaced by `last`'s answer.
fn rebuild_along(raw: BoxRef<'_>, path: &[&[u8; 4]], last: &dyn Fn(BoxRef<'_>) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
    let Some((next, rest)) = path.split_first() else {
        return last(raw);
    };
    let mut body = Vec::with_capacity(raw.body.len() + 128);
    let mut found = false;
    for child in children(raw.body) {
        let child = child?;
        if !found && &child.kind == *next {
            body.extend(rebuild_along(child, rest, last)?);
            found = true;
        } else {
            body.extend_from_slice(child.raw);
        }
    }
    if !found {
        return Err(FormatError::new(format!("'{}' has no '{}' box", raw.name(), crate::bmff::fourcc(*next))));
    }
    let mut out = Vec::new();
    write_box(&mut out, &raw.kind, |o| o.extend_from_slice(&body));
    Ok(out)
}

/// The sample entry renamed `encv`/`enca` with a `sinf` after its own boxes.
fn protect_entry(
    entry: BoxRef<'_>,
    track: &TrackIndex,
    protection: &Protection<'_>,
    layout: Layout,
) -> Result<Vec<u8>> {
    if matches!(&entry.kind, b"encv" | b"enca") {
        return Err(FormatError::new("the source track is already encrypted"));
    }
    let kind = if track.info.handler == "vide" { b"encv" } else { b"enca" };
    let mut out = Vec::with_capacity(entry.raw.len() + 96);
    write_box(&mut out, kind, |b| {
        b.extend_from_slice(entry.body);
        write_box(b, b"sinf", |b| {
            write_box(b, b"frma", |b| b.extend_from_slice(&entry.kind));
            write_full_box(b, b"schm", 0, 0, |b| {
                b.extend_from_slice(&protection.scheme.fourcc());
                b.extend_from_slice(&0x0001_0000u32.to_be_bytes());
            });
            write_box(b, b"schi", |b| write_tenc(b, track.info.track_id, protection, layout));
        });
    });
    Ok(out)
}

fn write_tenc(out: &mut Vec<u8>, track_id: u32, protection: &Protection<'_>, layout: Layout) {
    let version = match protection.scheme {
        Scheme::Cenc => 0,
        Scheme::Cbcs => 1,
    };
    write_full_box(out, b"tenc", version, 0, |b| {
        b.push(0);
        match protection.scheme {
            Scheme::Cenc => b.push(0),
            Scheme::Cbcs => {
                let p = pattern(layout);
                b.push(p.crypt << 4 | p.skip);
            }
        }
        b.push(1); // default_isProtected
        match protection.scheme {
            Scheme::Cenc => {
                b.push(8);
                b.extend_from_slice(&protection.key.key_id().0);
            }
            Scheme::Cbcs => {
                b.push(0);
                b.extend_from_slice(&protection.key.key_id().0);
                b.push(16);
                b.extend_from_slice(&protection.constant_iv(track_id));
            }
        }
    });
}

/// One fragment's samples encrypted, and each sample's auxiliary information (IV, subsamples).
struct Encrypted {
    samples: Vec<u8>,
    /// Each sample's `senc` entry, in order.
    aux: Vec<Vec<u8>>,
    uses_subsamples: bool,
}

fn encrypt_fragment(track: &TrackIndex, number: usize, data: &[u8], protection: &Protection<'_>) -> Result<Encrypted> {
    let f = *track.checked_fragment(number, data)?;
    let layout = layout(track)?;
    let start = track.byte_range(&f).start;
    let key = aes::Aes128::new(protection.key.key().into());
    let track_id = track.info.track_id;
    let constant_iv = protection.constant_iv(track_id);
    // cbcs keeps AVC slice headers clear: read from the avcC's parameter sets.
    let slice_headers = match (&track.info.avc, protection.scheme) {
        (Some(avc), Scheme::Cbcs) => Some(ParameterSets::new(&avc.sps, &avc.pps)?),
        _ => None,
    };
    let mut samples = Vec::with_capacity(track.fragment_bytes(&f) as usize);
    let mut aux = Vec::with_capacity(f.end - f.first);
    for i in f.first..f.end {
        let at = (track.offsets[i] - start) as usize;
        let from = samples.len();
        samples.extend_from_slice(&data[at..at + track.info.sample_sizes[i] as usize]);
        let sample = &mut samples[from..];
        let subsamples: Vec<Subsample> = match layout {
            Layout::Nal { codec, length_size } => {
                nal_subsamples(sample, length_size, codec, protection.scheme, slice_headers.as_ref())
                    .map_err(|e| FormatError::new(format!("sample {i} of track {track_id}: {e}")))?
            }
            Layout::Whole => Vec::new(),
        };
        let mut entry = Vec::with_capacity(8 + 2 + subsamples.len() * 6);
        match protection.scheme {
            Scheme::Cenc => {
                let iv = protection.sample_iv(track_id, i as u64);
                cenc::crypt_sample(&key, iv, sample, &subsamples);
                entry.extend_from_slice(&iv);
            }
            Scheme::Cbcs => {
                cbcs::crypt_sample(&key, &constant_iv, sample, &subsamples, pattern(layout), Direction::Encrypt)
            }
        }
        if matches!(layout, Layout::Nal { .. }) {
            entry.extend_from_slice(&(subsamples.len() as u16).to_be_bytes());
            for s in &subsamples {
                entry.extend_from_slice(&s.clear.to_be_bytes());
                entry.extend_from_slice(&s.protected.to_be_bytes());
            }
        }
        aux.push(entry);
    }
    Ok(Encrypted { samples, aux, uses_subsamples: matches!(layout, Layout::Nal { .. }) })
}

/// Writes `saiz`, `saio` and the sample encryption box (`senc`, or PIFF's uuid box) into the
/// `traf` being written in `out`, whose `moof` starts at `out[0]`.
fn write_sample_encryption(out: &mut Vec<u8>, e: &Encrypted, piff: bool) {
    let count = e.aux.len() as u32;
    let first = e.aux.first().map_or(0, Vec::len);
    let uniform = e.aux.iter().all(|a| a.len() == first);
    if uniform && first == 0 {
        // A constant IV and whole samples (cbcs audio): no auxiliary information to point at
        // (a saiz default size of 0 would mean "sizes listed"); the sample encryption box stays,
        // its entries empty, so readers find every sample encrypted with the tenc defaults.
        write_senc(out, e, piff);
        return;
    }
    write_full_box(out, b"saiz", 0, 0, |b| {
        b.push(if uniform { first as u8 } else { 0 });
        b.extend_from_slice(&count.to_be_bytes());
        if !uniform {
            b.extend(e.aux.iter().map(|a| a.len() as u8));
        }
    });
    let mut offset_at = 0;
    write_full_box(out, b"saio", 0, 0, |b| {
        b.extend_from_slice(&1u32.to_be_bytes());
        offset_at = b.len();
        b.extend_from_slice(&0u32.to_be_bytes());
    });
    let entries_at = write_senc(out, e, piff);
    out[offset_at..offset_at + 4].copy_from_slice(&(entries_at as u32).to_be_bytes());
}

/// Writes the sample encryption box; returns where its first entry is in `out`.
fn write_senc(out: &mut Vec<u8>, e: &Encrypted, piff: bool) -> usize {
    let count = e.aux.len() as u32;
    let flags = if e.uses_subsamples { USE_SUBSAMPLES } else { 0 };
    let mut entries_at = 0;
    let body = |b: &mut Vec<u8>| {
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&count.to_be_bytes());
        entries_at = b.len();
        e.aux.iter().for_each(|a| b.extend_from_slice(a));
    };
    if piff {
        write_uuid_box(out, &PIFF_SAMPLE_ENCRYPTION, body);
    } else {
        write_box(out, b"senc", body);
    }
    entries_at
}

/// The encrypted CMAF media segment (`moof` + `mdat`) of fragment `number` of `track`, whose
/// bytes are `data`, read at `track.byte_range(fragment)`.
pub fn media_segment(track: &TrackIndex, number: usize, data: &[u8], protection: &Protection<'_>) -> Result<Vec<u8>> {
    let e = encrypt_fragment(track, number, data, protection)?;
    let f = track.fragments[number];
    let tfdt = |b: &mut Vec<u8>| write_full_box(b, b"tfdt", 1, 0, |b| b.extend_from_slice(&f.start.to_be_bytes()));
    let head = track.fragment_parts(number, &f, tfdt, |b| write_sample_encryption(b, &e, false)).head;
    Ok([head, e.samples].concat())
}

/// The encrypted Smooth fragment of fragment `number` of `track` (PIFF: the sample encryption
/// in a `uuid` box after the `tfxd`), whose bytes are `data`.
pub fn smooth_fragment(track: &TrackIndex, number: usize, data: &[u8], protection: &Protection<'_>) -> Result<Vec<u8>> {
    let e = encrypt_fragment(track, number, data, protection)?;
    let f = track.fragments[number];
    let head = track
        .fragment_parts(
            number,
            &f,
            |_| {},
            |b| {
                crate::smooth_fragment::write_tfxd(b, &f);
                write_sample_encryption(b, &e, true)
            },
        )
        .head;
    Ok([head, e.samples].concat())
}

/// One sample's entry in a sample encryption box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleEntry {
    /// Its IV (empty with a constant IV).
    pub iv: Vec<u8>,
    /// Its subsamples (empty: the whole sample).
    pub subsamples: Vec<Subsample>,
}

/// Reads a `senc` body (or a PIFF uuid box's, after its user type) whose per-sample IVs are
/// `iv_size` bytes. Bounded: every count is checked against the bytes that remain.
pub fn read_sample_encryption(body: &[u8], iv_size: usize) -> Result<Vec<SampleEntry>> {
    let mut c = Reader::new(body);
    let (_, flags) = c.version_flags()?;
    if flags & 0x1 != 0 {
        c.skip(20)?; // PIFF's algorithm id, IV size, KID override
    }
    let count = c.u32()? as usize;
    // Each entry takes at least its IV and its subsample count: more entries than the bytes hold is a lie.
    let least = iv_size + if flags & USE_SUBSAMPLES != 0 { 2 } else { 0 };
    if count > crate::mp4::MAX_SAMPLES as usize || (least > 0 && count > c.rest().len() / least) {
        return Err(FormatError::new(format!("senc states {count} samples in {} bytes", c.rest().len())));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let iv = c.take(iv_size)?.to_vec();
        let mut subsamples = Vec::new();
        if flags & USE_SUBSAMPLES != 0 {
            let n = c.u16()? as usize;
            if n * 6 > c.rest().len() {
                return Err(FormatError::new(format!(
                    "a senc entry states {n} subsamples in {} bytes",
                    c.rest().len()
                )));
            }
            for _ in 0..n {
                subsamples.push(Subsample { clear: c.u16()?, protected: c.u32()? });
            }
        }
        out.push(SampleEntry { iv, subsamples });
    }
    Ok(out)
}

/// Checks that a whole box is `senc`-shaped, for callers holding the raw box.
pub fn read_senc_box(raw: &[u8], iv_size: usize) -> Result<Vec<SampleEntry>> {
    let b = whole(raw)?;
    match (&b.kind, b.user_type) {
        (b"senc", _) => read_sample_encryption(b.body, iv_size),
        (b"uuid", Some(PIFF_SAMPLE_ENCRYPTION)) => read_sample_encryption(b.body, iv_size),
        _ => Err(FormatError::new(format!("'{}' is not a sample encryption box", b.name()))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::encryption::signalling::{init_pssh_boxes, Drm};
    use crate::encryption::{ContentKey, KeyId};
    use crate::fragment::tests::{md5s, test_clip, TestClip};

    pub(crate) const KEY_HEX: &str = "3a2a1b68dd2bd9b2eeb25e84c4776668";

    pub(crate) fn test_key() -> ContentKey {
        let key = crate::encryption::hex_bytes(KEY_HEX).unwrap().try_into().unwrap();
        ContentKey::new(KeyId::parse("10000000-1000-1000-1000-100000000001").unwrap(), key)
    }

    /// Packet hashes ffmpeg gets from `bytes`, decrypting with `key_hex` (ffmpeg's own decryption);
    /// its error text instead when it fails. `piped`: fed through stdin, a stream it cannot seek in.
    fn decrypted_md5s(dir: &std::path::Path, bytes: &[u8], key_hex: &str, piped: bool) -> Vec<String> {
        use std::io::Write;
        let path = dir.join("decrypt-me.mp4");
        std::fs::write(&path, bytes).unwrap();
        let mut cmd = std::process::Command::new("ffmpeg");
        cmd.args(["-v", "error", "-decryption_key", key_hex, "-i"]);
        if piped {
            cmd.arg("pipe:0").stdin(std::process::Stdio::piped());
        } else {
            cmd.arg(&path).stdin(std::process::Stdio::null());
        }
        let mut child = cmd
            .args(["-map", "0", "-c", "copy", "-f", "framemd5", "-"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if piped {
            let mut stdin = child.stdin.take().unwrap();
            let input = bytes.to_vec();
            // Written from a thread: ffmpeg's output pipe is read at the same time below.
            std::thread::spawn(move || stdin.write_all(&input));
        }
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            return vec![String::from_utf8_lossy(&out.stderr).into_owned()];
        }
        crate::fragment::tests::framemd5_hashes(&out.stdout)
    }

    /// The encrypted init segment and each encrypted fragment of a track.
    fn packaged(clip: &TestClip, handler: &str, protection: &Protection<'_>, smooth: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
        let TestClip { file, index, .. } = clip;
        let track = index.by_handler(handler).unwrap();
        // The pssh boxes of every system, as the origin will write them.
        let drms = [Drm::ClearKey { license_url: "/keys".into() }, Drm::Widevine, Drm::PlayReady { license_url: None }];
        let pssh = init_pssh_boxes(protection.key.key_id(), protection.scheme, &drms).unwrap();
        let init = index.encrypted_init_segment(track, protection, &pssh).unwrap();
        let mut fragments = Vec::new();
        for (n, f) in track.fragments.iter().enumerate() {
            let r = track.byte_range(f);
            let data = &file[r.start as usize..r.end as usize];
            fragments.push(if smooth {
                crate::smooth_fragment::encrypted_smooth_fragment(track, n, data, protection).unwrap()
            } else {
                track.encrypted_media_segment(n, data, protection).unwrap()
            });
        }
        (init, fragments)
    }

    /// ffmpeg's own CENC decryption (`-decryption_key`) of our encrypted CMAF init + segments,
    /// concatenated, gives the source rendition's packets, for `cenc` and `cbcs`, video and audio;
    /// with another key the packets differ, so the samples really were encrypted.
    ///
    /// Fed through a pipe: ffmpeg 5.1 (Debian 12's) reads each moof's `senc` as it comes there, while
    /// from a seekable file it indexes every packet's encryption info in the last fragment read (its
    /// own fragmented CENC output fails the same way; fixed in later ffmpeg).
    #[test]
    fn ffmpeg_decrypts_our_encrypted_cmaf_segments_to_the_sources_packets() {
        let clip = test_clip();
        let key = test_key();
        for scheme in [Scheme::Cenc, Scheme::Cbcs] {
            for (handler, map) in [("vide", "0:v"), ("soun", "0:a")] {
                let protection = Protection { scheme, key: &key, rendition: "clip.mp4" };
                let (init, fragments) = packaged(&clip, handler, &protection, false);
                let stream = [init, fragments.concat()].concat();
                let want = md5s(&clip.path, map);
                assert!(want.len() > 50);
                let got = decrypted_md5s(clip.dir(), &stream, KEY_HEX, true);
                assert_eq!(got, want, "{scheme:?} {handler}");
                let wrong = decrypted_md5s(clip.dir(), &stream, "00000000000000000000000000000000", true);
                let same = wrong.iter().zip(&want).filter(|(a, b)| a == b).count();
                assert!(same < want.len() / 2, "{scheme:?} {handler}: {same} of {} packets clear", want.len());
            }
        }
    }

    /// The same for Smooth (PIFF) fragments, each after the encrypted init segment: ffmpeg 5.1 does not
    /// read PIFF's `uuid` sample encryption box, so this also shows `saiz`/`saio` point at the right
    /// bytes (it reads the IVs and subsamples from where `saio` says, relative to the moof).
    #[test]
    fn ffmpeg_decrypts_our_encrypted_smooth_fragments_through_saiz_and_saio() {
        let clip = test_clip();
        let key = test_key();
        for scheme in [Scheme::Cenc, Scheme::Cbcs] {
            for (handler, map) in [("vide", "0:v"), ("soun", "0:a")] {
                let protection = Protection { scheme, key: &key, rendition: "clip.mp4" };
                let (init, fragments) = packaged(&clip, handler, &protection, true);
                let got: Vec<String> = fragments
                    .iter()
                    .flat_map(|f| decrypted_md5s(clip.dir(), &[init.as_slice(), f].concat(), KEY_HEX, false))
                    .collect();
                assert_eq!(got, md5s(&clip.path, map), "{scheme:?} {handler}");
            }
        }
    }

    /// Same key, rendition and source: the same bytes (two data centers serve identical segments);
    /// another key or another rendition name: different bytes. The `senc` read back covers every
    /// sample exactly and carries the derived IVs.
    #[test]
    fn encryption_is_deterministic_and_depends_on_the_key_and_the_rendition() {
        let clip = test_clip();
        let key = test_key();
        let other = ContentKey::new(key.key_id(), [0x5c; 16]);
        let track = clip.index.by_handler("vide").unwrap();
        for scheme in [Scheme::Cenc, Scheme::Cbcs] {
            let p = Protection { scheme, key: &key, rendition: "clip.mp4" };
            let a = packaged(&clip, "vide", &p, false);
            assert_eq!(packaged(&clip, "vide", &p, false), a, "{scheme:?}: deterministic");
            let b = packaged(&clip, "vide", &Protection { key: &other, ..p }, false);
            assert_eq!(a.0, b.0, "{scheme:?}: the init segment names the key id, not the key");
            assert_ne!(a.1, b.1, "{scheme:?}: another key, other bytes");
            let c = packaged(&clip, "vide", &Protection { rendition: "clip_2.mp4", ..p }, false);
            assert_ne!(a.1, c.1, "{scheme:?}: another rendition, other IVs");

            let senc_at = a.1[0].windows(4).position(|w| w == b"senc").unwrap() - 4;
            let size = u32::from_be_bytes(a.1[0][senc_at..senc_at + 4].try_into().unwrap()) as usize;
            let iv_size = if scheme == Scheme::Cenc { 8 } else { 0 };
            let entries = read_senc_box(&a.1[0][senc_at..senc_at + size], iv_size).unwrap();
            let f = track.fragments[0];
            assert_eq!(entries.len(), f.end - f.first);
            for (entry, i) in entries.iter().zip(f.first..) {
                let covered: u64 = entry.subsamples.iter().map(|s| s.clear as u64 + s.protected as u64).sum();
                assert_eq!(covered, track.info.sample_sizes[i] as u64, "sample {i}");
                let at = track.offsets[i] as usize;
                let sample = &clip.file[at..at + track.info.sample_sizes[i] as usize];
                if scheme == Scheme::Cbcs {
                    // Each slice header stays clear (read from the avcC's parameter sets).
                    let avc = track.info.avc.as_ref().unwrap();
                    let sets = crate::encryption::avc_slice::ParameterSets::new(&avc.sps, &avc.pps).unwrap();
                    let want = nal_subsamples(sample, 4, NalCodec::Avc, scheme, Some(&sets)).unwrap();
                    assert_eq!(entry.subsamples, want, "sample {i}");
                    assert_ne!(want, nal_subsamples(sample, 4, NalCodec::Avc, scheme, None).unwrap());
                }
                if scheme == Scheme::Cenc {
                    assert_eq!(entry.iv, p.sample_iv(track.info.track_id, i as u64));
                    assert!(entry.subsamples.iter().all(|s| s.protected % 16 == 0), "cenc: whole blocks");
                }
            }
        }
    }

    /// Hostile samples (a NAL length that runs past its sample, a zero-length NAL unit) and a lying
    /// `senc` (more subsamples or samples than its bytes hold) are errors, never panics.
    #[test]
    fn hostile_samples_and_sample_encryption_boxes_are_errors() {
        let clip = test_clip();
        let key = test_key();
        let p = Protection { scheme: Scheme::Cenc, key: &key, rendition: "clip.mp4" };
        let track = clip.index.by_handler("vide").unwrap();
        let f = track.fragments[0];
        let r = track.byte_range(&f);
        let first = (track.offsets[f.first] - r.start) as usize;
        for (what, lie) in [("past its sample", [0x7f, 0xff, 0xff, 0xff]), ("length 0", [0, 0, 0, 0])] {
            let mut data = clip.file[r.start as usize..r.end as usize].to_vec();
            data[first..first + 4].copy_from_slice(&lie);
            let err = track.encrypted_media_segment(0, &data, &p).unwrap_err().to_string();
            assert!(err.contains(what) && err.contains("sample 0"), "{err}");
        }
        let data = &clip.file[r.start as usize..r.end as usize];
        assert!(track.encrypted_media_segment(0, &data[1..], &p).is_err(), "bytes that are not the fragment's");
        assert!(track.encrypted_media_segment(99, data, &p).is_err(), "no such fragment");

        // One sample, an 8-byte IV, then a subsample count of 65535 in 6 bytes.
        let mut senc = vec![0, 0, 0, 2, 0, 0, 0, 1];
        senc.extend([1; 8]);
        senc.extend([0xff, 0xff, 0, 1, 0, 0, 0, 16]);
        assert!(read_sample_encryption(&senc, 8).unwrap_err().to_string().contains("65535 subsamples"));
        let many = [0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff];
        assert!(read_sample_encryption(&many, 8).is_err(), "four billion samples in no bytes");
        assert!(read_sample_encryption(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], 0).is_err());
        assert!(read_senc_box(b"\0\0\0\x08free", 8).is_err());
    }

    /// A track that is not AVC, HEVC or audio, and one already encrypted, are refused by name.
    #[test]
    fn an_encrypted_or_unknown_track_is_refused() {
        let clip = test_clip();
        let key = test_key();
        let p = Protection { scheme: Scheme::Cenc, key: &key, rendition: "clip.mp4" };
        let mut track = clip.index.by_handler("vide").unwrap().clone();
        track.info.avc = None;
        let err = clip.index.encrypted_init_segment(&track, &p, &[]).unwrap_err().to_string();
        assert!(err.contains("cannot be encrypted"), "{err}");
        // An avcC stating 3-byte NAL lengths (not a possible lengthSizeMinusOne).
        let mut odd = clip.index.by_handler("vide").unwrap().clone();
        odd.info.avc.as_mut().unwrap().nal_length_size = 3;
        let r = odd.byte_range(&odd.fragments[0]);
        let err = odd.encrypted_media_segment(0, &clip.file[r.start as usize..r.end as usize], &p).unwrap_err();
        assert!(err.to_string().contains("NAL lengths of 3 bytes"), "{err}");
        // cbcs with a garbage PPS in the avcC: an error naming it, not a panic.
        let mut garbage = clip.index.by_handler("vide").unwrap().clone();
        garbage.info.avc.as_mut().unwrap().pps = vec![vec![0x68]];
        let cbcs = Protection { scheme: Scheme::Cbcs, ..p };
        assert!(garbage.encrypted_media_segment(0, &clip.file[r.start as usize..r.end as usize], &cbcs).is_err());
    }

    /// The encrypted init segment read back: `encv` with `sinf` (frma naming avc1, schm, tenc with
    /// the KID and, per scheme, the IV size or the constant IV and pattern), the pssh boxes in moov,
    /// and mp4's reader still finds the codec configuration.
    #[test]
    fn the_encrypted_init_segment_describes_the_protection() {
        use crate::bmff::find;
        let clip = test_clip();
        let key = test_key();
        let track = clip.index.by_handler("vide").unwrap();
        let drms = [Drm::ClearKey { license_url: "/k".into() }, Drm::Widevine, Drm::PlayReady { license_url: None }];
        for scheme in [Scheme::Cenc, Scheme::Cbcs] {
            let p = Protection { scheme, key: &key, rendition: "clip.mp4" };
            let pssh = init_pssh_boxes(key.key_id(), scheme, &drms).unwrap();
            let init = clip.index.encrypted_init_segment(track, &p, &pssh).unwrap();
            let moov = children(&init).map(Result::unwrap).find(|b| &b.kind == b"moov").unwrap();
            let kinds: Vec<String> = children(moov.body).map(|b| b.unwrap().name()).collect();
            assert_eq!(kinds, ["mvhd", "trak", "mvex", "pssh", "pssh", "pssh"]);
            let mut at = find(moov.body, b"trak").unwrap().unwrap().body;
            for kind in [b"mdia", b"minf", b"stbl", b"stsd"] {
                at = find(at, kind).unwrap().unwrap().body;
            }
            let entry = children(&at[8..]).next().unwrap().unwrap();
            assert_eq!(&entry.kind, b"encv");
            let sinf = find(&entry.body[78..], b"sinf").unwrap().unwrap();
            assert_eq!(find(sinf.body, b"frma").unwrap().unwrap().body, b"avc1");
            assert_eq!(&find(sinf.body, b"schm").unwrap().unwrap().body[4..8], &scheme.fourcc());
            let tenc = find(find(sinf.body, b"schi").unwrap().unwrap().body, b"tenc").unwrap().unwrap().body;
            assert_eq!(&tenc[8..24], &key.key_id().0);
            match scheme {
                Scheme::Cenc => assert_eq!((tenc[0], tenc[5], tenc[6], tenc[7], tenc.len()), (0, 0, 1, 8, 24)),
                Scheme::Cbcs => {
                    assert_eq!((tenc[0], tenc[5], tenc[6], tenc[7], tenc[24]), (1, 0x19, 1, 0, 16));
                    assert_eq!(&tenc[25..41], &p.constant_iv(track.info.track_id));
                }
            }
            let described = crate::mp4::tracks(moov.body).unwrap();
            assert_eq!(described[0].avc, track.info.avc, "the codec configuration is still there");
        }
    }

    /// HEVC too (2-byte NAL headers, VCL types 0–31, the NAL length size from hvcC): ffmpeg decrypts
    /// our `cenc` and `cbcs` segments of an x265 rendition to its packets.
    #[test]
    fn ffmpeg_decrypts_our_encrypted_hevc_segments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hevc.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "3"])
            .args(["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=25"])
            .args(["-tag:v", "hvc1", "-movflags", "+faststart", "-y"])
            .arg(&path)
            .status()
            .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
        assert!(status.success());
        let file = std::fs::read(&path).unwrap();
        let index = Index::from_moov(crate::fragment::tests::moov_of(&file)).unwrap();
        let track = index.by_handler("vide").unwrap();
        assert_eq!(track.info.hevc.as_ref().unwrap().nal_length_size, 4);
        let key = test_key();
        let want = md5s(&path, "0:v");
        for scheme in [Scheme::Cenc, Scheme::Cbcs] {
            let p = Protection { scheme, key: &key, rendition: "hevc.mp4" };
            let mut stream = index.encrypted_init_segment(track, &p, &[]).unwrap();
            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                stream.extend(track.encrypted_media_segment(n, &file[r.start as usize..r.end as usize], &p).unwrap());
            }
            assert_eq!(decrypted_md5s(dir.path(), &stream, KEY_HEX, true), want, "{scheme:?}");
            let wrong = decrypted_md5s(dir.path(), &stream, "00000000000000000000000000000000", true);
            assert_ne!(wrong, want, "{scheme:?}: the samples were encrypted");
        }
    }
}
