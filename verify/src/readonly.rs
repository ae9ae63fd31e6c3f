//! A store wrapper that refuses every write: verify's promise, enforced.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use mirrorcast_core::model::Permissions;
use mirrorcast_core::store::{
    BlobMeta, BlobStore, Capability, Condition, CopySource, GetResult, ListOptions, ListPage, PutOptions, SignedUrl,
};
use mirrorcast_core::{Error, ErrorKind, Result};

#[derive(Debug, Clone)]
pub struct ReadOnly(pub Arc<dyn BlobStore>);

fn refused(what: &str) -> Error {
    Error::new(ErrorKind::PermissionDenied, format!("verify never writes: refused {what}"))
}

#[async_trait]
impl BlobStore for ReadOnly {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn capability(&self) -> Capability {
        self.0.capability()
    }
    fn endpoint(&self) -> Option<String> {
        self.0.endpoint()
    }

    fn identity(&self) -> Option<mirrorcast_core::store::StoreIdentity> {
        self.0.identity()
    }

    fn adaptive_limit(&self) -> Option<Arc<mirrorcast_core::store::AdaptiveLimit>> {
        self.0.adaptive_limit()
    }
    fn request_retries(&self) -> u64 {
        self.0.request_retries()
    }
    fn requests_sent(&self) -> u64 {
        self.0.requests_sent()
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
    async fn copy_from_url(&self, _: &str, _: &str, _: &CopySource, _: &PutOptions) -> Result<String> {
        Err(refused("copy_from_url"))
    }
    async fn put_block_from_url(&self, _: &str, _: &str, _: &str, _: &CopySource, _: Range<u64>) -> Result<()> {
        Err(refused("put_block_from_url"))
    }
}
