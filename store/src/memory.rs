//! A [`BlobStore`] in memory: for unit tests and the conformance suite's own check.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};

use crate::error::{Error, ErrorKind, Result};
use crate::{
    check_policy_count, Ability, Access, AdaptiveLimit, BlobKind, BlobMeta, BlobStore, Capability, Condition,
    ContainerPolicies, CopySource, GetResult, ListOptions, ListPage, Permissions, PutOptions, SignedUrl, StoreIdentity,
    StoredPolicy,
};

#[derive(Debug, Clone)]
struct Blob {
    meta: BlobMeta,
    data: Bytes,
}

#[derive(Debug, Default)]
struct Container {
    blobs: BTreeMap<String, Blob>,
    staged: HashMap<(String, String), Bytes>,
    policies: Vec<StoredPolicy>,
    /// Bumped by every `set_container_policies`.
    policy_version: u64,
}

/// Containers of blobs in a map, with ETags and conditions like the real service.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    containers: Mutex<BTreeMap<String, Container>>,
    next_etag: AtomicU64,
}

impl InMemoryStore {
    /// An empty store with no containers.
    pub fn new() -> Self {
        Self::default()
    }

    fn etag(&self) -> String {
        format!("\"0x{:016X}\"", self.next_etag.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn with_container<T>(&self, container: &str, f: impl FnOnce(&mut Container) -> Result<T>) -> Result<T> {
        let mut all = self.containers.lock().expect("in-memory store lock poisoned");
        let c = all
            .get_mut(container)
            .ok_or_else(|| Error::not_found(format!("container '{container}' does not exist")))?;
        f(c)
    }

    fn write(
        &self,
        container: &str,
        name: &str,
        data: Bytes,
        options: &PutOptions,
        computed_md5: Option<String>,
    ) -> Result<String> {
        let etag = self.etag();
        self.with_container(container, |c| {
            check(c.blobs.get(name), &options.condition, name)?;
            let mut properties = options.properties.clone();
            if properties.content_md5.is_none() {
                properties.content_md5 = computed_md5;
            }
            let meta = BlobMeta {
                name: name.to_owned(),
                size: data.len() as u64,
                etag: etag.clone(),
                last_modified: Some(Utc::now()),
                kind: BlobKind::Block,
                properties,
                metadata: options.metadata.clone(),
            };
            c.staged.retain(|(blob, _), _| blob != name);
            c.blobs.insert(name.to_owned(), Blob { meta, data });
            Ok(etag.clone())
        })
    }
}

fn check(existing: Option<&Blob>, condition: &Condition, name: &str) -> Result<()> {
    condition.check(existing.map(|b| b.meta.etag.as_str()), name)
}

#[async_trait]
impl BlobStore for InMemoryStore {
    fn describe(&self) -> String {
        "in-memory store".to_owned()
    }

    fn capability(&self) -> Capability {
        let mut c = Capability::basic();
        c.stored_access_policies = true;
        c.put_blob_checks_content_md5 = true;
        c
    }

    /// Nothing goes over a wire: nothing to retry or count.
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

    /// Each in-memory store is apart from every other.
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
        let mut all = self.containers.lock().expect("in-memory store lock poisoned");
        if all.contains_key(container) {
            return Ok(false);
        }
        all.insert(container.to_owned(), Container::default());
        Ok(true)
    }

    async fn delete_container(&self, container: &str) -> Result<bool> {
        Ok(self.containers.lock().expect("in-memory store lock poisoned").remove(container).is_some())
    }

    async fn list_containers(&self, prefix: &str) -> Result<Vec<String>> {
        let all = self.containers.lock().expect("in-memory store lock poisoned");
        Ok(all.keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }

    async fn list_blobs(&self, container: &str, options: &ListOptions) -> Result<ListPage> {
        self.with_container(container, |c| {
            let prefix = options.prefix.as_deref().unwrap_or("");
            let max = options.max_results.unwrap_or(5000).max(1) as usize;
            let mut blobs: Vec<BlobMeta> = c
                .blobs
                .values()
                .filter(|b| b.meta.name.starts_with(prefix))
                .filter(|b| options.marker.as_deref().is_none_or(|m| b.meta.name.as_str() >= m))
                .take(max + 1)
                .map(|b| b.meta.clone())
                .collect();
            let next_marker = (blobs.len() > max).then(|| blobs.pop().map(|b| b.name)).flatten();
            Ok(ListPage { blobs, next_marker })
        })
    }

    async fn head_blob(&self, container: &str, name: &str) -> Result<BlobMeta> {
        self.with_container(container, |c| {
            c.blobs
                .get(name)
                .map(|b| b.meta.clone())
                .ok_or_else(|| Error::not_found(format!("blob '{name}' does not exist")))
        })
    }

    async fn get_blob(&self, container: &str, name: &str, range: Option<Range<u64>>) -> Result<GetResult> {
        let blob = self.with_container(container, |c| {
            c.blobs.get(name).cloned().ok_or_else(|| Error::not_found(format!("blob '{name}' does not exist")))
        })?;
        let size = blob.meta.size;
        let range = match range {
            None => 0..size,
            Some(r) if r.start < size || (r.start == 0 && size == 0) => r.start..r.end.min(size),
            Some(r) => {
                return Err(Error::invalid_input(format!(
                    "range {}..{} is outside blob '{name}' of {size} bytes",
                    r.start, r.end
                )))
            }
        };
        let data = blob.data.slice(range.start as usize..range.end as usize);
        Ok(GetResult { meta: blob.meta, range, stream: Box::pin(futures::stream::iter([Ok(data)])) })
    }

    async fn put_blob(&self, container: &str, name: &str, data: Bytes, options: &PutOptions) -> Result<String> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
        if options.properties.content_md5.as_ref().is_some_and(|given| *given != md5) {
            return Err(Error::new(ErrorKind::Corrupt, format!("'{name}': the bytes sent do not match their MD5")));
        }
        self.write(container, name, data, options, Some(md5))
    }

    async fn put_block(&self, container: &str, name: &str, block_id: &str, data: Bytes) -> Result<()> {
        self.with_container(container, |c| {
            c.staged.insert((name.to_owned(), block_id.to_owned()), data);
            Ok(())
        })
    }

    async fn put_block_list(
        &self,
        container: &str,
        name: &str,
        block_ids: &[String],
        options: &PutOptions,
    ) -> Result<String> {
        let data = self.with_container(container, |c| {
            let mut buf = BytesMut::new();
            for id in block_ids {
                let block = c
                    .staged
                    .get(&(name.to_owned(), id.clone()))
                    .ok_or_else(|| Error::invalid_input(format!("block '{id}' of blob '{name}' was never staged")))?;
                buf.extend_from_slice(block);
            }
            Ok(buf.freeze())
        })?;
        self.write(container, name, data, options, None)
    }

    async fn set_metadata(
        &self,
        container: &str,
        name: &str,
        metadata: &BTreeMap<String, String>,
        condition: &Condition,
    ) -> Result<String> {
        let etag = self.etag();
        self.with_container(container, |c| {
            check(c.blobs.get(name), condition, name)?;
            let b = c.blobs.get_mut(name).ok_or_else(|| Error::not_found(format!("blob '{name}' does not exist")))?;
            b.meta.metadata = metadata.clone();
            b.meta.etag = etag.clone();
            Ok(etag)
        })
    }

    async fn delete_blob(&self, container: &str, name: &str, condition: &Condition) -> Result<bool> {
        self.with_container(container, |c| {
            if !c.blobs.contains_key(name) {
                return Ok(false);
            }
            check(c.blobs.get(name), condition, name)?;
            Ok(c.blobs.remove(name).is_some())
        })
    }

    async fn get_container_policies(&self, container: &str) -> Result<ContainerPolicies> {
        self.with_container(container, |c| {
            Ok(ContainerPolicies { policies: c.policies.clone(), version: c.policy_version.to_string() })
        })
    }

    async fn set_container_policies(
        &self,
        container: &str,
        policies: &[StoredPolicy],
        if_version: Option<&str>,
    ) -> Result<String> {
        check_policy_count(container, policies)?;
        self.with_container(container, |c| {
            if if_version.is_some_and(|v| v != c.policy_version.to_string()) {
                return Err(Error::new(
                    ErrorKind::PreconditionFailed,
                    format!("the stored access policies of container '{container}' changed meanwhile"),
                ));
            }
            c.policies = policies.to_vec();
            c.policy_version += 1;
            Ok(c.policy_version.to_string())
        })
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

    async fn signed_url_for_policy(&self, _: &str, _: Option<&str>, _: &str) -> Result<SignedUrl> {
        Err(Ability::PolicySignedUrls.unsupported_by(self))
    }

    async fn scoped_for_policy(&self, _: &str, _: &str) -> Result<Arc<dyn BlobStore>> {
        Err(Ability::PolicyScopedCredentials.unsupported_by(self))
    }
}
