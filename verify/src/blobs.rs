//! Blob by blob: presence, size, Content-MD5, content type, user metadata;
//! with `deep`, the bytes of both sides compared, and checked against the stored MD5
//! (side_by_side.rs).

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};
use mirrorcast_core::copy::SOURCE_ETAG_METADATA;
use mirrorcast_core::store::{BlobKind, BlobMeta, BlobStore, BlockPool};

use crate::report::{Check, Entry, Marker, Side};

/// Compares two listings of one container. A page or append blob is not
/// media and is not replicated, unless A's file infos list it (A serves it):
/// then B must have it too.
pub fn compare(a: &[BlobMeta], b: &[BlobMeta], a_file_infos: &BTreeSet<&str>) -> Vec<Entry> {
    let in_b: BTreeMap<&str, &BlobMeta> = b.iter().map(|m| (m.name.as_str(), m)).collect();
    let in_a: BTreeMap<&str, &BlobMeta> = a.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut out = Vec::new();
    for src in a {
        let Some(dst) = in_b.get(src.name.as_str()) else {
            if src.kind != BlobKind::Block && !a_file_infos.contains(src.name.as_str()) {
                out.push(Entry::new(
                    Marker::Same,
                    Check::Blob,
                    Side::A,
                    &src.name,
                    format!("{:?} blob: not media, not replicated", src.kind),
                ));
            } else {
                out.push(Entry::new(Marker::Missing, Check::Blob, Side::B, &src.name, "missing in B"));
            }
            continue;
        };
        let mut why = Vec::new();
        if src.size != dst.size {
            why.push(format!("size {} in A, {} in B", src.size, dst.size));
        }
        if let (Some(x), Some(y)) = (&src.properties.content_md5, &dst.properties.content_md5) {
            if x != y {
                why.push(format!("Content-MD5 {x} in A, {y} in B"));
            }
        }
        if src.properties.content_type != dst.properties.content_type {
            why.push(format!(
                "content type {} in A, {} in B",
                src.properties.content_type.as_deref().unwrap_or("(none)"),
                dst.properties.content_type.as_deref().unwrap_or("(none)")
            ));
        }
        let user = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter().filter(|(k, _)| k.as_str() != SOURCE_ETAG_METADATA).map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        if user(&src.metadata) != user(&dst.metadata) {
            why.push("user metadata differs".to_owned());
        }
        if why.is_empty() {
            out.push(Entry::new(Marker::Same, Check::Blob, Side::Both, &src.name, "same"));
        } else {
            out.push(Entry::new(Marker::Differs, Check::Blob, Side::B, &src.name, why.join("; ")));
        }
    }
    for dst in b {
        if !in_a.contains_key(dst.name.as_str()) {
            out.push(Entry::new(Marker::Extra, Check::Blob, Side::B, &dst.name, "extra in B (not in A)"));
        }
    }
    out
}

/// How `--deep` reads the bytes it compares.
#[derive(Debug, Clone)]
pub struct DeepReads {
    /// The run's budget for blob bytes read and not yet compared and hashed,
    /// shared by every blob of both sides; its block size is the unit both
    /// sides are read and compared in (the range size of ranged reads).
    pub pool: BlockPool,
    /// Pairs of ranged reads (one per side) in flight at once for one blob.
    pub ranges_per_blob: usize,
    /// Whether a blob larger than one range is read in ranges (else with one GET).
    pub ranged: bool,
}

impl DeepReads {
    /// A budget of `memory_budget` bytes read in `range_size` ranges; one
    /// blob's pairs of ranges may hold all of it. A `range_size` of 0: every
    /// blob with one GET per side, read into blocks of [`STREAMED_BLOCK`].
    pub fn new(range_size: u64, memory_budget: u64) -> Self {
        let ranged = range_size > 0;
        let block = if ranged { range_size } else { STREAMED_BLOCK };
        let pool = BlockPool::new(block as usize, memory_budget);
        let ranges_per_blob = (pool.blocks() / 2).clamp(1, MAX_RANGES_PER_BLOB);
        DeepReads { pool, ranges_per_blob, ranged }
    }
}

/// The block a blob read with one GET is compared (and hashed) in: small
/// enough that a few per blob stay far within the budget, large enough that
/// handing one to the hash costs nothing next to hashing it.
pub const STREAMED_BLOCK: u64 = 1 << 20;

/// More ranged GETs of one blob at once buy nothing on Azure (a blob's own
/// limit is about 60 MiB/s per request, 8 keep a large blob near the account's)
/// and cost the emulator.
const MAX_RANGES_PER_BLOB: usize = 8;

/// Compares the bytes of every blob present on both sides with equal sizes,
/// `parallel` at a time, and reports bytes that differ or do not match their
/// stored MD5. A Content-MD5 stored on either side is checked against the
/// bytes: while A's and B's bytes are equal one hash of them serves both.
pub async fn deep(
    a_store: &dyn BlobStore,
    b_store: &dyn BlobStore,
    container: &str,
    (a, b): (&[BlobMeta], &[BlobMeta]),
    parallel: usize,
    reads: &DeepReads,
) -> Vec<Entry> {
    let in_b: BTreeMap<&str, &BlobMeta> = b.iter().map(|m| (m.name.as_str(), m)).collect();
    let pairs: Vec<(&BlobMeta, &BlobMeta)> = a
        .iter()
        .filter(|m| m.kind == BlobKind::Block)
        .filter_map(|m| in_b.get(m.name.as_str()).filter(|d| d.size == m.size).map(|d| (m, *d)))
        .collect();
    stream::iter(pairs)
        .map(|(src, dst)| async move {
            let hash = src.properties.content_md5.is_some() || dst.properties.content_md5.is_some();
            let compared = side_by_side::compare((a_store, b_store), container, (src, dst), reads, hash).await;
            let mut out = Vec::new();
            match compared {
                Ok(compared) => {
                    if let Some((ha, hb)) = &compared.md5 {
                        for (side, listed, hashed) in [(Side::A, src, ha), (Side::B, dst, hb)] {
                            if listed.properties.content_md5.as_ref().is_some_and(|m| m != hashed) {
                                out.push(Entry::new(
                                    Marker::Differs,
                                    Check::Blob,
                                    side,
                                    &listed.name,
                                    "stored Content-MD5 does not match the bytes",
                                ));
                            }
                        }
                    }
                    if let Some(at) = compared.first_difference {
                        out.push(Entry::new(
                            Marker::Differs,
                            Check::Blob,
                            Side::B,
                            &dst.name,
                            format!("bytes differ, first at byte {at}"),
                        ));
                    }
                }
                Err(e) => out.push(Entry::new(
                    Marker::Error,
                    Check::Blob,
                    Side::Both,
                    &src.name,
                    format!("could not read to compare: {e}"),
                )),
            }
            out
        })
        .buffer_unordered(parallel.max(1))
        .flat_map(stream::iter)
        .collect()
        .await
}

mod side_by_side;

#[cfg(test)]
mod deep_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorcast_core::store::BlobProperties;

    fn blob(name: &str, kind: BlobKind) -> BlobMeta {
        BlobMeta {
            name: name.into(),
            size: 512,
            etag: "\"1\"".into(),
            last_modified: None,
            kind,
            properties: BlobProperties::default(),
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn a_page_or_append_blob_in_a_file_infos_but_not_in_b_is_missing() {
        let a =
            [blob("disk.vhd", BlobKind::Page), blob("log.txt", BlobKind::Append), blob("other.vhd", BlobKind::Page)];
        let listed: BTreeSet<&str> = ["disk.vhd", "log.txt"].into();
        let entries = compare(&a, &[], &listed);
        let marker = |n: &str| entries.iter().find(|e| e.path == n).map(|e| e.marker);
        assert_eq!(marker("disk.vhd"), Some(Marker::Missing));
        assert_eq!(marker("log.txt"), Some(Marker::Missing));
        assert_eq!(marker("other.vhd"), Some(Marker::Same), "a page blob A does not serve is reported, not missing");
    }
}
