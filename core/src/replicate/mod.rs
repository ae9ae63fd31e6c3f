//! The failover flow: replicate assets from data center A to data center B.
//!
//! Per asset: refuse storage-encrypted ones; create the target asset with the
//! same id and container; issue short-lived least-privilege SAS (read+list on
//! the source container, create+write on the target container) recorded as
//! SAS locators and deleted at the end, also on failure; copy every block blob
//! not already there (same size and recorded source ETag, or same MD5);
//! regenerate B's file infos; recreate A's origin locators in B with the same
//! ids; record what happened in B's journal; report both streaming URLs.

mod plan;
pub mod report;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;

use crate::catalog::{AssetRecord, Catalog};
use crate::copy::{AutoCopy, CopyEngine, CopyRequest, ServerSideCopy, StrategyChoice, StreamedCopy};
use crate::error::{Error, ErrorKind, Result};
use crate::id::{AssetId, LocatorId};
use crate::model::{AccessPolicy, Asset, Locator, LocatorType, Permissions};
use crate::store::{BlobMeta, BlobStore, BlobStoreExt, BlockPool, SignedUrl};
use crate::streaming::StreamingUrls;

pub use plan::{decide, Decision};
pub use report::{
    AssetReport, AssetStatus, BlobOutcome, BlobStatus, Counts, LocatorOutcome, RunReport, Totals, UrlPair,
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
    /// Tries per blob when a copy fails for a passing reason or the source moved.
    pub max_attempts: u32,
    /// Bytes of blob data the client may hold at once across all copies
    /// (the streamed engine's block pool; raised to two blocks if smaller).
    pub memory_budget: u64,
    /// Set to stop starting new copies; in-flight ones finish, SAS are cleaned up.
    pub cancel: Arc<AtomicBool>,
    pub progress: Arc<dyn Progress>,
    pub run_id: String,
}

impl std::fmt::Debug for ReplicateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicateOptions")
            .field("strategy", &self.strategy)
            .field("concurrency", &self.concurrency)
            .field("dry_run", &self.dry_run)
            .field("shard", &self.shard)
            .field("run_id", &self.run_id)
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
            max_attempts: 3,
            memory_budget: 48 * 1024 * 1024,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(Quiet),
            run_id: format!(
                "{}-{}",
                Utc::now().format("%Y%m%dT%H%M%SZ"),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
        }
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
    read_policy: tokio::sync::OnceCell<AccessPolicy>,
    write_policy: tokio::sync::OnceCell<AccessPolicy>,
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
            read_policy: Default::default(),
            write_policy: Default::default(),
        }
    }

    /// Replicates the selected assets; unknown ids are an error before anything is written.
    pub async fn run(&self, selection: &Selection) -> Result<RunReport> {
        let started = Instant::now();
        let mut records = match selection {
            Selection::All => self.source.catalog.list_assets().await?,
            Selection::Assets(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    out.push(self.source.catalog.get_asset(id).await?.value);
                }
                out
            }
        };
        if let Some(shard) = self.options.shard {
            records.retain(|r| shard.owns(&r.asset.id));
        }
        let source_locators = self.source.catalog.list_locators(None).await?;
        if !self.options.dry_run {
            self.target.catalog.ensure().await?;
            let selected: std::collections::BTreeSet<AssetId> = records.iter().map(|r| r.asset.id).collect();
            self.sweep_stale_grants(&selected, &source_locators).await?;
        }
        let parallel_assets = (self.options.concurrency / 4).clamp(1, 8);
        let source_locators = &source_locators;
        let mut assets: Vec<AssetReport> = stream::iter(records)
            .map(|r| self.replicate_asset(r, source_locators))
            .buffer_unordered(parallel_assets)
            .collect()
            .await;
        assets.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));

        let mut totals = Totals { assets: assets.len() as u64, ..Default::default() };
        for a in &assets {
            totals.counts.merge(&a.counts);
            match a.status {
                AssetStatus::Replicated | AssetStatus::Planned => totals.replicated += 1,
                AssetStatus::Refused => totals.refused += 1,
                AssetStatus::Failed | AssetStatus::Interrupted => totals.failed_assets += 1,
            }
        }
        totals.seconds = started.elapsed().as_secs_f64();
        Ok(RunReport {
            run_id: self.options.run_id.clone(),
            source: self.source.name.to_owned(),
            target: self.target.name.to_owned(),
            dry_run: self.options.dry_run,
            interrupted: self.options.cancel.load(Ordering::Relaxed),
            assets,
            totals,
        })
    }

    async fn replicate_asset(&self, record: AssetRecord, source_locators: &[Locator]) -> AssetReport {
        let asset = record.asset.clone();
        let mut report = AssetReport {
            id: asset.id,
            name: asset.name.clone(),
            container: asset.container.clone(),
            status: AssetStatus::Replicated,
            errors: Vec::new(),
            counts: Counts::default(),
            locators: Vec::new(),
            urls: Vec::new(),
            blobs: Vec::new(),
        };
        if asset.options.is_storage_encrypted() {
            report.status = AssetStatus::Refused;
            report.errors.push(format!(
                "asset {} ('{}') is storage-encrypted: its key belongs to data center '{}', so it cannot be replicated; nothing of it was copied",
                asset.id, asset.name, self.source.name
            ));
            self.options.progress.asset_done(&report);
            return report;
        }
        if let Err(e) = self.replicate_into(&record, source_locators, &mut report).await {
            report.errors.push(e.to_string());
        }
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
        if !self.options.dry_run {
            if let Err(e) = self.target.catalog.put_journal(&self.options.run_id, &asset.id, &report).await {
                tracing::warn!(asset = %asset.id, error = %e, "could not write the journal entry");
            }
        }
        self.options.progress.asset_done(&report);
        report
    }

    async fn replicate_into(
        &self,
        record: &AssetRecord,
        source_locators: &[Locator],
        report: &mut AssetReport,
    ) -> Result<()> {
        let asset = &record.asset;
        let source_store = self.source.catalog.store();
        let target_store = self.target.catalog.store();
        let source_blobs = source_store.list_all(&asset.container, "").await?;
        let target_blobs: BTreeMap<String, BlobMeta> = match target_store.list_all(&asset.container, "").await {
            Ok(list) => list.into_iter().map(|b| (b.name.clone(), b)).collect(),
            Err(e) if e.kind() == ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        let mut to_copy = Vec::new();
        for blob in &source_blobs {
            match decide(blob, target_blobs.get(&blob.name)) {
                Decision::Copy => to_copy.push(blob.clone()),
                Decision::Skip => report.blobs.push(outcome(blob, BlobStatus::Skipped)),
                Decision::NotMedia => {
                    let mut o = outcome(blob, BlobStatus::NotMedia);
                    o.error = Some(format!("{:?} blob: not a media file; left alone", blob.kind));
                    report.blobs.push(o);
                }
            }
        }
        self.options.progress.planned(record, to_copy.len() as u64, to_copy.iter().map(|b| b.size).sum());
        if self.options.dry_run {
            report.blobs.extend(to_copy.iter().map(|b| outcome(b, BlobStatus::Planned)));
            return Ok(());
        }

        self.ensure_target_asset(asset).await?;
        if to_copy.is_empty() {
            // Nothing to copy: no SAS to issue; records are refreshed only where they differ.
            let listed: Vec<BlobMeta> = target_blobs.into_values().collect();
            let target_record = self.target.catalog.set_files_from(&asset.id, &listed).await?;
            return self.recreate_locators(asset, &target_record, source_locators, report).await;
        }
        let grants = self.grant(asset).await;
        let copied = match &grants {
            Ok(g) => {
                let work = self.copy_blobs(asset, &to_copy, g).await;
                report.blobs.extend(work);
                Ok(())
            }
            Err(e) => Err(Error::new(e.kind(), format!("could not issue the copy SAS: {e}"))),
        };
        // The SAS locators go, whatever happened.
        if let Ok(g) = &grants {
            self.revoke(g).await;
        }
        copied?;

        // What landed: B's listing before the run plus every blob copied now.
        let mut landed = target_blobs;
        let copied: std::collections::BTreeSet<&str> =
            report.blobs.iter().filter(|b| b.status == BlobStatus::Copied).map(|b| b.name.as_str()).collect();
        for blob in to_copy.iter().filter(|b| copied.contains(b.name.as_str())) {
            landed.insert(blob.name.clone(), blob.clone());
        }
        let landed: Vec<BlobMeta> = landed.into_values().collect();
        let target_record = self.target.catalog.set_files_from(&asset.id, &landed).await?;
        self.recreate_locators(asset, &target_record, source_locators, report).await?;
        Ok(())
    }

    async fn ensure_target_asset(&self, asset: &Asset) -> Result<()> {
        match self.target.catalog.get_asset(&asset.id).await {
            Ok(existing) if existing.value.asset.container == asset.container => {
                // Resuming: make sure the container is there too.
                self.target.catalog.store().create_container(&asset.container).await.map(|_| ())
            }
            Ok(existing) => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "asset {} exists in '{}' with container '{}', not '{}'",
                    asset.id, self.target.name, existing.value.asset.container, asset.container
                ),
            )),
            Err(e) if e.kind() == ErrorKind::NotFound => match self.target.catalog.create_asset(asset).await {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Deletes copy SAS locators of the selected assets that a killed run left behind.
    async fn sweep_stale_grants(
        &self,
        selected: &std::collections::BTreeSet<AssetId>,
        source_locators: &[Locator],
    ) -> Result<()> {
        let stale = |l: &Locator| {
            l.locator_type == LocatorType::Sas && l.path.starts_with(COPY_SAS_TAG) && selected.contains(&l.asset_id)
        };
        for l in source_locators.iter().filter(|l| stale(l)) {
            self.source.catalog.delete_locator(&l.id).await?;
        }
        for l in self.target.catalog.list_locators(None).await?.iter().filter(|l| stale(l)) {
            self.target.catalog.delete_locator(&l.id).await?;
        }
        Ok(())
    }

    /// The policy of the copy SAS on one side: the same terms for the whole run, read once.
    async fn copy_policy(&self, on_source: bool) -> Result<AccessPolicy> {
        let minutes = self.options.sas_lifetime.num_minutes().max(1) as u64;
        let (cell, catalog, name, permissions) = if on_source {
            (&self.read_policy, self.source.catalog, "mirrorcast copy (read)", Permissions::READ | Permissions::LIST)
        } else {
            (
                &self.write_policy,
                self.target.catalog,
                "mirrorcast copy (write)",
                Permissions::CREATE | Permissions::WRITE,
            )
        };
        cell.get_or_try_init(|| catalog.policy_for(name, minutes, permissions)).await.cloned()
    }

    /// Least-privilege, short-lived access for the copy, recorded as SAS locators.
    async fn grant(&self, asset: &Asset) -> Result<Grants> {
        let start = Utc::now() - Duration::minutes(5);
        let expiry = Utc::now() + self.options.sas_lifetime;
        let mut grants = Grants { source_url: None, target_writer: None, locators: Vec::new() };

        let read = Permissions::READ | Permissions::LIST;
        if self.source.catalog.store().capability().signed_urls {
            grants.source_url =
                Some(self.source.catalog.store().signed_url(&asset.container, None, read, expiry).await?);
        }
        let policy = self.copy_policy(true).await?;
        let locator =
            sas_locator(asset, policy.id, start, expiry, self.source.catalog.store().as_ref(), &asset.container);
        self.source.catalog.put_locator(&locator, &policy).await?;
        grants.locators.push((true, locator.id));

        let write = Permissions::CREATE | Permissions::WRITE;
        grants.target_writer = match self.target.catalog.store().scoped(&asset.container, write, expiry).await {
            Ok(s) => Some(s),
            Err(e) if e.kind() == ErrorKind::Unsupported => None,
            Err(e) => return Err(e),
        };
        let policy = self.copy_policy(false).await?;
        let locator =
            sas_locator(asset, policy.id, start, expiry, self.target.catalog.store().as_ref(), &asset.container);
        self.target.catalog.put_locator(&locator, &policy).await?;
        grants.locators.push((false, locator.id));
        Ok(grants)
    }

    async fn revoke(&self, grants: &Grants) {
        for (on_source, id) in &grants.locators {
            let catalog = if *on_source { self.source.catalog } else { self.target.catalog };
            if let Err(e) = catalog.delete_locator(id).await {
                tracing::warn!(locator = %id, error = %e, "could not delete a copy SAS locator");
            }
        }
    }

    async fn copy_blobs(&self, asset: &Asset, blobs: &[BlobMeta], grants: &Grants) -> Vec<BlobOutcome> {
        let source = self.source.catalog.store().as_ref();
        let target: &dyn BlobStore = match &grants.target_writer {
            Some(w) => w.as_ref(),
            None => self.target.catalog.store().as_ref(),
        };
        stream::iter(blobs)
            .map(|blob| async move {
                // Memory is held by the streamed engine's block pool, a block at a time.
                let Ok(_permit) = self.permits.acquire().await else { return None };
                if self.options.cancel.load(Ordering::Relaxed) {
                    return None;
                }
                let request = CopyRequest {
                    source,
                    source_container: &asset.container,
                    target,
                    target_container: &asset.container,
                    name: &blob.name,
                    source_container_url: grants.source_url.as_ref(),
                    source_meta: Some(blob),
                };
                let done = self.copy_with_retries(request, blob).await;
                self.options.progress.blob_done(&asset.id, &done);
                Some(done)
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .filter_map(|o| async move { o })
            .collect()
            .await
    }

    async fn copy_with_retries(&self, mut request: CopyRequest<'_>, blob: &BlobMeta) -> BlobOutcome {
        let mut attempt = 0;
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

    async fn recreate_locators(
        &self,
        asset: &Asset,
        target_record: &AssetRecord,
        source_locators: &[Locator],
        report: &mut AssetReport,
    ) -> Result<()> {
        let primary =
            target_record.files.iter().find(|f| f.is_primary && f.name.to_ascii_lowercase().ends_with(".ism"));
        for l in source_locators.iter().filter(|l| l.asset_id == asset.id) {
            if l.locator_type != LocatorType::OnDemandOrigin {
                continue;
            }
            let action = match self.target.catalog.get_locator(&l.id).await {
                Ok(existing) if existing.asset_id == asset.id => "kept",
                Ok(existing) => {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!(
                            "locator {} exists in '{}' for another asset ({})",
                            l.id, self.target.name, existing.asset_id
                        ),
                    ))
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    let start = l.start_time.unwrap_or_else(Utc::now);
                    match self
                        .target
                        .catalog
                        .create_origin_locator(&asset.id, l.id, start, l.expiration, self.target.origin)
                        .await
                    {
                        Ok(_) => "created",
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => "kept",
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            report.locators.push(LocatorOutcome { id: l.id, action: action.to_owned() });
            if let Some(p) = primary {
                let a = StreamingUrls::new(self.source.origin, &l.id, &p.name);
                let b = StreamingUrls::new(self.target.origin, &l.id, &p.name);
                for ((format, source), (_, target)) in a.all().into_iter().zip(b.all()) {
                    report.urls.push(UrlPair {
                        locator: l.id,
                        format: format.to_owned(),
                        source: source.to_owned(),
                        target: target.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The `path` of the SAS locators a copy creates starts with this, so a later
/// run can sweep those a killed run left behind.
pub const COPY_SAS_TAG: &str = "mirrorcast-copy:";

struct Grants {
    source_url: Option<SignedUrl>,
    target_writer: Option<Arc<dyn BlobStore>>,
    /// (on the source side?, locator id), to delete at the end.
    locators: Vec<(bool, LocatorId)>,
}

fn sas_locator(
    asset: &Asset,
    policy: crate::id::PolicyId,
    start: chrono::DateTime<Utc>,
    expiry: chrono::DateTime<Utc>,
    store: &dyn BlobStore,
    container: &str,
) -> Locator {
    Locator {
        id: LocatorId::new(),
        locator_type: LocatorType::Sas,
        asset_id: asset.id,
        policy_id: policy,
        start_time: Some(start),
        expiration: expiry,
        path: format!("{COPY_SAS_TAG}{container} on {}", store.describe()),
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
