//! Content protection of packaged media (pure: keys and bytes in, bytes out).
//!
//! Deterministic by design: two data centers holding the same key package byte-identical
//! encrypted segments, so every IV is derived from the key id, the rendition, the track and the
//! sample's position (SHA-256 of them), never drawn at random.
//!
//! - [`subsamples`]: which bytes of an AVC/HEVC sample stay clear (NAL lengths and headers,
//!   parameter sets, SEI) and which are protected, per scheme; bounded against lying lengths.
//! - [`avc_slice`]: an H.264 slice header's length (kept clear under `cbcs`), from the SPS and PPS.
//! - [`cenc`], [`cbcs`]: the two Common Encryption schemes' sample encryption (AES-128-CTR;
//!   AES-128-CBC with the 1:9 pattern and a constant IV).
//! - [`fragments`]: the encrypted CMAF init segment (`encv`/`enca` + `sinf`, `pssh`) and
//!   encrypted CMAF and Smooth fragments (`senc`, `saiz`, `saio`).
//! - [`pssh`]: `pssh` boxes for W3C Common (ClearKey), Widevine and PlayReady (with its header object).
//! - [`signalling`]: DASH `ContentProtection`, HLS `EXT-X-KEY`, Smooth `ProtectionHeader` as text.
//! - [`aes128`]: HLS AES-128 envelope encryption of whole segments.
//! - [`sample_aes`]: HLS SAMPLE-AES of H.264 access units in MPEG-TS.

pub mod aes128;
pub mod avc_slice;
pub mod cbcs;
pub mod cenc;
pub mod fragments;
pub mod pssh;
pub mod sample_aes;
pub mod signalling;
pub mod subsamples;

use sha2::{Digest, Sha256};

/// A content key's 16-byte id (the KID of `tenc`, `pssh`, licences), big-endian as a UUID reads.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    /// Reads a UUID (`8-4-4-4-12` hex digits) or 32 hex digits.
    pub fn parse(text: &str) -> crate::Result<KeyId> {
        let digits: String = text.trim().chars().filter(|c| *c != '-').collect();
        let bytes = hex_bytes(&digits).filter(|b| b.len() == 16).ok_or_else(|| {
            crate::FormatError::new(format!("'{text}' is not a key id: give a UUID or 32 hex digits"))
        })?;
        Ok(KeyId(bytes.try_into().expect("16 bytes")))
    }

    /// The id as a UUID, lower case: `10000000-1000-1000-1000-100000000001`.
    pub fn uuid(&self) -> String {
        let h = self.hex();
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    }

    /// The id as 32 lower-case hex digits.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({})", self.uuid())
    }
}

/// A content key: its id and its 128-bit AES key. `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKey {
    key_id: KeyId,
    key: [u8; 16],
}

impl ContentKey {
    /// The key `key` known by `key_id`.
    pub fn new(key_id: KeyId, key: [u8; 16]) -> ContentKey {
        ContentKey { key_id, key }
    }

    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The key's bytes, to encrypt with or to deliver (key delivery). Never log them.
    pub fn key(&self) -> &[u8; 16] {
        &self.key
    }

    /// A check value of the key (8 bytes of a SHA-256 of it, one-way): tells two keys apart
    /// (an ETag, a cache key) without revealing either.
    pub fn check_value(&self) -> [u8; 8] {
        let digest =
            Sha256::new().chain_update(b"mirrorcast content key check value").chain_update(self.key).finalize();
        digest[..8].try_into().expect("8 bytes")
    }
}

/// A key held for serving is zeroed when its last holder drops it.
impl Drop for ContentKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentKey").field("key_id", &self.key_id).field("key", &"<redacted>").finish()
    }
}

/// A Common Encryption protection scheme (ISO/IEC 23001-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `cenc`: AES-128-CTR, an 8-byte IV per sample, video subsamples block-aligned (DASH, Smooth).
    Cenc,
    /// `cbcs`: AES-128-CBC, a constant IV; video in the 1:9 pattern, other tracks whole-block full-sample (HLS fMP4, DASH).
    Cbcs,
}

impl Scheme {
    /// The `schm` scheme type.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            Scheme::Cenc => *b"cenc",
            Scheme::Cbcs => *b"cbcs",
        }
    }
}

/// How one rendition's track is protected: the scheme, the key, and the name that sets this
/// rendition's IVs apart from every other rendition encrypted with the same key.
#[derive(Debug, Clone, Copy)]
pub struct Protection<'a> {
    /// `cenc` or `cbcs`.
    pub scheme: Scheme,
    /// The content key.
    pub key: &'a ContentKey,
    /// The rendition's name (its file name, say): renditions of one asset share a key and often a
    /// track id, and two of them must never share an IV under it (a CTR keystream reused).
    pub rendition: &'a str,
}

impl Protection<'_> {
    /// The 8-byte `cenc` IV of sample `sample` (0-based, decode order) of track `track_id`:
    /// unique per key, rendition, track and sample; the same in every data center.
    pub fn sample_iv(&self, track_id: u32, sample: u64) -> [u8; 8] {
        let digest = self.derive(b"mirrorcast cenc sample iv", track_id, Some(sample));
        digest[..8].try_into().expect("8 bytes")
    }

    /// The 16-byte `cbcs` constant IV of track `track_id`.
    pub fn constant_iv(&self, track_id: u32) -> [u8; 16] {
        let digest = self.derive(b"mirrorcast cbcs constant iv", track_id, None);
        digest[..16].try_into().expect("16 bytes")
    }

    /// The 16-byte IV of every HLS SAMPLE-AES TS segment of track `track_id` (the playlist's `IV`).
    pub fn sample_aes_ts_iv(&self, track_id: u32) -> [u8; 16] {
        let digest = self.derive(b"mirrorcast sample-aes ts iv", track_id, None);
        digest[..16].try_into().expect("16 bytes")
    }

    fn derive(&self, purpose: &[u8], track_id: u32, sample: Option<u64>) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(purpose);
        h.update(self.key.key_id.0);
        // Lengths first, so no two (rendition, track, sample) triples hash the same input.
        h.update((self.rendition.len() as u64).to_be_bytes());
        h.update(self.rendition.as_bytes());
        h.update(track_id.to_be_bytes());
        if let Some(sample) = sample {
            h.update(sample.to_be_bytes());
        }
        h.finalize().into()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_id_reads_as_uuid_or_hex_and_a_key_never_prints() {
        let id = KeyId::parse("10000000-1000-1000-1000-100000000001").unwrap();
        assert_eq!(KeyId::parse("10000000100010001000100000000001").unwrap(), id);
        assert_eq!(id.uuid(), "10000000-1000-1000-1000-100000000001");
        assert!(KeyId::parse("1000").is_err());
        assert!(KeyId::parse("zz000000100010001000100000000001").is_err());
        assert!(KeyId::parse("é0000000100010001000100000000001").is_err());
        let key = ContentKey::new(id, [0xab; 16]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }

    #[test]
    fn ivs_differ_per_rendition_track_sample_and_key_and_repeat_for_the_same_inputs() {
        let a = ContentKey::new(KeyId([1; 16]), [7; 16]);
        let b = ContentKey::new(KeyId([2; 16]), [7; 16]);
        let p = |key, rendition| Protection { scheme: Scheme::Cenc, key, rendition };
        let base = p(&a, "video_1000.mp4").sample_iv(1, 0);
        assert_eq!(p(&a, "video_1000.mp4").sample_iv(1, 0), base, "deterministic");
        for other in [
            p(&a, "video_2000.mp4").sample_iv(1, 0),
            p(&a, "video_1000.mp4").sample_iv(2, 0),
            p(&a, "video_1000.mp4").sample_iv(1, 1),
            p(&b, "video_1000.mp4").sample_iv(1, 0),
        ] {
            assert_ne!(other, base);
        }
        assert_ne!(p(&a, "x").constant_iv(1), p(&a, "x").constant_iv(2));
        let ts = p(&a, "x").sample_aes_ts_iv(1);
        assert_eq!(p(&a, "x").sample_aes_ts_iv(1), ts, "deterministic: A and B state the same IV");
        for other in [p(&a, "y").sample_aes_ts_iv(1), p(&b, "x").sample_aes_ts_iv(1), p(&a, "x").constant_iv(1)] {
            assert_ne!(other, ts, "per rendition and key, apart from the cbcs IV");
        }
    }
}
