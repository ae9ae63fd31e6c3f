//! Blob by blob: presence, size, Content-MD5, content type, user metadata;
//! with `deep`, the bytes of both sides hashed and checked against the stored MD5.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use futures::stream::{self, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use mirrorcast_core::copy::SOURCE_ETAG_METADATA;
use mirrorcast_core::store::{BlobKind, BlobMeta, BlobStore};

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

/// Streams a blob through MD5 with bounded memory.
async fn md5_of(store: &dyn BlobStore, container: &str, name: &str) -> mirrorcast_core::Result<String> {
    let got = store.get_blob(container, name, None).await?;
    let mut md5 = Md5::new();
    let mut s = got.stream;
    while let Some(chunk) = s.try_next().await? {
        md5.update(&chunk);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(md5.finalize()))
}

/// Hashes every blob present on both sides with equal sizes, `parallel` at a
/// time, and reports bytes that differ or do not match their stored MD5.
pub async fn deep(
    a_store: &dyn BlobStore,
    b_store: &dyn BlobStore,
    container: &str,
    a: &[BlobMeta],
    b: &[BlobMeta],
    parallel: usize,
) -> Vec<Entry> {
    let in_b: BTreeMap<&str, &BlobMeta> = b.iter().map(|m| (m.name.as_str(), m)).collect();
    let pairs: Vec<(&BlobMeta, &BlobMeta)> = a
        .iter()
        .filter(|m| m.kind == BlobKind::Block)
        .filter_map(|m| in_b.get(m.name.as_str()).filter(|d| d.size == m.size).map(|d| (m, *d)))
        .collect();
    stream::iter(pairs)
        .map(|(src, dst)| async move {
            let (ha, hb) = tokio::join!(md5_of(a_store, container, &src.name), md5_of(b_store, container, &dst.name));
            let mut out = Vec::new();
            match (ha, hb) {
                (Ok(ha), Ok(hb)) => {
                    if src.properties.content_md5.as_ref().is_some_and(|m| *m != ha) {
                        out.push(Entry::new(
                            Marker::Differs,
                            Check::Blob,
                            Side::A,
                            &src.name,
                            "stored Content-MD5 does not match the bytes",
                        ));
                    }
                    if dst.properties.content_md5.as_ref().is_some_and(|m| *m != hb) {
                        out.push(Entry::new(
                            Marker::Differs,
                            Check::Blob,
                            Side::B,
                            &dst.name,
                            "stored Content-MD5 does not match the bytes",
                        ));
                    }
                    if ha != hb {
                        out.push(Entry::new(
                            Marker::Differs,
                            Check::Blob,
                            Side::B,
                            &dst.name,
                            "bytes differ (MD5 of the content)",
                        ));
                    }
                }
                (Err(e), _) | (_, Err(e)) => out.push(Entry::new(
                    Marker::Error,
                    Check::Blob,
                    Side::Both,
                    &src.name,
                    format!("could not read to hash: {e}"),
                )),
            }
            out
        })
        .buffer_unordered(parallel.max(1))
        .flat_map(stream::iter)
        .collect()
        .await
}

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
