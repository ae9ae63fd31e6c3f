//! The grant records of a batch of assets, and the grants one asset's copy
//! holds: what was issued, what is current, what is still to revoke.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use crate::id::{AssetId, LocatorId};
use crate::store::{BlobStore, SignedUrl};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum GrantSide {
    Source,
    Target,
}

impl GrantSide {
    pub(super) fn word(self) -> &'static str {
        match self {
            GrantSide::Source => "source",
            GrantSide::Target => "target",
        }
    }
}

/// One record of a batch on one side: the policy id its tokens are bound to, and its terms.
#[derive(Debug, Clone, Copy)]
pub(super) struct Generation {
    pub record: LocatorId,
    pub start: DateTime<Utc>,
    pub expiry: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub(super) struct SideRecords {
    pub current: Option<Generation>,
    /// Every record written for this side of the batch, deleted when the batch is done.
    pub written: Vec<LocatorId>,
    /// A policy of this side could not be removed: the records stay for a later sweep.
    pub keep: bool,
}

/// Assets that share their grant records: one per side (and per renewal).
#[derive(Debug)]
pub(crate) struct GrantBatch {
    pub(super) first_asset: AssetId,
    pub(super) containers: Vec<String>,
    source: Mutex<SideRecords>,
    target: Mutex<SideRecords>,
}

impl GrantBatch {
    /// The grants of these assets (at most [`super::GRANT_BATCH`], at least one).
    pub(crate) fn new(assets: &[AssetId]) -> Self {
        GrantBatch {
            first_asset: assets[0],
            containers: assets.iter().map(|id| id.container_name()).collect(),
            source: Mutex::default(),
            target: Mutex::default(),
        }
    }

    pub(super) fn side(&self, side: GrantSide) -> &Mutex<SideRecords> {
        match side {
            GrantSide::Source => &self.source,
            GrantSide::Target => &self.target,
        }
    }
}

/// One side's grant for one container: what to revoke.
#[derive(Debug, Clone)]
pub(super) struct Issued {
    pub side: GrantSide,
    pub container: String,
    pub record: LocatorId,
}

/// The access one copy uses: a source URL the target service can read (for a
/// server-side copy) and a writer scoped to the target container.
pub(crate) struct CopyAccess {
    pub source_url: Option<SignedUrl>,
    pub target_writer: Option<Arc<dyn BlobStore>>,
    pub(super) expiry: DateTime<Utc>,
    /// Until when a refusal may be a new stored policy not applied yet.
    pub propagating_until: Option<Instant>,
    pub(super) issued: Vec<Issued>,
}

impl std::fmt::Debug for CopyAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyAccess").field("expiry", &self.expiry).field("issued", &self.issued).finish_non_exhaustive()
    }
}

/// The grants of one asset over its copy: the one in use, the ones replaced
/// but still held by copies in flight, and what was said about them.
#[derive(Debug)]
pub(crate) struct GrantCell {
    pub(super) batch: Arc<GrantBatch>,
    /// The target container was created by this run: it holds no policy yet.
    pub(super) fresh_target: bool,
    pub(super) state: Mutex<CellState>,
}

#[derive(Debug, Default)]
pub(super) struct CellState {
    pub active: Option<Arc<CopyAccess>>,
    pub retired: Vec<Arc<CopyAccess>>,
    pub issued: u32,
    pub warnings: Vec<String>,
}

impl GrantCell {
    pub(crate) fn new(batch: Arc<GrantBatch>, fresh_target: bool) -> Self {
        GrantCell { batch, fresh_target, state: Mutex::default() }
    }

    /// Grants issued so far and the warnings about them.
    pub(crate) async fn summary(&self) -> (u32, Vec<String>) {
        let st = self.state.lock().await;
        (st.issued, st.warnings.clone())
    }
}
