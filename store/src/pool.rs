//! The memory budget of a run's blob data: every buffer that holds blob bytes
//! in flight is taken from one [`BlockPool`], which counts bytes (in MiB
//! permits) and keeps freed full-size block buffers for reuse. Reuse is what
//! keeps resident memory at the budget: freed multi-MiB buffers handed back to
//! the allocator tend to stay resident (glibc raises its mmap threshold after
//! the first one, so later ones come from arenas that are not given back).

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const MIB: usize = 1 << 20;

/// A shared budget of buffer memory with a free list of block-sized buffers.
/// Clones share the budget.
#[derive(Clone)]
pub struct BlockPool {
    inner: Arc<Inner>,
}

struct Inner {
    block_size: usize,
    budget_mib: u32,
    permits: Arc<Semaphore>,
    free: Mutex<Vec<BytesMut>>,
}

impl std::fmt::Debug for BlockPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockPool")
            .field("block_size", &self.inner.block_size)
            .field("budget_mib", &self.inner.budget_mib)
            .field("available_mib", &self.inner.permits.available_permits())
            .finish()
    }
}

impl BlockPool {
    /// A pool of `budget` bytes of `block_size` buffers. The budget is raised
    /// to two blocks if it is smaller, so one blob can always read one block
    /// while it sends another.
    pub fn new(block_size: usize, budget: u64) -> Self {
        let block_size = block_size.max(1);
        let block_mib = block_size.div_ceil(MIB) as u64;
        let budget_mib = (budget / MIB as u64).max(2 * block_mib).min(u32::MAX as u64 >> 4) as u32;
        BlockPool {
            inner: Arc::new(Inner {
                block_size,
                budget_mib,
                permits: Arc::new(Semaphore::new(budget_mib as usize)),
                free: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Size in bytes of every buffer the pool lends.
    pub fn block_size(&self) -> usize {
        self.inner.block_size
    }

    /// How many full blocks the budget holds at once.
    pub fn blocks(&self) -> usize {
        (self.inner.budget_mib as usize / self.inner.block_size.div_ceil(MIB)).max(1)
    }

    /// Memory not lent out now, in MiB.
    pub fn available_mib(&self) -> usize {
        self.inner.permits.available_permits()
    }

    /// An empty buffer of block capacity, waiting (first come, first served)
    /// until the budget allows it; a freed one is reused when there is one.
    pub async fn take_block(&self) -> PooledBuf {
        let mib = self.inner.block_size.div_ceil(MIB) as u32;
        let permit = self.permits(mib).await;
        let reused = self.inner.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let buf = reused.unwrap_or_else(|| BytesMut::with_capacity(self.inner.block_size));
        PooledBuf { buf, permit: Some(permit), pool: self.clone() }
    }

    /// An empty buffer of exactly `len` bytes' capacity (for a blob smaller
    /// than a block), counted against the budget but not kept for reuse.
    pub async fn take_exact(&self, len: usize) -> PooledBuf {
        if len >= self.inner.block_size / 2 {
            let mut b = self.take_block().await;
            b.buf.reserve(len.saturating_sub(b.buf.capacity()));
            return b;
        }
        let mib = (len.div_ceil(MIB) as u32).clamp(1, self.inner.budget_mib);
        let permit = self.permits(mib).await;
        PooledBuf { buf: BytesMut::with_capacity(len), permit: Some(permit), pool: self.clone() }
    }

    /// Two empty buffers of `len` bytes' capacity each (at most a block),
    /// lent together after one wait. Two readers that must both fill theirs
    /// before either is given back (the two sides of one comparison) then
    /// never each hold one and wait for the other while the budget is spent.
    pub async fn take_pair(&self, len: usize) -> (PooledBuf, PooledBuf) {
        let len = len.min(self.inner.block_size);
        let mib = len.div_ceil(MIB).max(1) as u32;
        let mut first = self.permits(2 * mib).await;
        let second = first.split(mib as usize).expect("the pair's permits were taken together");
        let buf = |permit| {
            let reused = if len == self.inner.block_size {
                self.inner.free.lock().unwrap_or_else(|p| p.into_inner()).pop()
            } else {
                None
            };
            let buf = reused.unwrap_or_else(|| BytesMut::with_capacity(len));
            PooledBuf { buf, permit: Some(permit), pool: self.clone() }
        };
        (buf(first), buf(second))
    }

    async fn permits(&self, mib: u32) -> OwnedSemaphorePermit {
        let mib = mib.min(self.inner.budget_mib);
        // The semaphore is never closed.
        self.inner.permits.clone().acquire_many_owned(mib).await.expect("the pool's semaphore is never closed")
    }

    fn give_back(&self, buf: BytesMut) {
        if buf.capacity() >= self.inner.block_size {
            let mut free = self.inner.free.lock().unwrap_or_else(|p| p.into_inner());
            if free.len() < self.blocks() {
                free.push(buf);
            }
        }
    }
}

/// A buffer lent by a [`BlockPool`], being filled.
#[derive(Debug)]
pub struct PooledBuf {
    /// The buffer to fill (capacity one block).
    pub buf: BytesMut,
    permit: Option<OwnedSemaphorePermit>,
    pool: BlockPool,
}

impl PooledBuf {
    /// The filled bytes, still counted against the budget until the returned
    /// [`PooledBytes`] and every clone of its bytes are dropped.
    pub fn freeze(mut self) -> PooledBytes {
        let bytes = std::mem::take(&mut self.buf).freeze();
        PooledBytes { bytes, permit: self.permit.take(), pool: self.pool.clone() }
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        self.pool.give_back(buf);
    }
}

/// Filled bytes lent by a [`BlockPool`]; dropping it returns the buffer (if no
/// clone of the bytes is still alive) and the budget.
#[derive(Debug)]
pub struct PooledBytes {
    bytes: Bytes,
    permit: Option<OwnedSemaphorePermit>,
    pool: BlockPool,
}

impl PooledBytes {
    /// The filled bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Length of the filled bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no bytes were filled.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl Drop for PooledBytes {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.bytes);
        // Only a buffer nobody else still reads goes back; otherwise the
        // allocator gets it when the last clone goes.
        if let Ok(mut buf) = bytes.try_into_mut() {
            buf.clear();
            self.pool.give_back(buf);
        }
        drop(self.permit.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_returned_block_buffer_is_reused_not_reallocated() {
        let pool = BlockPool::new(MIB, 4 * MIB as u64);
        let mut b = pool.take_block().await;
        b.buf.extend_from_slice(&[7u8; 1000]);
        let lent = b.freeze();
        let clone = lent.bytes().clone();
        assert_eq!(pool.available_mib(), 3);
        drop(lent);
        assert_eq!(pool.available_mib(), 4, "the budget comes back when the block is done");
        drop(clone);
        // The clone outlived the lender: that buffer went to the allocator.
        let b = pool.take_block().await;
        let lent = b.freeze();
        let second = lent.bytes().as_ptr();
        drop(lent);
        let again = pool.take_block().await;
        assert_eq!(again.buf.as_ptr(), second, "a buffer given back whole is lent again");
        assert!(again.buf.capacity() >= MIB && again.buf.is_empty());
    }

    #[tokio::test]
    async fn lending_waits_for_the_budget() {
        let pool = BlockPool::new(MIB, 2 * MIB as u64);
        let a = pool.take_block().await;
        let _b = pool.take_block().await;
        let pool2 = pool.clone();
        let third = tokio::spawn(async move { pool2.take_block().await.buf.capacity() });
        tokio::task::yield_now().await;
        assert!(!third.is_finished(), "a third block must wait for the two-block budget");
        drop(a);
        assert!(third.await.unwrap() >= MIB);
    }

    #[tokio::test]
    async fn a_pair_is_lent_whole_or_not_at_all() {
        let pool = BlockPool::new(MIB, 3 * MIB as u64);
        let one = pool.take_block().await;
        let _two = pool.take_block().await;
        let pool2 = pool.clone();
        let pair = tokio::spawn(async move {
            let (a, b) = pool2.take_pair(MIB).await;
            (a.buf.capacity(), b.buf.capacity())
        });
        tokio::task::yield_now().await;
        assert!(!pair.is_finished(), "one MiB left: the pair waits rather than taking half");
        drop(one);
        let (a, b) = pair.await.unwrap();
        assert!(a >= MIB && b >= MIB);
        assert_eq!(pool.available_mib(), 2, "both halves of the pair went back");
        let (small, _) = pool.take_pair(1000).await;
        assert_eq!(small.buf.capacity(), 1000, "a pair for a small blob is sized to it");
    }

    #[test]
    fn a_budget_smaller_than_two_blocks_is_raised_so_lending_cannot_hang() {
        let pool = BlockPool::new(8 * MIB, MIB as u64);
        assert_eq!(pool.available_mib(), 16);
        assert_eq!(pool.blocks(), 2);
    }
}
