//! Streamed copy: ranged GETs from the source feed staged blocks in the target.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{
    ensure_block_blob, source_changed, target_put_options, CopyEngine, CopyOutcome, CopyRequest, CopyStrategy,
};
use crate::error::{Error, ErrorKind, Result};

/// Copies through the client: ranged GETs feed staged blocks, at most
/// `concurrency` blocks of `block_size` bytes in memory at once.
#[derive(Debug, Clone)]
pub struct StreamedCopy {
    pub block_size: u64,
    pub concurrency: usize,
}

impl Default for StreamedCopy {
    fn default() -> Self {
        StreamedCopy { block_size: 8 * 1024 * 1024, concurrency: 4 }
    }
}

async fn read_range(request: &CopyRequest<'_>, etag: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
    // An empty blob has no range to ask for: fetch it whole to check its ETag.
    let wanted = (!range.is_empty()).then(|| range.clone());
    let got = request.source.get_blob(request.source_container, request.name, wanted).await?;
    if got.meta.etag != etag {
        return Err(source_changed(request.name));
    }
    let mut buf = BytesMut::with_capacity((range.end - range.start) as usize);
    let mut s = got.stream;
    while let Some(chunk) = s.try_next().await? {
        buf.extend_from_slice(&chunk);
    }
    if buf.len() as u64 != range.end - range.start {
        return Err(Error::new(
            ErrorKind::Transient,
            format!("short read of '{}': the connection ended early", request.name),
        ));
    }
    Ok(buf.freeze())
}

#[async_trait]
impl CopyEngine for StreamedCopy {
    async fn copy_blob(&self, request: CopyRequest<'_>) -> Result<CopyOutcome> {
        let meta = request.source_meta().await?;
        ensure_block_blob(&meta)?;
        let options = target_put_options(&meta);
        let block = self.block_size.max(1);
        let target_etag = if meta.size <= block {
            let data = read_range(&request, &meta.etag, 0..meta.size).await?;
            request.target.put_blob(request.target_container, request.name, data, &options).await?
        } else {
            let ranges: Vec<_> =
                (0..meta.size).step_by(block as usize).map(|s| s..(s + block).min(meta.size)).collect();
            let ids: Vec<String> = (0..ranges.len()).map(|i| format!("mirrorcast-{i:08}")).collect();
            stream::iter(ranges.into_iter().zip(ids.iter().cloned()))
                .map(|(range, id)| {
                    let etag = meta.etag.as_str();
                    async move {
                        let data = read_range(&request, etag, range).await?;
                        request.target.put_block(request.target_container, request.name, &id, data).await
                    }
                })
                .buffer_unordered(self.concurrency.max(1))
                .try_collect::<Vec<()>>()
                .await?;
            request.target.put_block_list(request.target_container, request.name, &ids, &options).await?
        };
        Ok(CopyOutcome { bytes: meta.size, strategy: CopyStrategy::Streamed, source_etag: meta.etag, target_etag })
    }
}
