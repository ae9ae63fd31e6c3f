//! What a track says of itself in its MP4, for manifests whose `.ism` says nothing: its
//! language (`mdhd`'s packed ISO 639-2/T code, or the `elng` box's BCP 47 tag, which wins)
//! and its roles (`udta/kind` boxes: DASH roles, or HTML track kinds mapped onto them).
//!
//! These boxes are hostile input like the rest: a label that does not read, is too long or
//! is not a plain tag says nothing (the track still plays); none fails the track. Only tags
//! of letters, digits and `-` and roles from a fixed vocabulary come out, so whatever a file
//! holds, nothing it says reaches a playlist or an MPD attribute but those.

use crate::bmff::{children, find, Reader};

/// The longest language tag taken (RFC 5646 §4.4.1: 35 characters hold any tag worth keeping).
pub const MAX_LANGUAGE_BYTES: usize = 35;
/// At most this many `kind` boxes of a track are read; the rest say nothing.
pub const MAX_KINDS: usize = 8;
/// A `kind` box's scheme or value longer than this is not read.
const MAX_KIND_FIELD_BYTES: usize = 256;

/// The DASH role scheme (ISO/IEC 23009-1 §5.8.5.5), whose values `Role` elements carry.
pub const DASH_ROLE_SCHEME: &str = "urn:mpeg:dash:role:2011";
/// The HTML track kinds' scheme (`AudioTrack.kind`, `VideoTrack.kind`).
pub const HTML_KIND_SCHEME: &str = "about:html-kind";

/// The DASH role values (ISO/IEC 23009-1 Table 34) a `kind` box may state.
const DASH_ROLES: [&str; 15] = [
    "caption",
    "subtitle",
    "main",
    "alternate",
    "supplementary",
    "commentary",
    "dub",
    "description",
    "sign",
    "metadata",
    "enhanced-audio-intelligibility",
    "emergency",
    "forced-subtitle",
    "easyreader",
    "karaoke",
];

/// A track's language and roles as its MP4 states them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackLabels {
    /// A BCP 47 tag (`elng`) or an ISO 639-2/T code (`mdhd`); `None` for `und`, none, or an invalid one.
    pub language: Option<String>,
    /// DASH role values, in box order, each once (HTML kinds mapped: `alternative` → `alternate`,
    /// `translation` → `dub`, `descriptions` → `description`…).
    pub roles: Vec<&'static str>,
}

impl TrackLabels {
    /// The labels of a `trak` whose `mdhd` states `mdhd_language` (its packed 15 bits).
    pub fn read(trak: &[u8], mdhd_language: Option<u16>) -> TrackLabels {
        let mdia = child(trak, b"mdia");
        let extended = mdia.and_then(|m| child(m, b"elng")).and_then(elng_language);
        let language = extended.or_else(|| mdhd_language.and_then(packed_language));
        let mut roles = Vec::new();
        let kinds = child(trak, b"udta").map(|udta| {
            children(udta).map_while(|b| b.ok()).filter(|b| &b.kind == b"kind").take(MAX_KINDS).collect::<Vec<_>>()
        });
        for kind in kinds.unwrap_or_default() {
            if let Some(role) = kind_role(kind.body) {
                if !roles.contains(&role) {
                    roles.push(role);
                }
            }
        }
        TrackLabels { language, roles }
    }

    /// The first role the track states, if any.
    pub fn role(&self) -> Option<&'static str> {
        self.roles.first().copied()
    }
}

/// The body of `parent`'s first child box `kind`; `None` when there is none or the boxes do not read.
fn child<'a>(parent: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    find(parent, kind).ok().flatten().map(|b| b.body)
}

/// `mdhd`'s language: a pad bit, then three letters of 5 bits each, offset by 0x60 (ISO/IEC
/// 14496-12 §8.4.2.3). Values below 0x400 are QuickTime's Macintosh language codes, not ISO
/// 639; `und` (undetermined) and codes outside `a`–`z` say nothing.
pub fn packed_language(packed: u16) -> Option<String> {
    if packed & 0x7fff < 0x400 {
        return None;
    }
    let letters: Vec<u8> = [10, 5, 0].iter().map(|shift| ((packed >> shift) & 0x1f) as u8 + 0x60).collect();
    if !letters.iter().all(u8::is_ascii_lowercase) {
        return None;
    }
    let code = String::from_utf8(letters).ok()?;
    (code != "und").then_some(code)
}

/// `elng`'s tag: a full box whose body is a NUL-terminated BCP 47 tag.
fn elng_language(body: &[u8]) -> Option<String> {
    let mut r = Reader::new(body);
    r.skip(4).ok()?; // version, flags
    let tag = std::str::from_utf8(nul_terminated(r.rest(), MAX_LANGUAGE_BYTES)?).ok()?;
    language_tag(tag)
}

/// `tag` when it has the shape of a BCP 47 tag (subtags of 1–8 letters or digits joined by
/// `-`, the first of 2–8 letters, at most [`MAX_LANGUAGE_BYTES`]) and names a language
/// (`und` does not).
pub fn language_tag(tag: &str) -> Option<String> {
    if tag.is_empty() || tag.len() > MAX_LANGUAGE_BYTES {
        return None;
    }
    let mut subtags = tag.split('-');
    let primary = subtags.next()?;
    let primary_ok = (2..=8).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    let rest_ok = subtags.all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    (primary_ok && rest_ok && !primary.eq_ignore_ascii_case("und")).then(|| tag.to_owned())
}

/// The bytes before the first NUL, if there is one within `max` bytes.
fn nul_terminated(bytes: &[u8], max: usize) -> Option<&[u8]> {
    let end = bytes.iter().take(max + 1).position(|b| *b == 0)?;
    Some(&bytes[..end])
}

/// A `kind` box's role: a full box, then the scheme URI and the value, each NUL-terminated.
/// Only the DASH role scheme and HTML kinds are understood; anything else says nothing.
fn kind_role(body: &[u8]) -> Option<&'static str> {
    let mut r = Reader::new(body);
    r.skip(4).ok()?;
    let rest = r.rest();
    let scheme = nul_terminated(rest, MAX_KIND_FIELD_BYTES)?;
    let value = nul_terminated(&rest[scheme.len() + 1..], MAX_KIND_FIELD_BYTES)?;
    let value = std::str::from_utf8(value).ok()?;
    match scheme {
        s if s == DASH_ROLE_SCHEME.as_bytes() => DASH_ROLES.iter().find(|r| **r == value).copied(),
        s if s == HTML_KIND_SCHEME.as_bytes() => html_kind_role(value),
        _ => None,
    }
}

/// The DASH role an HTML track kind amounts to.
fn html_kind_role(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "main" => "main",
        "alternative" => "alternate",
        "commentary" => "commentary",
        "translation" => "dub",
        "descriptions" | "main-desc" => "description",
        "captions" => "caption",
        "subtitles" => "subtitle",
        "sign" => "sign",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bmff::{write_box, write_full_box};

    fn packed(code: &str) -> u16 {
        code.bytes().fold(0u16, |acc, b| (acc << 5) | (b - 0x60) as u16)
    }

    fn full_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_full_box(&mut out, kind, 0, 0, |b| b.extend_from_slice(payload));
        out
    }

    fn kind(scheme: &str, value: &str) -> Vec<u8> {
        full_box(b"kind", format!("{scheme}\0{value}\0").as_bytes())
    }

    /// A `trak` with an `mdia` holding `mdia_extra` and a `udta` holding `udta_body`.
    fn trak(mdia_extra: &[u8], udta_body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_box(&mut out, b"mdia", |b| b.extend_from_slice(mdia_extra));
        write_box(&mut out, b"udta", |b| b.extend_from_slice(udta_body));
        out
    }

    #[test]
    fn mdhd_codes_are_letters_and_und_or_mac_codes_say_nothing() {
        assert_eq!(packed_language(packed("spa")).as_deref(), Some("spa"));
        assert_eq!(packed_language(packed("eng") | 0x8000).as_deref(), Some("eng"), "the pad bit is ignored");
        assert_eq!(packed_language(packed("und")), None);
        assert_eq!(packed_language(0), None, "QuickTime's English (Macintosh code 0) is not ISO 639");
        assert_eq!(packed_language(0x7fff), None, "QuickTime's unspecified: letters past z");
        assert_eq!(packed_language(0x0401), None, "a middle letter 0 + 0x60 is a backquote");
    }

    #[test]
    fn elng_wins_over_mdhd_and_kind_boxes_give_dash_roles() {
        let mdia = full_box(b"elng", b"pt-BR\0");
        let mut udta = kind(DASH_ROLE_SCHEME, "commentary");
        udta.extend(kind(HTML_KIND_SCHEME, "translation"));
        udta.extend(kind(DASH_ROLE_SCHEME, "commentary"));
        udta.extend(kind("urn:example:other", "main"));
        let labels = TrackLabels::read(&trak(&mdia, &udta), Some(packed("por")));
        assert_eq!(labels.language.as_deref(), Some("pt-BR"));
        assert_eq!(labels.roles, ["commentary", "dub"], "each once, unknown schemes ignored");
        assert_eq!(labels.role(), Some("commentary"));
        // Without elng, mdhd's code.
        let labels = TrackLabels::read(&trak(&[], &[]), Some(packed("spa")));
        assert_eq!((labels.language.as_deref(), labels.role()), (Some("spa"), None));
    }

    /// Lying, oversized and hostile labels say nothing; none is an error or reaches an attribute.
    #[test]
    fn hostile_labels_say_nothing() {
        for tag in [
            &b"und\0"[..],
            b"en\",DEFAULT=YES\0",
            b"en",           // no NUL: unterminated
            b"x\0",          // one letter
            b"1en\0",        // digits first
            b"en--US\0",     // an empty subtag
            b"\xff\xfe\0",   // not UTF-8
            &[b'a'; 40][..], // too long, no NUL
        ] {
            let mdia = full_box(b"elng", tag);
            let labels = TrackLabels::read(&trak(&mdia, &[]), Some(packed("deu")));
            assert_eq!(labels.language.as_deref(), Some("deu"), "{tag:?}: elng says nothing, mdhd stands");
        }
        let mut long = vec![b'a'; 36];
        long.push(0);
        assert_eq!(elng_language(&[&[0, 0, 0, 0][..], &long].concat()), None, "36 bytes: too long");
        assert_eq!(elng_language(&[0, 0]), None, "truncated full box");

        let mut udta = Vec::new();
        for value in ["main\"<x>", "MAIN", "", "alternate"] {
            udta.extend(kind(DASH_ROLE_SCHEME, value));
        }
        udta.extend(full_box(b"kind", b"urn:mpeg:dash:role:2011\0main")); // value without its NUL
        udta.extend(full_box(b"kind", &[0u8; 2])); // no value at all
        udta.extend(&[0, 0, 0, 0x7f, b'k', b'i', b'n', b'd']); // a box claiming more than its parent
        let labels = TrackLabels::read(&trak(&[], &udta), None);
        assert_eq!(labels.roles, ["alternate"], "only a known value, whole");

        let mut many = Vec::new();
        for _ in 0..MAX_KINDS {
            many.extend(kind("urn:example:other", "x"));
        }
        many.extend(kind(DASH_ROLE_SCHEME, "main"));
        assert!(TrackLabels::read(&trak(&[], &many), None).roles.is_empty(), "past {MAX_KINDS} kinds, none read");
        assert_eq!(TrackLabels::read(b"\0\0\0\x09mdia", None), TrackLabels::default(), "a truncated trak");
    }

    /// ffmpeg writes `mdhd`'s language from `language=` metadata and a `kind` box from a disposition.
    #[test]
    fn an_ffmpeg_made_track_states_its_language_and_role() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spa.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", "sine=frequency=660:duration=1", "-c:a", "aac"])
            .args(["-metadata:s:a:0", "language=spa", "-disposition:a:0", "comment", "-y"])
            .arg(&path)
            .status()
            .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
        assert!(status.success());
        let mp4 = crate::mp4::Mp4::open(&path).unwrap();
        let labels = &mp4.audio().unwrap().labels;
        assert_eq!((labels.language.as_deref(), labels.role()), (Some("spa"), Some("commentary")));
    }
}
