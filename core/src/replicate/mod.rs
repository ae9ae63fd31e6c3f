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
//! journal; report both streaming URLs. Nothing is written to A. A protected
//! asset's content keys and policies go first, re-wrapped under B's KEK
//! (`protection`); without both KEKs it is refused and nothing of it is copied.

mod access;
mod asset;
mod copier;
mod delete;
mod deleter;
mod filters;
mod grants;
pub mod lag;
pub mod lease;
mod meter;
mod options;
mod plan;
mod protection;
mod publish;
pub mod report;
pub mod spool;
mod target_policies;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::catalog::filters::FilterScope;
use crate::catalog::{Catalog, Index};
use crate::error::{Error, Result};
use crate::id::AssetId;
use crate::model::Locator;

use copier::Copier;
use deleter::Deleter;
use grants::Grants;
use meter::RequestMeter;
use publish::Publisher;
use target_policies::TargetPolicies;

pub use delete::{
    plan as plan_deletions, scope as deletion_scope, AssetDeletion, BlobDeletion, DeleteOptions, DeletionReport,
    DeletionStatus, DeletionSummary, DeletionTotals, Listings, LocatorDeletion, Names, Refusal, RefusalReason, Scope,
    DEFAULT_MAX_DELETE,
};
pub use grants::{grant_record_target, policy_id_for, remove_stored_policy, COPY_SAS_TAG, SOURCE_NEEDS, TARGET_NEEDS};
pub use options::{Progress, Quiet, ReplicateOptions, Selection, Shard};
pub use plan::{decide, Decision};
pub use protection::{CarriedRecord, KekAccess, Keks};
pub use report::{
    AssetLine, AssetReport, AssetReports, AssetStatus, BlobOutcome, BlobStatus, Counts, LocatorOutcome, RequestCounts,
    RunReport, SideAccess, Totals, UrlPair,
};

/// One data center as replication sees it: its records and its streaming origin.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The data center's name, for messages and the report.
    pub name: &'a str,
    /// Its catalog: records and blobs. A's is only read.
    pub catalog: &'a Catalog,
    /// Base URL of its streaming origin, for the report's URL pairs (and B's locator paths).
    pub origin: &'a str,
}

/// A replication run from `source` to `target`: the grants, the copier, the
/// publisher and the deleter, each owning its part of the run's state.
pub struct Replicator<'a> {
    /// Data center A, replicated from; never written.
    pub source: Side<'a>,
    /// Data center B, replicated into.
    pub target: Side<'a>,
    /// How the run goes.
    pub options: ReplicateOptions,
    /// B's access policies, shared by the grants' records and the published locators.
    policies: Arc<TargetPolicies<'a>>,
    grants: Grants<'a>,
    copier: Copier,
    publisher: Publisher<'a>,
    deleter: Deleter<'a>,
}

impl std::fmt::Debug for Replicator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicator").field("source", &self.source.name).field("target", &self.target.name).finish()
    }
}

/// The ids of `selection` in `source`, each once, in A's order (`All`) or as named; an id A
/// does not have is an error (replicate and lag select alike).
pub(crate) fn selected(selection: &Selection, a_index: &Index, source: Side<'_>) -> Result<Vec<AssetId>> {
    let known = a_index.asset_ids();
    match selection {
        Selection::All => Ok(known.iter().copied().collect()),
        Selection::Assets(ids) => {
            if let Some(missing) = ids.iter().find(|id| !known.contains(id)) {
                return Err(Error::not_found(format!(
                    "asset {missing} not found in {}",
                    source.catalog.store().describe()
                )));
            }
            // An asset named twice is replicated once (two runs of it at once would share its grant).
            let mut seen = BTreeSet::new();
            Ok(ids.iter().copied().filter(|id| seen.insert(*id)).collect())
        }
    }
}

impl<'a> Replicator<'a> {
    /// A run from `source` to `target`; nothing is read or written until [`Replicator::run`].
    pub fn new(source: Side<'a>, target: Side<'a>, options: ReplicateOptions) -> Self {
        let policies = Arc::new(TargetPolicies::new(target.catalog));
        let grants =
            Grants::new(source.catalog, target.catalog, options.sas_lifetime, options.strategy, policies.clone());
        Replicator {
            source,
            target,
            grants,
            copier: Copier::new(&options),
            publisher: Publisher::new(source.origin, target, policies.clone()),
            deleter: Deleter::new(source, target, &options),
            policies,
            options,
        }
    }

    /// Replicates the selected assets; unknown ids are an error before anything is written.
    /// Both catalogs are read once, from their listings; a record that fails
    /// its checks fails its own asset only. The report is complete: it says
    /// what the run cost in requests on each side, retries included.
    pub async fn run(&self, selection: &Selection) -> Result<RunReport> {
        let started = Instant::now();
        let meter = RequestMeter::start(self.source.catalog.store(), self.target.catalog.store());
        // Credentials first: a SAS that cannot do the job is refused before anything is read or written.
        let access = access::check_access(&self.source, &self.target, self.options.dry_run)?;
        // The per-asset reports' file, before anything is done: a run that could not report is not started.
        let spool = Arc::new(spool::Spool::new()?);
        let (a_index, b_index) = futures::try_join!(self.source.catalog.index(), self.target.catalog.index())?;
        let ids = self.select(selection, &a_index)?;
        // What B's listing says of its policies stands for reading them one by one.
        self.policies.learn(b_index.policies.iter().map(|(id, p)| (*id, p.clone()))).await;
        if !self.options.dry_run {
            self.prepare_target(&b_index, &ids).await?;
        }
        // Deletions first, from their own listings: the copies that follow see B as it then is.
        let deletions = match &self.options.delete {
            Some(d) => {
                let all = matches!(selection, Selection::All);
                Some(self.deleter.run(d, all, &ids, &a_index, &b_index).await)
            }
            None => None,
        };
        let all = matches!(selection, Selection::All);
        let (assets, mut totals, spool_failed) = self.replicate_assets(ids, &a_index, &b_index, spool).await;
        // The account filters go with a run over every asset (what names them may be any asset).
        let mut filter_problems = Vec::new();
        if all && !self.options.dry_run && !self.options.cancel.load(Ordering::Relaxed) {
            let delete = self.options.delete.is_some();
            let in_scope = |k: &(FilterScope, String)| k.0 == FilterScope::Account;
            let scopes = [FilterScope::Account];
            match filters::mirror(self.target.catalog, self.target.name, &a_index, &b_index, &scopes, in_scope, delete)
                .await
            {
                Ok(done) => filter_problems.extend(done.warnings),
                Err(e) => filter_problems.push(format!("account filters not replicated: {e}")),
            }
        }
        let mut report = RunReport {
            run_id: self.options.run_id.clone(),
            source: self.source.name.to_owned(),
            target: self.target.name.to_owned(),
            dry_run: self.options.dry_run,
            interrupted: self.options.cancel.load(Ordering::Relaxed),
            access,
            record_problems: a_index
                .orphan_problems()
                .into_iter()
                .cloned()
                .chain(filter_problems.iter().map(|m| crate::catalog::RecordProblem::new("filters/account/", None, m)))
                .collect(),
            totals: {
                totals.seconds = started.elapsed().as_secs_f64();
                totals
            },
            assets,
            deletions,
        };
        if !self.options.dry_run {
            let summary = report::Summary::of(&report);
            if let Err(e) = self.target.catalog.put_journal(&self.options.run_id, "summary", &summary).await {
                tracing::warn!(error = %e, "could not write the run's journal summary");
            }
        }
        // Counted last: the run's cost includes its journal's summary.
        meter.settle(&mut report.totals);
        if let Some(e) = spool_failed {
            // The run is done and its summary journaled; only the per-asset report is incomplete.
            let journaled = if self.options.dry_run { "" } else { " (its summary is in the target's journal)" };
            return Err(e.context(format!("run {} finished{journaled}; its report is incomplete", self.options.run_id)));
        }
        Ok(report)
    }

    /// The ids of the selection that this shard takes, each once, in A's order
    /// (`All`) or as named; an id A does not have is an error.
    fn select(&self, selection: &Selection, a_index: &Index) -> Result<Vec<AssetId>> {
        let mut ids = selected(selection, a_index, self.source)?;
        if let Some(shard) = self.options.shard {
            ids.retain(|id| shard.owns(id));
        }
        Ok(ids)
    }

    /// B ready for the run: a new catalog gets its journal container, and the
    /// grants a killed run left for the selected assets are revoked.
    async fn prepare_target(&self, b_index: &Index, ids: &[AssetId]) -> Result<()> {
        if !b_index.exists {
            // A new catalog: its journal container is new too (made once here, not by racing assets).
            self.target.catalog.ensure().await?;
            self.target.catalog.store().create_container(crate::catalog::JOURNAL_CONTAINER).await?;
        }
        let selected: BTreeSet<AssetId> = ids.iter().copied().collect();
        // Grants live in B only: A is never written.
        let b_locators: Vec<&Locator> = b_index.locators.values().collect();
        self.grants.sweep(&selected, &b_locators).await
    }
}
