//! Server-side copy: the target service reads the source through a SAS URL.
//! Small blobs in one Copy Blob From URL; large ones as parallel Put Block
//! From URL, committed in order. Every request is pinned to the source ETag.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{ensure_block_blob, target_put_options, CopyEngine, CopyOutcome, CopyRequest, CopyStrategy};
use crate::error::Result;
use crate::model::Permissions;
use crate::store::CopySource;

/// Copies with the target service reading the source through a read SAS URL; needs the target to reach the source.
#[derive(Debug, Clone)]
pub struct ServerSideCopy {
    /// Block size for large blobs.
    pub block_size: u64,
    /// Blocks requested at once within one blob.
    pub concurrency: usize,
    /// Lifetime of a per-blob SAS when no container SAS is given.
    pub sas_lifetime: Duration,
}

impl Default for ServerSideCopy {
    fn default() -> Self {
        ServerSideCopy { block_size: 64 * 1024 * 1024, concurrency: 8, sas_lifetime: Duration::from_secs(3600) }
    }
}

#[async_trait]
impl CopyEngine for ServerSideCopy {
    async fn copy_blob(&self, r: CopyRequest<'_>) -> Result<CopyOutcome> {
        let meta = r.source_meta().await?;
        ensure_block_blob(&meta)?;
        let url = match r.source_container_url {
            Some(container) => container.for_blob(r.name),
            None => {
                let expiry = chrono::Utc::now() + chrono::Duration::from_std(self.sas_lifetime).unwrap_or_default();
                r.source.signed_url(r.source_container, Some(r.name), Permissions::READ, expiry).await?
            }
        };
        let source = CopySource { url, if_match: Some(meta.etag.clone()) };
        let options = target_put_options(&meta);
        let single_limit = r.target.capability().max_copy_from_url_bytes;
        let (strategy, target_etag) = if meta.size <= single_limit.min(self.block_size.max(1)) || meta.size == 0 {
            (CopyStrategy::ServerSingle, r.target.copy_from_url(r.target_container, r.name, &source, &options).await?)
        } else {
            let block = self.block_size.max(1);
            let ranges: Vec<_> =
                (0..meta.size).step_by(block as usize).map(|s| s..(s + block).min(meta.size)).collect();
            let ids: Vec<String> = (0..ranges.len()).map(|i| format!("mirrorcast-{i:08}")).collect();
            stream::iter(ranges.into_iter().zip(ids.iter().cloned()))
                .map(|(range, id)| {
                    let source = &source;
                    async move { r.target.put_block_from_url(r.target_container, r.name, &id, source, range).await }
                })
                .buffer_unordered(self.concurrency.max(1))
                .try_collect::<Vec<()>>()
                .await?;
            (CopyStrategy::ServerBlocks, r.target.put_block_list(r.target_container, r.name, &ids, &options).await?)
        };
        Ok(CopyOutcome { bytes: meta.size, strategy, source_etag: meta.etag, target_etag })
    }
}
