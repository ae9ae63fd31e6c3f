//! A plugin's store as a [`BlobStore`]: each call on tokio's blocking pool.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use mirrorcast_plugin_sdk::{Reply, Request};
use mirrorcast_store::{
    Ability, Access, AdaptiveLimit, BlobMeta, BlobStore, Capability, Condition, ContainerPolicies, CopySource, Error,
    ErrorKind, GetResult, ListOptions, ListPage, Permissions, PutOptions, Result, SignedUrl, StoreIdentity,
    StoredPolicy,
};

use crate::library::Loaded;

/// A store opened from a plugin; closing happens on drop, unloading after the last store.
#[derive(Debug, Clone)]
pub struct PluginStore {
    inner: Arc<Handle>,
}

#[derive(Debug)]
struct Handle {
    library: Arc<Loaded>,
    raw: *mut c_void,
}

// SAFETY: the SDK requires plugin stores to be Send + Sync (`PluginStore: Send + Sync`).
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        self.library.close(self.raw);
    }
}

impl PluginStore {
    pub(crate) fn new(library: Arc<Loaded>, raw: *mut c_void) -> Self {
        PluginStore { inner: Arc::new(Handle { library, raw }) }
    }

    async fn call(&self, request: Request, body: Bytes) -> Result<(Reply, Vec<u8>)> {
        let handle = self.inner.clone();
        tokio::task::spawn_blocking(move || handle.library.call(handle.raw, &request, &body))
            .await
            .map_err(|e| Error::new(ErrorKind::Other, format!("plugin call did not finish: {e}")))?
    }

    fn unexpected(&self, reply: Reply) -> Error {
        Error::new(
            ErrorKind::Corrupt,
            format!("plugin '{}' gave an unexpected reply: {reply:?}", self.inner.library.name),
        )
    }
}

macro_rules! expect {
    ($self:ident, $reply:expr, $pat:pat => $out:expr) => {
        match $reply {
            $pat => Ok($out),
            other => Err($self.unexpected(other)),
        }
    };
}

#[async_trait]
impl BlobStore for PluginStore {
    fn describe(&self) -> String {
        format!("plugin '{}' ({})", self.inner.library.name, self.inner.library.path.display())
    }

    fn capability(&self) -> Capability {
        Capability::basic()
    }

    /// The plugin ABI carries no counters, endpoint or credential: none are told.
    fn request_retries(&self) -> u64 {
        0
    }

    fn requests_sent(&self) -> u64 {
        0
    }

    fn requests_by_operation(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }

    fn endpoint(&self) -> Option<String> {
        None
    }

    fn identity(&self) -> Option<StoreIdentity> {
        None
    }

    fn adaptive_limit(&self) -> Option<Arc<AdaptiveLimit>> {
        None
    }

    fn access(&self) -> Access {
        Access::unrestricted("store")
    }

    async fn create_container(&self, container: &str) -> Result<bool> {
        let (r, _) = self.call(Request::CreateContainer { container: container.into() }, Bytes::new()).await?;
        expect!(self, r, Reply::Bool { value } => value)
    }

    async fn delete_container(&self, container: &str) -> Result<bool> {
        let (r, _) = self.call(Request::DeleteContainer { container: container.into() }, Bytes::new()).await?;
        expect!(self, r, Reply::Bool { value } => value)
    }

    async fn list_containers(&self, prefix: &str) -> Result<Vec<String>> {
        let (r, _) = self.call(Request::ListContainers { prefix: prefix.into() }, Bytes::new()).await?;
        expect!(self, r, Reply::Names { names } => names)
    }

    async fn list_blobs(&self, container: &str, o: &ListOptions) -> Result<ListPage> {
        let req = Request::ListBlobs {
            container: container.into(),
            prefix: o.prefix.clone(),
            marker: o.marker.clone(),
            max_results: o.max_results,
        };
        let (r, _) = self.call(req, Bytes::new()).await?;
        expect!(self, r, Reply::Page { blobs, next_marker } => ListPage { blobs, next_marker })
    }

    async fn head_blob(&self, container: &str, name: &str) -> Result<BlobMeta> {
        let (r, _) = self.call(Request::Head { container: container.into(), name: name.into() }, Bytes::new()).await?;
        expect!(self, r, Reply::Meta { meta } => meta)
    }

    async fn get_blob(&self, container: &str, name: &str, range: Option<Range<u64>>) -> Result<GetResult> {
        let req =
            Request::Get { container: container.into(), name: name.into(), range: range.map(|r| (r.start, r.end)) };
        let (r, body) = self.call(req, Bytes::new()).await?;
        let (meta, start, end) = expect!(self, r, Reply::Got { meta, start, end } => (meta, start, end))?;
        Ok(GetResult { meta, range: start..end, stream: Box::pin(futures::stream::iter([Ok(Bytes::from(body))])) })
    }

    async fn put_blob(&self, container: &str, name: &str, data: Bytes, options: &PutOptions) -> Result<String> {
        let req = Request::PutBlob { container: container.into(), name: name.into(), options: options.into() };
        let (r, _) = self.call(req, data).await?;
        expect!(self, r, Reply::ETag { etag } => etag)
    }

    async fn put_block(&self, container: &str, name: &str, block_id: &str, data: Bytes) -> Result<()> {
        let req = Request::PutBlock { container: container.into(), name: name.into(), block_id: block_id.into() };
        self.call(req, data).await.map(|_| ())
    }

    async fn put_block_list(
        &self,
        container: &str,
        name: &str,
        block_ids: &[String],
        options: &PutOptions,
    ) -> Result<String> {
        let req = Request::PutBlockList {
            container: container.into(),
            name: name.into(),
            block_ids: block_ids.to_vec(),
            options: options.into(),
        };
        let (r, _) = self.call(req, Bytes::new()).await?;
        expect!(self, r, Reply::ETag { etag } => etag)
    }

    async fn set_metadata(
        &self,
        container: &str,
        name: &str,
        metadata: &BTreeMap<String, String>,
        condition: &Condition,
    ) -> Result<String> {
        let req = Request::SetMetadata {
            container: container.into(),
            name: name.into(),
            metadata: metadata.clone(),
            condition: condition.into(),
        };
        let (r, _) = self.call(req, Bytes::new()).await?;
        expect!(self, r, Reply::ETag { etag } => etag)
    }

    async fn delete_blob(&self, container: &str, name: &str, condition: &Condition) -> Result<bool> {
        let req = Request::DeleteBlob { container: container.into(), name: name.into(), condition: condition.into() };
        let (r, _) = self.call(req, Bytes::new()).await?;
        expect!(self, r, Reply::Bool { value } => value)
    }

    async fn signed_url(&self, _: &str, _: Option<&str>, _: Permissions, _: DateTime<Utc>) -> Result<SignedUrl> {
        Err(Ability::SignedUrls.unsupported_by(self))
    }

    async fn scoped(&self, _: &str, _: Permissions, _: DateTime<Utc>) -> Result<Arc<dyn BlobStore>> {
        Err(Ability::ScopedCredentials.unsupported_by(self))
    }

    async fn copy_from_url(&self, _: &str, _: &str, _: &CopySource, _: &PutOptions) -> Result<String> {
        Err(Ability::CopyFromUrl.unsupported_by(self))
    }

    async fn put_block_from_url(&self, _: &str, _: &str, _: &str, _: &CopySource, _: Range<u64>) -> Result<()> {
        Err(Ability::PutBlockFromUrl.unsupported_by(self))
    }

    async fn get_container_policies(&self, _: &str) -> Result<ContainerPolicies> {
        Err(Ability::StoredAccessPolicies.unsupported_by(self))
    }

    async fn set_container_policies(&self, _: &str, _: &[StoredPolicy], _: Option<&str>) -> Result<String> {
        Err(Ability::StoredAccessPolicies.unsupported_by(self))
    }

    async fn signed_url_for_policy(&self, _: &str, _: Option<&str>, _: &str) -> Result<SignedUrl> {
        Err(Ability::PolicySignedUrls.unsupported_by(self))
    }

    async fn scoped_for_policy(&self, _: &str, _: &str) -> Result<Arc<dyn BlobStore>> {
        Err(Ability::PolicyScopedCredentials.unsupported_by(self))
    }
}
