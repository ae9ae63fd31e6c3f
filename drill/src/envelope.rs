//! HLS AES-128 envelope encryption as a player meets it (pure): the key URI and IV a media
//! playlist gives each segment (`#EXT-X-KEY:METHOD=AES-128,URI="…"[,IV=0x…]`; without `IV`, the
//! segment's media sequence number), and a segment decrypted with its key. Other methods
//! (`SAMPLE-AES`, `SAMPLE-AES-CTR`) leave the segment as it is: the drill counts their frames
//! without decrypting them.

use mirrorcast_media::encryption::aes128;
use mirrorcast_media::encryption::ContentKey;
use url::Url;

use crate::playlist::PlaylistError;

/// Where one segment's AES-128 key is and the IV it was encrypted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentKey {
    /// The key URI, absolute (resolved against the media playlist's URL).
    pub uri: Url,
    /// The segment's IV.
    pub iv: [u8; 16],
}

/// The attribute `name` of an `EXT-X-KEY` attribute list (quotes dropped).
fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], quoted[end + 1..].trim_start_matches(','))
            }
            None => match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            },
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

fn iv_of(text: &str) -> Option<[u8; 16]> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))?;
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut iv = [0u8; 16];
    for (i, b) in iv.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(iv)
}

/// Per media segment of the playlist `text` (in order), its AES-128 key, or `None` when it is
/// not AES-128 encrypted.
pub fn segment_keys(text: &str, base: &Url) -> Result<Vec<Option<SegmentKey>>, PlaylistError> {
    let bad = |why: String| PlaylistError(why);
    let mut sequence: u64 = 0;
    let mut current: Option<(Url, Option<[u8; 16]>)> = None;
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            sequence = n.trim().parse().map_err(|_| bad(format!("EXT-X-MEDIA-SEQUENCE '{n}' is not a number")))?;
        } else if let Some(list) = line.strip_prefix("#EXT-X-KEY:") {
            current = match attribute(list, "METHOD") {
                Some("AES-128") => {
                    let uri = attribute(list, "URI").ok_or_else(|| bad("an AES-128 EXT-X-KEY without a URI".into()))?;
                    let uri = base.join(uri).map_err(|e| bad(format!("the key URI '{uri}': {e}")))?;
                    let iv = match attribute(list, "IV") {
                        Some(text) => Some(
                            iv_of(text)
                                .ok_or_else(|| bad(format!("the EXT-X-KEY IV '{text}' is not 0x and 32 hex digits")))?,
                        ),
                        None => None,
                    };
                    Some((uri, iv))
                }
                _ => None,
            };
        } else if !line.is_empty() && !line.starts_with('#') {
            let n = sequence + keys.len() as u64;
            keys.push(
                current
                    .as_ref()
                    .map(|(uri, iv)| SegmentKey { uri: uri.clone(), iv: iv.unwrap_or_else(|| aes128::sequence_iv(n)) }),
            );
        }
    }
    Ok(keys)
}

/// The clear segment: `body` decrypted with `key` at `iv`, or why not (never key material).
pub fn decrypt(key: &ContentKey, iv: &[u8; 16], body: &[u8]) -> Result<Vec<u8>, String> {
    aes128::decrypt_segment(key, iv, body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use mirrorcast_media::encryption::KeyId;

    use super::*;

    #[test]
    fn each_segment_gets_its_key_uri_and_iv_and_none_after_method_none() {
        let base = Url::parse("http://front/l/Clip.ism/QualityLevels(1)/Manifest(video,format=m3u8-aapl)").unwrap();
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-KEY:METHOD=AES-128,URI=\"/keys/aes128/k1\",IV=0x000000000000000000000000000000ff\n\
                    #EXTINF:2,\nFragments(video=0)\n#EXT-X-KEY:METHOD=AES-128,URI=\"/keys/aes128/k1\"\n#EXTINF:2,\nFragments(video=1)\n\
                    #EXT-X-KEY:METHOD=NONE\n#EXTINF:2,\nFragments(video=2)\n#EXT-X-ENDLIST\n";
        let keys = segment_keys(text, &base).unwrap();
        assert_eq!(keys.len(), 3);
        let first = keys[0].as_ref().unwrap();
        assert_eq!(first.uri.as_str(), "http://front/keys/aes128/k1");
        assert_eq!(first.iv[15], 0xff);
        assert_eq!(keys[1].as_ref().unwrap().iv, aes128::sequence_iv(8), "the media sequence number, 7 + 1");
        assert_eq!(keys[2], None);
        let sample_aes = "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://x\"\n#EXTINF:2,\ns.ts\n";
        assert_eq!(segment_keys(sample_aes, &base).unwrap(), vec![None]);
    }

    #[test]
    fn bad_key_lines_are_named_and_a_wrong_key_does_not_decrypt() {
        let base = Url::parse("http://front/p.m3u8").unwrap();
        for (text, says) in [
            ("#EXT-X-KEY:METHOD=AES-128\ns.ts\n", "without a URI"),
            ("#EXT-X-KEY:METHOD=AES-128,URI=\"k\",IV=0x12\ns.ts\n", "IV '0x12'"),
            ("#EXT-X-MEDIA-SEQUENCE:x\n", "not a number"),
        ] {
            let err = segment_keys(text, &base).unwrap_err().0;
            assert!(err.contains(says), "{err}");
        }
        let key = ContentKey::new(KeyId([1; 16]), [2; 16]);
        let iv = aes128::sequence_iv(3);
        let clear = vec![0x47u8; 188 * 3];
        let body = aes128::encrypt_segment(&key, &iv, &clear);
        assert_eq!(decrypt(&key, &iv, &body).unwrap(), clear);
        let other = ContentKey::new(KeyId([1; 16]), [3; 16]);
        assert!(decrypt(&other, &iv, &body).map_or(true, |b| b != clear));
        assert!(decrypt(&key, &iv, &body[..20]).is_err());
    }
}
