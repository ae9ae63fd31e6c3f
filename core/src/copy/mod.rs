//! Copying one blob from a source store to a target store.
//!
//! - [`StreamedCopy`]: through the client; works between any two stores.
//! - [`ServerSideCopy`]: the target service reads the source through a SAS URL.
//! - [`AutoCopy`]: server-side where the stores' capabilities allow it, falling
//!   back to streamed when the target cannot reach the source after all.

mod auto;
mod server;
mod streamed;

pub use auto::{AutoCopy, StrategyChoice};
pub use server::ServerSideCopy;
pub use streamed::StreamedCopy;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{BlobKind, BlobMeta, BlobStore, PutOptions, SignedUrl};

/// User-metadata key under which the target records the source ETag it copied.
pub const SOURCE_ETAG_METADATA: &str = "mirrorcast_source_etag";

/// How a blob travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CopyStrategy {
    /// Read through the client, written as blocks: works between any two stores.
    Streamed,
    /// One synchronous server-side copy request.
    ServerSingle,
    /// Server-side, block by block.
    ServerBlocks,
}

impl fmt::Display for CopyStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CopyStrategy::Streamed => "streamed",
            CopyStrategy::ServerSingle => "server-single",
            CopyStrategy::ServerBlocks => "server-blocks",
        })
    }
}

/// Where a blob comes from and where it goes.
#[derive(Debug, Clone, Copy)]
pub struct CopyRequest<'a> {
    /// The store the blob is read from.
    pub source: &'a dyn BlobStore,
    /// The blob's container in the source.
    pub source_container: &'a str,
    /// The store the blob is written to.
    pub target: &'a dyn BlobStore,
    /// The blob's container in the target.
    pub target_container: &'a str,
    /// The blob's name, the same on both sides.
    pub name: &'a str,
    /// A read SAS URL of the source container, issued once per asset, for
    /// server-side copies; without it a short-lived blob SAS is issued per copy.
    pub source_container_url: Option<&'a SignedUrl>,
    /// The source blob as a listing just saw it, which saves a HEAD; the copy
    /// still checks the ETag it reads against it.
    pub source_meta: Option<&'a BlobMeta>,
}

impl CopyRequest<'_> {
    /// The source blob's metadata: from the listing if given, else a HEAD.
    pub async fn source_meta(&self) -> Result<BlobMeta> {
        match self.source_meta {
            Some(m) => Ok(m.clone()),
            None => Ok(self.source.head_blob(self.source_container, self.name).await?),
        }
    }
}

/// What one copy did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyOutcome {
    /// Bytes copied: the source version's size.
    pub bytes: u64,
    /// How the blob travelled.
    pub strategy: CopyStrategy,
    /// The ETag of the source version that was copied, as recorded in the target.
    pub source_etag: String,
    /// The ETag of the blob as written in the target.
    pub target_etag: String,
}

/// One way of copying a blob; shared by the copies in flight, so `&self`.
#[async_trait]
pub trait CopyEngine: Send + Sync + fmt::Debug {
    /// Copies one block blob: the target then holds the version read, with its properties and metadata and
    /// its ETag under [`SOURCE_ETAG_METADATA`]. A source that changes meanwhile is `PreconditionFailed`,
    /// a page or append blob `Unsupported`.
    async fn copy_blob(&self, request: CopyRequest<'_>) -> Result<CopyOutcome>;
}

/// The options of a write that reproduces `source` in the target: its
/// properties, its metadata, and the source ETag.
pub fn target_put_options(source: &BlobMeta) -> PutOptions {
    let mut metadata = source.metadata.clone();
    metadata.insert(SOURCE_ETAG_METADATA.to_owned(), source.etag.clone());
    PutOptions { properties: source.properties.clone(), metadata, condition: Default::default() }
}

/// Refuses page and append blobs: they are not media and a block copy would corrupt them.
pub fn ensure_block_blob(meta: &BlobMeta) -> Result<()> {
    if meta.kind != BlobKind::Block {
        return Err(Error::unsupported(format!(
            "'{}' is a {:?} blob; only block blobs are media assets, so it is not copied",
            meta.name, meta.kind
        )));
    }
    Ok(())
}

pub(crate) use crate::store::source_changed;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BlobStoreExt, InMemoryStore};
    use bytes::Bytes;

    /// A copy of `src/v.mp4` in `a` to `dst/v.mp4` in `b`.
    fn copy_of<'a>(a: &'a dyn BlobStore, b: &'a dyn BlobStore, listed: Option<&'a BlobMeta>) -> CopyRequest<'a> {
        CopyRequest {
            source: a,
            source_container: "src",
            target: b,
            target_container: "dst",
            name: "v.mp4",
            source_container_url: None,
            source_meta: listed,
        }
    }

    #[tokio::test]
    async fn streamed_copy_keeps_bytes_properties_and_records_the_source_etag() {
        let (a, b) = (InMemoryStore::new(), InMemoryStore::new());
        a.create_container("src").await.unwrap();
        b.create_container("dst").await.unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut put = PutOptions::default();
        put.properties.content_type = Some("video/mp4".into());
        put.metadata.insert("kind".into(), "rendition".into());
        let etag = a.put_blob("src", "v.mp4", Bytes::from(data.clone()), &put).await.unwrap();
        let engine = StreamedCopy { block_size: 16 * 1024, concurrency: 3, pool: None, ranged_reads: false };
        let req = copy_of(&a, &b, None);
        let out = engine.copy_blob(req).await.unwrap();
        assert_eq!(out.bytes, 100_000);
        assert_eq!(out.source_etag, etag);
        let (meta, got) = b.get_bytes("dst", "v.mp4").await.unwrap();
        assert_eq!(got.as_ref(), data.as_slice());
        assert_eq!(meta.properties.content_type.as_deref(), Some("video/mp4"));
        assert_eq!(meta.properties.content_md5, a.head_blob("src", "v.mp4").await.unwrap().properties.content_md5);
        assert_eq!(meta.metadata.get(SOURCE_ETAG_METADATA), Some(&etag));
        assert_eq!(meta.metadata.get("kind").map(String::as_str), Some("rendition"));
    }

    #[tokio::test]
    async fn a_source_that_moved_since_it_was_listed_is_not_copied_as_a_mix() {
        let (a, b) = (InMemoryStore::new(), InMemoryStore::new());
        a.create_container("src").await.unwrap();
        b.create_container("dst").await.unwrap();
        a.put_blob("src", "v.mp4", Bytes::from_static(b"version one"), &PutOptions::default()).await.unwrap();
        let listed = a.head_blob("src", "v.mp4").await.unwrap();
        a.put_blob("src", "v.mp4", Bytes::from_static(b"version two!"), &PutOptions::default()).await.unwrap();
        let req = copy_of(&a, &b, Some(&listed));
        let err = StreamedCopy::default().copy_blob(req).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::PreconditionFailed, "{err}");
        assert!(b.head_opt("dst", "v.mp4").await.unwrap().is_none(), "nothing may land from a moved source");
        let fresh = CopyRequest { source_meta: None, ..req };
        let out = StreamedCopy::default().copy_blob(fresh).await.unwrap();
        assert_eq!(out.bytes, 12, "a fresh look copies the version the source has now");
    }

    /// A source committed from blocks with a Content-MD5 that is not its
    /// bytes' (the service takes it as given: AzCopy #257).
    async fn source_with_a_false_md5(size: usize) -> InMemoryStore {
        let a = InMemoryStore::new();
        a.create_container("src").await.unwrap();
        let mut put = PutOptions::default();
        put.properties.content_md5 = Some("AAAAAAAAAAAAAAAAAAAAAA==".into());
        a.put_block("src", "v.mp4", "b0", Bytes::from(vec![9u8; size])).await.unwrap();
        a.put_block_list("src", "v.mp4", &["b0".to_owned()], &put).await.unwrap();
        a
    }

    #[tokio::test]
    async fn a_one_block_copy_whose_bytes_do_not_match_the_source_md5_commits_nothing() {
        let (a, b) = (source_with_a_false_md5(1000).await, InMemoryStore::new());
        b.create_container("dst").await.unwrap();
        assert!(b.capability().put_blob_checks_content_md5, "the target's own hash is the check here");
        let req = copy_of(&a, &b, None);
        let err = StreamedCopy::default().copy_blob(req).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("AAAAAAAAAAAAAAAAAAAAAA=="), "the error names the MD5 that failed: {err}");
        assert!(b.head_opt("dst", "v.mp4").await.unwrap().is_none(), "nothing may be committed");
    }

    /// A target that takes any Content-MD5 as given and says so.
    #[derive(Debug)]
    struct TakesMd5AsGiven(InMemoryStore);

    #[async_trait]
    impl BlobStore for TakesMd5AsGiven {
        fn describe(&self) -> String {
            "takes MD5 as given".into()
        }
        fn capability(&self) -> crate::store::Capability {
            let mut c = self.0.capability();
            c.put_blob_checks_content_md5 = false;
            c
        }
        async fn create_container(&self, c: &str) -> crate::store::Result<bool> {
            self.0.create_container(c).await
        }
        async fn delete_container(&self, c: &str) -> crate::store::Result<bool> {
            self.0.delete_container(c).await
        }
        async fn list_containers(&self, p: &str) -> crate::store::Result<Vec<String>> {
            self.0.list_containers(p).await
        }
        async fn list_blobs(
            &self,
            c: &str,
            o: &crate::store::ListOptions,
        ) -> crate::store::Result<crate::store::ListPage> {
            self.0.list_blobs(c, o).await
        }
        async fn head_blob(&self, c: &str, n: &str) -> crate::store::Result<BlobMeta> {
            self.0.head_blob(c, n).await
        }
        async fn get_blob(
            &self,
            c: &str,
            n: &str,
            r: Option<std::ops::Range<u64>>,
        ) -> crate::store::Result<crate::store::GetResult> {
            self.0.get_blob(c, n, r).await
        }
        async fn put_blob(&self, c: &str, n: &str, d: Bytes, o: &PutOptions) -> crate::store::Result<String> {
            // Committed as one block: the whole-blob MD5 is stored unchecked.
            self.0.put_block(c, n, "whole", d).await?;
            self.0.put_block_list(c, n, &["whole".to_owned()], o).await
        }
        async fn put_block(&self, c: &str, n: &str, id: &str, d: Bytes) -> crate::store::Result<()> {
            self.0.put_block(c, n, id, d).await
        }
        async fn put_block_list(
            &self,
            c: &str,
            n: &str,
            ids: &[String],
            o: &PutOptions,
        ) -> crate::store::Result<String> {
            self.0.put_block_list(c, n, ids, o).await
        }
        async fn set_metadata(
            &self,
            c: &str,
            n: &str,
            m: &std::collections::BTreeMap<String, String>,
            k: &crate::store::Condition,
        ) -> crate::store::Result<String> {
            self.0.set_metadata(c, n, m, k).await
        }
        async fn delete_blob(&self, c: &str, n: &str, k: &crate::store::Condition) -> crate::store::Result<bool> {
            self.0.delete_blob(c, n, k).await
        }
        fn request_retries(&self) -> u64 {
            self.0.request_retries()
        }
        fn requests_sent(&self) -> u64 {
            self.0.requests_sent()
        }
        fn requests_by_operation(&self) -> std::collections::BTreeMap<String, u64> {
            self.0.requests_by_operation()
        }
        fn endpoint(&self) -> Option<String> {
            self.0.endpoint()
        }
        fn identity(&self) -> Option<crate::store::StoreIdentity> {
            self.0.identity()
        }
        fn adaptive_limit(&self) -> Option<std::sync::Arc<crate::store::AdaptiveLimit>> {
            self.0.adaptive_limit()
        }
        fn access(&self) -> crate::store::Access {
            self.0.access()
        }
        async fn signed_url(
            &self,
            c: &str,
            b: Option<&str>,
            p: crate::store::Permissions,
            e: chrono::DateTime<chrono::Utc>,
        ) -> crate::store::Result<crate::store::SignedUrl> {
            self.0.signed_url(c, b, p, e).await
        }
        async fn scoped(
            &self,
            c: &str,
            p: crate::store::Permissions,
            e: chrono::DateTime<chrono::Utc>,
        ) -> crate::store::Result<std::sync::Arc<dyn BlobStore>> {
            self.0.scoped(c, p, e).await
        }
        async fn copy_from_url(
            &self,
            c: &str,
            n: &str,
            s: &crate::store::CopySource,
            o: &crate::store::PutOptions,
        ) -> crate::store::Result<String> {
            self.0.copy_from_url(c, n, s, o).await
        }
        async fn put_block_from_url(
            &self,
            c: &str,
            n: &str,
            id: &str,
            s: &crate::store::CopySource,
            r: std::ops::Range<u64>,
        ) -> crate::store::Result<()> {
            self.0.put_block_from_url(c, n, id, s, r).await
        }
        async fn get_container_policies(&self, c: &str) -> crate::store::Result<crate::store::ContainerPolicies> {
            self.0.get_container_policies(c).await
        }
        async fn set_container_policies(
            &self,
            c: &str,
            p: &[crate::store::StoredPolicy],
            v: Option<&str>,
        ) -> crate::store::Result<String> {
            self.0.set_container_policies(c, p, v).await
        }
        async fn signed_url_for_policy(
            &self,
            c: &str,
            b: Option<&str>,
            id: &str,
        ) -> crate::store::Result<crate::store::SignedUrl> {
            self.0.signed_url_for_policy(c, b, id).await
        }
        async fn scoped_for_policy(&self, c: &str, id: &str) -> crate::store::Result<std::sync::Arc<dyn BlobStore>> {
            self.0.scoped_for_policy(c, id).await
        }
    }

    #[tokio::test]
    async fn a_target_that_takes_the_md5_as_given_gets_bytes_the_client_hashed() {
        let (a, b) = (source_with_a_false_md5(1000).await, TakesMd5AsGiven(InMemoryStore::new()));
        b.create_container("dst").await.unwrap();
        let req = copy_of(&a, &b, None);
        let err = StreamedCopy::default().copy_blob(req).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
        assert!(b.head_opt("dst", "v.mp4").await.unwrap().is_none(), "the client's hash must keep it out");
    }

    #[tokio::test]
    async fn a_ranged_copy_whose_bytes_do_not_match_the_source_md5_commits_nothing() {
        let (a, b) = (source_with_a_false_md5(100_000).await, InMemoryStore::new());
        b.create_container("dst").await.unwrap();
        let req = copy_of(&a, &b, None);
        let engine = StreamedCopy { block_size: 16 * 1024, concurrency: 4, pool: None, ranged_reads: true };
        let err = engine.copy_blob(req).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
        assert!(b.head_opt("dst", "v.mp4").await.unwrap().is_none(), "nothing may be committed");
    }

    #[tokio::test]
    async fn ranged_reads_of_a_source_that_moved_since_it_was_listed_copy_nothing() {
        let (a, b) = (InMemoryStore::new(), InMemoryStore::new());
        a.create_container("src").await.unwrap();
        b.create_container("dst").await.unwrap();
        a.put_blob("src", "v.mp4", Bytes::from(vec![1u8; 100_000]), &PutOptions::default()).await.unwrap();
        let listed = a.head_blob("src", "v.mp4").await.unwrap();
        a.put_blob("src", "v.mp4", Bytes::from(vec![2u8; 100_000]), &PutOptions::default()).await.unwrap();
        let req = copy_of(&a, &b, Some(&listed));
        let engine = StreamedCopy { block_size: 16 * 1024, concurrency: 4, pool: None, ranged_reads: true };
        let err = engine.copy_blob(req).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::PreconditionFailed, "{err}");
        assert!(b.head_opt("dst", "v.mp4").await.unwrap().is_none(), "nothing may land from a moved source");
    }
}
