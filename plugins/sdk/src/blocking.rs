//! Any async [`BlobStore`] as a synchronous [`PluginStore`], on a runtime of the plugin's own.

use bytes::Bytes;
use futures::TryStreamExt;
use mirrorcast_store::{BlobStore, Error, ListOptions, Result};

use crate::protocol::{Reply, Request};
use crate::PluginStore;

/// An async store driven by its own two-thread tokio runtime, so the plugin's
/// synchronous entry points can call it without the host's runtime.
pub struct Blocking<S> {
    store: S,
    runtime: tokio::runtime::Runtime,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Blocking<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocking").field("store", &self.store).finish_non_exhaustive()
    }
}

impl<S: BlobStore> Blocking<S> {
    /// Wraps `store` and starts its runtime; an `Other` error if the threads cannot be started.
    pub fn new(store: S) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::new(mirrorcast_store::ErrorKind::Other, format!("plugin runtime: {e}")))?;
        Ok(Blocking { store, runtime })
    }
}

impl<S: BlobStore> PluginStore for Blocking<S> {
    fn call(&self, request: Request, body: &[u8]) -> Result<(Reply, Vec<u8>)> {
        let s = &self.store;
        self.runtime.block_on(async move {
            let unit = |r: Result<()>| r.map(|_| (Reply::Unit, Vec::new()));
            match request {
                Request::Describe => Ok((Reply::Text { value: s.describe() }, Vec::new())),
                Request::CreateContainer { container } => {
                    s.create_container(&container).await.map(|value| (Reply::Bool { value }, Vec::new()))
                }
                Request::DeleteContainer { container } => {
                    s.delete_container(&container).await.map(|value| (Reply::Bool { value }, Vec::new()))
                }
                Request::ListContainers { prefix } => {
                    s.list_containers(&prefix).await.map(|names| (Reply::Names { names }, Vec::new()))
                }
                Request::ListBlobs { container, prefix, marker, max_results } => {
                    let page = s.list_blobs(&container, &ListOptions { prefix, marker, max_results }).await?;
                    Ok((Reply::Page { blobs: page.blobs, next_marker: page.next_marker }, Vec::new()))
                }
                Request::Head { container, name } => {
                    s.head_blob(&container, &name).await.map(|meta| (Reply::Meta { meta }, Vec::new()))
                }
                Request::Get { container, name, range } => {
                    let got = s.get_blob(&container, &name, range.map(|(a, b)| a..b)).await?;
                    let chunks: Vec<Bytes> = got.stream.try_collect().await?;
                    Ok((Reply::Got { meta: got.meta, start: got.range.start, end: got.range.end }, chunks.concat()))
                }
                Request::PutBlob { container, name, options } => {
                    let etag = s.put_blob(&container, &name, Bytes::copy_from_slice(body), &options.into()).await?;
                    Ok((Reply::ETag { etag }, Vec::new()))
                }
                Request::PutBlock { container, name, block_id } => {
                    unit(s.put_block(&container, &name, &block_id, Bytes::copy_from_slice(body)).await)
                }
                Request::PutBlockList { container, name, block_ids, options } => {
                    let etag = s.put_block_list(&container, &name, &block_ids, &options.into()).await?;
                    Ok((Reply::ETag { etag }, Vec::new()))
                }
                Request::SetMetadata { container, name, metadata, condition } => {
                    let etag = s.set_metadata(&container, &name, &metadata, &condition.into()).await?;
                    Ok((Reply::ETag { etag }, Vec::new()))
                }
                Request::DeleteBlob { container, name, condition } => s
                    .delete_blob(&container, &name, &condition.into())
                    .await
                    .map(|value| (Reply::Bool { value }, Vec::new())),
            }
        })
    }
}
