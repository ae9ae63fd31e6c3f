//! `replicate --delete`: removing from B what A no longer has, carefully.
//!
//! Only what replicate put in B is ever removed: asset records carrying a
//! source fingerprint (`mcfrom`), the locators replicate made (marked with
//! [`REPLICA_MARK`]), and block blobs inside such assets' containers. Assets
//! and locators made in B itself carry no mark and are never touched.
//!
//! Nothing is deleted unless everything the plan needed was read whole and A
//! answered normally: no record of A's catalog failing its checks, every
//! container listing of both sides complete, A not empty where B holds
//! replicas (unless the operator says it may be), the run not interrupted.
//! A plan larger than `max` deletes nothing. The lesson is AzCopy #1380, a
//! sync that took a failed source listing for an empty one and deleted 20 TB.
//!
//! The decision is pure ([`scope`], then [`plan`] over the [`Listings`] read
//! for it); the [`super::deleter::Deleter`] lists, plans, journals the plan
//! in B, then deletes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Shard;
use crate::catalog::Index;
use crate::id::{AssetId, LocatorId};
use crate::store::{BlobKind, BlobMeta};

/// `--max-delete` when not given: blobs plus records one run may delete.
pub const DEFAULT_MAX_DELETE: u64 = 100;

/// The metadata mark replicate leaves on the locators it makes in B.
pub(crate) const REPLICA_MARK: &str = "replica-v1";

/// What `--delete` may do in one run: how much, and whether an empty A counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Most blobs plus records one run may delete; a plan over it deletes nothing.
    pub max: u64,
    /// Delete even when A's catalog, or an asset's container in A, is empty
    /// while B holds replicas there (otherwise taken as A not answering normally).
    pub allow_empty_source: bool,
}

impl Default for DeleteOptions {
    fn default() -> Self {
        DeleteOptions { max: DEFAULT_MAX_DELETE, allow_empty_source: false }
    }
}

/// Why a run deleted nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalReason {
    /// A record of A's catalog failed its checks: what A has is not known.
    SourceRecordsFailedChecks,
    /// A listing of one of A's containers failed (part-way or at once).
    SourceListingFailed,
    /// A listing of one of B's containers failed.
    TargetListingFailed,
    /// A's catalog, or an asset's container in A, is empty where B holds replicas.
    SourceLooksEmpty,
    /// The plan deletes more than `--max-delete`.
    OverMaxDelete,
    /// The plan could not be recorded in B's journal before acting.
    JournalUnwritable,
    /// Stopped (Ctrl-C, SIGTERM) before deleting.
    Interrupted,
}

/// Why nothing was deleted, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The kind of refusal.
    pub reason: RefusalReason,
    /// The refusal in words, naming the data center concerned (and the flag that overrides it, if one does).
    pub message: String,
}

/// Where one planned deletion ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeletionStatus {
    /// Would be deleted (dry run), or was not because the run refused.
    Planned,
    /// Deleted in B.
    Deleted,
    /// Not deleted: `error` says why.
    Failed,
}

/// A block blob of a replica that A's container no longer has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobDeletion {
    /// The replica it belongs to.
    pub asset: AssetId,
    /// Its container in B.
    pub container: String,
    /// The blob's name in its container.
    pub name: String,
    /// Its size in bytes, as listed in B.
    pub bytes: u64,
    /// The version listed in B: a blob rewritten since is kept.
    pub etag: String,
    /// Where the deletion ended up.
    pub status: DeletionStatus,
    /// Why it failed (failed deletions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A locator replicate made in B whose id A no longer has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocatorDeletion {
    /// The locator's id in B.
    pub id: LocatorId,
    /// The replica it belongs to.
    pub asset: AssetId,
    /// Where the deletion ended up.
    pub status: DeletionStatus,
    /// Why it failed (failed deletions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A replica in B of an asset A no longer has: its locators, container and record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetDeletion {
    /// The asset's id (A no longer has it).
    pub id: AssetId,
    /// B's name of the asset.
    pub name: String,
    /// Its container in B, deleted with it.
    pub container: String,
    /// Blobs in its container in B, all going with it.
    pub blobs: u64,
    /// Bytes of those blobs.
    pub bytes: u64,
    /// Every locator of it in B (revoked: the origin resolves through them).
    pub locators: Vec<LocatorId>,
    /// The version of its record in B the plan was made from.
    pub etag: String,
    /// Where the deletion ended up.
    pub status: DeletionStatus,
    /// Why it failed (failed deletions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts over a deletion plan, in blobs plus records (a whole replica: its blobs, its locators and its record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionTotals {
    /// Blobs plus records the plan deletes (what `--max-delete` bounds).
    pub planned: u64,
    /// Blobs plus records deleted.
    pub deleted: u64,
    /// Deletions that failed (a failed replica counts once).
    pub failed: u64,
    /// Bytes of the blobs planned.
    pub bytes: u64,
}

/// What `--delete` planned and did; part of the run's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionReport {
    /// Set when nothing was deleted for a reason of safety.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
    /// The `--max-delete` of the run.
    pub max: u64,
    /// The plan's counts.
    pub totals: DeletionTotals,
    /// Replicas of assets A no longer has, removed whole.
    pub assets: Vec<AssetDeletion>,
    /// Locators replicate made in B whose ids A no longer has.
    pub locators: Vec<LocatorDeletion>,
    /// Blobs of kept replicas that A's container no longer has.
    pub blobs: Vec<BlobDeletion>,
}

impl DeletionReport {
    pub(super) fn refuse(mut self, reason: RefusalReason, message: String) -> Self {
        self.refused = Some(Refusal { reason, message });
        self
    }

    /// Whether the run should end with exit code 1 for its deletions.
    pub fn has_failures(&self) -> bool {
        self.refused.is_some() || self.totals.failed > 0
    }

    pub(super) fn count(&mut self) {
        let mut t = DeletionTotals::default();
        for a in &self.assets {
            t.planned += a.blobs + 1 + a.locators.len() as u64;
            t.bytes += a.bytes;
            match a.status {
                DeletionStatus::Deleted => t.deleted += a.blobs + 1 + a.locators.len() as u64,
                DeletionStatus::Failed => t.failed += 1,
                DeletionStatus::Planned => {}
            }
        }
        for (status, bytes) in
            self.locators.iter().map(|l| (l.status, 0)).chain(self.blobs.iter().map(|b| (b.status, b.bytes)))
        {
            t.planned += 1;
            t.bytes += bytes;
            match status {
                DeletionStatus::Deleted => t.deleted += 1,
                DeletionStatus::Failed => t.failed += 1,
                DeletionStatus::Planned => {}
            }
        }
        self.totals = t;
    }
}

/// The journal's line on deletions (the whole list is its own entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionSummary {
    /// Why nothing was deleted, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<RefusalReason>,
    /// The plan's counts.
    pub totals: DeletionTotals,
}

impl DeletionSummary {
    /// The journal's line of a deletion report.
    pub fn of(report: &DeletionReport) -> Self {
        DeletionSummary { refused: report.refused.as_ref().map(|r| r.reason), totals: report.totals }
    }
}

/// Which replicas in B a plan looks into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Selected assets A still has whose replica in B may lose blobs and locators.
    pub trim: Vec<AssetId>,
    /// Replicas in B of assets A no longer has: only in a `--all` run, and
    /// only those of the run's shard (each shard deletes its own share).
    pub whole: Vec<AssetId>,
}

/// The replicas a run may trim or remove: only records replicate made
/// (`mcfrom` on B's asset record); B's own assets are out of scope.
pub fn scope(source: &Index, target: &Index, selected: &[AssetId], all: bool, shard: Option<Shard>) -> Scope {
    let is_replica = |id: &AssetId| target.assets.get(id).is_some_and(|e| e.from.is_some());
    let trim = selected.iter().filter(|id| source.assets.contains_key(id) && is_replica(id)).copied().collect();
    let whole = if all {
        let known = source.asset_ids();
        target
            .assets
            .values()
            .filter(|e| e.from.is_some() && !known.contains(&e.asset.id))
            .filter(|e| shard.is_none_or(|s| s.owns(&e.asset.id)))
            .map(|e| e.asset.id)
            .collect()
    } else {
        Vec::new()
    };
    Scope { trim, whole }
}

/// A container listing as read for a plan: the blobs, or why it failed.
/// A container missing in B lists as empty; one missing in A is a failure
/// (A's record names it).
pub(crate) type Listing = std::result::Result<Vec<BlobMeta>, String>;

/// The container listings a plan needs, by asset.
#[derive(Debug, Clone, Default)]
pub struct Listings {
    /// A's container of every `trim` asset.
    pub source: BTreeMap<AssetId, Listing>,
    /// B's container of every `trim` and `whole` asset.
    pub target: BTreeMap<AssetId, Listing>,
}

/// Names for messages.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// The source data center's name (A).
    pub source: &'a str,
    /// The target data center's name (B).
    pub target: &'a str,
}

/// The deletions that bring B's replicas in line with A, or a refusal.
/// Refusals of uncertainty (a record or a listing that could not be read,
/// A looking empty) list nothing; one for size lists what it would delete.
pub fn plan(
    names: Names<'_>,
    source: &Index,
    target: &Index,
    scope: &Scope,
    listings: &Listings,
    options: &DeleteOptions,
) -> DeletionReport {
    let report = DeletionReport { max: options.max, ..Default::default() };
    let (a, b) = (names.source, names.target);
    if let Some(first) = source.problems.first() {
        return report.refuse(
            RefusalReason::SourceRecordsFailedChecks,
            format!(
                "{} record(s) of '{a}' failed their checks ({}): what '{a}' holds is not known, so nothing was deleted in '{b}'",
                source.problems.len(),
                first.message
            ),
        );
    }
    let replicas_in_target = target.assets.values().filter(|e| e.from.is_some()).count();
    if source.assets.is_empty() && replicas_in_target > 0 && !options.allow_empty_source {
        let catalog = if source.exists { "has no asset records" } else { "has no catalog" };
        return report.refuse(
            RefusalReason::SourceLooksEmpty,
            format!(
                "'{a}' {catalog} while '{b}' holds {replicas_in_target} replicated asset(s): taken as '{a}' not answering normally, so nothing was deleted; if '{a}' really lost every asset, run again with --allow-empty-source"
            ),
        );
    }
    let listing = |side: &BTreeMap<AssetId, Listing>, id: &AssetId| -> std::result::Result<Vec<BlobMeta>, String> {
        side.get(id).cloned().unwrap_or_else(|| Err(format!("asset {id}: container not listed")))
    };
    let mut report = report;
    for id in &scope.trim {
        let source_blobs = match listing(&listings.source, id) {
            Ok(l) => l,
            Err(e) => {
                return report.refuse(
                    RefusalReason::SourceListingFailed,
                    format!("listing '{a}' failed, so nothing was deleted in '{b}': {e}"),
                )
            }
        };
        let target_blobs = match listing(&listings.target, id) {
            Ok(l) => l,
            Err(e) => {
                return report.refuse(
                    RefusalReason::TargetListingFailed,
                    format!("listing '{b}' failed, so nothing was deleted there: {e}"),
                )
            }
        };
        let container = &target.assets[id].asset.container;
        // Only block blobs: replicate puts nothing else in B.
        let target_block: Vec<&BlobMeta> = target_blobs.iter().filter(|t| t.kind == BlobKind::Block).collect();
        if source_blobs.is_empty() && !target_block.is_empty() && !options.allow_empty_source {
            return report.refuse(
                RefusalReason::SourceLooksEmpty,
                format!(
                    "asset {id}: its container '{container}' in '{a}' lists no blobs while '{b}' holds {}: taken as '{a}' not answering normally, so nothing was deleted; if it really is empty, run again with --allow-empty-source",
                    target_block.len()
                ),
            );
        }
        let in_source: BTreeSet<&str> = source_blobs.iter().map(|s| s.name.as_str()).collect();
        for t in target_block.into_iter().filter(|t| !in_source.contains(t.name.as_str())) {
            report.blobs.push(BlobDeletion {
                asset: *id,
                container: container.clone(),
                name: t.name.clone(),
                bytes: t.size,
                etag: t.etag.clone(),
                status: DeletionStatus::Planned,
                error: None,
            });
        }
        for l in target.locators_of(id) {
            if target.replica_locators.contains(&l.id) && !source.locators.contains_key(&l.id) {
                report.locators.push(LocatorDeletion {
                    id: l.id,
                    asset: *id,
                    status: DeletionStatus::Planned,
                    error: None,
                });
            }
        }
    }
    for id in &scope.whole {
        let blobs = match listing(&listings.target, id) {
            Ok(l) => l,
            Err(e) => {
                return report.refuse(
                    RefusalReason::TargetListingFailed,
                    format!("listing '{b}' failed, so nothing was deleted there: {e}"),
                )
            }
        };
        let entry = &target.assets[id];
        report.assets.push(AssetDeletion {
            id: *id,
            name: entry.asset.name.clone(),
            container: entry.asset.container.clone(),
            blobs: blobs.len() as u64,
            bytes: blobs.iter().map(|b| b.size).sum(),
            locators: target.locators_of(id).map(|l| l.id).collect(),
            etag: entry.etag.clone(),
            status: DeletionStatus::Planned,
            error: None,
        });
    }
    report.count();
    if report.totals.planned > options.max {
        let n = report.totals.planned;
        let max = options.max;
        return report.refuse(
            RefusalReason::OverMaxDelete,
            format!(
                "would delete {n} blobs and records in '{b}', more than --max-delete {max}: nothing was deleted; if '{a}' really lost them, run again with --max-delete {n}"
            ),
        );
    }
    report
}

#[cfg(test)]
mod tests;
