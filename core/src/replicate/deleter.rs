//! `replicate --delete` carried out: list what the plan needs, plan (see
//! `delete`, pure), record the plan in B's journal, then delete.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::stream::{self, StreamExt};

use super::delete::{
    plan, scope, AssetDeletion, DeleteOptions, DeletionReport, DeletionStatus, Listing, Listings, Names, RefusalReason,
    Scope,
};
use super::{ReplicateOptions, Shard, Side};
use crate::catalog::Index;
use crate::error::{ErrorKind, Result};
use crate::id::AssetId;
use crate::store::{BlobStoreExt, Condition};

/// Listings and deletions in flight at once.
const IN_FLIGHT: usize = 8;

/// Carries out `--delete` over the pure plan of `delete`.
#[derive(Debug)]
pub(crate) struct Deleter<'a> {
    source: Side<'a>,
    target: Side<'a>,
    shard: Option<Shard>,
    dry_run: bool,
    run_id: String,
    cancel: Arc<AtomicBool>,
}

impl<'a> Deleter<'a> {
    pub(crate) fn new(source: Side<'a>, target: Side<'a>, options: &ReplicateOptions) -> Self {
        Deleter {
            source,
            target,
            shard: options.shard,
            dry_run: options.dry_run,
            run_id: options.run_id.clone(),
            cancel: options.cancel.clone(),
        }
    }

    /// `--delete`: plans from both indexes and fresh container listings,
    /// records the plan in B's journal, then deletes (never in a dry run).
    pub(crate) async fn run(
        &self,
        options: &DeleteOptions,
        all: bool,
        selected: &[AssetId],
        source: &Index,
        target: &Index,
    ) -> DeletionReport {
        let scope = scope(source, target, selected, all, self.shard);
        let listings =
            if source.problems.is_empty() { self.list_for(&scope, target).await } else { Listings::default() };
        let names = Names { source: self.source.name, target: self.target.name };
        let mut report = plan(names, source, target, &scope, &listings, options);
        if report.refused.is_some() || self.dry_run || report.totals.planned == 0 {
            return report;
        }
        if self.cancel.load(Ordering::Relaxed) {
            return report.refuse(RefusalReason::Interrupted, "stopped before deleting: nothing was deleted".into());
        }
        // The record comes before the act: no journal, no deletion.
        if let Err(e) = self.target.catalog.put_journal(&self.run_id, "deletions", &report).await {
            return report.refuse(
                RefusalReason::JournalUnwritable,
                format!("could not record the planned deletions in '{}': {e}; nothing was deleted", self.target.name),
            );
        }
        self.execute(&mut report, target).await;
        report.count();
        if let Err(e) = self.target.catalog.put_journal(&self.run_id, "deletions", &report).await {
            tracing::warn!(error = %e, "could not record the deletions' outcome in the journal");
        }
        report
    }

    async fn list_for(&self, scope: &Scope, target: &Index) -> Listings {
        let (a, b) = (self.source.catalog.store(), self.target.catalog.store());
        let container = |id: &AssetId| target.assets[id].asset.container.clone();
        let jobs =
            scope.trim.iter().map(|id| (true, *id)).chain(scope.trim.iter().chain(&scope.whole).map(|id| (false, *id)));
        let read: Vec<(bool, AssetId, Listing)> = stream::iter(jobs)
            .map(|(on_source, id)| {
                let c = container(&id);
                async move {
                    let store = if on_source { a } else { b };
                    let name = if on_source { self.source.name } else { self.target.name };
                    let listed = match store.list_all(&c, "").await {
                        Ok(l) => Ok(l),
                        Err(e) if e.kind() == ErrorKind::NotFound && !on_source => Ok(Vec::new()),
                        Err(e) => Err(format!("asset {id}: container '{c}' in '{name}': {e}")),
                    };
                    (on_source, id, listed)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut out = Listings::default();
        for (on_source, id, listed) in read {
            if on_source { &mut out.source } else { &mut out.target }.insert(id, listed);
        }
        out
    }

    async fn execute(&self, report: &mut DeletionReport, target: &Index) {
        let store = self.target.catalog.store();
        let catalog = self.target.catalog;
        let cancel = &self.cancel;
        let stopped = || cancel.load(Ordering::Relaxed);
        stream::iter(report.blobs.iter_mut())
            .for_each_concurrent(IN_FLIGHT, |d| async move {
                if stopped() {
                    return;
                }
                let result = store.delete_blob(&d.container, &d.name, &Condition::IfMatch(d.etag.clone())).await;
                settle(&mut d.status, &mut d.error, result.map(|_| ()).map_err(Into::into), self.target.name);
            })
            .await;
        stream::iter(report.locators.iter_mut())
            .for_each_concurrent(IN_FLIGHT, |d| async move {
                if stopped() {
                    return;
                }
                let result = catalog.delete_locator(&d.id).await;
                settle(&mut d.status, &mut d.error, result.map(|_| ()), self.target.name);
            })
            .await;
        for d in report.assets.iter_mut() {
            if stopped() {
                return;
            }
            let result = self.delete_replica(d, target).await;
            settle(&mut d.status, &mut d.error, result, self.target.name);
        }
    }

    /// Locators first (the origin stops serving it), then the container,
    /// then the record, only at the version planned: a failure part-way
    /// leaves the record, so the next run finishes the job.
    async fn delete_replica(&self, d: &AssetDeletion, target: &Index) -> Result<()> {
        let catalog = self.target.catalog;
        for l in target.locators_of(&d.id) {
            catalog.delete_locator(&l.id).await?;
        }
        catalog.store().delete_container(&d.container).await?;
        catalog.delete_asset_record(&d.id, &d.etag).await?;
        Ok(())
    }
}

fn settle(status: &mut DeletionStatus, error: &mut Option<String>, result: Result<()>, target: &str) {
    match result {
        Ok(()) => *status = DeletionStatus::Deleted,
        Err(e) => {
            *status = DeletionStatus::Failed;
            *error = Some(if e.kind() == ErrorKind::PreconditionFailed {
                format!("changed in '{target}' since the run listed it: kept")
            } else {
                e.to_string()
            });
        }
    }
}
