//! A store wrapper that refuses every write: verify's promise, enforced.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use mirrorcast_core::model::Permissions;
use mirrorcast_core::store::{
    Access, AdaptiveLimit, BlobMeta, BlobStore, Capability, Condition, ContainerPolicies, CopySource, GetResult,
    ListOptions, ListPage, PutOptions, SignedUrl, StoreIdentity, StoredPolicy,
};
use mirrorcast_core::store::{Error, ErrorKind, Result};

/// The inner store, read only. It declares what it allows
/// ([`Capability::read_only`]): list, head and get go through; every write,
/// signature, scoped credential, server-side copy and stored policy is
/// refused with `PermissionDenied` before it reaches the store.
#[derive(Debug, Clone)]
pub struct ReadOnly(pub Arc<dyn BlobStore>);

fn refused(what: &str) -> Error {
    Error::new(ErrorKind::PermissionDenied, format!("a read-only view (verify, lag) never writes: refused {what}"))
}

#[async_trait]
impl BlobStore for ReadOnly {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn capability(&self) -> Capability {
        Capability::read_only()
    }

    fn request_retries(&self) -> u64 {
        self.0.request_retries()
    }

    fn requests_sent(&self) -> u64 {
        self.0.requests_sent()
    }

    fn requests_by_operation(&self) -> BTreeMap<String, u64> {
        self.0.requests_by_operation()
    }

    fn endpoint(&self) -> Option<String> {
        self.0.endpoint()
    }

    fn identity(&self) -> Option<StoreIdentity> {
        self.0.identity()
    }

    fn adaptive_limit(&self) -> Option<Arc<AdaptiveLimit>> {
        self.0.adaptive_limit()
    }

    /// The inner credential, through a view that refuses every write.
    fn access(&self) -> Access {
        Access { read_only: true, ..self.0.access() }
    }

    async fn create_container(&self, _: &str) -> Result<bool> {
        Err(refused("create_container"))
    }

    async fn delete_container(&self, _: &str) -> Result<bool> {
        Err(refused("delete_container"))
    }

    async fn list_containers(&self, prefix: &str) -> Result<Vec<String>> {
        self.0.list_containers(prefix).await
    }

    async fn list_blobs(&self, container: &str, options: &ListOptions) -> Result<ListPage> {
        self.0.list_blobs(container, options).await
    }

    async fn head_blob(&self, container: &str, name: &str) -> Result<BlobMeta> {
        self.0.head_blob(container, name).await
    }

    async fn get_blob(&self, container: &str, name: &str, range: Option<Range<u64>>) -> Result<GetResult> {
        self.0.get_blob(container, name, range).await
    }

    async fn put_blob(&self, _: &str, _: &str, _: Bytes, _: &PutOptions) -> Result<String> {
        Err(refused("put_blob"))
    }

    async fn put_block(&self, _: &str, _: &str, _: &str, _: Bytes) -> Result<()> {
        Err(refused("put_block"))
    }

    async fn put_block_list(&self, _: &str, _: &str, _: &[String], _: &PutOptions) -> Result<String> {
        Err(refused("put_block_list"))
    }

    async fn set_metadata(&self, _: &str, _: &str, _: &BTreeMap<String, String>, _: &Condition) -> Result<String> {
        Err(refused("set_metadata"))
    }

    async fn delete_blob(&self, _: &str, _: &str, _: &Condition) -> Result<bool> {
        Err(refused("delete_blob"))
    }

    async fn signed_url(&self, _: &str, _: Option<&str>, _: Permissions, _: DateTime<Utc>) -> Result<SignedUrl> {
        Err(refused("signed_url"))
    }

    async fn scoped(&self, _: &str, _: Permissions, _: DateTime<Utc>) -> Result<Arc<dyn BlobStore>> {
        Err(refused("scoped"))
    }

    async fn copy_from_url(&self, _: &str, _: &str, _: &CopySource, _: &PutOptions) -> Result<String> {
        Err(refused("copy_from_url"))
    }

    async fn put_block_from_url(&self, _: &str, _: &str, _: &str, _: &CopySource, _: Range<u64>) -> Result<()> {
        Err(refused("put_block_from_url"))
    }

    /// Stored policies are grants: verify neither reads nor writes them.
    async fn get_container_policies(&self, _: &str) -> Result<ContainerPolicies> {
        Err(refused("get_container_policies"))
    }

    async fn set_container_policies(&self, _: &str, _: &[StoredPolicy], _: Option<&str>) -> Result<String> {
        Err(refused("set_container_policies"))
    }

    async fn signed_url_for_policy(&self, _: &str, _: Option<&str>, _: &str) -> Result<SignedUrl> {
        Err(refused("signed_url_for_policy"))
    }

    async fn scoped_for_policy(&self, _: &str, _: &str) -> Result<Arc<dyn BlobStore>> {
        Err(refused("scoped_for_policy"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mirrorcast_core::store::{conformance, InMemoryStore};

    use super::ReadOnly;

    #[tokio::test]
    async fn read_only_passes_the_read_only_conformance_suite() {
        let inner = Arc::new(InMemoryStore::new());
        conformance::run_read_only(&ReadOnly(inner.clone()), inner.as_ref()).await;
    }
}
