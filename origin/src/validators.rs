//! Validators of packaged responses (ETag, Last-Modified) and the conditional
//! request headers checked against them, so a CDN can revalidate a manifest or
//! a segment with a 304 instead of fetching it again; and the response helpers
//! that apply them (headers, 304s). Pure: no I/O.
//!
//! A packaged response is a function of what was asked for, the source blobs
//! it was made from and the packager's code. Its ETag is a hash of exactly
//! that: [`PACKAGING_VERSION`], the target's canonical name and each source's
//! content tag (its Content-MD5 where the store keeps one, else its ETag).
//! Content-MD5 first, because a replicated blob keeps it while its ETag is
//! B's own: the origins of A and B then give the same ETag for the same
//! bytes, and a CDN that fails over from A to B revalidates instead of
//! refetching everything.
//!
//! A plain file's ETag is its Content-MD5 for the same reason (see
//! [`plain_etag`]): a front continues a download cut by A from B only when
//! both tag the bytes alike.

use std::fmt::Write as _;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::headers::insert;

/// Bump whenever the bytes a manifest, playlist or segment is packaged into
/// change for the same sources: every packaged ETag changes with it.
/// 2: `Fragments(<stream>=<t>)` without a format is a Smooth fragment, no longer a CMAF one.
/// 3: `m3u8-aapl` is HLS 4 with MPEG-TS segments (was fMP4); playlists name segments with
///    their media extension; TS continuity counters run on across segments.
pub const PACKAGING_VERSION: u32 = 3;

/// The validators of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// A strong entity tag, quoted.
    pub etag: String,
    /// The latest modification time of the response's sources; `None` when no source had one.
    pub last_modified: Option<DateTime<Utc>>,
}

/// The content tag of a source blob: what stays equal while its bytes do.
pub fn content_tag(content_md5: Option<&str>, etag: &str) -> String {
    match content_md5 {
        Some(md5) if !md5.is_empty() => format!("md5:{md5}"),
        _ => format!("etag:{etag}"),
    }
}

/// The ETag of a plain file served as stored: `"md5-<Content-MD5>"`, the same in
/// every data center holding the same bytes. A blob without a Content-MD5 (or
/// with one that cannot stand in an entity tag) keeps the store's own ETag:
/// hashing it here would mean reading the whole blob before answering, and a
/// tag made of what does not depend on the content (size, time) could give
/// two contents one tag. The store's ETag only costs a refetch from the other
/// data center, never a mix of two contents.
pub fn plain_etag(content_md5: Option<&str>, store_etag: &str) -> String {
    // RFC 9110 8.8.3: etagc is %x21 / %x23-7E (base64 is within it).
    let fits = |md5: &str| md5.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b));
    match content_md5 {
        Some(md5) if !md5.is_empty() && md5.len() <= 64 && fits(md5) => format!("\"md5-{md5}\""),
        _ if store_etag.starts_with('"') || store_etag.starts_with("W/") => store_etag.to_owned(),
        _ => format!("\"{store_etag}\""),
    }
}

/// The name a filtered response's ETag is computed over: the target's, then the filters'
/// content (`tag`, see `filtering::Filters::tag`), so a filtered manifest is an entity of its own
/// (a CDN never mixes it with the unfiltered one) and a changed filter a new one. Without
/// filters, the target's name alone: unfiltered ETags are unchanged.
pub fn filtered_target(target: &str, tag: &str) -> String {
    if tag.is_empty() {
        target.to_owned()
    } else {
        format!("{target}|filters:{tag}")
    }
}

/// The validators of a packaged response for `target` made from sources with
/// these content tags and modification times (the latest is its Last-Modified).
pub fn packaged(target: &str, sources: &[(&str, Option<DateTime<Utc>>)]) -> Validators {
    let mut hash = Sha256::new();
    hash.update(PACKAGING_VERSION.to_be_bytes());
    // Length-prefixed, so no two lists of parts hash the same.
    for part in std::iter::once(target).chain(sources.iter().map(|(tag, _)| *tag)) {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    // Hex by hand: `write!` per byte was most of this function's time on every segment request.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut etag = String::with_capacity(40);
    let _ = write!(etag, "\"mc{PACKAGING_VERSION}-");
    for b in &digest[..16] {
        etag.push(HEX[usize::from(b >> 4)] as char);
        etag.push(HEX[usize::from(b & 0xf)] as char);
    }
    etag.push('"');
    Validators { etag, last_modified: sources.iter().filter_map(|(_, at)| *at).max() }
}

/// True when the request's conditions say the client's copy is current
/// (RFC 9110 13.2.2): `If-None-Match` (weak comparison, `*`, lists) when
/// present, else `If-Modified-Since` against the Last-Modified.
pub fn not_modified(request: &HeaderMap, etag: &str, last_modified: Option<DateTime<Utc>>) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if let Some(none_match) = request.get(header::IF_NONE_MATCH) {
        let Ok(list) = none_match.to_str() else { return false };
        return list.split(',').any(|t| t.trim() == "*" || opaque(t) == opaque(etag));
    }
    let since = request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    match (since, last_modified) {
        // HTTP dates have whole seconds.
        (Some(since), Some(at)) => at.timestamp() <= DateTime::<Utc>::from(since).timestamp(),
        _ => false,
    }
}

/// Sets ETag and Last-Modified.
pub(crate) fn set_validators(h: &mut HeaderMap, v: &Validators) {
    insert(h, header::ETAG, &v.etag);
    if let Some(at) = v.last_modified {
        insert(h, header::LAST_MODIFIED, &httpdate::fmt_http_date(at.into()));
    }
}

/// 304 with the validators and caching a 200 would have had.
pub(crate) fn not_modified_response(v: &Validators, cache_control: &str) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    set_validators(r.headers_mut(), v);
    insert(r.headers_mut(), header::CACHE_CONTROL, cache_control);
    r
}

/// A packaged response under its validators: 304 when the client's copy is
/// current (nothing is made), else `make()` with ETag and Last-Modified.
pub(crate) fn conditional(
    headers: &HeaderMap,
    v: &Validators,
    cache_control: &str,
    make: impl FnOnce() -> Response,
) -> Response {
    if not_modified(headers, &v.etag, v.last_modified) {
        return not_modified_response(v, cache_control);
    }
    let mut r = make();
    set_validators(r.headers_mut(), v);
    insert(r.headers_mut(), header::CACHE_CONTROL, cache_control);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use chrono::TimeZone;

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        Some(Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap())
    }

    fn request(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_etag_changes_with_the_target_any_source_and_nothing_else() {
        let base = packaged("Clip.ism/manifest(m3u8-aapl)", &[("md5:a", at(0)), ("md5:b", at(5))]);
        assert!(base.etag.starts_with("\"mc3-") && base.etag.ends_with('"'), "{}", base.etag);
        assert_eq!(base.last_modified, at(5), "the latest source");
        let same_bytes_elsewhere = packaged("Clip.ism/manifest(m3u8-aapl)", &[("md5:a", at(90)), ("md5:b", at(95))]);
        assert_eq!(same_bytes_elsewhere.etag, base.etag, "B's copies are newer but the same bytes");
        for other in [
            packaged("Clip.ism/manifest(mpd-time-csf)", &[("md5:a", at(0)), ("md5:b", at(5))]),
            packaged("Clip.ism/manifest(m3u8-aapl)", &[("md5:a", at(0)), ("md5:c", at(5))]),
            packaged("Clip.ism/manifest(m3u8-aapl)", &[("md5:a", at(0))]),
            packaged("Clip.ism/manifest(m3u8-aapl)md5:a", &[("md5:b", at(5))]),
        ] {
            assert_ne!(other.etag, base.etag);
        }
        assert_eq!(content_tag(Some("q1w2"), "0x8D1"), "md5:q1w2");
        assert_eq!(content_tag(None, "0x8D1"), "etag:0x8D1");
        assert_eq!(content_tag(Some(""), "0x8D1"), "etag:0x8D1");
    }

    #[test]
    fn the_etag_is_the_first_half_of_the_sha256_in_lowercase_hex() {
        // Pinned: a CDN holding segments of an older build revalidates them (same bytes, same tag).
        let v = packaged("Big.ism/QualityLevels(600000)/Fragments(video=0,format=m3u8-cmaf)", &[("md5:a", None)]);
        let mut hash = Sha256::new();
        hash.update(PACKAGING_VERSION.to_be_bytes());
        for part in ["Big.ism/QualityLevels(600000)/Fragments(video=0,format=m3u8-cmaf)", "md5:a"] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let hex: String = hash.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(v.etag, format!("\"mc3-{hex}\""));
        assert_eq!(v.last_modified, None);
    }

    #[test]
    fn a_plain_file_is_tagged_by_its_content_md5_else_by_the_store() {
        // The same bytes in A and B: one MD5, two store ETags, one tag.
        let md5 = "CY9rzUYh03PK3k6DJie09g==";
        assert_eq!(plain_etag(Some(md5), "0x8DA1"), plain_etag(Some(md5), "\"0x8DB2\""));
        assert_eq!(plain_etag(Some(md5), "0x8DA1"), "\"md5-CY9rzUYh03PK3k6DJie09g==\"");
        assert_ne!(plain_etag(Some("XUFAKrxLKna5cZ2REBfFkg=="), "0x8DA1"), plain_etag(Some(md5), "0x8DA1"));
        assert_eq!(plain_etag(None, "0x8DA1"), "\"0x8DA1\"");
        assert_eq!(plain_etag(Some(""), "\"0x8DA1\""), "\"0x8DA1\"");
        assert_eq!(plain_etag(None, "W/\"x\""), "W/\"x\"");
        for unfit in ["a\"b", "a b", "caf\u{e9}", &"A".repeat(65)] {
            assert_eq!(plain_etag(Some(unfit), "0x8DA1"), "\"0x8DA1\"", "{unfit}");
        }
    }

    #[test]
    fn conditions_follow_rfc_9110() {
        let etag = "\"mc1-00ff\"";
        let inm = |v: &str| not_modified(&request(header::IF_NONE_MATCH, v), etag, at(0));
        assert!(inm("\"mc1-00ff\""));
        assert!(inm("W/\"mc1-00ff\""), "If-None-Match compares weakly");
        assert!(inm("\"x\", \"mc1-00ff\""));
        assert!(inm("*"));
        assert!(!inm("\"mc1-00fe\""));
        assert!(!inm("mc1-00ff"), "unquoted is another tag");
        let ims = |v: &str| not_modified(&request(header::IF_MODIFIED_SINCE, v), etag, at(0));
        let http = |secs| httpdate::fmt_http_date(at(secs).unwrap().into());
        assert!(ims(&http(0)));
        assert!(ims(&http(60)));
        assert!(!ims(&http(-1)));
        assert!(!ims("yesterday"), "an unreadable date is no condition");
        // If-None-Match wins over If-Modified-Since.
        let mut both = request(header::IF_NONE_MATCH, "\"other\"");
        both.insert(header::IF_MODIFIED_SINCE, HeaderValue::from_str(&http(60)).unwrap());
        assert!(!not_modified(&both, etag, at(0)));
        assert!(!not_modified(&HeaderMap::new(), etag, at(0)));
        assert!(!not_modified(&request(header::IF_MODIFIED_SINCE, &http(60)), etag, None));
    }
}
