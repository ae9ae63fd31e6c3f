//! Streamed copy: through the client. A blob of one block is one GET and one
//! PUT. A larger one is one GET read in order (or, with `ranged_reads`,
//! parallel ranged GETs each checked to come from the listed version, its
//! ETag), staged in the target while the next blocks are read; the whole-blob
//! MD5 is computed in order and checked against the source's Content-MD5 when
//! it has one. The bytes can never be a mix of two versions.

use async_trait::async_trait;

use super::{
    ensure_block_blob, source_changed, target_put_options, CopyEngine, CopyOutcome, CopyRequest, CopyStrategy,
};
use crate::error::Result;
use crate::store::{upload_ranges, upload_stream, BlobRangeSource, BlockPool, UploadOptions};

/// Copies through the client with about `block_size × (concurrency + 1)`
/// bytes in memory per blob, whatever its size, or within `pool`'s budget
/// when one is given (shared by every copy of a run).
#[derive(Debug, Clone)]
pub struct StreamedCopy {
    /// Bytes per block read and written; a given `pool`'s own block size rules over it.
    pub block_size: u64,
    /// Ranged reads, and block writes, in flight at once for one blob.
    pub concurrency: usize,
    /// The run's buffer budget; `None`: each copy has its own.
    pub pool: Option<BlockPool>,
    /// Read a blob of several blocks with parallel ranged GETs instead of one
    /// GET. Off by default: on Azurite (one Node process per account, sharing
    /// the machine's cores) the many ranged GETs cost the emulator more than
    /// one stream does, and the block PUTs, not the read, are the limit.
    pub ranged_reads: bool,
}

impl Default for StreamedCopy {
    fn default() -> Self {
        StreamedCopy { block_size: 4 * 1024 * 1024, concurrency: 4, pool: None, ranged_reads: false }
    }
}

#[async_trait]
impl CopyEngine for StreamedCopy {
    async fn copy_blob(&self, request: CopyRequest<'_>) -> Result<CopyOutcome> {
        let meta = request.source_meta().await?;
        ensure_block_blob(&meta)?;
        let options = UploadOptions {
            block_size: self.block_size.max(1) as usize,
            concurrency: self.concurrency.max(1),
            put: target_put_options(&meta),
            pool: self.pool.clone(),
        };
        let block_size = self.pool.as_ref().map_or(options.block_size, BlockPool::block_size) as u64;
        let (target, container, name) = (request.target, request.target_container, request.name);
        let up = if self.ranged_reads && meta.size > block_size {
            let source =
                BlobRangeSource { store: request.source, container: request.source_container, name, etag: &meta.etag };
            upload_ranges(target, container, name, &source, meta.size, &options).await?
        } else {
            let got = request.source.get_blob(request.source_container, name, None).await?;
            if got.meta.etag != meta.etag {
                return Err(source_changed(name).into());
            }
            upload_stream(target, container, name, got.stream, Some(meta.size), &options).await?
        };
        if up.bytes != meta.size {
            return Err(crate::Error::new(
                crate::ErrorKind::Transient,
                format!("'{name}': read {} of {} bytes: the connection ended early", up.bytes, meta.size),
            ));
        }
        Ok(CopyOutcome {
            bytes: meta.size,
            strategy: CopyStrategy::Streamed,
            source_etag: meta.etag,
            target_etag: up.etag,
        })
    }
}
