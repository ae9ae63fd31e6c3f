//! The rest of a listing's walk, kept for its next page.
//!
//! An object store's listing of a folder cannot start after a marker, so every
//! page of a blob listing walked the whole container: a listing of n blobs cost
//! n²/5,000 objects walked (a 100k-asset catalog: 40 pages of 400k objects). The
//! names a walk found past its page are kept here, keyed by the container, the
//! prefix and the marker the next page starts after, and that page is cut from
//! them instead. A listing is no snapshot in a blob service either: a blob
//! written after the walk may be missing from later pages, and one deleted since
//! is left out when its properties are read.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Walks kept at once: a listing in progress per container being read at the same time.
const KEPT: usize = 8;

/// (container, prefix) of a listing.
pub(crate) type Key = (String, String);

#[derive(Debug, Default)]
pub(crate) struct Continuations {
    kept: Mutex<VecDeque<(Key, String, Vec<String>)>>,
}

impl Continuations {
    /// The names left after `marker` by an earlier page of the same listing, taken out.
    pub(crate) fn take(&self, key: &Key, marker: &str) -> Option<Vec<String>> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let at = kept.iter().position(|(k, m, _)| k == key && m == marker)?;
        kept.remove(at).map(|(_, _, rest)| rest)
    }

    /// Keeps `rest`, the names after `marker`, for the listing's next page; the oldest kept walk goes
    /// when there are too many (a listing abandoned half way is not kept for ever).
    pub(crate) fn keep(&self, key: Key, marker: String, rest: Vec<String>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= KEPT {
            kept.pop_front();
        }
        kept.push_back((key, marker, rest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_walk_is_taken_once_by_its_own_listing_and_marker() {
        let c = Continuations::default();
        let key = ("c".to_owned(), "p/".to_owned());
        c.keep(key.clone(), "p/b".into(), vec!["p/c".into()]);
        assert_eq!(c.take(&("c".to_owned(), "".to_owned()), "p/b"), None, "another prefix");
        assert_eq!(c.take(&key, "p/a"), None, "another marker");
        assert_eq!(c.take(&key, "p/b"), Some(vec!["p/c".to_owned()]));
        assert_eq!(c.take(&key, "p/b"), None, "taken once");
    }

    #[test]
    fn the_oldest_walk_goes_when_too_many_are_kept() {
        let c = Continuations::default();
        for i in 0..=KEPT {
            c.keep(("c".into(), String::new()), i.to_string(), vec![]);
        }
        assert_eq!(c.take(&("c".into(), String::new()), "0"), None);
        assert!(c.take(&("c".into(), String::new()), &KEPT.to_string()).is_some());
    }
}
