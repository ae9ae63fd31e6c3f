//! `--deep` on one blob both sides hold: A's and B's bytes read side by side
//! in aligned blocks from the run's [`BlockPool`] and compared as they arrive,
//! which alone proves the copy and names the first byte that differs. MD5 is
//! computed only when a stored Content-MD5 is to be checked, on a blocking
//! thread fed through a bounded channel, so the reads go on while it hashes:
//! while the bytes are equal one hash serves both sides; from the first
//! difference on, each side has its own (the common prefix's state, cloned).

use std::ops::Range;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use mirrorcast_core::store::pool::PooledBytes;
use mirrorcast_core::store::{BlobMeta, BlobRangeSource, BlobStore, BlockPool, ByteStream, RangeSource};
use mirrorcast_core::{Error, ErrorKind, Result};
use tokio::sync::mpsc;

use super::DeepReads;

/// What reading both sides of one blob found.
#[derive(Debug)]
pub(super) struct Compared {
    /// The offset of the first byte where B's bytes are not A's.
    pub first_difference: Option<u64>,
    /// The base64 MD5 of A's bytes and of B's, when they were asked for.
    pub md5: Option<(String, String)>,
}

/// Blocks waiting for the hash: enough that a read does not wait for the
/// hash of the block before it (they are the run's budget too).
const HASH_QUEUE: usize = 4;

/// Reads `a` from `a_store` and `b` (of the same size) from `b_store`, both
/// as the listing saw them, and compares them; with `hash`, the MD5 of each
/// side's bytes too. A read that fails, comes back short or long, or from
/// another version (a new ETag) is an error, never a verdict.
pub(super) async fn compare(
    (a_store, b_store): (&dyn BlobStore, &dyn BlobStore),
    container: &str,
    (a, b): (&BlobMeta, &BlobMeta),
    reads: &DeepReads,
    hash: bool,
) -> Result<Compared> {
    let size = a.size;
    if b.size != size {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("'{}': {} bytes in A, {} in B: sizes differ, nothing to compare", a.name, a.size, b.size),
        ));
    }
    let (a_source, b_source) = (
        BlobRangeSource { store: a_store, container, name: &a.name, etag: &a.etag },
        BlobRangeSource { store: b_store, container, name: &b.name, etag: &b.etag },
    );
    let mut pairs: BoxStream<'_, Result<(PooledBytes, PooledBytes)>> = if reads.ranged
        && size > reads.pool.block_size() as u64
    {
        ranged_pairs((&a_source, &b_source), size, &reads.pool, reads.ranges_per_blob).boxed()
    } else {
        let (a_body, b_body) = tokio::try_join!(Body::open(a_store, container, a), Body::open(b_store, container, b))?;
        streamed_pairs((a_body, b_body), size, &reads.pool).boxed()
    };

    let (mut feed, hashing) = if hash {
        let (tx, rx) = mpsc::channel(HASH_QUEUE);
        (Some(tx), Some(tokio::task::spawn_blocking(move || hash_fed(rx))))
    } else {
        (None, None)
    };
    let mut first_difference = None;
    let mut at = 0u64;
    while let Some((x, y)) = pairs.try_next().await? {
        let len = x.len() as u64;
        let next = match first_difference {
            Some(_) => Fed::Apart(x, y),
            None if x.bytes() == y.bytes() => Fed::Same(x),
            None => {
                let within = x.bytes().iter().zip(y.bytes().iter()).position(|(p, q)| p != q).unwrap_or(0);
                first_difference = Some(at + within as u64);
                Fed::Fork { a: x, b: y, at: within }
            }
        };
        match &feed {
            // The bytes differ and no hash is wanted: nothing more to learn.
            None if first_difference.is_some() => break,
            None => {}
            Some(tx) => tx.send(next).await.map_err(|_| hashing_stopped("it ended early"))?,
        }
        at += len;
    }
    drop(feed.take());
    let md5 = match hashing {
        None => None,
        Some(h) => Some(h.await.map_err(|e| hashing_stopped(&e.to_string()))?),
    };
    Ok(Compared { first_difference, md5 })
}

fn hashing_stopped(why: &str) -> Error {
    Error::new(ErrorKind::Other, format!("hashing stopped: {why}"))
}

/// A block for the hash, with what it is of.
enum Fed {
    /// A's bytes, which B's equal.
    Same(PooledBytes),
    /// The blocks where the sides part: equal before `at`, not at `at`.
    Fork { a: PooledBytes, b: PooledBytes, at: usize },
    /// Each side's block after they parted.
    Apart(PooledBytes, PooledBytes),
}

/// The MD5 of A's bytes and of B's from what `rx` is fed, until it closes.
fn hash_fed(mut rx: mpsc::Receiver<Fed>) -> (String, String) {
    let mut a = Md5::new();
    let mut b: Option<Md5> = None;
    while let Some(fed) = rx.blocking_recv() {
        match fed {
            Fed::Same(x) => a.update(x.bytes()),
            Fed::Fork { a: x, b: y, at } => {
                a.update(&x.bytes()[..at]);
                let mut own = a.clone();
                own.update(&y.bytes()[at..]);
                a.update(&x.bytes()[at..]);
                b = Some(own);
            }
            Fed::Apart(x, y) => {
                a.update(x.bytes());
                if let Some(own) = &mut b {
                    own.update(y.bytes());
                }
            }
        }
    }
    let b = b.unwrap_or_else(|| a.clone());
    let text = |m: Md5| base64::engine::general_purpose::STANDARD.encode(m.finalize());
    (text(a), text(b))
}

/// Both sides' blocks in order, `concurrency` pairs of ranged GETs in flight.
/// A pair's two buffers are taken together and pairs one after another, in
/// order, so the earliest pair of every blob always has its memory and can
/// finish: however many blobs share the budget, they cannot deadlock on it.
fn ranged_pairs<'a>(
    (a, b): (&'a BlobRangeSource<'a>, &'a BlobRangeSource<'a>),
    size: u64,
    pool: &BlockPool,
    concurrency: usize,
) -> impl Stream<Item = Result<(PooledBytes, PooledBytes)>> + Send + 'a {
    let pool = pool.clone();
    let step = pool.block_size() as u64;
    let ranges = (0..size).step_by(step as usize).map(move |s| s..(s + step).min(size));
    stream::iter(ranges)
        .then(move |range: Range<u64>| {
            let pool = pool.clone();
            async move {
                let pair = pool.take_pair((range.end - range.start) as usize).await;
                (range, pair)
            }
        })
        .map(move |(range, (mut x, mut y))| async move {
            tokio::try_join!(a.read_range(range.clone(), &mut x.buf), b.read_range(range, &mut y.buf))?;
            Ok((x.freeze(), y.freeze()))
        })
        .buffered(concurrency.max(1))
}

/// Both sides' blocks in order, each side one GET read into pool blocks (a
/// pair's two buffers taken together, as for ranges).
fn streamed_pairs<'a>(
    bodies: (Body<'a>, Body<'a>),
    size: u64,
    pool: &BlockPool,
) -> impl Stream<Item = Result<(PooledBytes, PooledBytes)>> + Send + 'a {
    let pool = pool.clone();
    let step = pool.block_size() as u64;
    stream::try_unfold((bodies, 0u64), move |((mut a, mut b), at)| {
        let pool = pool.clone();
        async move {
            if at >= size {
                tokio::try_join!(a.expect_end(size), b.expect_end(size))?;
                return Ok(None);
            }
            let len = (size - at).min(step) as usize;
            let (mut x, mut y) = pool.take_pair(len).await;
            tokio::try_join!(a.fill(&mut x.buf, len, at, size), b.fill(&mut y.buf, len, at, size))?;
            Ok(Some(((x.freeze(), y.freeze()), ((a, b), at + len as u64))))
        }
    })
}

/// One side's whole blob, one GET, as it arrives.
struct Body<'a> {
    name: &'a str,
    stream: ByteStream,
    /// What the last chunk had beyond the block it filled.
    leftover: Bytes,
}

impl<'a> Body<'a> {
    async fn open(store: &dyn BlobStore, container: &str, meta: &'a BlobMeta) -> Result<Body<'a>> {
        let got = store.get_blob(container, &meta.name, None).await?;
        if got.meta.etag != meta.etag {
            return Err(Error::new(
                ErrorKind::PreconditionFailed,
                format!("'{}' changed while it was being read (a new version since it was listed)", meta.name),
            ));
        }
        Ok(Body { name: &meta.name, stream: got.stream, leftover: Bytes::new() })
    }

    /// Appends the `len` bytes from offset `at` of the blob's `size` to `buf`.
    async fn fill(&mut self, buf: &mut BytesMut, len: usize, at: u64, size: u64) -> Result<()> {
        let start = buf.len();
        while buf.len() - start < len {
            if self.leftover.is_empty() {
                match self.stream.try_next().await? {
                    Some(chunk) => self.leftover = chunk,
                    None => {
                        let read = at + (buf.len() - start) as u64;
                        return Err(Error::new(
                            ErrorKind::Transient,
                            format!("'{}': read {read} of {size} bytes: the connection ended early", self.name),
                        ));
                    }
                }
            }
            let take = (len - (buf.len() - start)).min(self.leftover.len());
            buf.extend_from_slice(&self.leftover.split_to(take));
        }
        Ok(())
    }

    /// Fails if the body goes on past the blob's `size`.
    async fn expect_end(&mut self, size: u64) -> Result<()> {
        while self.leftover.is_empty() {
            match self.stream.try_next().await? {
                Some(chunk) => self.leftover = chunk,
                None => return Ok(()),
            }
        }
        Err(Error::new(ErrorKind::Transient, format!("'{}': more than its {size} bytes came back", self.name)))
    }
}
