//! What a run is asked to do: its options, which assets, which shard, and
//! who hears about progress.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use chrono::{Duration, Utc};

use super::{AssetReport, BlobOutcome, DeleteOptions};
use crate::catalog::AssetRecord;
use crate::copy::StrategyChoice;
use crate::error::{Error, Result};
use crate::id::AssetId;

/// `--shard K/N`: this machine takes the assets whose id falls in share K of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0-based (`--shard 2/4` is index 1); below `count`.
    pub index: u32,
    /// How many shards split the assets (at least 1).
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid_input(format!("'{s}' is not a shard: use K/N with 1 <= K <= N, e.g. 2/4"));
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { index: k - 1, count: n })
    }
}

impl Shard {
    /// The shard of a Kubernetes indexed Job's pod: `JOB_COMPLETION_INDEX`
    /// (0-based) of `JOB_COMPLETIONS`.
    pub fn from_indexed_job(index: &str, completions: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_input(format!(
                "JOB_COMPLETION_INDEX='{index}' of JOB_COMPLETIONS='{completions}' is not a shard: the index must be 0 <= K < N"
            ))
        };
        let (k, n): (u32, u32) =
            (index.trim().parse().map_err(|_| bad())?, completions.trim().parse().map_err(|_| bad())?);
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(Shard { index: k, count: n })
    }

    /// Deterministic and independent of listing order: the same on every machine.
    pub fn owns(&self, id: &AssetId) -> bool {
        (id.uuid().as_u128() % self.count as u128) as u32 == self.index
    }
}

/// Something that wants to hear about progress (a progress bar, log lines).
pub trait Progress: Send + Sync {
    /// An asset's plan is made: `blobs` to copy, `bytes` of them in total.
    fn planned(&self, _asset: &AssetRecord, _blobs: u64, _bytes: u64) {}
    /// One copy of `asset`'s blobs finished, copied or failed.
    fn blob_done(&self, _asset: &AssetId, _outcome: &BlobOutcome) {}
    /// An asset is done, whatever its status.
    fn asset_done(&self, _report: &AssetReport) {}
}

/// Progress that goes nowhere.
#[derive(Debug)]
pub struct Quiet;
impl Progress for Quiet {}

/// How a replication run goes: copy paths, bounds, sharding, grants, deletions.
#[derive(Clone)]
pub struct ReplicateOptions {
    /// `--strategy`: server-side copies, streamed ones, or chosen per blob (`Auto`).
    pub strategy: StrategyChoice,
    /// Blob copies in flight across all assets.
    pub concurrency: usize,
    /// Bytes per block of a streamed copy (the memory pool's unit).
    pub block_size: u64,
    /// Plan and report only: nothing is written to B.
    pub dry_run: bool,
    /// This machine's share of the assets; `None` takes them all.
    pub shard: Option<Shard>,
    /// How long a copy grant is valid; it is renewed within a third of it of expiring.
    pub sas_lifetime: Duration,
    /// Hash both sides of a blob the listings call equal, and copy it again if the bytes differ.
    pub deep: bool,
    /// Tries per blob when a copy fails for a passing reason or the source moved.
    pub max_attempts: u32,
    /// Bytes of blob data the client may hold at once across all copies; a
    /// large streamed blob holds about `block_size × (within-blob concurrency + 1)`.
    pub memory_budget: u64,
    /// Set to stop starting new copies; in-flight ones finish, SAS are cleaned up.
    pub cancel: Arc<AtomicBool>,
    /// Where progress goes (a bar, log lines); `Quiet` by default.
    pub progress: Arc<dyn Progress>,
    /// Names the run's journal entries in B; by default a UTC timestamp and 8 random hex digits.
    pub run_id: String,
    /// `--delete`: remove from B what A no longer has (see `delete`); `None` never deletes.
    pub delete: Option<DeleteOptions>,
    /// A's and B's key-encryption keys, to carry content keys re-wrapped; neither by default.
    pub keks: super::Keks,
}

impl std::fmt::Debug for ReplicateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicateOptions")
            .field("strategy", &self.strategy)
            .field("concurrency", &self.concurrency)
            .field("dry_run", &self.dry_run)
            .field("shard", &self.shard)
            .field("run_id", &self.run_id)
            .field("delete", &self.delete)
            .finish_non_exhaustive()
    }
}

impl Default for ReplicateOptions {
    fn default() -> Self {
        ReplicateOptions {
            strategy: StrategyChoice::Auto,
            concurrency: 16,
            block_size: 4 * 1024 * 1024,
            dry_run: false,
            shard: None,
            sas_lifetime: Duration::hours(8),
            deep: false,
            max_attempts: 3,
            // Ten 4 MiB blocks: the block PUTs, not the buffers, limit a streamed
            // run (measured on W3), and the whole process stays under 64 MiB.
            memory_budget: 40 * 1024 * 1024,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(Quiet),
            run_id: format!(
                "{}-{}",
                Utc::now().format("%Y%m%dT%H%M%SZ"),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            delete: None,
            keks: Default::default(),
        }
    }
}

/// Which assets to replicate.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every asset of A (this shard's share of them).
    All,
    /// These assets, each once; one that A does not have is an error before anything is written.
    Assets(Vec<AssetId>),
}
