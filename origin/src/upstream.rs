//! The origin's storage calls: each bounded by the upstream timeout and timed
//! for the metrics; blobs (or ranges of them) read into memory.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use futures::TryStreamExt;
use mirrorcast_core::catalog::CATALOG_CONTAINER;
use mirrorcast_core::store::{BlobMeta, BlobStore, ListOptions};
use mirrorcast_core::ErrorKind;
use tracing::debug;

use crate::fail::Fail;
use crate::metrics::Metrics;
use crate::validators;

/// The version of a source blob a response is made from.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    /// The store's ETag: a later read of other bytes is noticed by it.
    pub(crate) etag: String,
    /// What stays equal while the bytes do, in any data center (see [`validators`]).
    tag: String,
    last_modified: Option<chrono::DateTime<Utc>>,
}

impl Version {
    pub(crate) fn of(meta: &BlobMeta) -> Version {
        Version {
            etag: meta.etag.clone(),
            tag: validators::content_tag(meta.properties.content_md5.as_deref(), &meta.etag),
            last_modified: meta.last_modified,
        }
    }

    pub(crate) fn source(&self) -> (&str, Option<chrono::DateTime<Utc>>) {
        (&self.tag, self.last_modified)
    }
}

/// The data center's blobs as the origin reads them.
pub(crate) struct Upstream {
    pub(crate) store: Arc<dyn BlobStore>,
    /// A storage call not answered by then (its own retries included) is a 503.
    timeout: Duration,
    pub(crate) metrics: Arc<Metrics>,
}

impl Upstream {
    pub(crate) fn new(store: Arc<dyn BlobStore>, timeout: Duration, metrics: Arc<Metrics>) -> Upstream {
        Upstream { store, timeout, metrics }
    }

    /// A storage call, timed for the metrics.
    pub(crate) async fn timed<T, E: Into<mirrorcast_core::Error>>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Fail> {
        let start = Instant::now();
        let out = tokio::time::timeout(self.timeout, call).await;
        self.metrics.upstream(start.elapsed(), matches!(out, Ok(Ok(_))));
        match out {
            Ok(done) => Ok(done.map_err(Into::into)?),
            Err(_) => Err(Fail::Storage(ErrorKind::Transient)),
        }
    }

    pub(crate) async fn head(&self, container: &str, name: &str) -> Result<BlobMeta, Fail> {
        self.timed(self.store.head_blob(container, name)).await
    }

    /// Bytes of a blob (or of `range` of it) in memory, and the blob's version.
    pub(crate) async fn get_range(
        &self,
        container: &str,
        name: &str,
        range: Option<Range<u64>>,
    ) -> Result<(Version, Bytes), Fail> {
        let (meta, bytes) = self.read_bytes(container, name, range).await?;
        Ok((Version::of(&meta), bytes))
    }

    /// A whole blob of at most `limit` bytes in memory. The blob's own length (not its
    /// record's) is checked before its body is read, and the body is cut off past the
    /// limit: a huge blob under a small record costs no memory.
    pub(crate) async fn read_at_most(
        &self,
        container: &str,
        name: &str,
        limit: u64,
    ) -> Result<(BlobMeta, Bytes), Fail> {
        let got = self.timed(self.store.get_blob(container, name, None)).await?;
        if got.meta.size > limit {
            debug!(target: "mirrorcast_origin", "{name}: {} bytes, over the {limit}-byte bound", got.meta.size);
            return Err(Fail::Media);
        }
        let meta = got.meta;
        let mut buf = BytesMut::with_capacity(meta.size as usize);
        let mut stream = got.stream;
        let read = tokio::time::timeout(self.timeout, async {
            while let Some(chunk) = stream.try_next().await? {
                if (buf.len() + chunk.len()) as u64 > limit {
                    return Ok(Err(Fail::Media));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok::<_, mirrorcast_core::Error>(Ok(()))
        })
        .await;
        read.map_err(|_| Fail::Storage(ErrorKind::Transient))???;
        Ok((meta, buf.freeze()))
    }

    /// Bytes of a blob (or of `range` of it) in memory, and the blob's metadata.
    pub(crate) async fn read_bytes(
        &self,
        container: &str,
        name: &str,
        range: Option<Range<u64>>,
    ) -> Result<(BlobMeta, Bytes), Fail> {
        let got = self.timed(self.store.get_blob(container, name, range)).await?;
        let meta = got.meta;
        let start = Instant::now();
        let read = tokio::time::timeout(self.timeout, got.stream.try_collect::<Vec<Bytes>>()).await;
        // The GET was counted by `timed`; its body's time is added, not a second request.
        self.metrics.upstream_body(start.elapsed(), matches!(read, Ok(Ok(_))));
        let mut chunks = read.map_err(|_| Fail::Storage(ErrorKind::Transient))??;
        // A store that answers in one chunk (a local directory does) is not copied.
        if chunks.len() == 1 {
            return Ok((meta, chunks.pop().unwrap_or_default()));
        }
        let mut buf = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
        chunks.iter().for_each(|c| buf.extend_from_slice(c));
        Ok((meta, buf.freeze()))
    }

    /// Whether the records' container can be listed (`/healthz`).
    pub(crate) async fn healthy(&self) -> bool {
        let probe = ListOptions { max_results: Some(1), ..Default::default() };
        self.timed(self.store.list_blobs(CATALOG_CONTAINER, &probe)).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorcast_core::store::{InMemoryStore, PutOptions};

    /// `upstream_requests_total` counted a ranged read twice: once for the answer and again
    /// for its body, so the bench's "storage reads per 1,000 requests" row read double.
    #[tokio::test]
    async fn a_read_of_a_blob_counts_one_storage_request() {
        let store = Arc::new(InMemoryStore::new());
        store.create_container("media").await.unwrap();
        store.put_blob("media", "seg.mp4", Bytes::from_static(b"0123456789"), &PutOptions::default()).await.unwrap();
        let metrics = Arc::new(Metrics::default());
        let upstream = Upstream::new(store, Duration::from_secs(5), metrics.clone());

        let (_, bytes) = upstream.read_bytes("media", "seg.mp4", Some(2..6)).await.unwrap();
        assert_eq!(&bytes[..], b"2345");
        let count = |text: &str| {
            let line = text.lines().find(|l| l.starts_with("mirrorcast_origin_upstream_requests_total "));
            line.and_then(|l| l.rsplit(' ').next()).map(str::to_owned)
        };
        assert_eq!(count(&metrics.render()).as_deref(), Some("1"), "{}", metrics.render());
        assert!(upstream.read_bytes("media", "missing.mp4", None).await.is_err());
        let rendered = metrics.render();
        assert_eq!(count(&rendered).as_deref(), Some("2"), "{rendered}");
        assert!(rendered.contains("mirrorcast_origin_upstream_errors_total 1"), "{rendered}");
    }
}
