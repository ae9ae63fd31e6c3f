//! One asset's replication: its records checked, then plan → grant → copy →
//! publish, each step a call into the type that owns it; and the batches
//! whose grant records and journal entry the assets share.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::stream::{self, StreamExt};

use super::grants::{GrantBatch, GrantCell, GRANT_BATCH};
use super::plan::AssetPlan;
use super::spool::Spool;
use super::{
    protection, publish, AssetReport, AssetReports, AssetStatus, BlobOutcome, BlobStatus, Counts, Replicator, Totals,
};
use crate::catalog::{AssetEntry, AssetRecord, Index};
use crate::error::{Error, Result};
use crate::id::AssetId;
use crate::model::{Asset, Locator, LocatorType};
use crate::store::BlobMeta;

/// Assets handled together: they share their grant records (see `grants`)
/// and one journal entry, both settled when the last of them is done.
struct Batch {
    first_asset: AssetId,
    grants: Arc<GrantBatch>,
    journal: tokio::sync::Mutex<Vec<AssetReport>>,
    remaining: AtomicUsize,
}

impl Batch {
    /// The batches of a run's assets, by asset.
    fn plan(ids: &[AssetId]) -> BTreeMap<AssetId, Arc<Batch>> {
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(GRANT_BATCH) {
            let batch = Arc::new(Batch {
                first_asset: chunk[0],
                grants: Arc::new(GrantBatch::new(chunk)),
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

impl Replicator<'_> {
    /// Replicates `ids`, several at once; their reports by name (each written to `spool` as
    /// its asset is done), the run's totals, and the first failure to write the spool.
    pub(super) async fn replicate_assets(
        &self,
        ids: Vec<AssetId>,
        a_index: &Index,
        b_index: &Index,
        spool: Arc<Spool<AssetReport>>,
    ) -> (AssetReports, Totals, Option<Error>) {
        // Assets are mostly a chain of small requests: as many in flight as
        // copies may be (the copies themselves share the run's permits and pool).
        let parallel_assets = self.options.concurrency.clamp(1, 64);
        let batches = Batch::plan(&ids);
        let batches = &batches;
        let mut reports = AssetReports::spooled(spool);
        reports.reserve(ids.len());
        let mut done = stream::iter(ids)
            .map(|id| async move {
                let batch = &batches[&id];
                let (report, changed) = self.replicate_asset(id, a_index, b_index, &batch.grants).await;
                self.asset_done_in(batch, &report, changed).await;
                report
            })
            .buffer_unordered(parallel_assets);
        let (mut totals, mut failed) = (Totals::default(), None);
        while let Some(report) = done.next().await {
            totals.add(&report);
            if let Err(e) = reports.push(report) {
                failed.get_or_insert(e);
            }
        }
        reports.sort();
        (reports, totals, failed)
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
        self.grants.close(&batch.grants).await;
        // Taken, not read: every batch lives until the run ends, and its reports would with it.
        let journal = std::mem::take(&mut *journal);
        if !journal.is_empty() {
            let name = format!("assets-{}", batch.first_asset.guid());
            if let Err(e) = self.target.catalog.put_journal(&self.options.run_id, &name, &journal).await {
                tracing::warn!(error = %e, "could not write the journal entry of {} assets", journal.len());
            }
        }
    }

    async fn replicate_asset(
        &self,
        id: AssetId,
        a_index: &Index,
        b_index: &Index,
        batch: &Arc<GrantBatch>,
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
            protection: Vec::new(),
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
        // Keys and policies are read, opened and re-wrapped before anything of the asset is written.
        let origin_locators: Vec<&Locator> =
            a_index.locators_of(&id).filter(|l| l.locator_type == LocatorType::OnDemandOrigin).collect();
        let (a, b) = (self.source.catalog, self.target.catalog);
        let carried = match protection::prepare(a, b, &self.options.keks, &origin_locators, &mut report.warnings).await
        {
            Ok(carried) => carried,
            Err(refused_or_failed) => {
                report.status = AssetStatus::Failed;
                let message = match refused_or_failed {
                    Ok(protection::Refusal(why)) => {
                        report.status = AssetStatus::Refused;
                        format!("asset {} ('{}') is protected: {why}; nothing of it was copied", asset.id, asset.name)
                    }
                    Err(e) => {
                        format!("asset {}: its content keys or policies: {e}; nothing of it was copied", asset.id)
                    }
                };
                report.errors.push(message);
                self.options.progress.asset_done(&report);
                return (report, false);
            }
        };
        let changed = match self.replicate_into(entry, a_index, b_index, batch, carried, &mut report).await {
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
        batch: &Arc<GrantBatch>,
        carried: protection::Carried,
        report: &mut AssetReport,
    ) -> Result<bool> {
        let asset = &entry.asset;
        let (source_store, target_store) = (self.source.catalog.store().as_ref(), self.target.catalog.store().as_ref());

        // Plan.
        let create_first = !self.options.dry_run && !b_index.assets.contains_key(&asset.id);
        let plan =
            AssetPlan::read(source_store, target_store, &asset.container, create_first, self.options.deep).await?;
        report.blobs.extend(plan.settled.iter().cloned());
        let record = AssetRecord { asset: asset.clone(), files: Vec::new() };
        self.options.progress.planned(&record, plan.to_copy.len() as u64, plan.to_copy.iter().map(|b| b.size).sum());
        if self.options.dry_run {
            report.blobs.extend(plan.to_copy.iter().map(|b| BlobOutcome::of(b, BlobStatus::Planned)));
            return Ok(false);
        }
        // Keys and policies before the locators that name them.
        let mut wrote_protection = false;
        if !carried.is_empty() {
            let (done, wrote) = carried.write(self.target.catalog).await?;
            report.protection = done;
            wrote_protection = wrote;
        }
        let origin_locators: Vec<&Locator> =
            a_index.locators_of(&asset.id).filter(|l| l.locator_type == LocatorType::OnDemandOrigin).collect();
        let b_entry = b_index.assets.get(&asset.id);
        if plan.to_copy.is_empty()
            && publish::is_unchanged(entry, &origin_locators, &plan.target_blobs, b_entry, b_index)
        {
            // Proven by the two listings alone: nothing to write.
            self.publisher.keep(asset, &plan.target_blobs, &origin_locators, report)?;
            self.mirror_filters(asset, a_index, b_index, report).await?;
            return Ok(wrote_protection);
        }
        let created_now = plan.ensure_target_container(target_store, &asset.container).await?;

        // Grant and copy.
        if !plan.to_copy.is_empty() {
            let cell = GrantCell::new(batch.clone(), created_now);
            self.grant_and_copy(asset, &plan.to_copy, &cell, report).await?;
        }

        // Publish.
        let (landed, missing) = plan.into_landed(&report.blobs);
        let complete =
            report.blobs.iter().all(|b| b.status != BlobStatus::Failed) && !self.options.cancel.load(Ordering::Relaxed);
        let missing = (!complete).then_some(missing);
        self.publisher.publish(entry, b_entry, &origin_locators, &landed, missing, b_index, report).await?;
        if report.published {
            self.mirror_filters(asset, a_index, b_index, report).await?;
        }
        Ok(true)
    }

    /// The asset's filters in B as in A, once B publishes it (see [`super::filters`]).
    async fn mirror_filters(
        &self,
        asset: &Asset,
        a_index: &Index,
        b_index: &Index,
        report: &mut AssetReport,
    ) -> Result<()> {
        use crate::catalog::filters::FilterScope;
        // The account filters the asset's locators bind go too: B's locators name them.
        let bound: Vec<String> =
            a_index.locators_of(&asset.id).flat_map(|l| &l.delivery.filters).map(|n| n.to_ascii_lowercase()).collect();
        let in_scope = |(scope, name): &(FilterScope, String)| match scope {
            FilterScope::Asset(id) => *id == asset.id,
            FilterScope::Account => bound.contains(name),
        };
        let delete = self.options.delete.is_some();
        let scopes = [FilterScope::Asset(asset.id), FilterScope::Account];
        let done =
            super::filters::mirror(self.target.catalog, self.target.name, a_index, b_index, &scopes, in_scope, delete)
                .await?;
        report.warnings.extend(done.warnings);
        Ok(())
    }

    /// The first grant before any copy (if it cannot be issued, nothing is
    /// copied), the copies, then every grant revoked, whatever happened.
    async fn grant_and_copy(
        &self,
        asset: &Asset,
        to_copy: &[BlobMeta],
        cell: &GrantCell,
        report: &mut AssetReport,
    ) -> Result<()> {
        let (source_store, target_store) = (self.source.catalog.store().as_ref(), self.target.catalog.store().as_ref());
        let copied = match self.grants.current(asset, cell).await {
            Ok(first) => {
                drop(first);
                let done = self.copier.copy(source_store, target_store, asset, to_copy, &self.grants, cell).await;
                report.blobs.extend(done);
                Ok(())
            }
            Err(e) => Err(Error::new(e.kind(), format!("could not issue the copy SAS: {e}"))),
        };
        self.grants.revoke_all(cell).await;
        let (issued, warnings) = cell.summary().await;
        report.grants_issued = issued;
        report.warnings.extend(warnings);
        copied
    }
}
