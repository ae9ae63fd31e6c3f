//! Conveniences built on [`BlobStore`]'s few methods.

use async_trait::async_trait;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{BlobMeta, BlobStore, ListOptions, PutOptions};
use crate::error::{ErrorKind, Result};

#[async_trait]
pub trait BlobStoreExt: BlobStore {
    /// Every blob under `prefix`, following pagination.
    async fn list_all(&self, container: &str, prefix: &str) -> Result<Vec<BlobMeta>> {
        let mut out = Vec::new();
        let mut options = ListOptions { prefix: (!prefix.is_empty()).then(|| prefix.to_owned()), ..Default::default() };
        loop {
            let page = self.list_blobs(container, &options).await?;
            out.extend(page.blobs);
            match page.next_marker {
                Some(m) if !m.is_empty() => options.marker = Some(m),
                _ => return Ok(out),
            }
        }
    }

    /// The whole blob in memory; for records and manifests, not media.
    async fn get_bytes(&self, container: &str, name: &str) -> Result<(BlobMeta, Bytes)> {
        let got = self.get_blob(container, name, None).await?;
        let chunks: Vec<Bytes> = got.stream.try_collect().await?;
        let mut buf = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
        for c in chunks {
            buf.extend_from_slice(&c);
        }
        Ok((got.meta, buf.freeze()))
    }

    /// The blob's metadata, or `None` if it does not exist.
    async fn head_opt(&self, container: &str, name: &str) -> Result<Option<BlobMeta>> {
        match self.head_blob(container, name).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl<T: BlobStore + ?Sized> BlobStoreExt for T {}

/// How [`upload_reader`] cuts and sends a stream.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Size of each staged block; also the largest single `put_blob`.
    pub block_size: usize,
    /// Blocks in flight at once. Memory is about `block_size * (concurrency + 1)`.
    pub concurrency: usize,
    pub put: PutOptions,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions { block_size: 4 * 1024 * 1024, concurrency: 4, put: PutOptions::default() }
    }
}

/// What an upload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub etag: String,
    pub bytes: u64,
    /// Base64 MD5 of every byte read, stored as the blob's Content-MD5.
    pub content_md5: String,
}

/// Streams `reader` into a block blob with bounded memory: one `put_blob`
/// when it fits in one block, else staged blocks committed in order. The MD5
/// of the bytes is computed on the way and stored as the blob's Content-MD5.
pub async fn upload_reader<R>(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    mut reader: R,
    options: &UploadOptions,
) -> Result<Uploaded>
where
    R: AsyncRead + Unpin + Send,
{
    let block_size = options.block_size.max(1);
    let mut md5 = Md5::new();
    let first = read_block(&mut reader, block_size).await?;
    md5.update(&first);
    if first.len() < block_size {
        let content_md5 = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
        let mut put = options.put.clone();
        put.properties.content_md5 = Some(content_md5.clone());
        let bytes = first.len() as u64;
        let etag = store.put_blob(container, name, first, &put).await?;
        return Ok(Uploaded { etag, bytes, content_md5 });
    }

    let mut ids = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut total = 0u64;
    let mut next = Some(first);
    while let Some(block) = next.take() {
        let id = format!("mirrorcast-{:08}", ids.len());
        ids.push(id.clone());
        total += block.len() as u64;
        in_flight.push(async move { store.put_block(container, name, &id, block).await });
        if in_flight.len() >= options.concurrency.max(1) {
            in_flight.next().await.transpose()?;
        }
        let block = read_block(&mut reader, block_size).await?;
        if !block.is_empty() {
            md5.update(&block);
            next = Some(block);
        }
    }
    while let Some(r) = in_flight.next().await {
        r?;
    }
    let content_md5 = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
    let mut put = options.put.clone();
    put.properties.content_md5 = Some(content_md5.clone());
    let etag = store.put_block_list(container, name, &ids, &put).await?;
    Ok(Uploaded { etag, bytes: total, content_md5 })
}

/// Reads up to `size` bytes; fewer only at the end of the stream.
async fn read_block<R: AsyncRead + Unpin>(reader: &mut R, size: usize) -> Result<Bytes> {
    let mut buf = BytesMut::zeroed(size);
    let mut filled = 0;
    while filled < size {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}
