//! HLS SAMPLE-AES for H.264 in MPEG-TS (Apple's "MPEG-2 Stream Encryption Format for HTTP Live
//! Streaming", 2.2): in an Annex B access unit, each slice NAL unit (types 1 and 5) longer than
//! 48 bytes keeps its type byte and a 31-byte leader clear, then of every 160 bytes the first 16
//! are encrypted (AES-128-CBC, the IV reset at each NAL unit) while more than 16 remain; the
//! encrypted NAL unit then gets emulation prevention bytes so no start code appears in it. Other
//! NAL units are untouched. The IV is the segment's media sequence number, as for AES-128.

use aes::cipher::{BlockEncryptMut, InnerIvInit, KeyInit};

use super::ContentKey;

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

    /// ffmpeg's own SAMPLE-AES decryption (its HLS demuxer, the key fetched from the playlist's
    /// URI over HTTP) of each of our SAMPLE-AES TS segments gives the clear segment's packets;
    /// the samples really were encrypted (most TS packets differ); deterministic; audio refused.
    ///
    /// Each segment is listed twice with its IV written out: ffmpeg decrypts a packet with the IV
    /// of the segment it is reading when its parser hands the packet over, which for a segment's
    /// last two frames is the next segment (or none, at the end); the second copy has the same IV.
    #[test]
    fn ffmpeg_decrypts_our_sample_aes_ts_segments_to_the_clear_packets() {
        use crate::fragment::tests::{md5s, test_clip, TestClip};
        use crate::ts::{sample_aes_ts_segment, ts_segment, Counters};
        let clip = test_clip();
        let TestClip { file, index, .. } = &clip;
        let key = crate::encryption::fragments::tests::test_key();
        let track = index.by_handler("vide").unwrap();
        let counters = Counters::of(track).unwrap();
        let mut files = std::collections::HashMap::new();
        files.insert("key".to_owned(), key.key().to_vec());
        let mut clear_segments = Vec::new();
        for (n, f) in track.fragments.iter().enumerate() {
            let r = track.byte_range(f);
            let data = &file[r.start as usize..r.end as usize];
            let clear = ts_segment(track, n, data, &counters).unwrap();
            let sealed = sample_aes_ts_segment(track, n, data, &counters, &key).unwrap();
            assert_eq!(sample_aes_ts_segment(track, n, data, &counters, &key).unwrap(), sealed, "deterministic");
            let differing = clear.chunks(188).zip(sealed.chunks(188)).filter(|(a, b)| a != b).count();
            assert!(differing > clear.len() / 188 / 2, "segment {n}: {differing} packets differ");
            let iv = crate::encryption::hex(&crate::encryption::aes128::sequence_iv(n as u64));
            let entry = format!("#EXTINF:{:.3},\nv{n}.ts\n", f.duration as f64 / track.info.timescale as f64);
            let playlist = format!(
                "#EXTM3U\n#EXT-X-VERSION:5\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:{n}\n\
                 #EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"key\",IV=0x{iv},KEYFORMAT=\"identity\"\n{entry}{entry}#EXT-X-ENDLIST\n"
            );
            files.insert(format!("v{n}.ts"), sealed);
            files.insert(format!("v{n}.m3u8"), playlist.into_bytes());
            clear_segments.push(clear);
        }
        let audio = index.by_handler("soun").unwrap();
        let r = audio.byte_range(&audio.fragments[0]);
        let audio_counters = Counters::of(audio).unwrap();
        let err = sample_aes_ts_segment(audio, 0, &file[r.start as usize..r.end as usize], &audio_counters, &key);
        assert!(err.unwrap_err().to_string().contains("AES-128 for audio"));

        let base = serve(files);
        let mut packets = 0;
        for (n, clear) in clear_segments.iter().enumerate() {
            let clear_path = clip.dir().join(format!("clear{n}.ts"));
            std::fs::write(&clear_path, clear).unwrap();
            let want = md5s(&clear_path, "0");
            let got = md5s(std::path::Path::new(&format!("{base}/v{n}.m3u8")), "0");
            assert_eq!(got.len(), 2 * want.len(), "segment {n}: both copies read");
            assert_eq!(got[..want.len()], want, "segment {n}");
            packets += want.len();
        }
        assert!(packets > 100, "{packets}");
    }
}
