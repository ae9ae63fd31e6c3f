//! The `Range` header of a GET, against the file's size: the one parser of the
//! house (the origin's plain files, the encoder's source relay).
//!
//! What a server does with a header it cannot use, and with ffmpeg's seek to
//! the very end (`bytes=<size>-`), differs between the two: both are told
//! apart here, and each caller decides (see [`Ranged::Unusable`] and
//! [`Ranged::AtEnd`]).

use std::ops::Range;

/// What a `Range` header asks of a file of a given size, as [`resolve`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranged {
    /// No `Range` header: the whole file.
    Whole,
    /// 206: these bytes, never empty and never past the end of the file.
    Part(Range<u64>),
    /// 416: no byte of the range exists.
    Unsatisfiable,
    /// `bytes=<size>-`: no byte exists, and ffmpeg asks it when it seeks to the end. RFC 9110
    /// calls it unsatisfiable (the origin answers 416); the relay answers an empty 206.
    AtEnd,
    /// A header this parser does not use: several ranges, another unit, a malformed or
    /// backwards range. RFC 9110 lets a server ignore it (the origin sends the whole
    /// file); the relay refuses it with 416 (ffmpeg never sends one).
    Unusable,
}

/// The range `header` (the `Range` header's value, if any) asks of `size` bytes.
pub fn resolve(header: Option<&str>, size: u64) -> Ranged {
    let Some(header) = header else { return Ranged::Whole };
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return Ranged::Unusable };
    if spec.contains(',') {
        return Ranged::Unusable;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Ranged::Unusable };
    let number = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            Some(None)
        } else if s.bytes().all(|b| b.is_ascii_digit()) {
            // Too large for u64 is still a number: past any file's end.
            Some(Some(s.parse().unwrap_or(u64::MAX)))
        } else {
            None
        }
    };
    let (Some(first), Some(last)) = (number(first), number(last)) else { return Ranged::Unusable };
    match (first, last) {
        (None, None) => Ranged::Unusable,
        // The last n bytes; `-0` asks for none.
        (None, Some(0)) => Ranged::Unsatisfiable,
        (None, Some(_)) if size == 0 => Ranged::Unsatisfiable,
        (None, Some(n)) => Ranged::Part(size.saturating_sub(n)..size),
        (Some(a), None) if a == size => Ranged::AtEnd,
        (Some(a), _) if a >= size => Ranged::Unsatisfiable,
        (Some(a), None) => Ranged::Part(a..size),
        (Some(a), Some(b)) if b < a => Ranged::Unusable,
        (Some(a), Some(b)) => Ranged::Part(a..b.saturating_add(1).min(size)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        assert_eq!(resolve(None, 10), Ranged::Whole);
        assert_eq!(resolve(Some("bytes=0-3"), 10), Ranged::Part(0..4));
        assert_eq!(resolve(Some("bytes=5-"), 10), Ranged::Part(5..10));
        assert_eq!(resolve(Some("bytes=-3"), 10), Ranged::Part(7..10));
        assert_eq!(resolve(Some("bytes=-30"), 10), Ranged::Part(0..10));
        assert_eq!(resolve(Some("bytes=8-100"), 10), Ranged::Part(8..10));
        assert_eq!(resolve(Some("bytes=-0"), 10), Ranged::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=10-"), 10), Ranged::AtEnd);
        assert_eq!(resolve(Some("bytes=11-"), 10), Ranged::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=10-12"), 10), Ranged::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=99999999999999999999999-"), 10), Ranged::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=0-99999999999999999999999"), 10), Ranged::Part(0..10));
        assert_eq!(resolve(Some("bytes=0-1,4-5"), 10), Ranged::Unusable);
        assert_eq!(resolve(Some("bytes=5-2"), 10), Ranged::Unusable);
        assert_eq!(resolve(Some("items=0-1"), 10), Ranged::Unusable);
        assert_eq!(resolve(Some("bytes=a-b"), 10), Ranged::Unusable);
        assert_eq!(resolve(Some("bytes=-"), 10), Ranged::Unusable);
        assert_eq!(resolve(Some("bytes=0-"), 0), Ranged::AtEnd);
        assert_eq!(resolve(Some("bytes=-5"), 0), Ranged::Unsatisfiable);
    }

    #[test]
    fn ranges_as_ffmpeg_asks_for_them() {
        assert_eq!(resolve(Some("bytes=0-"), 100), Ranged::Part(0..100));
        assert_eq!(resolve(Some("bytes=10-19"), 100), Ranged::Part(10..20));
        assert_eq!(resolve(Some("bytes=90-200"), 100), Ranged::Part(90..100));
        assert_eq!(resolve(Some("bytes=-10"), 100), Ranged::Part(90..100));
        assert_eq!(resolve(Some("bytes=100-"), 100), Ranged::AtEnd, "a seek to the end");
        assert_eq!(resolve(Some("bytes=101-"), 100), Ranged::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=99999999999999999999-"), 100), Ranged::Unsatisfiable);
    }
}
