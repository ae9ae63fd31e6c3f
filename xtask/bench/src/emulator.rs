//! The emulator's own limit, measured in the same run: the same bytes moved
//! with plain parallel requests straight through the store (16 in flight), no
//! pipeline, no hashing, no records. A tool's share of it is this time over the tool's.
//! Reads take each blob in ranges of at most 4 MiB; writes make the same blobs
//! again, as a copy must: one Put Blob for a blob that fits in 4 MiB, else
//! 4 MiB blocks and a commit. (Staging the total as 4 MiB blocks of one blob
//! would cost 40 requests for W2's 5,000 blobs and hide what a small blob costs.)

use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use mirrorcast_core::store::{BlobStore, BlobStoreExt, PutOptions};

const BLOCK: u64 = 4 * 1024 * 1024;
const IN_FLIGHT: usize = 16;

/// Seconds to read every blob under `source` with parallel ranged GETs, and
/// seconds to write the same blobs (same names and sizes) into `target`.
pub(crate) async fn raw_get_put(source: &dyn BlobStore, target: &dyn BlobStore) -> Result<(f64, f64)> {
    let mut ranges = Vec::new();
    let mut blobs = Vec::new();
    for c in source.list_containers("asset-").await? {
        for b in source.list_all(&c, "").await? {
            for s in (0..b.size).step_by(BLOCK as usize) {
                ranges.push((c.clone(), b.name.clone(), s..(s + BLOCK).min(b.size)));
            }
            blobs.push((format!("{c}/{}", b.name), b.size));
        }
    }
    let started = Instant::now();
    stream::iter(ranges.iter())
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
    // One unit of work per request, large blobs' blocks in flight together as in a copy.
    let mut singles = Vec::new();
    let mut staged = Vec::new();
    for (name, size) in &blobs {
        if *size <= BLOCK {
            singles.push((name.as_str(), *size));
        } else {
            let ids: Vec<String> = (0..size.div_ceil(BLOCK)).map(|i| format!("raw-{i:08}")).collect();
            staged.push((name.as_str(), *size, ids));
        }
    }
    let started = Instant::now();
    stream::iter(singles.iter())
        .map(|(name, size)| {
            let data = block.slice(..*size as usize);
            async move { target.put_blob("raw-put", name, data, &PutOptions::default()).await.map(drop) }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    for (name, size, ids) in &staged {
        stream::iter(ids.iter().enumerate())
            .map(|(i, id)| {
                let len = (*size - i as u64 * BLOCK).min(BLOCK) as usize;
                target.put_block("raw-put", name, id, block.slice(..len))
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        target.put_block_list("raw-put", name, ids, &PutOptions::default()).await?;
    }
    let put = started.elapsed().as_secs_f64();
    target.delete_container("raw-put").await?;
    Ok((get, put))
}
