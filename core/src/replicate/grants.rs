//! The copy's access to both sides: least-privilege, short-lived, revocable,
//! and recorded in the target only.
//!
//! Every grant is first recorded in B's catalog (a SAS locator whose path
//! starts with [`COPY_SAS_TAG`] and names the side and container), then, where
//! a key allows it, bound to a stored access policy on the asset's container
//! named after that record (`mc-<record guid>`), so removing the policy
//! revokes every token bound to it. Deleting a grant record (at the end of the
//! asset, or in the sweep of a later run) removes its policy first; a record
//! whose policy could not be removed stays for the next sweep. The source gets
//! no record and no journal: its only mark is that policy, and only while the
//! copy runs. A source reached with a SAS passes its own token on (nothing to
//! issue there, nothing to revoke).
//!
//! Grants are renewed: a copy that starts when the current grant is within a
//! third of its lifetime of expiring gets a fresh one; the old one is revoked
//! as soon as no copy holds it any more.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Mutex;

use super::{Replicator, SideAccess};
use crate::error::{Error, ErrorKind, Result};
use crate::id::LocatorId;
use crate::model::{Asset, Locator, LocatorType, Permissions};
use crate::store::{Access, BlobStore, SignedUrl, StoredPolicy, MAX_STORED_POLICIES};

/// The `path` of every grant record starts with this, so a later run can
/// sweep those a killed run left behind.
pub const COPY_SAS_TAG: &str = "mirrorcast-copy:";

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
const POLICY_PROPAGATION: std::time::Duration = std::time::Duration::from_secs(40);

/// The blob name a target grant is probed with (an uncommitted block only).
pub const GRANT_PROBE_BLOB: &str = ".mirrorcast-grant-probe";

/// Tries of a read-modify-write of a container's policies that lost a race.
const POLICY_WRITE_TRIES: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            Err(e) => return Err(e),
        };
        if !current.policies.iter().any(|p| p.id == id) {
            return Ok(());
        }
        let next: Vec<StoredPolicy> = current.policies.into_iter().filter(|p| p.id != id).collect();
        match store.set_container_policies(container, &next, Some(&current.version)).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(
        ErrorKind::PreconditionFailed,
        format!("the stored access policies of container '{container}' kept changing; policy {id} is still there"),
    ))
}

/// For a grant record (a copy SAS locator): which side's container its stored
/// policy is on (`source` or `target`), and that container.
pub fn grant_record_target(locator: &Locator) -> Option<(&str, &str)> {
    let rest = locator.path.strip_prefix(COPY_SAS_TAG)?;
    let (side, rest) = rest.split_once(':')?;
    let container = rest.split_once(" on ").map_or(rest, |(c, _)| c);
    matches!(side, "source" | "target").then_some((side, container))
}

/// One side's grant for one container: what to revoke.
#[derive(Debug, Clone)]
struct Issued {
    side: GrantSide,
    container: String,
    record: LocatorId,
    /// Whether a stored policy may be bound to it (so revoking must look for one).
    bound: bool,
}

/// The access one copy uses: a source URL the target service can read (for a
/// server-side copy) and a writer scoped to the target container.
pub(crate) struct Grants {
    pub source_url: Option<SignedUrl>,
    pub target_writer: Option<Arc<dyn BlobStore>>,
    expiry: DateTime<Utc>,
    issued: Vec<Issued>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants").field("expiry", &self.expiry).field("issued", &self.issued).finish_non_exhaustive()
    }
}

/// The grants of one asset over its copy: the one in use, the ones replaced
/// but still held by copies in flight, and what was said about them.
#[derive(Debug, Default)]
pub(crate) struct GrantCell {
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
                let fresh = Arc::new(self.grant(asset, &mut st.warnings).await?);
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
                self.revoke(&g).await;
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
            self.revoke(&g).await;
        }
    }

    /// Least-privilege, short-lived access for the copy of one asset.
    async fn grant(&self, asset: &Asset, warnings: &mut Vec<String>) -> Result<Grants> {
        let start = Utc::now() - Duration::minutes(5);
        let expiry = Utc::now() + self.options.sas_lifetime;
        let mut grants = Grants { source_url: None, target_writer: None, expiry, issued: Vec::new() };
        match self.issue(asset, start, &mut grants, warnings).await {
            Ok(()) => Ok(grants),
            Err(e) => {
                // What was issued before the failure goes too.
                self.revoke(&grants).await;
                Err(e)
            }
        }
    }

    async fn issue(
        &self,
        asset: &Asset,
        start: DateTime<Utc>,
        grants: &mut Grants,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let container = asset.container.as_str();
        let expiry = grants.expiry;

        let source = self.source.catalog.store();
        let caps = source.capability();
        let record = self.record_grant(asset, GrantSide::Source, SOURCE_NEEDS, start, expiry).await?;
        grants.issued.push(Issued {
            side: GrantSide::Source,
            container: container.to_owned(),
            record,
            bound: caps.stored_access_policies,
        });
        // A source URL only where the target service can use it: a streamed
        // copy reads with the source's own credential, and A gets no policy.
        if caps.signed_urls && self.server_side_possible() {
            let mut policy =
                self.bind(source.as_ref(), container, &record, SOURCE_NEEDS, start, expiry, warnings).await?;
            if let Some(id) = policy.clone() {
                let probe = || async {
                    let reader = source.scoped_for_policy(container, &id).await?;
                    let one = crate::store::ListOptions { max_results: Some(1), ..Default::default() };
                    reader.list_blobs(container, &one).await.map(|_| ())
                };
                if !self.until_active(source.as_ref(), container, &id, probe, warnings).await? {
                    policy = None;
                }
            }
            grants.source_url = Some(match policy {
                Some(id) => source.signed_url_for_policy(container, None, &id).await?,
                None => source.signed_url(container, None, SOURCE_NEEDS, expiry).await?,
            });
        }

        let target = self.target.catalog.store();
        let caps = target.capability();
        let record = self.record_grant(asset, GrantSide::Target, TARGET_GRANT, start, expiry).await?;
        grants.issued.push(Issued {
            side: GrantSide::Target,
            container: container.to_owned(),
            record,
            bound: caps.stored_access_policies,
        });
        let mut policy = self.bind(target.as_ref(), container, &record, TARGET_GRANT, start, expiry, warnings).await?;
        if let Some(id) = policy.clone() {
            // A write the token allows and nobody sees: an uncommitted block, never listed, dropped by the service.
            let probe = || async {
                let writer = target.scoped_for_policy(container, &id).await?;
                writer.put_block(container, GRANT_PROBE_BLOB, "probe", bytes::Bytes::from_static(b"p")).await
            };
            if !self.until_active(target.as_ref(), container, &id, probe, warnings).await? {
                policy = None;
            }
        }
        let scoped = match policy {
            Some(id) => target.scoped_for_policy(container, &id).await,
            None => target.scoped(container, TARGET_GRANT, expiry).await,
        };
        grants.target_writer = match scoped {
            Ok(s) => Some(s),
            Err(e) if e.kind() == ErrorKind::Unsupported => None,
            Err(e) => return Err(e),
        };
        Ok(())
    }

    /// Azure may take up to 30 s to apply a new stored policy, refusing (403)
    /// the tokens bound to it meanwhile: wait until `probe` passes with one.
    /// `false` if it never does: the policy is removed again (a warning says
    /// so) and the caller signs ad hoc.
    async fn until_active<F, Fut>(
        &self,
        store: &dyn BlobStore,
        container: &str,
        id: &str,
        probe: F,
        warnings: &mut Vec<String>,
    ) -> Result<bool>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let deadline = std::time::Instant::now() + POLICY_PROPAGATION;
        loop {
            match probe().await {
                Ok(()) => return Ok(true),
                Err(e) if matches!(e.kind(), ErrorKind::Authentication | ErrorKind::PermissionDenied) => {
                    if std::time::Instant::now() >= deadline {
                        remove_stored_policy(store, container, id).await?;
                        let text = format!(
                            "container '{container}' on {}: a token bound to a new stored access policy was still refused after {} s; the copy SAS there is ad hoc",
                            store.describe(),
                            POLICY_PROPAGATION.as_secs()
                        );
                        tracing::warn!("{text}");
                        warnings.push(text);
                        return Ok(false);
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
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
        match self.target.catalog.get_locator(&LocatorId::from_uuid(guid)).await {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// The grant's record, in B's catalog (never in A's).
    async fn record_grant(
        &self,
        asset: &Asset,
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
            asset_id: asset.id,
            policy_id: policy.id,
            start_time: Some(start),
            expiration: expiry,
            path: format!("{COPY_SAS_TAG}{}:{} on {}", side.word(), asset.container, store.describe()),
        };
        self.target.catalog.put_locator(&locator, &policy).await?;
        Ok(locator.id)
    }

    /// Adds the grant's stored access policy to the container, keeping the
    /// identifiers already there. `None` when the store has none to offer or
    /// the container has no free slot (said in a warning): the caller then
    /// signs an ad-hoc token, which expires but cannot be revoked.
    #[allow(clippy::too_many_arguments)]
    async fn bind(
        &self,
        store: &dyn BlobStore,
        container: &str,
        record: &LocatorId,
        permissions: Permissions,
        start: DateTime<Utc>,
        expiry: DateTime<Utc>,
        warnings: &mut Vec<String>,
    ) -> Result<Option<String>> {
        let caps = store.capability();
        if !(caps.stored_access_policies && caps.signed_urls) {
            return Ok(None);
        }
        let id = policy_id_for(record);
        for _ in 0..POLICY_WRITE_TRIES {
            let current = store.get_container_policies(container).await?;
            // Our own leftovers (expired, or whose record is gone) give their slot back.
            let mut kept = Vec::new();
            for p in current.policies {
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
                    expiry.format("%Y-%m-%d %H:%M:%SZ")
                );
                tracing::warn!("{text}");
                warnings.push(text);
                return Ok(None);
            }
            let mut next = kept;
            next.push(StoredPolicy { id: id.clone(), start: Some(start), expiry: Some(expiry), permissions });
            match store.set_container_policies(container, &next, Some(&current.version)).await {
                Ok(_) => return Ok(Some(id)),
                // Someone else changed the list meanwhile: read it again.
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::PreconditionFailed,
            format!("the stored access policies of container '{container}' kept changing; try again"),
        ))
    }

    async fn revoke(&self, grants: &Grants) {
        for issued in &grants.issued {
            if let Err(e) = self.delete_grant(issued).await {
                tracing::warn!(record = %issued.record, error = %e, "could not revoke a copy grant; a later run sweeps it");
            }
        }
    }

    /// Revokes a grant: its stored policy first, then its record (kept if the
    /// policy could not be removed, so a later sweep tries again).
    async fn delete_grant(&self, issued: &Issued) -> Result<()> {
        let store = match issued.side {
            GrantSide::Source => self.source.catalog.store(),
            GrantSide::Target => self.target.catalog.store(),
        };
        if issued.bound && store.capability().stored_access_policies {
            remove_stored_policy(store.as_ref(), &issued.container, &policy_id_for(&issued.record)).await?;
        }
        self.target.catalog.delete_locator(&issued.record).await?;
        Ok(())
    }

    /// Revokes the grants of the selected assets that a killed run left
    /// behind: their records in B, and the stored policies they name.
    pub(crate) async fn sweep_stale_grants(
        &self,
        selected: &std::collections::BTreeSet<crate::id::AssetId>,
        target_locators: &[&Locator],
    ) -> Result<()> {
        for &l in target_locators {
            if l.locator_type != LocatorType::Sas || !selected.contains(&l.asset_id) {
                continue;
            }
            if !l.path.starts_with(COPY_SAS_TAG) {
                continue;
            }
            let (side, container) = match grant_record_target(l) {
                Some(("source", c)) => (GrantSide::Source, c.to_owned()),
                Some((_, c)) => (GrantSide::Target, c.to_owned()),
                // A record of an older version (one per side's own catalog): no policy.
                None => (GrantSide::Target, String::new()),
            };
            let issued = Issued { side, bound: !container.is_empty(), container, record: l.id };
            tracing::info!(record = %l.id, side = side.word(), "revoking a copy grant a previous run left behind");
            self.delete_grant(&issued).await?;
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
