//! mirrorcast's `object_store` backend: a data center can be a local
//! directory (`file:///path`), memory (`memory://`), or, with the `s3`
//! feature, an S3-compatible bucket (`s3://bucket/prefix`).
//!
//! Layout inside the store, per container `c` (names encoded by [`layout`]):
//! - `c/<blob name>`: the bytes;
//! - `c/.mirrorcast/meta/<blob name>.json`: properties, user metadata and an ETag
//!   of ours (object stores differ in what they keep, so we keep it ourselves);
//! - `c/.mirrorcast/container`: the marker that makes `c` a container;
//! - `c/.mirrorcast/blocks/<hash of blob>/<hash of block>`: staged blocks until
//!   committed; a local directory's commit concatenates them by kernel copy
//!   into a file renamed into place, other stores stream them into the blob,
//!   one chunk at a time.
//!
//! Conditional writes are checked and applied under one lock per store: they
//! are exact within a process, not across processes sharing a directory.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use mirrorcast_store::{
    Ability, Access, AdaptiveLimit, BlobKind, BlobMeta, BlobProperties, BlobStore, ByteStream, Capability, Condition,
    ContainerPolicies, CopySource, Error, ErrorKind, GetResult, ListOptions, ListPage, Permissions, PutOptions, Result,
    SignedUrl, StoreIdentity, StoredPolicy,
};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

mod direct;
pub mod layout;
mod listing;

use layout::{blob_path, block_path, marker_path, sidecar_path};

/// Parts of a committed blob in flight to the store at once (each of
/// object_store's default 5 MiB chunk): what a commit holds in memory.
const COMMIT_PARTS_IN_FLIGHT: usize = 2;

/// What we keep beside each blob.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sidecar {
    etag: String,
    size: u64,
    last_modified: DateTime<Utc>,
    properties: BlobProperties,
    metadata: BTreeMap<String, String>,
}

/// A [`BlobStore`] over any `object_store` backend.
#[derive(Debug, Clone)]
pub struct ObjectStoreBackend {
    inner: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory: reads go straight to its files ([`direct`]).
    local: Option<Arc<direct::Local>>,
    label: String,
    /// Where its data lives: a local directory's canonical path, an S3 location; none in memory.
    identity: Option<StoreIdentity>,
    writes: Arc<tokio::sync::Mutex<()>>,
    /// The rest of recent listings' walks, by the marker their next page starts after.
    listings: Arc<listing::Continuations>,
}

impl ObjectStoreBackend {
    /// A store over `inner`, named `label` in messages (so no secret in it). It has no
    /// local fast path and no identity: it is taken as apart from every other store.
    pub fn new(inner: Arc<dyn ObjectStore>, label: impl Into<String>) -> Self {
        ObjectStoreBackend {
            inner,
            local: None,
            label: label.into(),
            identity: None,
            writes: Default::default(),
            listings: Default::default(),
        }
    }

    /// A data center in a local directory (created if missing). The root
    /// directory is refused: a data center would mix with the system's files.
    pub fn local(dir: &std::path::Path) -> Result<Self> {
        if dir.as_os_str().is_empty() || dir.parent().is_none() {
            return Err(Error::invalid_input(format!(
                "'{}' is the root directory: give a file:// data center a directory of its own (file:///srv/mirrorcast)",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid_input(format!("cannot use '{}' as a data center: {e}", dir.display())))?;
        let fs = Arc::new(
            LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| Error::invalid_input(format!("cannot use '{}' as a data center: {e}", dir.display())))?,
        );
        let mut backend = Self::new(fs.clone(), format!("local directory '{}'", dir.display()));
        backend.local = Some(Arc::new(direct::Local::new(fs)));
        // Canonical: `/srv/dc/`, `/srv/./dc` and a symlink to it are one data center.
        backend.identity = Some(StoreIdentity::Directory(
            std::fs::canonicalize(dir)
                .map_err(|e| Error::invalid_input(format!("cannot use '{}' as a data center: {e}", dir.display())))?,
        ));
        Ok(backend)
    }

    /// An empty store in memory, lost on drop: for tests and `memory://`.
    pub fn memory() -> Self {
        Self::new(Arc::new(object_store::memory::InMemory::new()), "in-memory object store")
    }

    /// `file:///path`, `memory://`, or (feature `s3`) `s3://bucket[/prefix]`.
    pub fn from_url(url: &str) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| Error::invalid_input(format!("'{url}' is not a URL: {e}")))?;
        match parsed.scheme() {
            "file" => {
                let path = parsed.to_file_path().map_err(|_| {
                    Error::invalid_input(format!("'{url}' is not an absolute file:// path (file:///dir)"))
                })?;
                Self::local(&path)
            }
            "memory" => Ok(Self::memory()),
            #[cfg(feature = "s3")]
            "s3" => {
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url)
                    .build()
                    .map_err(|e| Error::invalid_input(format!("S3 data center '{url}': {e}")))?;
                let mut backend = Self::new(Arc::new(s3), format!("S3 '{url}'"));
                let (bucket, prefix) = (parsed.host_str().unwrap_or("").to_ascii_lowercase(), parsed.path());
                backend.identity = Some(StoreIdentity::Location(format!("s3://{bucket}{prefix}")));
                Ok(backend)
            }
            other => Err(Error::invalid_input(format!(
                "'{other}://' is not a scheme this build can store in: use file:// or memory://{}",
                if cfg!(feature = "s3") { " or s3://" } else { " (s3:// needs the `s3` feature)" }
            ))),
        }
    }

    async fn require_container(&self, container: &str) -> Result<()> {
        match self.inner.head(&marker_path(container)).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => {
                Err(Error::not_found(format!("container '{container}' does not exist")))
            }
            Err(e) => Err(self.fail(e, container)),
        }
    }

    async fn sidecar(&self, container: &str, name: &str) -> Result<Option<Sidecar>> {
        match self.inner.get(&sidecar_path(container, name)).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(|e| self.fail(e, name))?;
                Ok(Some(serde_json::from_slice(&bytes).map_err(malformed_sidecar)?))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(e, name)),
        }
    }

    fn check(current: Option<&Sidecar>, condition: &Condition, name: &str) -> Result<()> {
        condition.check(current.map(|s| s.etag.as_str()), name)
    }

    /// Writes bytes and sidecar under the write lock, after checking `condition`.
    async fn commit(
        &self,
        container: &str,
        name: &str,
        data: PutPayload,
        size: u64,
        options: &PutOptions,
        md5: Option<String>,
    ) -> Result<String> {
        self.require_container(container).await?;
        let _guard = self.writes.lock().await;
        let current = self.sidecar(container, name).await?;
        Self::check(current.as_ref(), &options.condition, name)?;
        self.inner.put(&blob_path(container, name), data).await.map_err(|e| self.fail(e, name))?;
        self.write_new_sidecar(container, name, size, options, md5).await
    }

    /// The sidecar of a blob just written, with a new ETag; returns the ETag.
    async fn write_new_sidecar(
        &self,
        container: &str,
        name: &str,
        size: u64,
        options: &PutOptions,
        md5: Option<String>,
    ) -> Result<String> {
        let mut properties = options.properties.clone();
        if properties.content_md5.is_none() {
            properties.content_md5 = md5;
        }
        let sidecar = Sidecar {
            etag: format!("\"{}\"", uuid::Uuid::new_v4().simple()),
            size,
            last_modified: Utc::now(),
            properties,
            metadata: options.metadata.clone(),
        };
        self.write_sidecar(container, name, &sidecar).await?;
        Ok(sidecar.etag)
    }

    /// The staged blocks of a committed blob, no longer needed.
    async fn remove_blocks(&self, container: &str, name: &str, block_ids: &[String]) {
        for id in block_ids {
            let _ = self.inner.delete(&block_path(container, name, id)).await;
        }
    }

    /// Copies staged blocks, in order, into `writer`.
    async fn stream_blocks(
        &self,
        container: &str,
        name: &str,
        block_ids: &[String],
        writer: &mut WriteMultipart,
    ) -> Result<()> {
        for id in block_ids {
            let got = self.inner.get(&block_path(container, name, id)).await.map_err(|e| self.fail(e, name))?;
            let mut chunks = got.into_stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| self.fail(e, name))?;
                writer.wait_for_capacity(COMMIT_PARTS_IN_FLIGHT).await.map_err(|e| self.fail(e, name))?;
                writer.put(chunk);
            }
        }
        Ok(())
    }

    async fn write_sidecar(&self, container: &str, name: &str, sidecar: &Sidecar) -> Result<()> {
        let body = serde_json::to_vec(sidecar).map_err(malformed_sidecar)?;
        self.inner.put(&sidecar_path(container, name), PutPayload::from(body)).await.map_err(|e| self.fail(e, name))?;
        Ok(())
    }

    /// An object_store error as ours, naming the blob and this store.
    fn fail(&self, e: object_store::Error, what: &str) -> Error {
        map(e, what, &self.label)
    }

    fn meta(name: &str, s: Sidecar) -> BlobMeta {
        BlobMeta {
            name: name.to_owned(),
            size: s.size,
            etag: s.etag,
            last_modified: Some(s.last_modified),
            kind: BlobKind::Block,
            properties: s.properties,
            metadata: s.metadata,
        }
    }
}

/// The range of a blob of `size` bytes that a GET of `range` returns.
fn clamp(range: Option<Range<u64>>, size: u64, name: &str) -> Result<Range<u64>> {
    match range {
        None => Ok(0..size),
        Some(r) if r.start < size => Ok(r.start..r.end.min(size)),
        Some(r) if r.start == 0 && size == 0 => Ok(0..0),
        Some(r) => {
            Err(Error::invalid_input(format!("range {}..{} is outside blob '{name}' of {size} bytes", r.start, r.end)))
        }
    }
}

/// A sidecar that is not the JSON this backend writes.
fn malformed_sidecar(e: serde_json::Error) -> Error {
    Error::new(ErrorKind::Corrupt, format!("malformed JSON record: {e}")).with_source(e)
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8().map(|c| c.into_owned()).unwrap_or_else(|_| s.to_owned())
}

fn map(e: object_store::Error, what: &str, store: &str) -> Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
        object_store::Error::Precondition { .. } => ErrorKind::PreconditionFailed,
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => ErrorKind::Unsupported,
        object_store::Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
        object_store::Error::Unauthenticated { .. } => ErrorKind::Authentication,
        _ => ErrorKind::Other,
    };
    Error::new(kind, format!("'{what}' in {store}: {e}"))
}

#[async_trait]
impl BlobStore for ObjectStoreBackend {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn identity(&self) -> Option<StoreIdentity> {
        self.identity.clone()
    }

    /// Its requests are not counted.
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

    fn adaptive_limit(&self) -> Option<Arc<AdaptiveLimit>> {
        None
    }

    fn access(&self) -> Access {
        Access::unrestricted("store")
    }

    fn capability(&self) -> Capability {
        let mut c = Capability::basic();
        c.put_blob_checks_content_md5 = true;
        c
    }

    async fn create_container(&self, container: &str) -> Result<bool> {
        let put = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
        match self.inner.put_opts(&marker_path(container), PutPayload::from_static(b"{}"), put).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.fail(e, container)),
        }
    }

    async fn delete_container(&self, container: &str) -> Result<bool> {
        if self.require_container(container).await.is_err() {
            return Ok(false);
        }
        let prefix = Path::from(container);
        let all: Vec<Path> = self
            .inner
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| self.fail(e, container))?;
        for p in all {
            match self.inner.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.fail(e, container)),
            }
        }
        Ok(true)
    }

    async fn list_containers(&self, prefix: &str) -> Result<Vec<String>> {
        let listed = self.inner.list_with_delimiter(None).await.map_err(|e| self.fail(e, "the store root"))?;
        let mut out = Vec::new();
        for p in listed.common_prefixes {
            let name = decode(p.as_ref());
            if name.starts_with(prefix) && self.require_container(&name).await.is_ok() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    async fn list_blobs(&self, container: &str, options: &ListOptions) -> Result<ListPage> {
        let want = options.prefix.as_deref().unwrap_or("");
        let max = options.max_results.unwrap_or(5000).max(1) as usize;
        let key = (container.to_owned(), want.to_owned());
        let continued = options.marker.as_ref().and_then(|m| self.listings.take(&key, m));
        let mut names = match (continued, &self.local) {
            (Some(rest), Some(local)) => {
                local.container_exists(&self.label, container)?;
                rest
            }
            (Some(rest), None) => {
                self.require_container(container).await?;
                rest
            }
            (None, Some(local)) => local.blob_names(&self.label, container, want, options.marker.as_deref()).await?,
            (None, None) => {
                self.require_container(container).await?;
                // One walk of the container, names only: the walk cannot start at a marker, so a
                // listing of n blobs walked n²/5,000 objects when each page walked again.
                let mut names = Vec::new();
                let mut listed = self.inner.list(Some(&Path::from(container)));
                while let Some(object) = listed.try_next().await.map_err(|e| self.fail(e, container))? {
                    let Some(name) = layout::name_of(container, &object.location) else { continue };
                    if name.starts_with(want) && options.marker.as_ref().is_none_or(|m| &name > m) {
                        names.push(name);
                    }
                }
                names.sort_unstable();
                names
            }
        };
        let rest = names.split_off(max.min(names.len()));
        let more = !rest.is_empty();
        let names_last = names.last().cloned();
        let metas = match &self.local {
            Some(local) => local.metas(&self.label, container, names).await?,
            None => {
                futures::stream::iter(names)
                    .map(|n| async move {
                        let s = self.sidecar(container, &n).await?;
                        Ok::<_, Error>(s.map(|s| Self::meta(&n, s)))
                    })
                    .buffered(16)
                    .try_filter_map(|m| async move { Ok(m) })
                    .try_collect()
                    .await?
            }
        };
        // The page's last name, listed or deleted since: where the next page starts either way.
        let next_marker = if more { names_last.clone() } else { None };
        if let Some(marker) = &next_marker {
            self.listings.keep(key, marker.clone(), rest);
        }
        Ok(ListPage { blobs: metas, next_marker })
    }

    async fn head_blob(&self, container: &str, name: &str) -> Result<BlobMeta> {
        if let Some(local) = &self.local {
            return local.meta(&self.label, container, name);
        }
        self.require_container(container).await?;
        self.sidecar(container, name)
            .await?
            .map(|s| Self::meta(name, s))
            .ok_or_else(|| Error::not_found(format!("blob '{name}' does not exist in container '{container}'")))
    }

    async fn get_blob(&self, container: &str, name: &str, range: Option<Range<u64>>) -> Result<GetResult> {
        let (meta, range) = match &self.local {
            Some(local) => match local.read(&self.label, container, name, range).await? {
                direct::Read::Bytes(meta, range, bytes) => {
                    let stream: ByteStream = if bytes.is_empty() {
                        Box::pin(futures::stream::empty())
                    } else {
                        Box::pin(futures::stream::once(std::future::ready(Ok(bytes))))
                    };
                    return Ok(GetResult { meta, range, stream });
                }
                direct::Read::TooLarge(meta, range) => (meta, range),
            },
            None => {
                let meta = self.head_blob(container, name).await?;
                let range = clamp(range, meta.size, name)?;
                (meta, range)
            }
        };
        if range.is_empty() {
            return Ok(GetResult { meta, range, stream: Box::pin(futures::stream::empty()) });
        }
        let options = GetOptions { range: Some(GetRange::Bounded(range.clone())), ..Default::default() };
        let got = self.inner.get_opts(&blob_path(container, name), options).await.map_err(|e| self.fail(e, name))?;
        let (what, label) = (name.to_owned(), self.label.clone());
        let stream = got.into_stream().map_err(move |e| map(e, &what, &label));
        Ok(GetResult { meta, range, stream: Box::pin(stream) })
    }

    async fn put_blob(&self, container: &str, name: &str, data: Bytes, options: &PutOptions) -> Result<String> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
        if options.properties.content_md5.as_ref().is_some_and(|m| *m != md5) {
            return Err(Error::new(ErrorKind::Corrupt, format!("'{name}': the bytes sent do not match their MD5")));
        }
        let size = data.len() as u64;
        self.commit(container, name, PutPayload::from(data), size, options, Some(md5)).await
    }

    async fn put_block(&self, container: &str, name: &str, block_id: &str, data: Bytes) -> Result<()> {
        self.require_container(container).await?;
        self.inner
            .put(&block_path(container, name, block_id), PutPayload::from(data))
            .await
            .map_err(|e| self.fail(e, name))?;
        Ok(())
    }

    async fn put_block_list(
        &self,
        container: &str,
        name: &str,
        block_ids: &[String],
        options: &PutOptions,
    ) -> Result<String> {
        self.require_container(container).await?;
        if let Some(local) = &self.local {
            let (staged, size) = local.concatenate_blocks(&self.label, container, name, block_ids).await?;
            let etag = {
                let _guard = self.writes.lock().await;
                let checked = match self.sidecar(container, name).await {
                    Ok(current) => Self::check(current.as_ref(), &options.condition, name),
                    Err(e) => Err(e),
                };
                if let Err(e) = checked {
                    let _ = std::fs::remove_file(&staged);
                    return Err(e);
                }
                local.publish(&self.label, container, name, &staged)?;
                self.write_new_sidecar(container, name, size, options, None).await?
            };
            self.remove_blocks(container, name, block_ids).await;
            return Ok(etag);
        }
        let mut size = 0u64;
        for id in block_ids {
            size += self
                .inner
                .head(&block_path(container, name, id))
                .await
                .map_err(|e| match e {
                    object_store::Error::NotFound { .. } => {
                        Error::invalid_input(format!("block '{id}' of blob '{name}' was never staged"))
                    }
                    e => self.fail(e, name),
                })?
                .size;
        }
        // Streamed into a multipart upload, a chunk at a time, so a commit
        // holds a few chunks in memory whatever the blob's size; it lands
        // under the blob's name only once the condition holds.
        let upload = self.inner.put_multipart(&blob_path(container, name)).await.map_err(|e| self.fail(e, name))?;
        let mut writer = WriteMultipart::new(upload);
        if let Err(e) = self.stream_blocks(container, name, block_ids, &mut writer).await {
            let _ = writer.abort().await;
            return Err(e);
        }
        let etag = {
            let _guard = self.writes.lock().await;
            let current = self.sidecar(container, name).await?;
            if let Err(e) = Self::check(current.as_ref(), &options.condition, name) {
                let _ = writer.abort().await;
                return Err(e);
            }
            writer.finish().await.map_err(|e| self.fail(e, name))?;
            self.write_new_sidecar(container, name, size, options, None).await?
        };
        self.remove_blocks(container, name, block_ids).await;
        Ok(etag)
    }

    async fn set_metadata(
        &self,
        container: &str,
        name: &str,
        metadata: &BTreeMap<String, String>,
        condition: &Condition,
    ) -> Result<String> {
        self.require_container(container).await?;
        let _guard = self.writes.lock().await;
        let current = self.sidecar(container, name).await?;
        Self::check(current.as_ref(), condition, name)?;
        let mut s = current.ok_or_else(|| Error::not_found(format!("blob '{name}' does not exist")))?;
        s.metadata = metadata.clone();
        s.etag = format!("\"{}\"", uuid::Uuid::new_v4().simple());
        self.write_sidecar(container, name, &s).await?;
        Ok(s.etag)
    }

    async fn delete_blob(&self, container: &str, name: &str, condition: &Condition) -> Result<bool> {
        self.require_container(container).await?;
        let _guard = self.writes.lock().await;
        let Some(current) = self.sidecar(container, name).await? else { return Ok(false) };
        Self::check(Some(&current), condition, name)?;
        for p in [blob_path(container, name), sidecar_path(container, name)] {
            match self.inner.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.fail(e, name)),
            }
        }
        Ok(true)
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
