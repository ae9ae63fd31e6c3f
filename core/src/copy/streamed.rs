//! Streamed copy: one GET of the source, read once and in order, cut into
//! blocks that are staged in the target `concurrency` at a time. One GET is one
//! version of the source: the bytes can never be a mix of two.

use async_trait::async_trait;

use super::{
    ensure_block_blob, source_changed, target_put_options, CopyEngine, CopyOutcome, CopyRequest, CopyStrategy,
};
use crate::error::Result;
use crate::store::{upload_stream, UploadOptions};

/// Copies through the client with about `block_size × (concurrency + 1)`
/// bytes in memory per blob, whatever its size.
#[derive(Debug, Clone)]
pub struct StreamedCopy {
    pub block_size: u64,
    pub concurrency: usize,
}

impl Default for StreamedCopy {
    fn default() -> Self {
        StreamedCopy { block_size: 4 * 1024 * 1024, concurrency: 4 }
    }
}

#[async_trait]
impl CopyEngine for StreamedCopy {
    async fn copy_blob(&self, request: CopyRequest<'_>) -> Result<CopyOutcome> {
        let meta = request.source_meta().await?;
        ensure_block_blob(&meta)?;
        let got = request.source.get_blob(request.source_container, request.name, None).await?;
        if got.meta.etag != meta.etag {
            return Err(source_changed(request.name));
        }
        let options = UploadOptions {
            block_size: self.block_size.max(1) as usize,
            concurrency: self.concurrency.max(1),
            put: target_put_options(&meta),
        };
        let up = upload_stream(
            request.target,
            request.target_container,
            request.name,
            got.stream,
            Some(meta.size),
            &options,
        )
        .await?;
        if up.bytes != meta.size {
            return Err(crate::Error::new(
                crate::ErrorKind::Transient,
                format!("'{}': read {} of {} bytes: the connection ended early", request.name, up.bytes, meta.size),
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
