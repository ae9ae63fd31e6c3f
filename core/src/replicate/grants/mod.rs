//! The copy's access to both sides: least-privilege, short-lived, revocable,
//! and recorded in the target only.
//!
//! Grants are issued per batch of assets ([`GRANT_BATCH`]), not per asset:
//! one record per side in B's catalog (a SAS locator whose path starts with
//! [`COPY_SAS_TAG`] and names the side and every container of the batch) is
//! written before any token of it exists. Where a key allows, its stored
//! access policy (`mc-<record guid>`) is put on each container of the batch
//! as that asset's copy starts, and removed from it as soon as the asset's
//! copies are over, so removing it revokes every token bound to it there.
//! The batch's records are deleted once every asset of the batch is done; a
//! record some policy of which could not be removed stays, and a later run
//! sweeps it (every container its path names). The source gets no record
//! and no journal: its only mark is that policy, and only while the copy
//! runs. A source reached with a SAS passes its own token on (nothing to
//! issue there, nothing to revoke).
//!
//! What a container's policy list is, this run learns once: a target
//! container this run created has none (no read before the write), and the
//! list written last (with the Last-Modified it returned) is the one a
//! revocation writes back without ours, conditionally; when the condition
//! fails, it reads and writes again. No probe: a copy refused (401/403)
//! within the propagation window of a new policy is tried again.
//!
//! Grants are renewed: a copy that starts when the current grant is within a
//! third of its lifetime of expiring gets a fresh one (a new record for the
//! batch); the old one is revoked as soon as no copy holds it any more.

mod batch;
mod policies;
mod sweep;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};

use super::target_policies::TargetPolicies;
use crate::catalog::Catalog;
use crate::copy::StrategyChoice;
use crate::error::{ErrorKind, Result};
use crate::id::LocatorId;
use crate::model::{Asset, Locator, LocatorType, Permissions};
use crate::store::BlobStore;

pub(crate) use batch::{CopyAccess, GrantBatch, GrantCell};
use batch::{Generation, GrantSide, Issued};
use policies::KnownPolicies;
pub use policies::{policy_id_for, remove_stored_policy};
pub use sweep::grant_record_target;

/// The `path` of every grant record starts with this, so a later run can
/// sweep those a killed run left behind.
pub const COPY_SAS_TAG: &str = "mirrorcast-copy:";

/// Assets whose grants share one record per side: its path names their
/// containers (43 characters each), well within a record's 2,048.
pub(crate) const GRANT_BATCH: usize = 24;

/// What the copy needs on the source: read and list.
pub const SOURCE_NEEDS: Permissions = Permissions::READ.union(Permissions::LIST);
/// What the copy grants on the target container.
const TARGET_GRANT: Permissions = Permissions::CREATE.union(Permissions::WRITE);
/// What a run needs of the target's own credential (records, blobs, sweeping grants).
pub const TARGET_NEEDS: Permissions = Permissions::READ
    .union(Permissions::CREATE)
    .union(Permissions::WRITE)
    .union(Permissions::DELETE)
    .union(Permissions::LIST);

/// How long a new stored policy may take to apply (Azure documents up to 30 s).
pub(crate) const POLICY_PROPAGATION: std::time::Duration = std::time::Duration::from_secs(40);

/// A run's copy grants on both sides, and the policy state they need: the
/// grant records it wrote, and each container's stored policies as it last
/// wrote them.
pub(crate) struct Grants<'a> {
    source: &'a Catalog,
    /// Where the records are written (B: A is never written).
    target: &'a Catalog,
    lifetime: Duration,
    /// Whether the target service may read the source itself: only then
    /// does the source get a URL (and a stored policy).
    server_side: bool,
    /// The access policies of B's records.
    policies: Arc<TargetPolicies<'a>>,
    /// Grant records this run wrote (their policies are live, not leftovers).
    live_records: std::sync::Mutex<BTreeSet<LocatorId>>,
    /// Containers' stored policies as this run last wrote them.
    known: std::sync::Mutex<BTreeMap<(GrantSide, String), KnownPolicies>>,
}

impl std::fmt::Debug for Grants<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("lifetime", &self.lifetime)
            .field("server_side", &self.server_side)
            .finish_non_exhaustive()
    }
}

impl<'a> Grants<'a> {
    /// Grants of `lifetime` from `source` to `target` for copies of `strategy`.
    pub(crate) fn new(
        source: &'a Catalog,
        target: &'a Catalog,
        lifetime: Duration,
        strategy: StrategyChoice,
        policies: Arc<TargetPolicies<'a>>,
    ) -> Self {
        Grants {
            source,
            target,
            lifetime,
            server_side: server_side_possible(source.store().as_ref(), target.store().as_ref(), strategy),
            policies,
            live_records: Default::default(),
            known: Default::default(),
        }
    }

    fn store(&self, side: GrantSide) -> &'a Arc<dyn BlobStore> {
        match side {
            GrantSide::Source => self.source.store(),
            GrantSide::Target => self.target.store(),
        }
    }

    /// The grants a copy should use now: the current ones, or fresh ones once
    /// the current are within a third of their lifetime of expiring.
    pub(crate) async fn current(&self, asset: &Asset, cell: &GrantCell) -> Result<Arc<CopyAccess>> {
        let mut st = cell.state.lock().await;
        let renew_before = self.lifetime / 3;
        let fresh_enough = st.active.as_ref().filter(|g| Utc::now() + renew_before < g.expiry).cloned();
        let access = match fresh_enough {
            Some(g) => g,
            None => {
                let fresh_target = cell.fresh_target && st.issued == 0;
                let fresh = Arc::new(self.grant(asset, &cell.batch, fresh_target, &mut st.warnings).await?);
                st.issued += 1;
                if let Some(old) = st.active.replace(fresh.clone()) {
                    tracing::info!(asset = %asset.id, "copy grant renewed before it expires");
                    st.retired.push(old);
                }
                fresh
            }
        };
        // Replaced grants no copy holds any more are revoked now, not at the end.
        let retired = std::mem::take(&mut st.retired);
        for g in retired {
            if Arc::strong_count(&g) == 1 {
                self.revoke(&g, &cell.batch).await;
            } else {
                st.retired.push(g);
            }
        }
        Ok(access)
    }

    /// Revokes every grant of the cell (the copies are over).
    pub(crate) async fn revoke_all(&self, cell: &GrantCell) {
        let mut st = cell.state.lock().await;
        let all: Vec<Arc<CopyAccess>> = st.active.take().into_iter().chain(std::mem::take(&mut st.retired)).collect();
        for g in all {
            self.revoke(&g, &cell.batch).await;
        }
    }

    /// Every asset of `batch` is done: its records go (those of a side
    /// whose policies all went; the others stay for a later sweep).
    pub(crate) async fn close(&self, batch: &GrantBatch) {
        for side in [GrantSide::Source, GrantSide::Target] {
            let mut records = batch.side(side).lock().await;
            if records.keep {
                continue;
            }
            for record in std::mem::take(&mut records.written) {
                if let Err(e) = self.target.delete_locator(&record).await {
                    tracing::warn!(record = %record, error = %e, "could not delete a copy grant record; a later run sweeps it");
                }
            }
        }
    }

    /// Least-privilege, short-lived access for the copy of one asset.
    async fn grant(
        &self,
        asset: &Asset,
        batch: &GrantBatch,
        fresh_target: bool,
        warnings: &mut Vec<String>,
    ) -> Result<CopyAccess> {
        let mut access = CopyAccess {
            source_url: None,
            target_writer: None,
            expiry: Utc::now() + self.lifetime,
            propagating_until: None,
            issued: Vec::new(),
        };
        match self.issue(asset, batch, fresh_target, &mut access, warnings).await {
            Ok(()) => Ok(access),
            Err(e) => {
                // What was issued before the failure goes too.
                self.revoke(&access, batch).await;
                Err(e)
            }
        }
    }

    /// The batch's current record on `side`, written now if there is none
    /// or it is within a third of its lifetime of expiring.
    async fn generation(&self, batch: &GrantBatch, side: GrantSide, permissions: Permissions) -> Result<Generation> {
        let mut records = batch.side(side).lock().await;
        let renew_before = self.lifetime / 3;
        if let Some(g) = records.current.filter(|g| Utc::now() + renew_before < g.expiry) {
            return Ok(g);
        }
        let start = Utc::now() - Duration::minutes(5);
        let expiry = Utc::now() + self.lifetime;
        let record = self.record_grant(batch, side, permissions, start, expiry).await?;
        self.live_records.lock().unwrap_or_else(|e| e.into_inner()).insert(record);
        let g = Generation { record, start, expiry };
        records.current = Some(g);
        records.written.push(record);
        Ok(g)
    }

    async fn issue(
        &self,
        asset: &Asset,
        batch: &GrantBatch,
        fresh_target: bool,
        access: &mut CopyAccess,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let container = asset.container.as_str();

        let source = self.source.store();
        let g = self.generation(batch, GrantSide::Source, SOURCE_NEEDS).await?;
        access.expiry = access.expiry.min(g.expiry);
        // A source URL only where the target service can use it: a streamed
        // copy reads with the source's own credential, and A gets no policy.
        if source.capability().signed_urls && self.server_side {
            let issued = Issued { side: GrantSide::Source, container: container.to_owned(), record: g.record };
            let policy = match binds(source.as_ref()) {
                true => self.bind(source.as_ref(), &issued, SOURCE_NEEDS, &g, false, warnings).await?,
                false => None,
            };
            access.source_url = Some(match policy {
                Some(id) => {
                    access.issued.push(issued);
                    access.propagating_until = Some(Instant::now() + POLICY_PROPAGATION);
                    source.signed_url_for_policy(container, None, &id).await?
                }
                None => source.signed_url(container, None, SOURCE_NEEDS, g.expiry).await?,
            });
        }

        let target = self.target.store();
        let g = self.generation(batch, GrantSide::Target, TARGET_GRANT).await?;
        access.expiry = access.expiry.min(g.expiry);
        let issued = Issued { side: GrantSide::Target, container: container.to_owned(), record: g.record };
        let policy = match binds(target.as_ref()) {
            true => self.bind(target.as_ref(), &issued, TARGET_GRANT, &g, fresh_target, warnings).await?,
            false => None,
        };
        let scoped = match policy {
            Some(id) => {
                access.issued.push(issued);
                access.propagating_until = Some(Instant::now() + POLICY_PROPAGATION);
                target.scoped_for_policy(container, &id).await
            }
            None => target.scoped(container, TARGET_GRANT, g.expiry).await,
        };
        access.target_writer = match scoped {
            Ok(s) => Some(s),
            Err(e) if e.kind() == ErrorKind::Unsupported => None,
            Err(e) => return Err(e.into()),
        };
        Ok(())
    }

    /// A batch's record on one side, in B's catalog (never in A's): its path
    /// names every container its policy may be put on.
    async fn record_grant(
        &self,
        batch: &GrantBatch,
        side: GrantSide,
        permissions: Permissions,
        start: chrono::DateTime<Utc>,
        expiry: chrono::DateTime<Utc>,
    ) -> Result<LocatorId> {
        let minutes = self.lifetime.num_minutes().max(1) as u64;
        let name = format!("mirrorcast copy ({})", permissions.sas_letters());
        let policy = self.policies.get_or_create(&name, minutes, permissions).await?;
        let locator = Locator {
            id: LocatorId::new(),
            locator_type: LocatorType::Sas,
            asset_id: batch.first_asset,
            policy_id: policy.id,
            start_time: Some(start),
            expiration: expiry,
            path: format!(
                "{COPY_SAS_TAG}{}:{} on {}",
                side.word(),
                batch.containers.join(","),
                self.store(side).describe()
            ),
            delivery: Default::default(),
        };
        self.target.put_locator(&locator, &policy).await?;
        Ok(locator.id)
    }

    async fn revoke(&self, access: &CopyAccess, batch: &GrantBatch) {
        for issued in &access.issued {
            if let Err(e) = self.unbind(issued).await {
                tracing::warn!(record = %issued.record, container = %issued.container, error = %e, "could not revoke a copy grant; a later run sweeps it");
                batch.side(issued.side).lock().await.keep = true;
            }
        }
    }
}

/// Whether tokens on `store` can be bound to a stored policy (and so revoked).
fn binds(store: &dyn BlobStore) -> bool {
    let caps = store.capability();
    caps.stored_access_policies && caps.signed_urls
}

/// Whether the target service may read the source itself (as `AutoCopy` decides).
fn server_side_possible(source: &dyn BlobStore, target: &dyn BlobStore, strategy: StrategyChoice) -> bool {
    let caps = target.capability();
    let same_endpoint = source.endpoint().is_some() && source.endpoint() == target.endpoint();
    let reach = if same_endpoint { caps.copy_from_url_same_endpoint } else { caps.copy_from_url_other_endpoint };
    match strategy {
        StrategyChoice::Server => true,
        StrategyChoice::Streamed => false,
        StrategyChoice::Auto => reach && caps.put_block_from_url,
    }
}
