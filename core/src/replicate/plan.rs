//! Per blob: copy, skip (already there), or leave alone (not media); and one
//! asset's plan from both sides' listings.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use futures::stream::{self, StreamExt, TryStreamExt};
use md5::{Digest, Md5};

use super::{BlobOutcome, BlobStatus};
use crate::copy::SOURCE_ETAG_METADATA;
use crate::error::{ErrorKind, Result};
use crate::store::{BlobKind, BlobMeta, BlobStore, BlobStoreExt};

/// What to do with one blob of A, given what B holds under its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// B lacks this version: copy it.
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
pub(crate) async fn differing_bytes(
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
pub(crate) async fn md5_of(store: &dyn BlobStore, container: &str, name: &str) -> Result<String> {
    let mut got = store.get_blob(container, name, None).await?;
    let mut md5 = Md5::new();
    while let Some(chunk) = got.stream.next().await {
        md5.update(&chunk?);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(md5.finalize()))
}

/// One asset's plan: both sides' listings, and per blob copy, skip or leave alone.
#[derive(Debug)]
pub(crate) struct AssetPlan {
    /// B's blobs of the asset before the run.
    pub target_blobs: BTreeMap<String, BlobMeta>,
    /// Whether B's container exists, and whether this run has just created it (it holds nothing yet).
    target_container_exists: bool,
    created_now: bool,
    pub to_copy: Vec<BlobMeta>,
    /// The blobs settled without a copy, in A's listing order: skipped (already there) or not media.
    pub settled: Vec<BlobOutcome>,
}

impl AssetPlan {
    /// Lists the asset's container on both sides. `create_first` (an asset B
    /// has no record of, most likely new there): B's container is created
    /// first, which tells whether it is empty without listing it. `deep`:
    /// the bytes of blobs the listings call equal must be equal too.
    pub(crate) async fn read(
        source: &dyn BlobStore,
        target: &dyn BlobStore,
        container: &str,
        create_first: bool,
        deep: bool,
    ) -> Result<Self> {
        let target_listing = async {
            if create_first && target.create_container(container).await? {
                return Ok((BTreeMap::new(), true, true));
            }
            match target.list_all(container, "").await {
                Ok(list) => Ok((list.into_iter().map(|b| (b.name.clone(), b)).collect(), true, false)),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok((BTreeMap::new(), false, false)),
                Err(e) => Err(e),
            }
        };
        let (source_blobs, target_listing) = futures::join!(source.list_all(container, ""), target_listing);
        let source_blobs = match source_blobs {
            Ok(blobs) => blobs,
            Err(e) => {
                // Nothing of the asset is written when A cannot be read: not even its empty container.
                if matches!(target_listing, Ok((_, _, true))) {
                    let _ = target.delete_container(container).await;
                }
                return Err(e.into());
            }
        };
        let (target_blobs, target_container_exists, created_now): (BTreeMap<String, BlobMeta>, bool, bool) =
            target_listing?;
        let deep_differs = match deep {
            true => differing_bytes(source, target, container, &source_blobs, &target_blobs).await?,
            false => Default::default(),
        };
        let (mut to_copy, mut settled) = (Vec::new(), Vec::new());
        for blob in &source_blobs {
            let decision = match decide(blob, target_blobs.get(&blob.name)) {
                // --deep: equal listings are not enough, the bytes must be.
                Decision::Skip if deep_differs.contains(&blob.name) => Decision::Copy,
                d => d,
            };
            match decision {
                Decision::Copy => to_copy.push(blob.clone()),
                Decision::Skip => settled.push(BlobOutcome::of(blob, BlobStatus::Skipped)),
                Decision::NotMedia => {
                    let mut o = BlobOutcome::of(blob, BlobStatus::NotMedia);
                    o.error = Some(format!("{:?} blob: not a media file; left alone", blob.kind));
                    settled.push(o);
                }
            }
        }
        Ok(AssetPlan { target_blobs, target_container_exists, created_now, to_copy, settled })
    }

    /// B's container, created now if it does not exist: whether this run
    /// created it (it then holds no stored policy yet).
    pub(crate) async fn ensure_target_container(&self, target: &dyn BlobStore, container: &str) -> Result<bool> {
        match self.target_container_exists {
            true => Ok(self.created_now),
            false => Ok(target.create_container(container).await?),
        }
    }

    /// What landed: B's listing before the run plus every blob copied now
    /// (`outcomes`), and how many blobs to copy did not land.
    pub(crate) fn into_landed(self, outcomes: &[BlobOutcome]) -> (BTreeMap<String, BlobMeta>, usize) {
        let copied: BTreeSet<&str> =
            outcomes.iter().filter(|b| b.status == BlobStatus::Copied).map(|b| b.name.as_str()).collect();
        let mut landed = self.target_blobs;
        let mut missing = 0;
        for blob in self.to_copy {
            match copied.contains(blob.name.as_str()) {
                true => {
                    landed.insert(blob.name.clone(), blob);
                }
                false => missing += 1,
            }
        }
        (landed, missing)
    }
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
