//! The copies of one asset's blobs: bounded across the run, each under the
//! grant current when it starts, tried again for passing reasons.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;

use super::grants::{GrantCell, Grants};
use super::{BlobOutcome, BlobStatus, Progress, ReplicateOptions};
use crate::copy::{AutoCopy, CopyEngine, CopyRequest, ServerSideCopy, StreamedCopy};
use crate::error::ErrorKind;
use crate::model::Asset;
use crate::store::{BlobMeta, BlobStore, BlockPool};

/// Copies blobs with the run's engine, permits and memory pool.
pub(crate) struct Copier {
    engine: AutoCopy,
    permits: Arc<Semaphore>,
    concurrency: usize,
    max_attempts: u32,
    cancel: Arc<AtomicBool>,
    progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for Copier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Copier").field("concurrency", &self.concurrency).finish_non_exhaustive()
    }
}

impl Copier {
    pub(crate) fn new(options: &ReplicateOptions) -> Self {
        // Every streamed block of the run comes from one pool: memory holds
        // the budget however many blobs are in flight, and one large blob may
        // use all of it (reads and writes in flight at once) when it is alone.
        let pool = BlockPool::new(options.block_size as usize, options.memory_budget);
        let concurrency = options.concurrency.max(1);
        let engine = AutoCopy::new(
            options.strategy,
            // Server-side blocks hold no client memory: as many as the run's concurrency.
            ServerSideCopy { block_size: 32 * 1024 * 1024, concurrency: concurrency.min(64), ..Default::default() },
            StreamedCopy {
                block_size: options.block_size,
                concurrency: concurrency.min(pool.blocks()),
                pool: Some(pool),
                ranged_reads: false,
            },
        );
        Copier {
            engine,
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            max_attempts: options.max_attempts.max(1),
            cancel: options.cancel.clone(),
            progress: options.progress.clone(),
        }
    }

    /// Copies `blobs` of `asset` from `source` into B, each under the grant of
    /// `cell` current when it starts (B's own credential where the grant gives
    /// no writer). Blobs not started before a cancel are left out.
    pub(crate) async fn copy(
        &self,
        source: &dyn BlobStore,
        target: &dyn BlobStore,
        asset: &Asset,
        blobs: &[BlobMeta],
        grants: &Grants<'_>,
        cell: &GrantCell,
    ) -> Vec<BlobOutcome> {
        stream::iter(blobs)
            .map(|blob| async move {
                // Memory is held by the streamed engine's block pool, a block at a time.
                let Ok(_permit) = self.permits.acquire().await else { return None };
                if self.cancel.load(Ordering::Relaxed) {
                    return None;
                }
                // Held for the whole copy, so a renewal revokes it only once the copy is done.
                let access = match grants.current(asset, cell).await {
                    Ok(g) => g,
                    Err(e) => return Some(BlobOutcome::failed(blob, format!("could not renew the copy SAS: {e}"), 0)),
                };
                let target: &dyn BlobStore = match &access.target_writer {
                    Some(w) => w.as_ref(),
                    None => target,
                };
                let request = CopyRequest {
                    source,
                    source_container: &asset.container,
                    target,
                    target_container: &asset.container,
                    name: &blob.name,
                    source_container_url: access.source_url.as_ref(),
                    source_meta: Some(blob),
                };
                let done = self.copy_with_retries(request, blob, access.propagating_until).await;
                self.progress.blob_done(&asset.id, &done);
                Some(done)
            })
            .buffer_unordered(self.concurrency)
            .filter_map(|o| async move { o })
            .collect()
            .await
    }

    /// `propagating_until`: until then a refusal may be a new stored policy
    /// not applied yet (Azure takes up to 30 s), and is tried again after a
    /// pause: the first copies are the grant's probe.
    async fn copy_with_retries(
        &self,
        mut request: CopyRequest<'_>,
        blob: &BlobMeta,
        propagating_until: Option<std::time::Instant>,
    ) -> BlobOutcome {
        let mut attempt = 0;
        let mut pause = std::time::Duration::from_millis(250);
        loop {
            match self.engine.copy_blob(request).await {
                Ok(done) => {
                    let mut o = BlobOutcome::of(blob, BlobStatus::Copied);
                    o.bytes = done.bytes;
                    o.strategy = Some(done.strategy);
                    o.source_etag = Some(done.source_etag);
                    o.attempts_retried = attempt;
                    return o;
                }
                Err(e) if matches!(e.kind(), ErrorKind::Authentication | ErrorKind::PermissionDenied) => {
                    if propagating_until.is_some_and(|t| std::time::Instant::now() + pause < t) {
                        tracing::info!(blob = %blob.name, error = %e, "refused while a new stored policy applies; trying again");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(std::time::Duration::from_secs(4));
                        continue;
                    }
                    // Not (or no longer) a policy on its way: a refused server-side copy goes through the client.
                    if self.engine.give_up_server_side() {
                        tracing::warn!(blob = %blob.name, error = %e, "server-side copy refused; copying through the client from now on");
                        continue;
                    }
                    return BlobOutcome::failed(blob, e.to_string(), attempt);
                }
                Err(e) => {
                    attempt += 1;
                    let again = e.is_retryable() || e.kind() == ErrorKind::PreconditionFailed;
                    if again && attempt < self.max_attempts {
                        if e.kind() == ErrorKind::PreconditionFailed {
                            // The source moved since it was listed: copy the version it is now.
                            request.source_meta = None;
                        }
                        tracing::info!(blob = %blob.name, attempt, error = %e, "copying again");
                        continue;
                    }
                    return BlobOutcome::failed(blob, e.to_string(), attempt - 1);
                }
            }
        }
    }
}
