//! Conveniences built on [`BlobStore`]'s few methods.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::path::Path;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::{self, FuturesUnordered, Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::pool::{BlockPool, PooledBytes};
use super::{BlobMeta, BlobStore, ByteStream, ListOptions, PutOptions};
use crate::error::{Error, ErrorKind, Result};

/// Helpers every [`BlobStore`] gets for free: paginated listing, whole-blob reads and the like, built only on the trait's methods.
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

/// How uploads cut and send bytes.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Size of each staged block; also the largest single `put_blob`.
    pub block_size: usize,
    /// Block reads and block writes each in flight at once for one blob.
    pub concurrency: usize,
    /// Properties, metadata and condition of the committed blob.
    pub put: PutOptions,
    /// Where block buffers come from. Shared by many uploads, it bounds their
    /// memory together; `None`: a pool of `concurrency + 1` blocks for this one.
    pub pool: Option<BlockPool>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions { block_size: 4 * 1024 * 1024, concurrency: 4, put: PutOptions::default(), pool: None }
    }
}

impl UploadOptions {
    fn pool(&self) -> BlockPool {
        match &self.pool {
            Some(p) => p.clone(),
            None => BlockPool::new(self.block_size(), (self.block_size() * (self.concurrency() + 1)) as u64),
        }
    }

    fn block_size(&self) -> usize {
        match &self.pool {
            Some(p) => p.block_size(),
            None => self.block_size.max(1),
        }
    }

    fn concurrency(&self) -> usize {
        self.concurrency.max(1)
    }
}

/// What an upload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The ETag of the committed blob.
    pub etag: String,
    /// Bytes written.
    pub bytes: u64,
    /// Base64 MD5 of every byte read, stored as the blob's Content-MD5.
    pub content_md5: String,
}

/// Bytes that can only be read in order (a reader, one GET's body).
trait SequentialSource: Send {
    /// Appends up to `size` bytes to `buf`; fewer only at the end.
    fn fill(&mut self, buf: &mut BytesMut, size: usize) -> impl Future<Output = Result<()>> + Send;
    /// Whether every byte has been read; a byte read to tell is kept for the next `fill`.
    fn at_end(&mut self) -> impl Future<Output = Result<bool>> + Send;
}

struct ReaderSource<R> {
    reader: R,
    /// The byte `at_end` read.
    peeked: Option<u8>,
}

impl<R: AsyncRead + Unpin + Send> SequentialSource for ReaderSource<R> {
    async fn fill(&mut self, buf: &mut BytesMut, size: usize) -> Result<()> {
        let start = buf.len();
        if size > 0 {
            if let Some(b) = self.peeked.take() {
                buf.put_u8(b);
            }
        }
        while buf.len() - start < size {
            let want = size - (buf.len() - start);
            if self.reader.read_buf(&mut (&mut *buf).limit(want)).await? == 0 {
                break;
            }
        }
        Ok(())
    }

    async fn at_end(&mut self) -> Result<bool> {
        if self.peeked.is_some() {
            return Ok(false);
        }
        let mut one = [0u8; 1];
        if self.reader.read(&mut one).await? == 0 {
            return Ok(true);
        }
        self.peeked = Some(one[0]);
        Ok(false)
    }
}

struct StreamSource {
    stream: ByteStream,
    /// The part of the last chunk that did not fit in the previous block.
    leftover: Bytes,
}

impl SequentialSource for StreamSource {
    async fn fill(&mut self, buf: &mut BytesMut, size: usize) -> Result<()> {
        let start = buf.len();
        loop {
            let want = size - (buf.len() - start);
            if want == 0 {
                return Ok(());
            }
            if self.leftover.is_empty() {
                match self.stream.try_next().await? {
                    Some(chunk) => self.leftover = chunk,
                    None => return Ok(()),
                }
            }
            let take = want.min(self.leftover.len());
            buf.extend_from_slice(&self.leftover.split_to(take));
        }
    }

    async fn at_end(&mut self) -> Result<bool> {
        while self.leftover.is_empty() {
            match self.stream.try_next().await? {
                Some(chunk) => self.leftover = chunk,
                None => return Ok(true),
            }
        }
        Ok(false)
    }
}

/// Bytes that can be read in any order, a range at a time, several at once
/// (a local file, a blob read with ranged GETs).
pub trait RangeSource: Sync {
    /// Appends exactly the bytes of `range` to `buf`.
    fn read_range(&self, range: Range<u64>, buf: &mut BytesMut) -> impl Future<Output = Result<()>> + Send;
}

struct FileSource<'a>(&'a Path);

impl RangeSource for FileSource<'_> {
    /// Straight into `buf` on a blocking thread: no intermediate buffer (tokio's
    /// file buffers would be one more multi-MiB allocation per read in flight).
    async fn read_range(&self, range: Range<u64>, buf: &mut BytesMut) -> Result<()> {
        use std::io::{Read, Seek};
        let path = self.0.to_path_buf();
        let mut owned = std::mem::take(buf);
        let start = owned.len();
        owned.resize(start + (range.end - range.start) as usize, 0);
        let (owned, read) = tokio::task::spawn_blocking(move || {
            let read = std::fs::File::open(&path).and_then(|mut file| {
                file.seek(std::io::SeekFrom::Start(range.start))?;
                file.read_exact(&mut owned[start..])
            });
            (owned, read)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("a file read stopped: {e}")))?;
        *buf = owned;
        match read {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::new(
                ErrorKind::Corrupt,
                format!("'{}' became shorter while it was being uploaded", self.0.display()),
            )),
            other => Ok(other?),
        }
    }
}

/// A source blob read with ranged GETs, every one of them answered by the
/// version `etag`: the bytes can never be a mix of two versions.
#[derive(Debug)]
pub struct BlobRangeSource<'a> {
    /// The store holding the source blob.
    pub store: &'a dyn BlobStore,
    /// The source blob's container.
    pub container: &'a str,
    /// The source blob's name.
    pub name: &'a str,
    /// The version every range must come from, else [`source_changed`].
    pub etag: &'a str,
}

impl RangeSource for BlobRangeSource<'_> {
    async fn read_range(&self, range: Range<u64>, buf: &mut BytesMut) -> Result<()> {
        let want = (range.end - range.start) as usize;
        let got = self.store.get_blob(self.container, self.name, Some(range.clone())).await?;
        if got.meta.etag != self.etag {
            return Err(source_changed(self.name));
        }
        let mut source = StreamSource { stream: got.stream, leftover: Bytes::new() };
        let start = buf.len();
        source.fill(buf, want).await?;
        if buf.len() - start != want || source.stream.try_next().await?.is_some() {
            return Err(Error::new(
                ErrorKind::Transient,
                format!("'{}': bytes {}..{} came back with another length", self.name, range.start, range.end),
            ));
        }
        Ok(())
    }
}

/// The error of a copy whose source blob got a new version while it was read.
pub fn source_changed(name: &str) -> Error {
    Error::new(ErrorKind::PreconditionFailed, format!("source blob '{name}' changed while it was being copied"))
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
    upload_sequential(store, container, name, ReaderSource { reader, peeked: None }, None, options).await
}

/// Streams `stream` into a block blob with bounded memory: one `put_blob`
/// when it fits in one block, else staged blocks committed in order, the
/// next blocks read while earlier ones are sent (`concurrency` writes in
/// flight). The MD5 of the bytes is computed on the way: stored as the
/// Content-MD5 when the options give none, and checked against the one they
/// give (a mismatch fails before anything is committed).
/// `expected_len`, when known, sizes a small blob's buffer exactly.
pub async fn upload_stream(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    stream: ByteStream,
    expected_len: Option<u64>,
    options: &UploadOptions,
) -> Result<Uploaded> {
    let source = StreamSource { stream, leftover: Bytes::new() };
    upload_sequential(store, container, name, source, expected_len, options).await
}

/// Uploads a local file with `concurrency` block reads and `concurrency`
/// block writes in flight at once; the MD5 is computed in order on the way.
pub async fn upload_file(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    path: &Path,
    options: &UploadOptions,
) -> Result<Uploaded> {
    let size = tokio::fs::metadata(path).await?.len();
    let up = upload_ranges(store, container, name, &FileSource(path), size, options).await?;
    Ok(up)
}

fn finish_md5(md5: Md5, options: &UploadOptions, name: &str) -> Result<(String, PutOptions)> {
    let computed = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
    let mut put = options.put.clone();
    match &put.properties.content_md5 {
        Some(given) if *given != computed => {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("'{name}': the bytes read do not match their Content-MD5 ({given}); nothing was committed"),
            ))
        }
        Some(_) => {}
        None => put.properties.content_md5 = Some(computed.clone()),
    }
    Ok((computed, put))
}

/// One request for a blob that fits in one block.
///
/// When the bytes come with the source's Content-MD5 and the target hashes
/// what it receives against it (`put_blob_checks_content_md5`), that hash is
/// the proof of the copy and the client does not hash the bytes again: a body
/// that is not the source's is refused and nothing is committed, as when the
/// client compares.
async fn put_whole(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    data: PooledBytes,
    options: &UploadOptions,
) -> Result<Uploaded> {
    let target_checks = store.capability().put_blob_checks_content_md5;
    if let (Some(given), true) = (&options.put.properties.content_md5, target_checks) {
        let refused = |e: Error| {
            match e.kind() {
            ErrorKind::Corrupt => Error::new(
                ErrorKind::Corrupt,
                format!("'{name}': the bytes read do not match their Content-MD5 ({given}), the target found; nothing was committed"),
            ),
            _ => e,
        }
        };
        let etag = store.put_blob(container, name, data.bytes().clone(), &options.put).await.map_err(refused)?;
        return Ok(Uploaded { etag, bytes: data.len() as u64, content_md5: given.clone() });
    }
    let mut md5 = Md5::new();
    md5.update(data.bytes());
    let (content_md5, put) = finish_md5(md5, options, name)?;
    let etag = store.put_blob(container, name, data.bytes().clone(), &put).await?;
    Ok(Uploaded { etag, bytes: data.len() as u64, content_md5 })
}

async fn upload_sequential<S: SequentialSource>(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    mut source: S,
    expected_len: Option<u64>,
    options: &UploadOptions,
) -> Result<Uploaded> {
    let (pool, block_size) = (options.pool(), options.block_size());
    let first = match expected_len {
        Some(len) if len <= block_size as u64 => pool.take_exact(len as usize).await,
        _ => pool.take_block().await,
    };
    let mut first = first;
    source.fill(&mut first.buf, block_size).await?;
    // A blob of exactly one block is one Put Blob too, not a block and a list.
    if first.buf.len() < block_size || source.at_end().await? {
        return put_whole(store, container, name, first.freeze(), options).await;
    }
    let rest = stream::unfold(Some((source, pool)), move |state| async move {
        let (mut source, pool) = state?;
        let mut block = pool.take_block().await;
        match source.fill(&mut block.buf, block_size).await {
            Err(e) => Some((Err(e), None)),
            Ok(()) if block.buf.is_empty() => None,
            Ok(()) => {
                let more = block.buf.len() == block_size;
                Some((Ok(block.freeze()), more.then_some((source, pool))))
            }
        }
    });
    let blocks = stream::once(async { Ok(first.freeze()) }).chain(rest);
    stage_and_commit(store, container, name, blocks, options).await
}

/// Uploads `size` bytes read from `source` a block range at a time, with
/// `concurrency` reads and writes in flight; the MD5 is computed in order.
pub async fn upload_ranges<R: RangeSource>(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    source: &R,
    size: u64,
    options: &UploadOptions,
) -> Result<Uploaded> {
    let (pool, block_size) = (options.pool(), options.block_size());
    if size <= block_size as u64 {
        let mut whole = pool.take_exact(size as usize).await;
        if size > 0 {
            source.read_range(0..size, &mut whole.buf).await?;
        }
        return put_whole(store, container, name, whole.freeze(), options).await;
    }
    let blocks = ranged_blocks(source, size, &pool, options.concurrency());
    stage_and_commit(store, container, name, blocks, options).await
}

/// The `size` bytes of `source` as pool blocks in order, `concurrency` range
/// reads in flight. Buffers are taken one after another, in block order, so a
/// block never waits for memory that a later block of the same blob holds:
/// however many of these share one pool, the earliest block of each always
/// has its buffer and can finish, so they cannot deadlock on the budget.
fn ranged_blocks<'a, R: RangeSource>(
    source: &'a R,
    size: u64,
    pool: &BlockPool,
    concurrency: usize,
) -> impl Stream<Item = Result<PooledBytes>> + Send + 'a {
    let (pool, block_size) = (pool.clone(), pool.block_size());
    let step = block_size as u64;
    let ranges = (0..size).step_by(block_size).map(move |s| s..(s + step).min(size));
    stream::iter(ranges)
        .then(move |range| {
            let pool = pool.clone();
            async move { (range, pool.take_block().await) }
        })
        .map(move |(range, mut block)| async move {
            source.read_range(range, &mut block.buf).await?;
            Ok(block.freeze())
        })
        .buffered(concurrency.max(1))
}

/// Hashes `blocks` in order and stages them with `concurrency` writes in
/// flight while the next blocks are read; then commits the list.
async fn stage_and_commit(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    blocks: impl Stream<Item = Result<PooledBytes>> + Send,
    options: &UploadOptions,
) -> Result<Uploaded> {
    let mut blocks = std::pin::pin!(blocks);
    let mut md5 = Md5::new();
    let mut ids = Vec::new();
    let mut total = 0u64;
    let mut writes = FuturesUnordered::new();
    // Blocks read and hashed while the writes were all busy; the pool's
    // budget bounds how many.
    let mut ready: VecDeque<PooledBytes> = VecDeque::new();
    let mut reading = true;
    loop {
        while writes.len() < options.concurrency() {
            let Some(block) = ready.pop_front() else { break };
            let id = format!("mirrorcast-{:08}", ids.len());
            ids.push(id.clone());
            writes.push(async move {
                let sent = store.put_block(container, name, &id, block.bytes().clone()).await;
                drop(block);
                sent
            });
        }
        if !reading && ready.is_empty() && writes.is_empty() {
            break;
        }
        tokio::select! {
            // Finished writes first: they free buffers for the reads.
            biased;
            Some(written) = writes.next(), if !writes.is_empty() => written?,
            block = blocks.next(), if reading => match block {
                None => reading = false,
                Some(block) => {
                    let block = block?;
                    md5.update(block.bytes());
                    total += block.len() as u64;
                    ready.push_back(block);
                }
            },
        }
    }
    let (content_md5, put) = finish_md5(md5, options, name)?;
    let etag = store.put_block_list(container, name, &ids, &put).await?;
    Ok(Uploaded { etag, bytes: total, content_md5 })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::watch;

    use super::*;
    use crate::{Capability, Condition, GetResult, InMemoryStore, ListPage};

    /// A store whose first staged block is not written until the uploader has
    /// read into the second block, and which counts writes in flight.
    #[derive(Debug)]
    struct HeldFirstBlock {
        inner: InMemoryStore,
        next_read: watch::Receiver<bool>,
        writing: AtomicUsize,
        most_writing: AtomicUsize,
    }

    #[async_trait]
    impl BlobStore for HeldFirstBlock {
        fn describe(&self) -> String {
            "held".into()
        }
        fn capability(&self) -> Capability {
            self.inner.capability()
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
            self.inner.head_blob(c, n).await
        }
        async fn get_blob(&self, c: &str, n: &str, r: Option<Range<u64>>) -> Result<GetResult> {
            self.inner.get_blob(c, n, r).await
        }
        async fn put_blob(&self, c: &str, n: &str, d: Bytes, o: &PutOptions) -> Result<String> {
            self.inner.put_blob(c, n, d, o).await
        }
        async fn put_block(&self, c: &str, n: &str, id: &str, d: Bytes) -> Result<()> {
            let now = self.writing.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_writing.fetch_max(now, Ordering::SeqCst);
            if id.ends_with("00000000") {
                let mut next = self.next_read.clone();
                next.wait_for(|read| *read).await.expect("the reader is alive");
            }
            let r = self.inner.put_block(c, n, id, d).await;
            self.writing.fetch_sub(1, Ordering::SeqCst);
            r
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
        fn request_retries(&self) -> u64 {
            self.inner.request_retries()
        }
        fn requests_sent(&self) -> u64 {
            self.inner.requests_sent()
        }
        fn requests_by_operation(&self) -> std::collections::BTreeMap<String, u64> {
            self.inner.requests_by_operation()
        }
        fn endpoint(&self) -> Option<String> {
            self.inner.endpoint()
        }
        fn identity(&self) -> Option<crate::StoreIdentity> {
            self.inner.identity()
        }
        fn adaptive_limit(&self) -> Option<std::sync::Arc<crate::AdaptiveLimit>> {
            self.inner.adaptive_limit()
        }
        fn access(&self) -> crate::Access {
            self.inner.access()
        }
        async fn signed_url(
            &self,
            c: &str,
            b: Option<&str>,
            p: crate::Permissions,
            e: chrono::DateTime<chrono::Utc>,
        ) -> crate::Result<crate::SignedUrl> {
            self.inner.signed_url(c, b, p, e).await
        }
        async fn scoped(
            &self,
            c: &str,
            p: crate::Permissions,
            e: chrono::DateTime<chrono::Utc>,
        ) -> crate::Result<std::sync::Arc<dyn BlobStore>> {
            self.inner.scoped(c, p, e).await
        }
        async fn copy_from_url(
            &self,
            c: &str,
            n: &str,
            s: &crate::CopySource,
            o: &crate::PutOptions,
        ) -> crate::Result<String> {
            self.inner.copy_from_url(c, n, s, o).await
        }
        async fn put_block_from_url(
            &self,
            c: &str,
            n: &str,
            id: &str,
            s: &crate::CopySource,
            r: std::ops::Range<u64>,
        ) -> crate::Result<()> {
            self.inner.put_block_from_url(c, n, id, s, r).await
        }
        async fn get_container_policies(&self, c: &str) -> crate::Result<crate::ContainerPolicies> {
            self.inner.get_container_policies(c).await
        }
        async fn set_container_policies(
            &self,
            c: &str,
            p: &[crate::StoredPolicy],
            v: Option<&str>,
        ) -> crate::Result<String> {
            self.inner.set_container_policies(c, p, v).await
        }
        async fn signed_url_for_policy(&self, c: &str, b: Option<&str>, id: &str) -> crate::Result<crate::SignedUrl> {
            self.inner.signed_url_for_policy(c, b, id).await
        }
        async fn scoped_for_policy(&self, c: &str, id: &str) -> crate::Result<std::sync::Arc<dyn BlobStore>> {
            self.inner.scoped_for_policy(c, id).await
        }
    }

    /// A reader that tells when it has been read past `mark`.
    struct Marked {
        data: std::io::Cursor<Vec<u8>>,
        mark: u64,
        passed: watch::Sender<bool>,
    }

    impl AsyncRead for Marked {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let this = &mut *self;
            let r = std::pin::Pin::new(&mut this.data).poll_read(cx, buf);
            if this.data.position() > this.mark {
                this.passed.send_replace(true);
            }
            r
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_uploader_reads_the_next_blocks_while_a_write_is_still_in_flight() {
        let (passed, next_read) = watch::channel(false);
        let store = HeldFirstBlock {
            inner: InMemoryStore::new(),
            next_read,
            writing: AtomicUsize::new(0),
            most_writing: AtomicUsize::new(0),
        };
        store.create_container("c").await.unwrap();
        let block = 1024;
        let data: Vec<u8> = (0..10 * block as u32).map(|i| (i % 253) as u8).collect();
        let reader = Marked { data: std::io::Cursor::new(data.clone()), mark: block as u64, passed };
        // One write at a time: a serial uploader would wait on block 0 forever.
        let options = UploadOptions { block_size: block, concurrency: 1, ..Default::default() };
        let up = tokio::time::timeout(
            std::time::Duration::from_secs(3600),
            upload_reader(&store, "c", "v.mp4", reader, &options),
        )
        .await
        .expect("the upload stalled: block 0's write waits for a read that never came")
        .unwrap();
        assert_eq!(up.bytes, data.len() as u64);
        assert_eq!(store.most_writing.load(Ordering::SeqCst), 1, "more writes than --concurrency in flight");
        let (_, got) = store.inner.get_bytes("c", "v.mp4").await.unwrap();
        assert_eq!(got.as_ref(), data.as_slice());
    }

    #[tokio::test]
    async fn readers_of_one_block_and_of_one_block_and_a_byte_keep_every_byte() {
        let block = 1024;
        for len in [block - 1, block, block + 1, 2 * block] {
            let store = InMemoryStore::new();
            store.create_container("c").await.unwrap();
            let data: Vec<u8> = (0..len as u32).map(|i| (i % 251) as u8).collect();
            let options = UploadOptions { block_size: block, concurrency: 2, ..Default::default() };
            let up = upload_reader(&store, "c", "v.mp4", std::io::Cursor::new(data.clone()), &options).await.unwrap();
            let (meta, got) = store.get_bytes("c", "v.mp4").await.unwrap();
            assert_eq!(got.as_ref(), data.as_slice(), "{len} bytes");
            assert_eq!(up.bytes, len as u64);
            let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
            assert_eq!(
                (up.content_md5.as_str(), meta.properties.content_md5.as_deref()),
                (md5.as_str(), Some(md5.as_str()))
            );
        }
    }

    #[tokio::test]
    async fn a_file_is_uploaded_from_parallel_range_reads_with_its_md5_in_order() {
        let dir = std::env::temp_dir().join(format!("mirrorcast-upload-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.mp4");
        let data: Vec<u8> = (0..200_001u32).map(|i| (i * 31 % 256) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let store = InMemoryStore::new();
        store.create_container("c").await.unwrap();
        let options = UploadOptions { block_size: 16 * 1024, concurrency: 5, ..Default::default() };
        let up = upload_file(&store, "c", "f.mp4", &path, &options).await.unwrap();
        let (meta, got) = store.get_bytes("c", "f.mp4").await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got.as_ref(), data.as_slice());
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
        assert_eq!(up.content_md5, md5);
        assert_eq!(meta.properties.content_md5, Some(md5));
    }
}
