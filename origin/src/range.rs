//! The `Range` header of a plain-file GET, against the file's size.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranged {
    /// No usable range: the whole file (also for several ranges, which RFC 9110 lets a server ignore).
    Whole,
    Part(Range<u64>),
    /// 416: no byte of the range exists.
    Unsatisfiable,
}

pub fn resolve(header: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ranged::Whole };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Ranged::Whole };
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
    let (Some(first), Some(last)) = (number(first), number(last)) else { return Ranged::Whole };
    match (first, last) {
        (None, None) => Ranged::Whole,
        // The last n bytes; `-0` asks for none.
        (None, Some(0)) => Ranged::Unsatisfiable,
        (None, Some(_)) if size == 0 => Ranged::Unsatisfiable,
        (None, Some(n)) => Ranged::Part(size.saturating_sub(n)..size),
        (Some(a), _) if a >= size => Ranged::Unsatisfiable,
        (Some(a), None) => Ranged::Part(a..size),
        (Some(a), Some(b)) if b < a => Ranged::Whole,
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
        assert_eq!(resolve(Some("bytes=10-"), 10), Ranged::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=99999999999999999999999-"), 10), Ranged::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=0-99999999999999999999999"), 10), Ranged::Part(0..10));
        assert_eq!(resolve(Some("bytes=0-1,4-5"), 10), Ranged::Whole);
        assert_eq!(resolve(Some("bytes=5-2"), 10), Ranged::Whole);
        assert_eq!(resolve(Some("items=0-1"), 10), Ranged::Whole);
        assert_eq!(resolve(Some("bytes=a-b"), 10), Ranged::Whole);
        assert_eq!(resolve(Some("bytes=0-"), 0), Ranged::Unsatisfiable);
    }
}
