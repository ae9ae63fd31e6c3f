//! The failover flow: replicate assets from data center A to data center B.
//!
//! Per asset: refuse storage-encrypted ones; create the target asset with the
//! same id and container; issue short-lived least-privilege grants (read+list
//! on the source container, create+write on the target container; see
//! `grants`: recorded in B only, bound to stored access policies, renewed,
//! revoked at the end, also on failure); copy every block blob not already
//! there (same size and recorded source ETag, or same MD5; `deep`: same
//! bytes); regenerate B's file infos; once every blob is there, recreate A's
//! origin locators in B with the same ids; record what happened in B's
//! journal; report both streaming URLs. Nothing is written to A.

mod delete;
mod grants;
mod plan;
mod publish;
pub mod report;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;

use crate::catalog::{AssetEntry, AssetRecord, Catalog, Index};
use crate::copy::{AutoCopy, CopyEngine, CopyRequest, ServerSideCopy, StrategyChoice, StreamedCopy};
use crate::error::{Error, ErrorKind, Result};
use crate::id::AssetId;
use crate::model::{AccessPolicy, Asset, Locator, LocatorType};
use crate::store::{BlobMeta, BlobStore, BlobStoreExt, BlockPool};

pub use delete::{
    plan as plan_deletions, scope as deletion_scope, AssetDeletion, BlobDeletion, DeleteOptions, DeletionReport,
    DeletionStatus, DeletionSummary, DeletionTotals, Listings, LocatorDeletion, Names, Refusal, RefusalReason, Scope,
    DEFAULT_MAX_DELETE,
};
pub use grants::{grant_record_target, policy_id_for, remove_stored_policy, COPY_SAS_TAG, SOURCE_NEEDS, TARGET_NEEDS};
pub use plan::{decide, Decision};
pub use report::{
    AssetReport, AssetStatus, BlobOutcome, BlobStatus, Counts, LocatorOutcome, RequestCounts, RunReport, SideAccess,
    Totals, UrlPair,
};

/// One data center as replication sees it: its records and its streaming origin.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub name: &'a str,
    pub catalog: &'a Catalog,
    pub origin: &'a str,
}

/// `--shard K/N`: this machine takes the assets whose id falls in share K of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
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
    fn planned(&self, _asset: &AssetRecord, _blobs: u64, _bytes: u64) {}
    fn blob_done(&self, _asset: &AssetId, _outcome: &BlobOutcome) {}
    fn asset_done(&self, _report: &AssetReport) {}
}

/// Progress that goes nowhere.
#[derive(Debug)]
pub struct Quiet;
impl Progress for Quiet {}

#[derive(Clone)]
pub struct ReplicateOptions {
    pub strategy: StrategyChoice,
    /// Blob copies in flight across all assets.
    pub concurrency: usize,
    pub block_size: u64,
    pub dry_run: bool,
    pub shard: Option<Shard>,
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
    pub progress: Arc<dyn Progress>,
    pub run_id: String,
    /// `--delete`: remove from B what A no longer has (see `delete`); `None` never deletes.
    pub delete: Option<DeleteOptions>,
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
        }
    }
}

/// Assets handled together: they share their grant records (see `grants`)
/// and one journal entry, both settled when the last of them is done.
struct Batch {
    first_asset: AssetId,
    grants: Arc<grants::GrantBatch>,
    journal: tokio::sync::Mutex<Vec<AssetReport>>,
    remaining: std::sync::atomic::AtomicUsize,
}

impl Batch {
    /// The batches of a run's assets, by asset.
    fn plan(ids: &[AssetId]) -> BTreeMap<AssetId, Arc<Batch>> {
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(grants::GRANT_BATCH) {
            let batch = Arc::new(Batch {
                first_asset: chunk[0],
                grants: Arc::new(grants::GrantBatch::new(chunk)),
                journal: Default::default(),
                remaining: chunk.len().into(),
            });
            for id in chunk {
                out.insert(*id, batch.clone());
            }
        }
        out
    }
}

/// Which assets to replicate.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    Assets(Vec<AssetId>),
}

pub struct Replicator<'a> {
    pub source: Side<'a>,
    pub target: Side<'a>,
    pub options: ReplicateOptions,
    engine: AutoCopy,
    permits: Arc<Semaphore>,
    /// Policies in B by id (grants', streaming locators'), read or created once per run.
    target_policies: tokio::sync::Mutex<BTreeMap<crate::id::PolicyId, AccessPolicy>>,
    /// Grant records this run wrote (their policies are live, not leftovers).
    live_grant_records: std::sync::Mutex<std::collections::BTreeSet<crate::id::LocatorId>>,
    /// Containers' stored policies as this run last wrote them (see `grants`).
    known_policies: std::sync::Mutex<BTreeMap<(grants::GrantSide, String), grants::KnownPolicies>>,
}

impl std::fmt::Debug for Replicator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicator").field("source", &self.source.name).field("target", &self.target.name).finish()
    }
}

impl<'a> Replicator<'a> {
    pub fn new(source: Side<'a>, target: Side<'a>, options: ReplicateOptions) -> Self {
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
        let permits = Arc::new(Semaphore::new(concurrency));
        Replicator {
            source,
            target,
            options,
            engine,
            permits,
            target_policies: Default::default(),
            live_grant_records: Default::default(),
            known_policies: Default::default(),
        }
    }

    /// Replicates the selected assets; unknown ids are an error before anything is written.
    /// Both catalogs are read once, from their listings; a record that fails
    /// its checks fails its own asset only.
    pub async fn run(&self, selection: &Selection) -> Result<RunReport> {
        let started = Instant::now();
        // Credentials first: a SAS that cannot do the job is refused before anything is read or written.
        let access = self.check_access()?;
        let (a_index, b_index) = futures::try_join!(self.source.catalog.index(), self.target.catalog.index())?;
        let known = a_index.asset_ids();
        let mut ids: Vec<AssetId> = match selection {
            Selection::All => known.iter().copied().collect(),
            Selection::Assets(ids) => {
                if let Some(missing) = ids.iter().find(|id| !known.contains(id)) {
                    return Err(Error::not_found(format!(
                        "asset {missing} not found in {}",
                        self.source.catalog.store().describe()
                    )));
                }
                // An asset named twice is replicated once (two runs of it at once would share its grant).
                let mut seen = std::collections::BTreeSet::new();
                ids.iter().copied().filter(|id| seen.insert(*id)).collect()
            }
        };
        if let Some(shard) = self.options.shard {
            ids.retain(|id| shard.owns(id));
        }
        // What B's listing says of its policies stands for reading them one by one.
        self.target_policies.lock().await.extend(b_index.policies.iter().map(|(id, p)| (*id, p.clone())));
        if !self.options.dry_run {
            if !b_index.exists {
                // A new catalog: its journal container is new too (made once here, not by racing assets).
                self.target.catalog.ensure().await?;
                self.target.catalog.store().create_container(crate::catalog::JOURNAL_CONTAINER).await?;
            }
            let selected: std::collections::BTreeSet<AssetId> = ids.iter().copied().collect();
            // Grants live in B only: A is never written.
            let b_locators: Vec<&Locator> = b_index.locators.values().collect();
            self.sweep_stale_grants(&selected, &b_locators).await?;
        }
        // Deletions first, from their own listings: the copies that follow see B as it then is.
        let deletions = match &self.options.delete {
            Some(d) => Some(
                self.delete_what_source_lost(d, matches!(selection, Selection::All), &ids, &a_index, &b_index).await,
            ),
            None => None,
        };
        // Assets are mostly a chain of small requests: as many in flight as
        // copies may be (the copies themselves share the run's permits and pool).
        let parallel_assets = self.options.concurrency.clamp(1, 64);
        let (a_index, b_index) = (&a_index, &b_index);
        let batches = Batch::plan(&ids);
        let batches = &batches;
        let mut assets: Vec<AssetReport> = stream::iter(ids)
            .map(|id| async move {
                let batch = &batches[&id];
                let (report, changed) = self.replicate_asset(id, a_index, b_index, &batch.grants).await;
                self.asset_done_in(batch, &report, changed).await;
                report
            })
            .buffer_unordered(parallel_assets)
            .collect()
            .await;
        assets.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));

        let mut totals = Totals { assets: assets.len() as u64, ..Default::default() };
        for a in &assets {
            totals.counts.merge(&a.counts);
            totals.unchanged += a.unchanged as u64;
            match a.status {
                AssetStatus::Replicated | AssetStatus::Planned => totals.replicated += 1,
                AssetStatus::Refused => totals.refused += 1,
                AssetStatus::Failed | AssetStatus::Interrupted => totals.failed_assets += 1,
            }
        }
        totals.seconds = started.elapsed().as_secs_f64();
        let report = RunReport {
            run_id: self.options.run_id.clone(),
            source: self.source.name.to_owned(),
            target: self.target.name.to_owned(),
            dry_run: self.options.dry_run,
            interrupted: self.options.cancel.load(Ordering::Relaxed),
            access,
            record_problems: a_index.orphan_problems().into_iter().cloned().collect(),
            assets,
            totals,
            deletions,
        };
        if !self.options.dry_run {
            let summary = report::Summary::of(&report);
            if let Err(e) = self.target.catalog.put_journal(&self.options.run_id, "summary", &summary).await {
                tracing::warn!(error = %e, "could not write the run's journal summary");
            }
        }
        Ok(report)
    }

    /// One asset of `batch` is done (`changed`: the run wrote something for it); when it was the last, the batch's
    /// grant records go and its journal entry is written: the per-blob record
    /// of what this run did to the assets of the batch it changed.
    async fn asset_done_in(&self, batch: &Batch, report: &AssetReport, changed: bool) {
        let mut journal = batch.journal.lock().await;
        if changed {
            journal.push(report.clone());
        }
        if batch.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        self.close_grants(&batch.grants).await;
        if !journal.is_empty() {
            let name = format!("assets-{}", batch.first_asset.guid());
            if let Err(e) = self.target.catalog.put_journal(&self.options.run_id, &name, &*journal).await {
                tracing::warn!(error = %e, "could not write the journal entry of {} assets", journal.len());
            }
        }
    }

    async fn replicate_asset(
        &self,
        id: AssetId,
        a_index: &Index,
        b_index: &Index,
        batch: &Arc<grants::GrantBatch>,
    ) -> (AssetReport, bool) {
        let mut report = AssetReport {
            id,
            name: String::new(),
            container: id.container_name(),
            status: AssetStatus::Failed,
            unchanged: false,
            errors: Vec::new(),
            warnings: Vec::new(),
            published: false,
            grants_issued: 0,
            counts: Counts::default(),
            locators: Vec::new(),
            urls: Vec::new(),
            blobs: Vec::new(),
        };
        // Records are checked before anything is done for them: a bad one is this asset's failure.
        let problems: Vec<String> = a_index
            .problems_of(&id)
            .map(|p| format!("in '{}': {}", self.source.name, p.message))
            .chain(b_index.problems_of(&id).map(|p| format!("in '{}': {}", self.target.name, p.message)))
            .collect();
        let entry = a_index.assets.get(&id);
        if let Some(e) = entry {
            report.name = e.asset.name.clone();
        }
        let Some(entry) = entry.filter(|_| problems.is_empty()) else {
            report.errors = problems;
            report.errors.push(format!("asset {id}: its records failed their checks; nothing of it was written"));
            self.options.progress.asset_done(&report);
            return (report, false);
        };
        report.status = AssetStatus::Replicated;
        let asset = entry.asset.clone();
        if asset.options.is_storage_encrypted() {
            report.status = AssetStatus::Refused;
            report.errors.push(format!(
                "asset {} ('{}') is storage-encrypted: its key belongs to data center '{}', so it cannot be replicated; nothing of it was copied",
                asset.id, asset.name, self.source.name
            ));
            self.options.progress.asset_done(&report);
            return (report, false);
        }
        let changed = match self.replicate_into(entry, a_index, b_index, batch, &mut report).await {
            Ok(changed) => changed,
            Err(e) => {
                report.errors.push(e.to_string());
                true
            }
        };
        for b in &report.blobs {
            report.counts.add(b);
        }
        if self.options.dry_run {
            report.status = AssetStatus::Planned;
        } else if self.options.cancel.load(Ordering::Relaxed) && report.status != AssetStatus::Failed {
            report.status = AssetStatus::Interrupted;
        }
        if !report.errors.is_empty() || report.counts.failed > 0 {
            report.status = if report.status == AssetStatus::Interrupted { report.status } else { AssetStatus::Failed };
        }
        report.unchanged = !changed && !self.options.dry_run;
        self.options.progress.asset_done(&report);
        (report, changed && !self.options.dry_run)
    }

    /// Returns whether anything had to be done (false: the replica was proven unchanged).
    async fn replicate_into(
        &self,
        entry: &AssetEntry,
        a_index: &Index,
        b_index: &Index,
        batch: &Arc<grants::GrantBatch>,
        report: &mut AssetReport,
    ) -> Result<bool> {
        let asset = &entry.asset;
        let source_store = self.source.catalog.store();
        let target_store = self.target.catalog.store();
        // An asset B has no record of is most likely new there: creating its
        // container first tells whether it is empty without listing it.
        let create_first = !self.options.dry_run && !b_index.assets.contains_key(&asset.id);
        let target_listing = async {
            if create_first && target_store.create_container(&asset.container).await? {
                return Ok((BTreeMap::new(), true, true));
            }
            match target_store.list_all(&asset.container, "").await {
                Ok(list) => Ok((list.into_iter().map(|b| (b.name.clone(), b)).collect(), true, false)),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok((BTreeMap::new(), false, false)),
                Err(e) => Err(e),
            }
        };
        let (source_blobs, target_listing) =
            futures::join!(source_store.list_all(&asset.container, ""), target_listing);
        let source_blobs = match source_blobs {
            Ok(blobs) => blobs,
            Err(e) => {
                // Nothing of the asset is written when A cannot be read: not even its empty container.
                if matches!(target_listing, Ok((_, _, true))) {
                    let _ = target_store.delete_container(&asset.container).await;
                }
                return Err(e.into());
            }
        };
        // Whether the container exists, and whether this run has just created it (it holds nothing yet).
        let (target_blobs, target_container_exists, created_now): (BTreeMap<String, BlobMeta>, bool, bool) =
            target_listing?;
        let mut to_copy = Vec::new();
        let deep_differs = if self.options.deep {
            plan::differing_bytes(
                source_store.as_ref(),
                target_store.as_ref(),
                &asset.container,
                &source_blobs,
                &target_blobs,
            )
            .await?
        } else {
            Default::default()
        };
        for blob in &source_blobs {
            let decision = match decide(blob, target_blobs.get(&blob.name)) {
                // --deep: equal listings are not enough, the bytes must be.
                Decision::Skip if deep_differs.contains(&blob.name) => Decision::Copy,
                d => d,
            };
            match decision {
                Decision::Copy => to_copy.push(blob.clone()),
                Decision::Skip => report.blobs.push(outcome(blob, BlobStatus::Skipped)),
                Decision::NotMedia => {
                    let mut o = outcome(blob, BlobStatus::NotMedia);
                    o.error = Some(format!("{:?} blob: not a media file; left alone", blob.kind));
                    report.blobs.push(o);
                }
            }
        }
        let record = AssetRecord { asset: asset.clone(), files: Vec::new() };
        self.options.progress.planned(&record, to_copy.len() as u64, to_copy.iter().map(|b| b.size).sum());
        if self.options.dry_run {
            report.blobs.extend(to_copy.iter().map(|b| outcome(b, BlobStatus::Planned)));
            return Ok(false);
        }
        let origin_locators: Vec<&Locator> =
            a_index.locators_of(&asset.id).filter(|l| l.locator_type == LocatorType::OnDemandOrigin).collect();
        let b_entry = b_index.assets.get(&asset.id);
        if to_copy.is_empty() && publish::is_unchanged(entry, &origin_locators, &target_blobs, b_entry, b_index) {
            // Proven by the two listings alone: nothing to write.
            let files = crate::catalog::file_infos(asset, &target_blobs.values().cloned().collect::<Vec<_>>())?;
            for l in &origin_locators {
                report.locators.push(LocatorOutcome { id: l.id, action: "kept".to_owned() });
            }
            self.streaming_urls(&files, &origin_locators, report);
            report.published = true;
            return Ok(false);
        }

        let mut created_now = created_now;
        if !target_container_exists {
            created_now = target_store.create_container(&asset.container).await?;
        }
        if !to_copy.is_empty() {
            let cell = grants::GrantCell::new(batch.clone(), created_now);
            // The first grant before any copy: if it cannot be issued, nothing is copied.
            let first = self.current_grants(asset, &cell).await;
            let copied = match first {
                Ok(g) => {
                    drop(g);
                    let work = self.copy_blobs(asset, &to_copy, &cell).await;
                    report.blobs.extend(work);
                    Ok(())
                }
                Err(e) => Err(Error::new(e.kind(), format!("could not issue the copy SAS: {e}"))),
            };
            // Every grant goes, whatever happened.
            self.revoke_all(&cell).await;
            let (issued, warnings) = cell.summary().await;
            report.grants_issued = issued;
            report.warnings.extend(warnings);
            copied?;
        }

        // What landed: B's listing before the run plus every blob copied now.
        let mut landed = target_blobs;
        let copied: std::collections::BTreeSet<&str> =
            report.blobs.iter().filter(|b| b.status == BlobStatus::Copied).map(|b| b.name.as_str()).collect();
        for blob in to_copy.iter().filter(|b| copied.contains(b.name.as_str())) {
            landed.insert(blob.name.clone(), blob.clone());
        }
        let complete =
            report.blobs.iter().all(|b| b.status != BlobStatus::Failed) && !self.options.cancel.load(Ordering::Relaxed);
        // An incomplete replica is still marked as one (see `delete`), never as proven.
        let fingerprint = match complete {
            true => publish::fingerprint(entry, &origin_locators, &landed),
            false => publish::INCOMPLETE.to_owned(),
        };
        let target_record = self.publish_files(asset, b_entry, &landed, Some(&fingerprint)).await?;
        if !complete {
            // B never publishes URLs for an asset it does not wholly hold; a later run that completes it does.
            let missing = to_copy.len() - to_copy.iter().filter(|b| copied.contains(b.name.as_str())).count();
            report.warnings.push(format!(
                "not published in '{}': {missing} blob(s) not copied; run replicate again to complete it",
                self.target.name
            ));
            return Ok(true);
        }
        self.recreate_locators(asset, &target_record, &origin_locators, b_index, report).await?;
        report.published = true;
        Ok(true)
    }

    async fn copy_blobs(&self, asset: &Asset, blobs: &[BlobMeta], cell: &grants::GrantCell) -> Vec<BlobOutcome> {
        let source = self.source.catalog.store().as_ref();
        stream::iter(blobs)
            .map(|blob| async move {
                // Memory is held by the streamed engine's block pool, a block at a time.
                let Ok(_permit) = self.permits.acquire().await else { return None };
                if self.options.cancel.load(Ordering::Relaxed) {
                    return None;
                }
                // Held for the whole copy, so a renewal revokes it only once the copy is done.
                let grants = match self.current_grants(asset, cell).await {
                    Ok(g) => g,
                    Err(e) => {
                        let mut o = outcome(blob, BlobStatus::Failed);
                        o.error = Some(format!("could not renew the copy SAS: {e}"));
                        return Some(o);
                    }
                };
                let target: &dyn BlobStore = match &grants.target_writer {
                    Some(w) => w.as_ref(),
                    None => self.target.catalog.store().as_ref(),
                };
                let request = CopyRequest {
                    source,
                    source_container: &asset.container,
                    target,
                    target_container: &asset.container,
                    name: &blob.name,
                    source_container_url: grants.source_url.as_ref(),
                    source_meta: Some(blob),
                };
                let done = self.copy_with_retries(request, blob, grants.propagating_until).await;
                self.options.progress.blob_done(&asset.id, &done);
                Some(done)
            })
            .buffer_unordered(self.options.concurrency.max(1))
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
                    let mut o = outcome(blob, BlobStatus::Copied);
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
                    let mut o = outcome(blob, BlobStatus::Failed);
                    o.error = Some(e.to_string());
                    o.attempts_retried = attempt;
                    return o;
                }
                Err(e) => {
                    attempt += 1;
                    let again = e.is_retryable() || e.kind() == ErrorKind::PreconditionFailed;
                    if again && attempt < self.options.max_attempts.max(1) {
                        if e.kind() == ErrorKind::PreconditionFailed {
                            // The source moved since it was listed: copy the version it is now.
                            request.source_meta = None;
                        }
                        tracing::info!(blob = %blob.name, attempt, error = %e, "copying again");
                        continue;
                    }
                    let mut o = outcome(blob, BlobStatus::Failed);
                    o.error = Some(e.to_string());
                    o.attempts_retried = attempt - 1;
                    return o;
                }
            }
        }
    }
}

fn outcome(blob: &BlobMeta, status: BlobStatus) -> BlobOutcome {
    BlobOutcome {
        name: blob.name.clone(),
        status,
        bytes: blob.size,
        strategy: None,
        source_etag: Some(blob.etag.clone()),
        error: None,
        attempts_retried: 0,
    }
}
