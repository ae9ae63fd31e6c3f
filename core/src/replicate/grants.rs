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

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Mutex;

use super::{Replicator, SideAccess};
use crate::error::{Error, ErrorKind, Result};
use crate::id::{AssetId, LocatorId};
use crate::model::{Asset, Locator, LocatorType, Permissions};
use crate::store::{Access, BlobStore, SignedUrl, StoredPolicy, MAX_STORED_POLICIES};

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

/// Tries of a read-modify-write of a container's policies that lost a race.
const POLICY_WRITE_TRIES: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum GrantSide {
    Source,
    Target,
}

impl GrantSide {
    fn word(self) -> &'static str {
        match self {
            GrantSide::Source => "source",
            GrantSide::Target => "target",
        }
    }
}

/// The stored access policy that a grant record's tokens are bound to.
pub fn policy_id_for(record: &LocatorId) -> String {
    format!("mc-{}", record.guid())
}

/// Removes stored policy `id` from the container, keeping the others (a
/// read-modify-write; a container that is gone has nothing left to revoke).
pub async fn remove_stored_policy(store: &dyn BlobStore, container: &str, id: &str) -> Result<()> {
    for _ in 0..POLICY_WRITE_TRIES {
        let current = match store.get_container_policies(container).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if !current.policies.iter().any(|p| p.id == id) {
            return Ok(());
        }
        let next: Vec<StoredPolicy> = current.policies.into_iter().filter(|p| p.id != id).collect();
        match store.set_container_policies(container, &next, Some(&current.version)).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::new(
        ErrorKind::PreconditionFailed,
        format!("the stored access policies of container '{container}' kept changing; policy {id} is still there"),
    ))
}

/// For a grant record (a copy SAS locator): which side's containers its
/// stored policy may be on (`source` or `target`), and those containers.
/// A record is input: only asset containers (`asset-<guid>`) are taken from it.
pub fn grant_record_target(locator: &Locator) -> Option<(&str, Vec<&str>)> {
    let rest = locator.path.strip_prefix(COPY_SAS_TAG)?;
    let (side, rest) = rest.split_once(':')?;
    let containers = rest.split_once(" on ").map_or(rest, |(c, _)| c);
    let containers: Vec<&str> =
        containers.split(',').map(str::trim).filter(|c| AssetId::from_container_name(c).is_some()).collect();
    matches!(side, "source" | "target").then_some((side, containers))
}

/// One record of a batch on one side: the policy id its tokens are bound to, and its terms.
#[derive(Debug, Clone, Copy)]
struct Generation {
    record: LocatorId,
    start: DateTime<Utc>,
    expiry: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct SideRecords {
    current: Option<Generation>,
    /// Every record written for this side of the batch, deleted when the batch is done.
    written: Vec<LocatorId>,
    /// A policy of this side could not be removed: the records stay for a later sweep.
    keep: bool,
}

/// Assets that share their grant records: one per side (and per renewal).
#[derive(Debug)]
pub(crate) struct GrantBatch {
    first_asset: AssetId,
    containers: Vec<String>,
    source: Mutex<SideRecords>,
    target: Mutex<SideRecords>,
}

impl GrantBatch {
    /// The grants of these assets (at most [`GRANT_BATCH`], at least one).
    pub fn new(assets: &[AssetId]) -> Self {
        GrantBatch {
            first_asset: assets[0],
            containers: assets.iter().map(|id| id.container_name()).collect(),
            source: Mutex::default(),
            target: Mutex::default(),
        }
    }

    fn side(&self, side: GrantSide) -> &Mutex<SideRecords> {
        match side {
            GrantSide::Source => &self.source,
            GrantSide::Target => &self.target,
        }
    }
}

/// A container's stored policies as this run last wrote them, and the
/// Last-Modified that write returned (empty: no condition known).
#[derive(Debug, Clone)]
pub(crate) struct KnownPolicies {
    policies: Vec<StoredPolicy>,
    version: String,
}

/// One side's grant for one container: what to revoke.
#[derive(Debug, Clone)]
struct Issued {
    side: GrantSide,
    container: String,
    record: LocatorId,
}

/// The access one copy uses: a source URL the target service can read (for a
/// server-side copy) and a writer scoped to the target container.
pub(crate) struct Grants {
    pub source_url: Option<SignedUrl>,
    pub target_writer: Option<Arc<dyn BlobStore>>,
    expiry: DateTime<Utc>,
    /// Until when a refusal may be a new stored policy not applied yet.
    pub propagating_until: Option<Instant>,
    issued: Vec<Issued>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants").field("expiry", &self.expiry).field("issued", &self.issued).finish_non_exhaustive()
    }
}

/// The grants of one asset over its copy: the one in use, the ones replaced
/// but still held by copies in flight, and what was said about them.
#[derive(Debug)]
pub(crate) struct GrantCell {
    batch: Arc<GrantBatch>,
    /// The target container was created by this run: it holds no policy yet.
    fresh_target: bool,
    state: Mutex<CellState>,
}

#[derive(Debug, Default)]
struct CellState {
    active: Option<Arc<Grants>>,
    retired: Vec<Arc<Grants>>,
    issued: u32,
    warnings: Vec<String>,
}

impl GrantCell {
    pub fn new(batch: Arc<GrantBatch>, fresh_target: bool) -> Self {
        GrantCell { batch, fresh_target, state: Mutex::default() }
    }

    /// Grants issued so far and the warnings about them.
    pub async fn summary(&self) -> (u32, Vec<String>) {
        let st = self.state.lock().await;
        (st.issued, st.warnings.clone())
    }
}

impl Replicator<'_> {
    /// The grants a copy should use now: the current ones, or fresh ones once
    /// the current are within a third of their lifetime of expiring.
    pub(crate) async fn current_grants(&self, asset: &Asset, cell: &GrantCell) -> Result<Arc<Grants>> {
        let mut st = cell.state.lock().await;
        let renew_before = self.options.sas_lifetime / 3;
        let fresh_enough = st.active.as_ref().filter(|g| Utc::now() + renew_before < g.expiry).cloned();
        let grants = match fresh_enough {
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
        Ok(grants)
    }

    /// Revokes every grant of the cell (the copies are over).
    pub(crate) async fn revoke_all(&self, cell: &GrantCell) {
        let mut st = cell.state.lock().await;
        let all: Vec<Arc<Grants>> = st.active.take().into_iter().chain(std::mem::take(&mut st.retired)).collect();
        for g in all {
            self.revoke(&g, &cell.batch).await;
        }
    }

    /// Every asset of `batch` is done: its records go (those of a side
    /// whose policies all went; the others stay for a later sweep).
    pub(crate) async fn close_grants(&self, batch: &GrantBatch) {
        for side in [GrantSide::Source, GrantSide::Target] {
            let mut records = batch.side(side).lock().await;
            if records.keep {
                continue;
            }
            for record in std::mem::take(&mut records.written) {
                if let Err(e) = self.target.catalog.delete_locator(&record).await {
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
    ) -> Result<Grants> {
        let mut grants = Grants {
            source_url: None,
            target_writer: None,
            expiry: Utc::now() + self.options.sas_lifetime,
            propagating_until: None,
            issued: Vec::new(),
        };
        match self.issue(asset, batch, fresh_target, &mut grants, warnings).await {
            Ok(()) => Ok(grants),
            Err(e) => {
                // What was issued before the failure goes too.
                self.revoke(&grants, batch).await;
                Err(e)
            }
        }
    }

    /// The batch's current record on `side`, written now if there is none
    /// or it is within a third of its lifetime of expiring.
    async fn generation(&self, batch: &GrantBatch, side: GrantSide, permissions: Permissions) -> Result<Generation> {
        let mut records = batch.side(side).lock().await;
        let renew_before = self.options.sas_lifetime / 3;
        if let Some(g) = records.current.filter(|g| Utc::now() + renew_before < g.expiry) {
            return Ok(g);
        }
        let start = Utc::now() - Duration::minutes(5);
        let expiry = Utc::now() + self.options.sas_lifetime;
        let record = self.record_grant(batch, side, permissions, start, expiry).await?;
        self.live_grant_records.lock().unwrap_or_else(|e| e.into_inner()).insert(record);
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
        grants: &mut Grants,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let container = asset.container.as_str();

        let source = self.source.catalog.store();
        let caps = source.capability();
        let g = self.generation(batch, GrantSide::Source, SOURCE_NEEDS).await?;
        grants.expiry = grants.expiry.min(g.expiry);
        // A source URL only where the target service can use it: a streamed
        // copy reads with the source's own credential, and A gets no policy.
        if caps.signed_urls && self.server_side_possible() {
            let issued = Issued { side: GrantSide::Source, container: container.to_owned(), record: g.record };
            let policy = self.bind(source.as_ref(), &issued, SOURCE_NEEDS, &g, false, warnings).await?;
            grants.source_url = Some(match policy {
                Some(id) => {
                    grants.issued.push(issued);
                    grants.propagating_until = Some(Instant::now() + POLICY_PROPAGATION);
                    source.signed_url_for_policy(container, None, &id).await?
                }
                None => source.signed_url(container, None, SOURCE_NEEDS, g.expiry).await?,
            });
        }

        let target = self.target.catalog.store();
        let g = self.generation(batch, GrantSide::Target, TARGET_GRANT).await?;
        grants.expiry = grants.expiry.min(g.expiry);
        let issued = Issued { side: GrantSide::Target, container: container.to_owned(), record: g.record };
        let policy = self.bind(target.as_ref(), &issued, TARGET_GRANT, &g, fresh_target, warnings).await?;
        let scoped = match policy {
            Some(id) => {
                grants.issued.push(issued);
                grants.propagating_until = Some(Instant::now() + POLICY_PROPAGATION);
                target.scoped_for_policy(container, &id).await
            }
            None => target.scoped(container, TARGET_GRANT, g.expiry).await,
        };
        grants.target_writer = match scoped {
            Ok(s) => Some(s),
            Err(e) if e.kind() == ErrorKind::Unsupported => None,
            Err(e) => return Err(e.into()),
        };
        Ok(())
    }

    /// Whether the target service may read the source itself (as `AutoCopy` decides).
    fn server_side_possible(&self) -> bool {
        let (source, target) = (self.source.catalog.store(), self.target.catalog.store());
        let caps = target.capability();
        let same_endpoint = source.endpoint().is_some() && source.endpoint() == target.endpoint();
        let reach = if same_endpoint { caps.copy_from_url_same_endpoint } else { caps.copy_from_url_other_endpoint };
        match self.options.strategy {
            crate::copy::StrategyChoice::Server => true,
            crate::copy::StrategyChoice::Streamed => false,
            crate::copy::StrategyChoice::Auto => reach && caps.put_block_from_url,
        }
    }

    /// A stored policy this tool made (`mc-…`) that no run uses any more:
    /// expired, or its grant record in B is gone.
    async fn is_stale_grant_policy(&self, p: &StoredPolicy) -> Result<bool> {
        let Some(guid) = p.id.strip_prefix("mc-").and_then(|g| uuid::Uuid::parse_str(g).ok()) else {
            return Ok(false);
        };
        if p.expiry.is_some_and(|e| e <= Utc::now()) {
            return Ok(true);
        }
        let record = LocatorId::from_uuid(guid);
        if self.live_grant_records.lock().unwrap_or_else(|e| e.into_inner()).contains(&record) {
            return Ok(false);
        }
        match self.target.catalog.get_locator(&record).await {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// A batch's record on one side, in B's catalog (never in A's): its path
    /// names every container its policy may be put on.
    async fn record_grant(
        &self,
        batch: &GrantBatch,
        side: GrantSide,
        permissions: Permissions,
        start: DateTime<Utc>,
        expiry: DateTime<Utc>,
    ) -> Result<LocatorId> {
        let minutes = self.options.sas_lifetime.num_minutes().max(1) as u64;
        let name = format!("mirrorcast copy ({})", permissions.sas_letters());
        let policy = self.policy_in_target(&name, minutes, permissions).await?;
        let store = match side {
            GrantSide::Source => self.source.catalog.store(),
            GrantSide::Target => self.target.catalog.store(),
        };
        let locator = Locator {
            id: LocatorId::new(),
            locator_type: LocatorType::Sas,
            asset_id: batch.first_asset,
            policy_id: policy.id,
            start_time: Some(start),
            expiration: expiry,
            path: format!("{COPY_SAS_TAG}{}:{} on {}", side.word(), batch.containers.join(","), store.describe()),
            delivery: Default::default(),
        };
        self.target.catalog.put_locator(&locator, &policy).await?;
        Ok(locator.id)
    }

    fn known_policies(&self, side: GrantSide, container: &str) -> Option<KnownPolicies> {
        self.known_policies.lock().unwrap_or_else(|e| e.into_inner()).get(&(side, container.to_owned())).cloned()
    }

    fn remember_policies(&self, side: GrantSide, container: &str, known: Option<KnownPolicies>) {
        let mut map = self.known_policies.lock().unwrap_or_else(|e| e.into_inner());
        match known {
            Some(k) => map.insert((side, container.to_owned()), k),
            None => map.remove(&(side, container.to_owned())),
        };
    }

    /// Adds the grant's stored access policy to the container, keeping the
    /// identifiers already there (read first, unless this run knows them:
    /// a container it created, or one it wrote last). `None` when the store
    /// has none to offer or the container has no free slot (said in a
    /// warning): the caller then signs an ad-hoc token, which expires but
    /// cannot be revoked.
    async fn bind(
        &self,
        store: &dyn BlobStore,
        issued: &Issued,
        permissions: Permissions,
        g: &Generation,
        fresh_container: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Option<String>> {
        let caps = store.capability();
        if !(caps.stored_access_policies && caps.signed_urls) {
            return Ok(None);
        }
        let container = issued.container.as_str();
        let id = policy_id_for(&issued.record);
        let mut known = match fresh_container {
            true => Some(KnownPolicies { policies: Vec::new(), version: String::new() }),
            false => self.known_policies(issued.side, container),
        };
        for _ in 0..POLICY_WRITE_TRIES {
            let current = match known.take() {
                Some(k) => k,
                None => {
                    let read = store.get_container_policies(container).await?;
                    KnownPolicies { policies: read.policies, version: read.version }
                }
            };
            // Our own leftovers (expired, or whose record is gone) give their slot back.
            let mut kept = Vec::new();
            for p in current.policies {
                if p.id == id {
                    continue;
                }
                if self.is_stale_grant_policy(&p).await? {
                    tracing::info!(container, policy = %p.id, "dropping a copy grant policy a previous run left behind");
                } else {
                    kept.push(p);
                }
            }
            if kept.len() >= MAX_STORED_POLICIES {
                let text = format!(
                    "container '{container}' on {} already holds {MAX_STORED_POLICIES} stored access policies: the copy SAS there is ad hoc, valid until {} and not revocable before",
                    store.describe(),
                    g.expiry.format("%Y-%m-%d %H:%M:%SZ")
                );
                tracing::warn!("{text}");
                warnings.push(text);
                return Ok(None);
            }
            let mut next = kept;
            next.push(StoredPolicy { id: id.clone(), start: Some(g.start), expiry: Some(g.expiry), permissions });
            let condition = Some(current.version.as_str()).filter(|v| !v.is_empty());
            match store.set_container_policies(container, &next, condition).await {
                Ok(version) => {
                    self.remember_policies(issued.side, container, Some(KnownPolicies { policies: next, version }));
                    return Ok(Some(id));
                }
                // Someone else changed the list meanwhile: read it again.
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.remember_policies(issued.side, container, None);
        Err(Error::new(
            ErrorKind::PreconditionFailed,
            format!("the stored access policies of container '{container}' kept changing; try again"),
        ))
    }

    async fn revoke(&self, grants: &Grants, batch: &GrantBatch) {
        for issued in &grants.issued {
            if let Err(e) = self.unbind(issued).await {
                tracing::warn!(record = %issued.record, container = %issued.container, error = %e, "could not revoke a copy grant; a later run sweeps it");
                batch.side(issued.side).lock().await.keep = true;
            }
        }
    }

    /// Removes a grant's policy from its container: the list this run wrote
    /// last without it, on the condition that nobody wrote since; else a
    /// read-modify-write.
    async fn unbind(&self, issued: &Issued) -> Result<()> {
        let store = match issued.side {
            GrantSide::Source => self.source.catalog.store(),
            GrantSide::Target => self.target.catalog.store(),
        };
        let container = issued.container.as_str();
        let id = policy_id_for(&issued.record);
        if let Some(known) = self.known_policies(issued.side, container).filter(|k| !k.version.is_empty()) {
            if known.policies.iter().any(|p| p.id == id) {
                let next: Vec<StoredPolicy> = known.policies.into_iter().filter(|p| p.id != id).collect();
                match store.set_container_policies(container, &next, Some(&known.version)).await {
                    Ok(version) => {
                        self.remember_policies(issued.side, container, Some(KnownPolicies { policies: next, version }));
                        return Ok(());
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::PreconditionFailed => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.remember_policies(issued.side, container, None);
        remove_stored_policy(store.as_ref(), container, &id).await
    }

    /// Revokes the grants of the selected assets that a killed run left
    /// behind: the stored policies their records name (on every container a
    /// record names), then the records.
    pub(crate) async fn sweep_stale_grants(
        &self,
        selected: &BTreeSet<AssetId>,
        target_locators: &[&Locator],
    ) -> Result<()> {
        let containers: BTreeSet<String> = selected.iter().map(|id| id.container_name()).collect();
        for &l in target_locators {
            if l.locator_type != LocatorType::Sas || !l.path.starts_with(COPY_SAS_TAG) {
                continue;
            }
            let named = grant_record_target(l);
            let ours = selected.contains(&l.asset_id)
                || named.as_ref().is_some_and(|(_, cs)| cs.iter().any(|c| containers.contains(*c)));
            if !ours {
                continue;
            }
            let side = match named.as_ref().map(|(s, _)| *s) {
                Some("source") => GrantSide::Source,
                _ => GrantSide::Target,
            };
            let store = match side {
                GrantSide::Source => self.source.catalog.store(),
                GrantSide::Target => self.target.catalog.store(),
            };
            tracing::info!(record = %l.id, side = side.word(), "revoking a copy grant a previous run left behind");
            // A record of an older version (one per side's own catalog) names no container: no policy.
            if store.capability().stored_access_policies {
                for container in named.map(|(_, cs)| cs).unwrap_or_default() {
                    remove_stored_policy(store.as_ref(), container, &policy_id_for(&l.id)).await?;
                }
            }
            self.target.catalog.delete_locator(&l.id).await?;
        }
        Ok(())
    }

    /// What each side's credential allows, checked against what the run needs:
    /// a source SAS without read or list, an expired SAS, or a read-only
    /// target is refused before anything is written.
    pub(crate) fn check_access(&self) -> Result<Vec<SideAccess>> {
        let sides = [
            (self.source.name, "source", self.source.catalog.store().access(), SOURCE_NEEDS),
            (self.target.name, "target", self.target.catalog.store().access(), TARGET_NEEDS),
        ];
        let mut out = Vec::new();
        for (name, role, access, needed) in sides {
            // The source is only read; so is the target in a dry run.
            let writes = role == "target" && !self.options.dry_run;
            check_side(name, role, &access, if writes { needed } else { SOURCE_NEEDS }, writes)?;
            out.push(SideAccess {
                data_center: name.to_owned(),
                role: role.to_owned(),
                credential: access.credential.clone(),
                permissions: access.permissions.map(|p| p.sas_letters()),
                needed: needed.sas_letters(),
                expiry: access.expiry,
                read_only: access.read_only,
            });
        }
        Ok(out)
    }
}

fn check_side(name: &str, role: &str, access: &Access, needed: Permissions, writes: bool) -> Result<()> {
    let credential = if access.credential == "sas" { "SAS" } else { access.credential.as_str() };
    if writes && access.read_only {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "data center '{name}' ({role}) is reached at a read-only secondary endpoint, and replicate writes there: give its primary endpoint"
            ),
        ));
    }
    if let Some(expiry) = access.expiry.filter(|e| *e <= Utc::now()) {
        return Err(Error::new(
            ErrorKind::Authentication,
            format!(
                "data center '{name}' ({role}): its {credential} expired at {}; issue a new one",
                expiry.format("%Y-%m-%d %H:%M:%SZ")
            ),
        ));
    }
    if let Some(granted) = access.permissions {
        if !granted.contains(needed) {
            let missing: Vec<&str> = [
                (Permissions::READ, "read"),
                (Permissions::CREATE, "create"),
                (Permissions::WRITE, "write"),
                (Permissions::DELETE, "delete"),
                (Permissions::LIST, "list"),
            ]
            .into_iter()
            .filter(|(p, _)| needed.contains(*p) && !granted.contains(*p))
            .map(|(_, w)| w)
            .collect();
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "data center '{name}' ({role}): its {credential} grants '{}' but replicate needs '{}' there: missing {}",
                    granted.sas_letters(),
                    needed.sas_letters(),
                    missing.join(" and ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sas_without_list_or_expired_is_refused_naming_the_data_center() {
        let mut sas = Access::unrestricted("sas");
        sas.permissions = Some(Permissions::READ);
        let e = check_side("a", "source", &sas, SOURCE_NEEDS, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("'a'") && e.to_string().contains("missing list"), "{e}");
        sas.permissions = Some(SOURCE_NEEDS);
        check_side("a", "source", &sas, SOURCE_NEEDS, true).unwrap();
        sas.expiry = Some(Utc::now() - Duration::minutes(1));
        let e = check_side("a", "source", &sas, SOURCE_NEEDS, true).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        let mut secondary = Access::unrestricted("account key");
        secondary.read_only = true;
        check_side("a", "source", &secondary, SOURCE_NEEDS, false).unwrap();
        let e = check_side("b", "target", &secondary, TARGET_NEEDS, true).unwrap_err();
        assert!(e.to_string().contains("read-only secondary"), "{e}");
    }

    #[test]
    fn a_grant_record_names_only_asset_containers_of_one_side() {
        let (a, b) = (AssetId::new(), AssetId::new());
        let record = |path: String| Locator {
            id: LocatorId::new(),
            locator_type: LocatorType::Sas,
            asset_id: a,
            policy_id: crate::id::PolicyId::for_terms(15, "rl"),
            start_time: None,
            expiration: Utc::now(),
            path,
            delivery: Default::default(),
        };
        let (ca, cb) = (a.container_name(), b.container_name());
        let batch = record(format!("{COPY_SAS_TAG}source:{ca},{cb} on azure account 'a'"));
        assert_eq!(grant_record_target(&batch), Some(("source", vec![ca.as_str(), cb.as_str()])));
        let one = record(format!("{COPY_SAS_TAG}target:{ca} on azure account 'b'"));
        assert_eq!(grant_record_target(&one), Some(("target", vec![ca.as_str()])));
        let hostile =
            record(format!("{COPY_SAS_TAG}target:mirrorcast-catalog,../x,{ca},ASSET-nope, on azure account 'b'"));
        assert_eq!(grant_record_target(&hostile), Some(("target", vec![ca.as_str()])));
        assert_eq!(grant_record_target(&record(format!("{COPY_SAS_TAG}elsewhere:{ca}"))), None);
        assert_eq!(grant_record_target(&record("https://o/x/".into())), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn assets_over_one_batch_leave_no_grant_and_one_journal_entry_per_batch() {
        use crate::catalog::{Catalog, JOURNAL_CONTAINER};
        use crate::model::AssetOptions;
        use crate::store::{BlobStoreExt, InMemoryStore, PutOptions};
        let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
        let assets = GRANT_BATCH + 3;
        for i in 0..assets {
            let asset = Asset::new(format!("Clip {i}"), AssetOptions::None);
            a.create_asset(&asset).await.unwrap();
            let data = bytes::Bytes::from(vec![i as u8; 100]);
            a.store().put_blob(&asset.container, "v.mp4", data, &PutOptions::default()).await.unwrap();
        }
        let options = super::super::ReplicateOptions { concurrency: 4, ..Default::default() };
        let run_id = options.run_id.clone();
        let replicator = Replicator::new(
            super::super::Side { name: "a", catalog: &a, origin: "https://a" },
            super::super::Side { name: "b", catalog: &b, origin: "https://b" },
            options,
        );
        let report = replicator.run(&super::super::Selection::All).await.unwrap();
        assert_eq!(report.totals.counts.copied, assets as u64, "{report:?}");
        let left: Vec<Locator> = b.list_locators(None).await.unwrap();
        assert!(left.iter().all(|l| l.locator_type != LocatorType::Sas), "grant records left: {left:?}");
        for (side, store) in [("A", a.store()), ("B", b.store())] {
            for c in store.list_containers("asset-").await.unwrap() {
                let policies = store.get_container_policies(&c).await.unwrap().policies;
                assert!(policies.iter().all(|p| !p.id.starts_with("mc-")), "{side}: {c} keeps {policies:?}");
            }
        }
        let journal: Vec<String> = b
            .store()
            .list_all(JOURNAL_CONTAINER, &format!("{run_id}/"))
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        let batches = journal.iter().filter(|n| n.contains("/assets-")).count();
        assert_eq!(batches, 2, "one entry per batch of {GRANT_BATCH}: {journal:?}");
        assert!(journal.iter().any(|n| n.ends_with("/summary.json")), "{journal:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_asset_named_twice_is_replicated_once() {
        use crate::catalog::Catalog;
        use crate::model::AssetOptions;
        use crate::store::{InMemoryStore, PutOptions};
        let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
        let asset = Asset::new("Twice", AssetOptions::None);
        a.create_asset(&asset).await.unwrap();
        let data = bytes::Bytes::from_static(b"abc");
        a.store().put_blob(&asset.container, "v.mp4", data, &PutOptions::default()).await.unwrap();
        let replicator = Replicator::new(
            super::super::Side { name: "a", catalog: &a, origin: "https://a" },
            super::super::Side { name: "b", catalog: &b, origin: "https://b" },
            Default::default(),
        );
        let report = replicator.run(&super::super::Selection::Assets(vec![asset.id, asset.id])).await.unwrap();
        assert_eq!(report.assets.len(), 1, "{report:?}");
        assert_eq!(report.totals.counts.copied, 1, "{report:?}");
    }

    /// Slows every finished copy, so a run outlives its short grants.
    struct Slow;
    impl super::super::Progress for Slow {
        fn blob_done(&self, _: &crate::id::AssetId, _: &super::super::BlobOutcome) {
            std::thread::sleep(std::time::Duration::from_millis(150));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_longer_than_its_grants_renews_them_and_revokes_every_one() {
        use crate::catalog::Catalog;
        use crate::model::AssetOptions;
        use crate::store::{InMemoryStore, PutOptions};
        let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
        let asset = Asset::new("Long", AssetOptions::None);
        a.create_asset(&asset).await.unwrap();
        for i in 0..6 {
            let data = bytes::Bytes::from(vec![i as u8; 1000]);
            a.store().put_blob(&asset.container, &format!("v{i}.mp4"), data, &PutOptions::default()).await.unwrap();
        }
        let options = super::super::ReplicateOptions {
            concurrency: 1,
            sas_lifetime: Duration::milliseconds(300),
            progress: Arc::new(Slow),
            ..Default::default()
        };
        let replicator = Replicator::new(
            super::super::Side { name: "a", catalog: &a, origin: "https://a" },
            super::super::Side { name: "b", catalog: &b, origin: "https://b" },
            options,
        );
        let report = replicator.run(&super::super::Selection::All).await.unwrap();
        assert_eq!(report.totals.counts.copied, 6, "{report:?}");
        assert!(
            report.assets[0].grants_issued >= 2,
            "a 900 ms copy outlives 300 ms grants: {}",
            report.assets[0].grants_issued
        );
        let left: Vec<Locator> = b.list_locators(None).await.unwrap();
        assert!(left.iter().all(|l| l.locator_type != LocatorType::Sas), "grant records left: {left:?}");
        assert!(a.list_locators(None).await.unwrap().is_empty(), "nothing is recorded in the source");
    }
}
