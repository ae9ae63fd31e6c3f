//! Per blob: copy, skip (already there), or leave alone (not media).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use futures::stream::{self, StreamExt, TryStreamExt};
use md5::{Digest, Md5};

use crate::copy::SOURCE_ETAG_METADATA;
use crate::error::Result;
use crate::store::{BlobKind, BlobMeta, BlobStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Copy,
    /// The target holds this version: same size and recorded source ETag, or same MD5.
    Skip,
    /// A page or append blob.
    NotMedia,
}

/// Never trusts a name alone: a target blob counts only if its size matches
/// and it records this source ETag or carries the same Content-MD5.
pub fn decide(source: &BlobMeta, target: Option<&BlobMeta>) -> Decision {
    if source.kind != BlobKind::Block {
        return Decision::NotMedia;
    }
    let Some(t) = target else { return Decision::Copy };
    if t.size != source.size {
        return Decision::Copy;
    }
    let same_version = t.metadata.get(SOURCE_ETAG_METADATA) == Some(&source.etag);
    let same_md5 = source.properties.content_md5.is_some() && source.properties.content_md5 == t.properties.content_md5;
    if same_version || same_md5 {
        Decision::Skip
    } else {
        Decision::Copy
    }
}

/// `--deep`: the blobs [`decide`] would skip whose bytes differ between the
/// two sides (hashed as they stream, so memory stays at a chunk per blob).
pub async fn differing_bytes(
    source: &dyn BlobStore,
    target: &dyn BlobStore,
    container: &str,
    source_blobs: &[BlobMeta],
    target_blobs: &BTreeMap<String, BlobMeta>,
) -> Result<BTreeSet<String>> {
    let candidates: Vec<&BlobMeta> =
        source_blobs.iter().filter(|b| decide(b, target_blobs.get(&b.name)) == Decision::Skip).collect();
    let differ: Vec<Option<String>> = stream::iter(candidates)
        .map(|b| async move {
            let (a, t) = tokio::try_join!(md5_of(source, container, &b.name), md5_of(target, container, &b.name))?;
            Ok::<_, crate::Error>((a != t).then(|| b.name.clone()))
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    Ok(differ.into_iter().flatten().collect())
}

/// Base64 MD5 of a blob's bytes as they are now.
pub async fn md5_of(store: &dyn BlobStore, container: &str, name: &str) -> Result<String> {
    let mut got = store.get_blob(container, name, None).await?;
    let mut md5 = Md5::new();
    while let Some(chunk) = got.stream.next().await {
        md5.update(&chunk?);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(md5.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, etag: &str, md5: Option<&str>) -> BlobMeta {
        BlobMeta {
            name: "a.mp4".into(),
            size,
            etag: etag.into(),
            last_modified: None,
            kind: BlobKind::Block,
            properties: crate::store::BlobProperties { content_md5: md5.map(Into::into), ..Default::default() },
            metadata: Default::default(),
        }
    }

    #[test]
    fn only_a_proven_copy_is_skipped() {
        let src = meta(10, "\"e1\"", None);
        assert_eq!(decide(&src, None), Decision::Copy);
        let mut copied = meta(10, "\"t1\"", None);
        copied.metadata.insert(SOURCE_ETAG_METADATA.into(), "\"e1\"".into());
        assert_eq!(decide(&src, Some(&copied)), Decision::Skip);
        let moved = meta(10, "\"e2\"", None);
        assert_eq!(decide(&moved, Some(&copied)), Decision::Copy, "a source that changed is copied again");
        assert_eq!(decide(&meta(11, "\"e1\"", None), Some(&copied)), Decision::Copy);
        assert_eq!(decide(&meta(10, "\"x\"", Some("m")), Some(&meta(10, "\"y\"", Some("m")))), Decision::Skip);
        assert_eq!(
            decide(&meta(10, "\"x\"", None), Some(&meta(10, "\"y\"", None))),
            Decision::Copy,
            "a name alone proves nothing"
        );
        let mut page = meta(512, "\"p\"", None);
        page.kind = BlobKind::Page;
        assert_eq!(decide(&page, None), Decision::NotMedia);
    }

    #[test]
    fn shards_split_assets_without_overlap() {
        use super::super::Shard;
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for _ in 0..100 {
            let id = crate::id::AssetId::new();
            assert_eq!(shards.iter().filter(|s| s.owns(&id)).count(), 1);
        }
        assert_eq!(Shard::from_indexed_job("0", "3").unwrap(), "1/3".parse().unwrap());
        assert!(Shard::from_indexed_job("3", "3").is_err() && Shard::from_indexed_job("x", "3").is_err());
        assert!("0/3".parse::<Shard>().is_err() && "4/3".parse::<Shard>().is_err() && "x".parse::<Shard>().is_err());
    }
}
