//! Content coding of packaged manifests and playlists: gzip for clients that
//! ask for it (browsers' players do; a two-hour MPD or playlist is ~90 KB of
//! repetitive text and shrinks about tenfold). Segments are media, already
//! compressed: never gzipped. Pure: no I/O.

use std::io::Write as _;

use axum::http::{header, HeaderMap};
use bytes::Bytes;

/// True when `Accept-Encoding` accepts gzip (RFC 9110 12.5.3): `gzip` or
/// `x-gzip` listed, or `*`, with a weight above zero.
pub fn accepts_gzip(request: &HeaderMap) -> bool {
    request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut params = item.split(';');
            let coding = params.next().unwrap_or("").trim();
            let named = ["gzip", "x-gzip", "*"].iter().any(|c| coding.eq_ignore_ascii_case(c));
            let weight = params
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            named && weight > 0.0
        },
    )
}

/// `text` gzipped (default level: made once per packaged body, then cached).
pub fn gzip(text: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(text.len() / 4), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(text);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// The ETag of the gzipped representation of a body tagged `etag` (a quoted
/// strong tag): another tag, so a cache never serves one coding for the other.
pub fn gzip_etag(etag: &str) -> String {
    match etag.strip_suffix('"') {
        Some(open) => format!("{open}-gz\""),
        None => format!("{etag}-gz"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Read as _;

    fn asks(value: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepts_gzip(&h)
    }

    #[test]
    fn gzip_is_used_when_the_client_accepts_it_and_only_then() {
        assert!(asks("gzip, deflate, br, zstd"), "a browser");
        assert!(asks("br;q=1.0, GZIP;q=0.5"));
        assert!(asks("*"));
        assert!(asks("x-gzip"));
        assert!(!asks("identity"), "ffmpeg and curl without --compressed");
        assert!(!asks("gzip;q=0"));
        assert!(!asks("gzip; q=0.000, br"));
        assert!(!asks("deflate, br"));
        assert!(!asks("gzipped"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_gzipped_body_inflates_to_the_text_under_another_etag() {
        let text = "#EXTINF:2.000,\nFragments(video=0,format=m3u8-cmaf)\n".repeat(500);
        let packed = gzip(text.as_bytes());
        assert!(packed.len() * 10 < text.len(), "{} of {}", packed.len(), text.len());
        let mut back = String::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_string(&mut back).unwrap();
        assert_eq!(back, text);
        assert_eq!(gzip_etag("\"mc2-00ff\""), "\"mc2-00ff-gz\"");
    }
}
