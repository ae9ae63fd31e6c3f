//! HLS SAMPLE-AES in MPEG-TS (Apple's "MPEG-2 Stream Encryption Format for HTTP Live Streaming").
//!
//! H.264 (2.2): in an Annex B access unit, each slice NAL unit (types 1 and 5) longer than 48
//! bytes keeps its type byte and a 31-byte leader clear, then of every 160 bytes the first 16 are
//! encrypted (AES-128-CBC, the IV reset at each NAL unit) while more than 16 remain; the encrypted
//! NAL unit then gets emulation prevention bytes so no start code appears in it. Other NAL units
//! are untouched.
//!
//! AAC (2.3): each ADTS frame keeps its header and a 16-byte leader clear, then every whole
//! 16-byte block is encrypted (AES-128-CBC, the IV reset at each frame); the trailing partial block
//! stays clear, so a frame of fewer than 32 bytes after its header stays clear whole. The PMT
//! carries the audio setup ([`aac_setup_descriptors`]).
//!
//! The IV is the caller's: the origin gives every segment of a rendition the same one (stated in
//! the playlist), since a reader may decrypt a segment's last frames with the next segment's IV.

use aes::cipher::{BlockEncryptMut, InnerIvInit, KeyInit, KeyIvInit};

use super::ContentKey;
use crate::{FormatError, Result};

/// `au` (Annex B: start codes before each NAL unit) with its slice NAL units encrypted.
pub fn encrypt_access_unit(key: &ContentKey, iv: &[u8; 16], au: &[u8]) -> Vec<u8> {
    let cipher = aes::Aes128::new(key.key().into());
    let mut out = Vec::with_capacity(au.len() + au.len() / 64 + 16);
    let mut at = 0;
    // Bytes before the first start code (none in what the TS packager writes) pass through.
    let first = next_start_code(au, 0).map_or(au.len(), |(s, _)| s);
    out.extend_from_slice(&au[..first]);
    at += first;
    while at < au.len() {
        let Some((start, code_len)) = next_start_code(au, at) else { break };
        let nal_start = start + code_len;
        // The NAL unit runs to the next start code, as readers split it (trailing zeros included).
        let end = next_start_code(au, nal_start).map_or(au.len(), |(s, _)| s);
        out.extend_from_slice(&au[start..nal_start]);
        let nal = &au[nal_start..end];
        if nal.len() > 48 && matches!(nal[0] & 0x1f, 1 | 5) {
            let mut sealed = nal.to_vec();
            encrypt_nal(&cipher, iv, &mut sealed);
            escape(&sealed, &mut out);
        } else {
            out.extend_from_slice(nal);
        }
        at = end;
    }
    out
}

/// The bytes of an ADTS header without CRC, which [`crate::ts`] writes: they stay clear.
pub const ADTS_HEADER: usize = 7;

/// An ADTS frame (`frame`: its 7-byte header, then the raw AAC frame) encrypted in place: after
/// the header and a 16-byte clear leader, every whole 16-byte block, one CBC chain per frame.
pub fn encrypt_adts_frame(key: &ContentKey, iv: &[u8; 16], frame: &mut [u8]) {
    let Some(payload) = frame.get_mut(ADTS_HEADER..) else { return };
    let blocks = payload.len().saturating_sub(16) / 16;
    if blocks == 0 {
        return;
    }
    let mut cipher = cbc::Encryptor::<aes::Aes128>::new(key.key().into(), iv.into());
    for block in payload[16..16 + 16 * blocks].chunks_exact_mut(16) {
        cipher.encrypt_block_mut(block.into());
    }
}

/// The longest AudioSpecificConfig put in the audio setup information.
pub const MAX_AUDIO_SETUP: usize = 64;

/// The elementary stream descriptors of a SAMPLE-AES AAC stream in the PMT (Apple's 3.0 and
/// 2.3.4): the private data indicator `aacd`, then a registration descriptor `apad` holding the
/// audio setup information: audio type (`zaac`: AAC-LC, `zach`: HE-AAC), the priming in samples,
/// version 1, and the AudioSpecificConfig. Refused for other AAC object types (Apple names none)
/// and for a config too long for a descriptor.
pub fn aac_setup_descriptors(audio_specific_config: &[u8], priming: u16) -> Result<Vec<u8>> {
    let object_type = audio_specific_config.first().map_or(0, |b| b >> 3);
    let audio_type = match object_type {
        2 => b"zaac",
        5 => b"zach",
        29 => b"zacp",
        _ => {
            return Err(FormatError::new(format!(
                "SAMPLE-AES carries AAC-LC and HE-AAC only; this track's AAC object type is {object_type}"
            )))
        }
    };
    // The registration descriptor's length byte counts 'apad', the type, priming, version, the setup.
    // Real configs are 2 to 5 bytes; the PMT holding this must fit one TS packet.
    if audio_specific_config.len() > MAX_AUDIO_SETUP {
        return Err(FormatError::new(format!(
            "an AudioSpecificConfig of {} bytes: SAMPLE-AES's audio setup holds at most {MAX_AUDIO_SETUP}",
            audio_specific_config.len()
        )));
    }
    let length = 4 + 4 + 2 + 1 + 1 + audio_specific_config.len();
    let mut out = vec![0x0f, 4, b'a', b'a', b'c', b'd', 0x05, length as u8];
    out.extend_from_slice(b"apad");
    out.extend_from_slice(audio_type);
    out.extend_from_slice(&priming.to_be_bytes());
    out.push(1);
    out.push(audio_specific_config.len() as u8);
    out.extend_from_slice(audio_specific_config);
    Ok(out)
}

/// The start code at or after `from`: where it starts and its length (4 for 00 00 00 01, else 3).
fn next_start_code(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= b.len() {
        if b[i..].starts_with(&[0, 0, 0, 1]) {
            return Some((i, 4));
        }
        if b[i..].starts_with(&[0, 0, 1]) {
            return Some((i, 3));
        }
        i += 1;
    }
    None
}

/// 32 bytes clear, then 16 encrypted of every 160 while more than 16 remain; one CBC chain per NAL unit.
fn encrypt_nal(cipher: &aes::Aes128, iv: &[u8; 16], nal: &mut [u8]) {
    let mut cipher = cbc::Encryptor::<aes::Aes128>::inner_iv_init(cipher.clone(), iv.into());
    let mut at = 32;
    while at < nal.len() {
        if nal.len() - at > 16 {
            cipher.encrypt_block_mut((&mut nal[at..at + 16]).into());
            at += 16;
        }
        at += 144.min(nal.len() - at);
    }
}

/// `nal` with an emulation prevention byte (3) after every two zero bytes followed by a byte <= 3.
fn escape(nal: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::KeyId;

    #[test]
    fn only_long_slices_are_encrypted_and_no_start_code_appears() {
        let key = ContentKey::new(KeyId([1; 16]), [2; 16]);
        let mut au = vec![0, 0, 0, 1, 0x09, 0xf0];
        au.extend([0, 0, 0, 1, 0x67]);
        au.extend([0x42u8; 40]);
        au.extend([0, 0, 0, 1, 0x41]);
        au.extend(std::iter::repeat_n(0x55u8, 300));
        au.push(0x80);
        let slice_at = au.len() - 302;
        // An emulation prevention byte of the slice's own, in its clear leader.
        au[slice_at + 5..slice_at + 9].copy_from_slice(&[0, 0, 3, 1]);
        let sealed = encrypt_access_unit(&key, &[0; 16], &au);
        assert_eq!(sealed[..slice_at], au[..slice_at], "delimiter and SPS untouched");
        assert_eq!(sealed[slice_at..slice_at + 5], au[slice_at..slice_at + 5]);
        assert_eq!(sealed[slice_at + 5..slice_at + 10], [0, 0, 3, 3, 1], "escaped again: readers unescape once");
        assert_eq!(sealed[slice_at + 10..slice_at + 33], au[slice_at + 9..slice_at + 32], "the clear leader");
        assert_ne!(sealed[slice_at + 33..slice_at + 49], au[slice_at + 32..slice_at + 48]);
        let starts = sealed.windows(3).filter(|w| *w == [0, 0, 1]).count();
        assert_eq!(starts, 3, "the three start codes, none inside the encrypted slice");
        let short = [0, 0, 0, 1, 0x41, 1, 2, 3];
        assert_eq!(encrypt_access_unit(&key, &[0; 16], &short), short, "48 bytes or fewer stay clear");
        assert_eq!(encrypt_access_unit(&key, &[0; 16], &[0, 0]), [0, 0]);
    }

    /// Files served over HTTP on a loopback port until the test process ends (ffmpeg's HLS demuxer
    /// fetches a key from a local file only with its extension check relaxed, which tests never do).
    fn serve(files: std::collections::HashMap<String, Vec<u8>>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files = std::sync::Arc::new(files);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let files = files.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                        if conn.read(&mut byte).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let text = String::from_utf8_lossy(&head);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
                    let reply = match files.get(&path) {
                        Some(body) => [
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                                .into_bytes(),
                            body.clone(),
                        ]
                        .concat(),
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    };
                    let _ = conn.write_all(&reply);
                });
            }
        });
        base
    }

    /// The MD5 of an access unit delimiter alone, with its start code (`00 00 00 01 09 f0`).
    const AUD_ONLY_MD5: &str = "c00db60d4c2fd9aa2357440a8c70ccc0";

    #[test]
    fn adts_frames_keep_header_leader_and_partial_block_clear_and_short_frames_stay_clear() {
        let key = ContentKey::new(KeyId([1; 16]), [2; 16]);
        let iv = [3; 16];
        let clear: Vec<u8> = (0..7 + 16 + 16 * 3 + 5).map(|i| i as u8).collect();
        let mut frame = clear.clone();
        encrypt_adts_frame(&key, &iv, &mut frame);
        assert_eq!(frame[..23], clear[..23], "header and leader clear");
        assert_eq!(frame[71..], clear[71..], "the trailing partial block clear");
        // One CBC chain from the IV over the three blocks.
        let mut want = clear[23..71].to_vec();
        let mut cipher = cbc::Encryptor::<aes::Aes128>::new(key.key().into(), (&iv).into());
        for block in want.chunks_exact_mut(16) {
            cipher.encrypt_block_mut(block.into());
        }
        assert_eq!(frame[23..71], want[..]);
        let mut again = clear.clone();
        encrypt_adts_frame(&key, &iv, &mut again);
        assert_eq!(again, frame, "the IV reset for every frame: the same frame encrypts the same");
        for len in [0, 3, 7, 8, 22, 23, 38] {
            let short: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut sealed = short.clone();
            encrypt_adts_frame(&key, &iv, &mut sealed);
            assert_eq!(sealed, short, "{len} bytes: fewer than header, leader and one block stay clear");
        }
        let mut one_block: Vec<u8> = vec![9; 39];
        encrypt_adts_frame(&key, &iv, &mut one_block);
        assert_ne!(one_block[23..], [9; 16], "header, leader and exactly one block: that block is encrypted");
    }

    #[test]
    fn the_aac_audio_setup_names_the_type_priming_version_and_config_and_refuses_others() {
        let d = aac_setup_descriptors(&[0x12, 0x10], 1024).unwrap();
        assert_eq!(d[..6], [0x0f, 4, b'a', b'a', b'c', b'd']);
        assert_eq!(d[6..], [[5, 14].as_slice(), b"apad", b"zaac", &[4, 0, 1, 2, 0x12, 0x10]].concat());
        assert_eq!(aac_setup_descriptors(&[0x2b, 0x92, 8, 0], 0).unwrap()[12..16], *b"zach");
        let main = aac_setup_descriptors(&[0x0a, 0x10], 0).unwrap_err().to_string();
        assert!(main.contains("object type is 1"), "{main}");
        assert!(aac_setup_descriptors(&[], 0).is_err(), "no config");
        assert!(aac_setup_descriptors(&[0x12; MAX_AUDIO_SETUP + 1], 0).unwrap_err().to_string().contains("at most"));
    }

    /// ffmpeg's own SAMPLE-AES decryption (its HLS demuxer, the key fetched from the playlist's
    /// URI over HTTP, at its default settings) of the SAMPLE-AES TS segments of the video and of
    /// the audio, each one playlist read to the end, gives the clear segments' packets; the
    /// samples really were encrypted (most TS packets differ); deterministic.
    ///
    /// One IV for every segment, stated in the playlist: ffmpeg decrypts a packet with the IV of
    /// the segment it is reading when its parser hands the packet over, which for a segment's
    /// last frames is the next segment's.
    #[test]
    fn ffmpeg_decrypts_our_sample_aes_ts_segments_to_the_clear_packets() {
        use crate::fragment::tests::{md5s, test_clip, TestClip};
        use crate::ts::{sample_aes_ts_segment, ts_segment, Counters};
        let clip = test_clip();
        let TestClip { file, index, .. } = &clip;
        let key = crate::encryption::fragments::tests::test_key();
        let iv = [0x5a; 16];
        let mut files = std::collections::HashMap::new();
        files.insert("key".to_owned(), key.key().to_vec());
        let mut clear_streams = Vec::new();
        for handler in ["vide", "soun"] {
            let track = index.by_handler(handler).unwrap();
            let counters = Counters::of(track).unwrap();
            let mut clear_stream = Vec::new();
            let mut playlist = format!(
                "#EXTM3U\n#EXT-X-VERSION:5\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n\
                 #EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"key\",IV=0x{},KEYFORMAT=\"identity\"\n",
                crate::encryption::hex(&iv)
            );
            for (n, f) in track.fragments.iter().enumerate() {
                let r = track.byte_range(f);
                let data = &file[r.start as usize..r.end as usize];
                let clear = ts_segment(track, n, data, &counters).unwrap();
                let sealed = sample_aes_ts_segment(track, n, data, &counters, &key, &iv).unwrap();
                assert_eq!(sample_aes_ts_segment(track, n, data, &counters, &key, &iv).unwrap(), sealed);
                if handler == "soun" {
                    // Encrypted AAC frames keep their lengths: the counters from the index still hold.
                    assert_eq!(sealed.len(), clear.len(), "soun {n}: as many TS packets as the clear segment");
                }
                let differing = clear.chunks(188).zip(sealed.chunks(188)).filter(|(a, b)| a != b).count();
                assert!(differing > clear.len() / 188 / 2, "{handler} {n}: {differing} packets differ");
                let seconds = f.duration as f64 / track.info.timescale as f64;
                playlist.push_str(&format!("#EXTINF:{seconds:.3},\n{handler}{n}.ts\n"));
                files.insert(format!("{handler}{n}.ts"), sealed);
                clear_stream.extend(clear);
            }
            playlist.push_str("#EXT-X-ENDLIST\n");
            files.insert(format!("{handler}.m3u8"), playlist.into_bytes());
            clear_streams.push((handler, clear_stream));
        }
        let base = serve(files);
        for (handler, clear) in clear_streams {
            let clear_path = clip.dir().join(format!("clear-{handler}.ts"));
            std::fs::write(&clear_path, clear).unwrap();
            let want = md5s(&clear_path, "0");
            assert!(want.len() > 100, "{handler}: {} packets", want.len());
            let mut got = md5s(std::path::Path::new(&format!("{base}/{handler}.m3u8")), "0");
            if handler == "vide" {
                // The delimiter that ends the last access unit comes out alone at the end.
                assert_eq!(got.pop().as_deref(), Some(AUD_ONLY_MD5), "vide: the trailing delimiter");
            }
            assert_eq!(got, want, "{handler}");
        }
    }
}
