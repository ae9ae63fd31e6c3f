//! The emulator's own limit, measured in the same run: the same bytes moved
//! with plain parallel requests straight through the store (16 in flight,
//! 4 MiB each), no pipeline, no hashing, no records. A tool's share of it is
//! this time over the tool's.

use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use mirrorcast_core::store::{BlobStore, BlobStoreExt};

const BLOCK: u64 = 4 * 1024 * 1024;
const IN_FLIGHT: usize = 16;

/// Seconds to read every blob under `source` with parallel ranged GETs, and
/// seconds to stage the same number of bytes as blocks in `target` (then commit).
pub async fn raw_get_put(source: &dyn BlobStore, target: &dyn BlobStore) -> Result<(f64, f64)> {
    let mut ranges = Vec::new();
    for c in source.list_containers("asset-").await? {
        for b in source.list_all(&c, "").await? {
            for s in (0..b.size).step_by(BLOCK as usize) {
                ranges.push((c.clone(), b.name.clone(), s..(s + BLOCK).min(b.size)));
            }
        }
    }
    let started = Instant::now();
    let total: u64 = stream::iter(ranges.iter())
        .map(|(c, n, r)| async move {
            let got = source.get_blob(c, n, Some(r.clone())).await?;
            got.stream.try_fold(0u64, |n, chunk| async move { Ok(n + chunk.len() as u64) }).await
        })
        .buffer_unordered(IN_FLIGHT)
        .try_fold(0u64, |a, n| async move { Ok(a + n) })
        .await?;
    let get = started.elapsed().as_secs_f64();

    target.create_container("raw-put").await?;
    let block = Bytes::from(vec![0x5au8; BLOCK as usize]);
    let blocks = total.div_ceil(BLOCK) as usize;
    let ids: Vec<String> = (0..blocks).map(|i| format!("raw-{i:08}")).collect();
    let started = Instant::now();
    stream::iter(ids.iter())
        .map(|id| target.put_block("raw-put", "raw.bin", id, block.clone()))
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    target.put_block_list("raw-put", "raw.bin", &ids, &Default::default()).await?;
    let put = started.elapsed().as_secs_f64();
    target.delete_container("raw-put").await?;
    Ok((get, put))
}
