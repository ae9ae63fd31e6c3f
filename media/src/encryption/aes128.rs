//! HLS AES-128 envelope encryption (RFC 8216, 5.2): a whole media segment encrypted with
//! AES-128-CBC and PKCS#7 padding. The IV is the segment's media sequence number as a 128-bit
//! big-endian number when the `EXT-X-KEY` has no `IV` attribute: deterministic, the same in
//! every data center, and different for every segment of a rendition.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

use super::ContentKey;
use crate::{FormatError, Result};

/// The IV of the segment with media sequence number `sequence` (no `IV` attribute in the playlist).
pub fn sequence_iv(sequence: u64) -> [u8; 16] {
    (sequence as u128).to_be_bytes()
}

/// `segment` encrypted with AES-128-CBC, PKCS#7-padded (1 to 16 bytes longer).
pub fn encrypt_segment(key: &ContentKey, iv: &[u8; 16], segment: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes128>::new(key.key().into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(segment)
}

/// An encrypted segment decrypted (for checks such as `verify`); wrong padding (another key, a
/// cut segment) is an error.
pub fn decrypt_segment(key: &ContentKey, iv: &[u8; 16], segment: &[u8]) -> Result<Vec<u8>> {
    if segment.is_empty() || !segment.len().is_multiple_of(16) {
        return Err(FormatError::new(format!(
            "an AES-128 segment of {} bytes: not a whole number of 16-byte blocks",
            segment.len()
        )));
    }
    cbc::Decryptor::<aes::Aes128>::new(key.key().into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(segment)
        .map_err(|_| FormatError::new("an AES-128 segment whose padding is wrong: another key or IV, or cut short"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::KeyId;

    #[test]
    fn segments_round_trip_and_lying_lengths_or_keys_are_errors() {
        let key = ContentKey::new(KeyId([1; 16]), [2; 16]);
        let other = ContentKey::new(KeyId([1; 16]), [3; 16]);
        for len in [0usize, 1, 15, 16, 17, 188 * 3] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed = encrypt_segment(&key, &sequence_iv(5), &plain);
            assert_eq!(sealed.len(), (len / 16 + 1) * 16, "PKCS#7 always pads");
            assert_eq!(decrypt_segment(&key, &sequence_iv(5), &sealed).unwrap(), plain);
            assert!(decrypt_segment(&key, &sequence_iv(5), &sealed[..sealed.len() - 1]).is_err());
            assert_ne!(encrypt_segment(&other, &sequence_iv(5), &plain), sealed);
        }
        assert!(decrypt_segment(&key, &sequence_iv(0), &[]).is_err());
        assert_eq!(sequence_iv(258)[14..], [1, 2]);
    }

    /// The TS packager's segments, AES-128 encrypted, decrypt with `openssl enc -d -aes-128-cbc`
    /// (key and the media-sequence IV) to the clear segments, byte for byte; and ffmpeg's own
    /// AES-128-CBC (its `crypto:` protocol, what its HLS demuxer uses for `METHOD=AES-128`) reads
    /// each to the clear segment's packets. The same input gives the same bytes; another key, other bytes.
    #[test]
    fn openssl_and_ffmpeg_decrypt_our_aes128_ts_segments_to_the_clear_ones() {
        use crate::fragment::tests::{md5s, test_clip, TestClip};
        use crate::ts::{aes128_ts_segment, ts_segment, Counters};
        let clip = test_clip();
        let TestClip { file, index, .. } = &clip;
        let key = crate::encryption::fragments::tests::test_key();
        let key_hex = crate::encryption::fragments::tests::KEY_HEX;
        let other = ContentKey::new(key.key_id(), [0x5c; 16]);
        let dir = clip.dir();
        for handler in ["vide", "soun"] {
            let track = index.by_handler(handler).unwrap();
            let counters = Counters::of(track).unwrap();
            let mut packets = 0;
            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                let data = &file[r.start as usize..r.end as usize];
                let clear = ts_segment(track, n, data, &counters).unwrap();
                let sealed = aes128_ts_segment(track, n, data, &counters, &key).unwrap();
                assert_eq!(aes128_ts_segment(track, n, data, &counters, &key).unwrap(), sealed, "deterministic");
                assert_ne!(aes128_ts_segment(track, n, data, &counters, &other).unwrap(), sealed);
                let (sealed_path, clear_path) =
                    (dir.join(format!("{handler}{n}.ts")), dir.join(format!("clear{n}.ts")));
                std::fs::write(&sealed_path, &sealed).unwrap();
                std::fs::write(&clear_path, &clear).unwrap();
                let iv = crate::encryption::hex(&sequence_iv(n as u64));
                let out = std::process::Command::new("openssl")
                    .args(["enc", "-d", "-aes-128-cbc", "-K", key_hex, "-iv", &iv, "-in"])
                    .arg(&sealed_path)
                    .output()
                    .expect("openssl is needed for this test");
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                assert_eq!(out.stdout, clear, "{handler} segment {n}: openssl");

                let out = std::process::Command::new("ffmpeg")
                    .args(["-v", "error", "-key", key_hex, "-iv", &iv, "-f", "mpegts", "-i"])
                    .arg(format!("crypto:{}", sealed_path.display()))
                    .args(["-map", "0", "-c", "copy", "-f", "framemd5", "-"])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                let got = crate::fragment::tests::framemd5_hashes(&out.stdout);
                let want = md5s(&clear_path, "0");
                assert_eq!(got, want, "{handler} segment {n}: ffmpeg");
                packets += want.len();
            }
            assert!(packets > 50, "{handler}: {packets}");
        }
    }
}
