//! Where each blob lives inside the store: a one-to-one, reversible mapping
//! from (container, blob name) to object paths, so no two blobs share a file
//! and no blob name can reach the reserved folder.
//!
//! A blob name is split at '/'. Each segment is percent-encoded (object_store's
//! set of unsafe characters, plus a leading '.', so `.`, `..` and
//! `.mirrorcast` cannot appear); an empty segment is written `%` (encoding
//! never yields a lone '%'). Folders carry a trailing `%` that file names
//! never have, so blob `a` (a file) and blob `a/b` (a file in folder `a%`)
//! live side by side, as they do in a blob store.

use object_store::path::Path;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use sha2::{Digest, Sha256};

/// The folder of a container that holds what is not blob bytes.
pub const RESERVED: &str = ".mirrorcast";

/// object_store's unsafe characters, plus those the local file store gives a
/// meaning to (`#` before digits marks its temporary files).
const UNSAFE: &AsciiSet = &CONTROLS
    .add(b'/')
    .add(b'\\')
    .add(b'{')
    .add(b'^')
    .add(b'}')
    .add(b'%')
    .add(b'`')
    .add(b']')
    .add(b'"')
    .add(b'>')
    .add(b'[')
    .add(b'~')
    .add(b'<')
    .add(b'#')
    .add(b'|')
    .add(b'*')
    .add(b'?')
    .add(b':');

fn encode_segment(segment: &str) -> String {
    if segment.is_empty() {
        return "%".to_owned();
    }
    let encoded = utf8_percent_encode(segment, UNSAFE).to_string();
    match encoded.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None => encoded,
    }
}

fn decode_segment(part: &str) -> Option<String> {
    if part == "%" {
        return Some(String::new());
    }
    let decoded = percent_decode_str(part).decode_utf8().ok()?.into_owned();
    // Only what encode_segment writes: anything else in the folder is not ours.
    (encode_segment(&decoded) == part).then_some(decoded)
}

/// The relative path parts of blob `name`, `suffix` appended to the last.
fn name_parts(name: &str, suffix: &str) -> Vec<String> {
    let segments: Vec<&str> = name.split('/').collect();
    let last = segments.len() - 1;
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}{}", encode_segment(s), if i == last { suffix } else { "%" }))
        .collect()
}

fn path_of(parts: impl IntoIterator<Item = String>) -> Path {
    // Every part is non-empty, free of '/' and control characters and never
    // `.`/`..`, so the raw path is the parts joined: no re-encoding.
    let joined = parts.into_iter().collect::<Vec<_>>().join("/");
    Path::parse(&joined).unwrap_or_else(|_| Path::from(joined.as_str()))
}

/// The bytes of blob `name`.
pub fn blob_path(container: &str, name: &str) -> Path {
    path_of(std::iter::once(container.to_owned()).chain(name_parts(name, "")))
}

/// The JSON beside blob `name`: its properties, metadata and ETag.
pub fn sidecar_path(container: &str, name: &str) -> Path {
    path_of([container.to_owned(), RESERVED.to_owned(), "meta".to_owned()].into_iter().chain(name_parts(name, ".json")))
}

/// The marker that makes `container` a container.
pub fn marker_path(container: &str) -> Path {
    path_of([container.to_owned(), RESERVED.to_owned(), "container".to_owned()])
}

/// A staged block: a fixed-length file name whatever the blob's name.
pub fn block_path(container: &str, name: &str, block_id: &str) -> Path {
    let hash = |s: &str| Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    path_of([container.to_owned(), RESERVED.to_owned(), "blocks".to_owned(), hash(name), hash(block_id)])
}

/// The folders, inside the container's folder, that hold every blob whose name starts with
/// `prefix`: those of its part before the last '/' (none when it has no '/').
pub fn prefix_folders(prefix: &str) -> Vec<String> {
    match prefix.rsplit_once('/') {
        Some((folders, _)) => name_parts(folders, "%"),
        None => Vec::new(),
    }
}

/// The blob whose bytes are at `location`, if `location` holds blob bytes of `container`.
pub fn name_of(container: &str, location: &Path) -> Option<String> {
    let mut parts = location.parts();
    if parts.next()?.as_ref() != container {
        return None;
    }
    let rest: Vec<String> = parts.map(|p| p.as_ref().to_owned()).collect();
    let (last, folders) = rest.split_last()?;
    let mut segments = Vec::with_capacity(rest.len());
    for folder in folders {
        segments.push(decode_segment(folder.strip_suffix('%')?)?);
    }
    segments.push(decode_segment(last)?);
    Some(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tricky_names_map_to_distinct_paths_and_back() {
        let names = [
            "a",
            "a/",
            "a//b",
            "a/b",
            "/a",
            "//",
            "/",
            ".",
            "..",
            "a/./b",
            "a/../b",
            ".mirrorcast/meta/a.json",
            ".mirrorcast",
            "%",
            "%%",
            "a%/b",
            "a%",
            "%2E",
            "take#2",
            "x.json",
            " a ",
            "Ünï/映画",
            "a\\b",
            "c:d",
        ];
        let mut seen = std::collections::BTreeMap::new();
        for n in names {
            let p = blob_path("c", n);
            assert_eq!(name_of("c", &p).as_deref(), Some(n), "{n:?} → {p}");
            if let Some(other) = seen.insert(p.to_string(), n) {
                panic!("{n:?} and {other:?} share {p}");
            }
            assert!(p.parts().all(|part| !part.as_ref().starts_with('.')), "{n:?} → {p} reaches a dot folder");
            assert_eq!(name_of("c", &sidecar_path("c", n)), None, "a sidecar is never listed as a blob");
        }
        assert_eq!(name_of("c", &marker_path("c")), None);
        assert_eq!(name_of("c", &block_path("c", "a", "b")), None);
        assert_eq!(name_of("d", &blob_path("c", "a")), None);
    }

    #[test]
    fn block_paths_stay_short_for_long_names() {
        let long = "n".repeat(1024);
        assert!(block_path("c", &long, "id").parts().all(|p| p.as_ref().len() <= 64));
        assert_ne!(block_path("c", "a", "1"), block_path("c", "b", "1"));
    }

    fn any_name() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just(String::new()),
                Just(".".to_owned()),
                Just("..".to_owned()),
                Just(RESERVED.to_owned()),
                Just("%".to_owned()),
                "[a%./#: \\\\\u{1}-\u{7f}é映]{1,6}",
            ],
            1..5,
        )
        .prop_map(|segments| segments.join("/"))
        .prop_filter("a blob name is not empty", |n| !n.is_empty())
    }

    proptest! {
        #[test]
        fn blob_paths_round_trip(name in any_name()) {
            let path = blob_path("c", &name);
            prop_assert_eq!(name_of("c", &path), Some(name.clone()));
            prop_assert!(path.parts().skip(1).all(|p| !p.as_ref().starts_with('.')));
        }

        #[test]
        fn distinct_names_never_share_a_path(a in any_name(), b in any_name()) {
            prop_assume!(a != b);
            prop_assert_ne!(blob_path("c", &a), blob_path("c", &b));
            prop_assert_ne!(sidecar_path("c", &a), sidecar_path("c", &b));
            // Neither is a folder of the other's file.
            let (pa, pb) = (blob_path("c", &a).to_string(), blob_path("c", &b).to_string());
            let (da, db) = (format!("{}/", pa), format!("{}/", pb));
            prop_assert!(!pb.starts_with(&da) && !pa.starts_with(&db));
        }
    }
}
