//! Conveniences built on [`BlobStore`]'s few methods.

use async_trait::async_trait;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{BlobMeta, BlobStore, ByteStream, ListOptions, PutOptions};
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

/// Where the bytes of an upload come from, a block at a time.
trait BlockSource: Send {
    /// The next `size` bytes; fewer only at the end.
    fn next_block(&mut self, size: usize) -> impl std::future::Future<Output = Result<Bytes>> + Send;
}

struct ReaderSource<R>(R);

impl<R: AsyncRead + Unpin + Send> BlockSource for ReaderSource<R> {
    async fn next_block(&mut self, size: usize) -> Result<Bytes> {
        let mut buf = BytesMut::zeroed(size);
        let mut filled = 0;
        while filled < size {
            let n = self.0.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok(buf.freeze())
    }
}

struct StreamSource {
    stream: ByteStream,
    pending: BytesMut,
    /// Bytes still to come, if known: blocks are allocated at their final size.
    remaining: Option<u64>,
}

impl BlockSource for StreamSource {
    async fn next_block(&mut self, size: usize) -> Result<Bytes> {
        // One allocation of the block's size, not a doubling series.
        let want = self.remaining.map_or(size, |r| (r as usize).min(size));
        self.pending.reserve(want.saturating_sub(self.pending.len()));
        while self.pending.len() < size {
            match self.stream.try_next().await? {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => break,
            }
        }
        let n = size.min(self.pending.len());
        self.remaining = self.remaining.map(|r| r.saturating_sub(n as u64));
        Ok(self.pending.split_to(n).freeze())
    }
}

/// Streams `reader` into a block blob with bounded memory; see [`upload_stream`].
pub async fn upload_reader<R>(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    reader: R,
    options: &UploadOptions,
) -> Result<Uploaded>
where
    R: AsyncRead + Unpin + Send,
{
    upload_from(store, container, name, ReaderSource(reader), options).await
}

/// Streams `stream` into a block blob with bounded memory: one `put_blob`
/// when it fits in one block, else staged blocks (`concurrency` in flight)
/// committed in order. The MD5 of the bytes is computed on the way: stored as
/// the Content-MD5 when the options give none, and checked against the one
/// they give (a mismatch fails before anything is committed).
/// `expected_len`, when known, sizes each block's buffer exactly.
pub async fn upload_stream(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    stream: ByteStream,
    expected_len: Option<u64>,
    options: &UploadOptions,
) -> Result<Uploaded> {
    let source = StreamSource { stream, pending: BytesMut::new(), remaining: expected_len };
    upload_from(store, container, name, source, options).await
}

fn finish_md5(md5: Md5, options: &UploadOptions, name: &str) -> Result<(String, PutOptions)> {
    let computed = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
    let mut put = options.put.clone();
    match &put.properties.content_md5 {
        Some(given) if *given != computed => {
            return Err(crate::Error::new(
                ErrorKind::Corrupt,
                format!("'{name}': the bytes read do not match their Content-MD5 ({given}); nothing was committed"),
            ))
        }
        Some(_) => {}
        None => put.properties.content_md5 = Some(computed.clone()),
    }
    Ok((computed, put))
}

async fn upload_from<S: BlockSource>(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    mut source: S,
    options: &UploadOptions,
) -> Result<Uploaded> {
    let block_size = options.block_size.max(1);
    let mut md5 = Md5::new();
    let first = source.next_block(block_size).await?;
    md5.update(&first);
    // A blob of at most one block goes in one request, not a block and a commit.
    let second = if first.len() < block_size { Bytes::new() } else { source.next_block(block_size).await? };
    if second.is_empty() {
        let (content_md5, put) = finish_md5(md5, options, name)?;
        let bytes = first.len() as u64;
        let etag = store.put_blob(container, name, first, &put).await?;
        return Ok(Uploaded { etag, bytes, content_md5 });
    }
    md5.update(&second);
    let mut queued = Some(second);

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
        if let Some(block) = queued.take() {
            next = Some(block);
            continue;
        }
        let block = source.next_block(block_size).await?;
        if !block.is_empty() {
            md5.update(&block);
            next = Some(block);
        }
    }
    while let Some(r) = in_flight.next().await {
        r?;
    }
    let (content_md5, put) = finish_md5(md5, options, name)?;
    let etag = store.put_block_list(container, name, &ids, &put).await?;
    Ok(Uploaded { etag, bytes: total, content_md5 })
}
