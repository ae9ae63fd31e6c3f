//! A store for the origin's tests that counts its reads and makes them take time: requests that
//! miss together are still waiting when the others arrive, and a request that waits on storage
//! takes time a paused tokio clock shows.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use mirrorcast_core::catalog::CATALOG_CONTAINER;
use mirrorcast_core::store::{
    Access, AdaptiveLimit, BlobMeta, BlobStore, Capability, Condition, ContainerPolicies, CopySource, GetResult,
    InMemoryStore, ListOptions, ListPage, Permissions, PutOptions, Result, SignedUrl, StoreIdentity, StoredPolicy,
};

/// A read: the blob's name and the range asked for.
type Read = (String, Option<Range<u64>>);

/// An in-memory store that counts the reads of media blobs and of records apart, and makes
/// each media read take `delay`, each HEAD `head_delay` and each read of a record `record_delay`.
#[derive(Debug, Default)]
pub(crate) struct Counting {
    inner: InMemoryStore,
    delay: Duration,
    head_delay: Duration,
    record_delay: Duration,
    /// (blob, range) → reads, of media blobs.
    pub(crate) gets: Mutex<HashMap<Read, u32>>,
    pub(crate) heads: Mutex<HashMap<String, u32>>,
    /// Reads of records (GET or HEAD in the records' container).
    record_reads: Mutex<u32>,
}

impl Counting {
    pub(crate) fn new(delay: Duration) -> Counting {
        Counting { delay, ..Default::default() }
    }

    /// Each HEAD of a media blob takes `delay`.
    pub(crate) fn with_head_delay(self, delay: Duration) -> Counting {
        Counting { head_delay: delay, ..self }
    }

    /// Each read of a record takes `delay`.
    pub(crate) fn with_record_delay(self, delay: Duration) -> Counting {
        Counting { record_delay: delay, ..self }
    }

    pub(crate) fn record_reads(&self) -> u32 {
        *self.record_reads.lock().unwrap()
    }

    pub(crate) fn gets_of(&self, name: &str) -> Vec<(Option<Range<u64>>, u32)> {
        let gets = self.gets.lock().unwrap();
        gets.iter().filter(|((n, _), _)| n == name).map(|((_, r), c)| (r.clone(), *c)).collect()
    }

    pub(crate) fn reads_of(&self, name: &str) -> u32 {
        self.gets_of(name).iter().map(|(_, c)| c).sum()
    }

    pub(crate) fn heads_of(&self, name: &str) -> u32 {
        self.heads.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

#[async_trait]
impl BlobStore for Counting {
    fn describe(&self) -> String {
        "counting".into()
    }
    fn capability(&self) -> Capability {
        self.inner.capability()
    }
    fn request_retries(&self) -> u64 {
        self.inner.request_retries()
    }
    fn requests_sent(&self) -> u64 {
        self.inner.requests_sent()
    }
    fn requests_by_operation(&self) -> BTreeMap<String, u64> {
        self.inner.requests_by_operation()
    }
    fn endpoint(&self) -> Option<String> {
        self.inner.endpoint()
    }
    fn identity(&self) -> Option<StoreIdentity> {
        self.inner.identity()
    }
    fn adaptive_limit(&self) -> Option<Arc<AdaptiveLimit>> {
        self.inner.adaptive_limit()
    }
    fn access(&self) -> Access {
        self.inner.access()
    }
    async fn create_container(&self, c: &str) -> Result<bool> {
        self.inner.create_container(c).await
    }
    async fn delete_container(&self, c: &str) -> Result<bool> {
        self.inner.delete_container(c).await
    }
    async fn list_containers(&self, p: &str) -> Result<Vec<String>> {
        self.inner.list_containers(p).await
    }
    async fn list_blobs(&self, c: &str, o: &ListOptions) -> Result<ListPage> {
        self.inner.list_blobs(c, o).await
    }
    async fn head_blob(&self, c: &str, n: &str) -> Result<BlobMeta> {
        if c == CATALOG_CONTAINER {
            *self.record_reads.lock().unwrap() += 1;
            tokio::time::sleep(self.record_delay).await;
        } else {
            *self.heads.lock().unwrap().entry(n.to_owned()).or_default() += 1;
            tokio::time::sleep(self.head_delay).await;
        }
        self.inner.head_blob(c, n).await
    }
    async fn get_blob(&self, c: &str, n: &str, r: Option<Range<u64>>) -> Result<GetResult> {
        if c == CATALOG_CONTAINER {
            *self.record_reads.lock().unwrap() += 1;
            tokio::time::sleep(self.record_delay).await;
        } else {
            *self.gets.lock().unwrap().entry((n.to_owned(), r.clone())).or_default() += 1;
            tokio::time::sleep(self.delay).await;
        }
        self.inner.get_blob(c, n, r).await
    }
    async fn put_blob(&self, c: &str, n: &str, d: Bytes, o: &PutOptions) -> Result<String> {
        self.inner.put_blob(c, n, d, o).await
    }
    async fn put_block(&self, c: &str, n: &str, id: &str, d: Bytes) -> Result<()> {
        self.inner.put_block(c, n, id, d).await
    }
    async fn put_block_list(&self, c: &str, n: &str, ids: &[String], o: &PutOptions) -> Result<String> {
        self.inner.put_block_list(c, n, ids, o).await
    }
    async fn set_metadata(&self, c: &str, n: &str, m: &BTreeMap<String, String>, k: &Condition) -> Result<String> {
        self.inner.set_metadata(c, n, m, k).await
    }
    async fn delete_blob(&self, c: &str, n: &str, k: &Condition) -> Result<bool> {
        self.inner.delete_blob(c, n, k).await
    }
    async fn signed_url(&self, c: &str, b: Option<&str>, p: Permissions, e: DateTime<Utc>) -> Result<SignedUrl> {
        self.inner.signed_url(c, b, p, e).await
    }
    async fn scoped(&self, c: &str, p: Permissions, e: DateTime<Utc>) -> Result<Arc<dyn BlobStore>> {
        self.inner.scoped(c, p, e).await
    }
    async fn copy_from_url(&self, c: &str, n: &str, s: &CopySource, o: &PutOptions) -> Result<String> {
        self.inner.copy_from_url(c, n, s, o).await
    }
    async fn put_block_from_url(&self, c: &str, n: &str, id: &str, s: &CopySource, r: Range<u64>) -> Result<()> {
        self.inner.put_block_from_url(c, n, id, s, r).await
    }
    async fn get_container_policies(&self, c: &str) -> Result<ContainerPolicies> {
        self.inner.get_container_policies(c).await
    }
    async fn set_container_policies(&self, c: &str, p: &[StoredPolicy], v: Option<&str>) -> Result<String> {
        self.inner.set_container_policies(c, p, v).await
    }
    async fn signed_url_for_policy(&self, c: &str, b: Option<&str>, id: &str) -> Result<SignedUrl> {
        self.inner.signed_url_for_policy(c, b, id).await
    }
    async fn scoped_for_policy(&self, c: &str, id: &str) -> Result<Arc<dyn BlobStore>> {
        self.inner.scoped_for_policy(c, id).await
    }
}
