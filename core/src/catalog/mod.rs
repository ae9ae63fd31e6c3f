//! A data center's records, kept as JSON documents in a reserved container of
//! its own storage account, so that B describes itself after A is gone.
//!
//! Every write is conditional on the ETag it read (or on absence), so two
//! writers never silently overwrite each other. Every record read is checked
//! ([`crate::model`]'s `validate`) before anyone acts on it: a bad record is a
//! [`RecordProblem`] of its asset, never a failure of the whole catalog.
//! Each record blob also carries its small facts as metadata ([`index`]), so a
//! whole catalog is read from its listing, in O(pages).

pub mod filters;
pub mod index;
pub mod protection;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::id::{AssetId, LocatorId, PolicyId};
use crate::mime::mime_type_for;
use crate::model::{validate_files, AccessPolicy, Asset, AssetFile, Locator, LocatorType, Permissions};
use crate::primary::select_primary;
use crate::store::{BlobMeta, BlobStore, BlobStoreExt, Condition, PutOptions};

/// The reserved container holding the records.
pub const CATALOG_CONTAINER: &str = "mirrorcast-catalog";

/// The container of replication journals: one summary per run, one entry per
/// asset a run changed. Apart from the records, so listing them stays small.
pub const JOURNAL_CONTAINER: &str = "mirrorcast-journal";

const ASSETS: &str = "assets/";
const POLICIES: &str = "policies/";
const LOCATORS: &str = "locators/";

pub use index::{AssetEntry, Index, RecordProblem};

/// The record type lives in the model (the floor below); named here too for the crates that read it from here.
pub use crate::model::AssetRecord;

/// A record and the ETag it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The record itself.
    pub value: T,
    /// The ETag it was read at: the condition of a write back.
    pub etag: String,
}

/// A data center's catalog: its records in [`CATALOG_CONTAINER`] of one store, read checked and written conditionally.
#[derive(Debug, Clone)]
pub struct Catalog {
    store: Arc<dyn BlobStore>,
    /// Whether `ensure` has seen the reserved container exist: one request per catalog, not per write.
    ensured: Arc<std::sync::atomic::AtomicBool>,
}

impl Catalog {
    /// The catalog kept in `store` (nothing is read or created until used).
    pub fn new(store: Arc<dyn BlobStore>) -> Self {
        Catalog { store, ensured: Default::default() }
    }

    /// The store the catalog and its assets live in.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// Creates the reserved container if it is missing.
    pub async fn ensure(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        if !self.ensured.load(Ordering::Relaxed) {
            self.store.create_container(CATALOG_CONTAINER).await?;
            self.ensured.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn read<T: DeserializeOwned>(&self, path: &str) -> Result<Versioned<T>> {
        let (meta, bytes) = self.store.get_bytes(CATALOG_CONTAINER, path).await?;
        let value = parse_record(path, &bytes)?;
        Ok(Versioned { value, etag: meta.etag })
    }

    /// Writes a record with its facts as metadata (see [`index`]).
    async fn write<T: Serialize>(
        &self,
        path: &str,
        value: &T,
        metadata: std::collections::BTreeMap<String, String>,
        condition: Condition,
    ) -> Result<String> {
        let body = serde_json::to_vec_pretty(value)?;
        let mut options = PutOptions { condition, metadata, ..Default::default() };
        options.properties.content_type = Some("application/json".into());
        Ok(self.store.put_blob(CATALOG_CONTAINER, path, Bytes::from(body), &options).await?)
    }

    async fn write_asset(&self, record: &AssetRecord, from: Option<&str>, condition: Condition) -> Result<String> {
        let metadata = index::asset_metadata(record, from)?;
        self.write(&Self::asset_path(&record.asset.id), record, metadata, condition).await
    }

    /// Every record under `prefix` that passes its checks, read concurrently,
    /// and a problem for each one that does not.
    async fn read_all<T: DeserializeOwned + Send>(
        &self,
        prefix: &str,
        check: impl Fn(&str, &T) -> Result<()> + Sync,
    ) -> Result<Checked<T>> {
        let listed = match self.store.list_all(CATALOG_CONTAINER, prefix).await {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Checked::default()),
            other => other?,
        };
        let check = &check;
        let read: Vec<Option<std::result::Result<T, RecordProblem>>> = stream::iter(listed)
            .map(|b| async move {
                match self.read::<T>(&b.name).await {
                    Ok(v) => match check(&b.name, &v.value) {
                        Ok(()) => Ok(Some(Ok(v.value))),
                        Err(e) => Ok(Some(Err(RecordProblem::new(&b.name, None, e)))),
                    },
                    // Deleted between the listing and the read: it is gone, not an error.
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) if e.kind() == ErrorKind::Corrupt || e.kind() == ErrorKind::InvalidInput => {
                        Ok(Some(Err(RecordProblem::new(&b.name, None, e))))
                    }
                    Err(e) => Err(e),
                }
            })
            .buffered(16)
            .try_collect::<Vec<_>>()
            .await?;
        let mut out = Checked::default();
        for r in read.into_iter().flatten() {
            match r {
                Ok(v) => out.records.push(v),
                Err(p) => out.problems.push(p),
            }
        }
        Ok(out)
    }

    /// One listing of the whole catalog, records taken from their metadata
    /// (a GET only for records without it) and checked; see [`Index`].
    pub async fn index(&self) -> Result<Index> {
        index::build(self).await
    }

    fn asset_path(id: &AssetId) -> String {
        format!("{ASSETS}{}.json", id.guid())
    }

    fn policy_path(id: &PolicyId) -> String {
        format!("{POLICIES}{}.json", id.guid())
    }

    fn locator_path(id: &LocatorId) -> String {
        format!("{LOCATORS}{}.json", id.guid())
    }

    /// Creates the asset's container (keeping one that exists) and its record.
    pub async fn create_asset(&self, asset: &Asset) -> Result<AssetRecord> {
        asset.validate(&asset.id)?;
        self.ensure().await?;
        self.store.create_container(&asset.container).await?;
        let record = AssetRecord { asset: asset.clone(), files: Vec::new() };
        match self.write_asset(&record, None, Condition::IfNotExists).await {
            Ok(_) => Ok(record),
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("asset {} already exists in {}", asset.id, self.store.describe()),
            )),
            Err(e) => Err(e),
        }
    }

    /// The asset's record, checked (see [`Asset::validate`]).
    pub async fn get_asset(&self, id: &AssetId) -> Result<Versioned<AssetRecord>> {
        let record: Versioned<AssetRecord> = self.read(&Self::asset_path(id)).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::not_found(format!("asset {id} not found in {}", self.store.describe())),
            _ => e,
        })?;
        check_asset(id, &record.value).map_err(|e| e.context(format!("record of asset {id}")))?;
        Ok(record)
    }

    /// Every asset record that passes its checks (oldest first), and a problem for each one that does not.
    pub async fn list_assets(&self) -> Result<Checked<AssetRecord>> {
        let mut all: Checked<AssetRecord> = self
            .read_all(ASSETS, |path, r: &AssetRecord| match index::id_of_path::<AssetId>(path, ASSETS) {
                Some(id) => check_asset(&id, r),
                None => Err(Error::invalid_input(format!("'{path}' is not named after an asset id"))),
            })
            .await?;
        for p in &mut all.problems {
            p.asset = index::id_of_path::<AssetId>(&p.path, ASSETS);
        }
        all.records.sort_by(|a, b| a.asset.created.cmp(&b.asset.created).then(a.asset.name.cmp(&b.asset.name)));
        Ok(all)
    }

    /// Deletes the asset's locators, its container and its record.
    pub async fn delete_asset(&self, id: &AssetId) -> Result<()> {
        let record = self.get_asset(id).await?;
        for locator in self.list_locators(Some(id)).await? {
            self.delete_locator(&locator.id).await?;
        }
        self.delete_asset_filters(id).await?;
        self.store.delete_container(&record.value.asset.container).await?;
        self.store.delete_blob(CATALOG_CONTAINER, &Self::asset_path(id), &Condition::None).await?;
        Ok(())
    }

    /// Rebuilds the asset's file infos from the blobs in its container (the
    /// original `CreateFileInfos`) and stores them; returns the new record.
    /// A replica keeps its source fingerprint (`mcfrom`): it is still a replica.
    pub async fn regenerate_files(&self, id: &AssetId) -> Result<AssetRecord> {
        loop {
            let path = Self::asset_path(id);
            let (meta, bytes) = self.store.get_bytes(CATALOG_CONTAINER, &path).await.map_err(|e| match e.kind() {
                ErrorKind::NotFound => Error::not_found(format!("asset {id} not found in {}", self.store.describe())),
                _ => e.into(),
            })?;
            let current: AssetRecord = parse_record(&path, &bytes)?;
            check_asset(id, &current).map_err(|e| e.context(format!("record of asset {id}")))?;
            let from = meta.metadata.get(index::FROM_KEY).cloned();
            let blobs = self.store.list_all(&current.asset.container, "").await?;
            let files = file_infos(&current.asset, &blobs)?;
            let record = AssetRecord { asset: current.asset, files };
            match self.write_asset(&record, from.as_deref(), Condition::IfMatch(meta.etag)).await {
                Ok(_) => return Ok(record),
                // Someone else changed the record meanwhile: read it again.
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Stores file infos made from `blobs` (the container's listing as the
    /// caller knows it) and `from`, the fingerprint of what the asset was
    /// replicated from (kept in the record's metadata), unless the record
    /// already has exactly those. `known` is the record as the caller read it
    /// (saves a GET; a stale one costs a retry, never a lost update).
    pub async fn set_files_from(
        &self,
        id: &AssetId,
        blobs: &[BlobMeta],
        from: Option<&str>,
        mut known: Option<(Versioned<AssetRecord>, Option<String>)>,
    ) -> Result<AssetRecord> {
        loop {
            let (current, current_from) = match known.take() {
                Some(k) => k,
                None => {
                    let path = Self::asset_path(id);
                    let (meta, bytes) = self.store.get_bytes(CATALOG_CONTAINER, &path).await?;
                    let value: AssetRecord = parse_record(&path, &bytes)?;
                    check_asset(id, &value)?;
                    (Versioned { value, etag: meta.etag }, meta.metadata.get(index::FROM_KEY).cloned())
                }
            };
            let files = file_infos(&current.value.asset, blobs)?;
            if files == current.value.files && current_from.as_deref() == from {
                return Ok(current.value);
            }
            let record = AssetRecord { asset: current.value.asset.clone(), files };
            match self.write_asset(&record, from, Condition::IfMatch(current.etag)).await {
                Ok(_) => return Ok(record),
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates the asset's record already holding its file infos and
    /// fingerprint (a replica's first publication: one write).
    pub async fn create_asset_with(&self, record: &AssetRecord, from: Option<&str>) -> Result<()> {
        check_asset(&record.asset.id, record)?;
        self.ensure().await?;
        match self.write_asset(record, from, Condition::IfNotExists).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("asset {} already exists in {}", record.asset.id, self.store.describe()),
            )),
            Err(e) => Err(e),
        }
    }

    /// The policy with these terms: the existing one if any, else a new one.
    pub async fn policy_for(
        &self,
        name: &str,
        duration_minutes: u64,
        permissions: Permissions,
    ) -> Result<AccessPolicy> {
        // A missing catalog is a policy not found: create_policy makes both.
        let id = AccessPolicy::for_terms(name, duration_minutes, permissions).id;
        match self.get_policy(&id).await {
            Ok(p) => return Ok(p),
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        self.create_policy(name, duration_minutes, permissions).await
    }

    /// Creates the policy of these terms without reading first (the caller's
    /// listing showed none); one another writer created meanwhile is read.
    pub async fn create_policy(
        &self,
        name: &str,
        duration_minutes: u64,
        permissions: Permissions,
    ) -> Result<AccessPolicy> {
        self.ensure().await?;
        let wanted = AccessPolicy::for_terms(name, duration_minutes, permissions);
        let path = Self::policy_path(&wanted.id);
        match self.write(&path, &wanted, index::record_metadata(&wanted)?, Condition::IfNotExists).await {
            Ok(_) => Ok(wanted),
            // Another writer created the same terms first: theirs is ours.
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => self.get_policy(&wanted.id).await,
            Err(e) => Err(e),
        }
    }

    /// The access policy `id`, checked; `NotFound` when it has no record.
    pub async fn get_policy(&self, id: &PolicyId) -> Result<AccessPolicy> {
        let policy: AccessPolicy =
            self.read(&Self::policy_path(id)).await.map(|v| v.value).map_err(|e| match e.kind() {
                ErrorKind::NotFound => {
                    Error::not_found(format!("access policy {id} not found in {}", self.store.describe()))
                }
                _ => e,
            })?;
        policy.validate(id)?;
        Ok(policy)
    }

    /// Every policy that passes its checks, and a problem for each one that does not.
    pub async fn list_policies(&self) -> Result<Checked<AccessPolicy>> {
        self.read_all(POLICIES, |path, p: &AccessPolicy| match index::id_of_path::<PolicyId>(path, POLICIES) {
            Some(id) => p.validate(&id),
            None => Err(Error::invalid_input(format!("'{path}' is not named after a policy id"))),
        })
        .await
    }

    /// Stores a new locator. Origin locators must use a read-only policy; a
    /// locator id that exists is an `AlreadyExists` error.
    pub async fn create_locator(&self, locator: &Locator) -> Result<()> {
        self.get_asset(&locator.asset_id).await?;
        let policy = self.get_policy(&locator.policy_id).await?;
        self.put_locator(locator, &policy).await
    }

    /// Stores a new locator on `policy` (which the caller read or created, and
    /// whose asset it knows to exist); same rules as [`Catalog::create_locator`].
    pub async fn put_locator(&self, locator: &Locator, policy: &AccessPolicy) -> Result<()> {
        self.put_locator_from(locator, policy, None).await
    }

    /// [`Catalog::put_locator`], marking the record with `from` (kept in its
    /// metadata, see [`index::FROM_KEY`]): replicate marks the locators it
    /// makes, so `replicate --delete` removes only those, never one made here.
    pub async fn put_locator_from(&self, locator: &Locator, policy: &AccessPolicy, from: Option<&str>) -> Result<()> {
        if policy.id != locator.policy_id {
            return Err(Error::invalid_input(format!(
                "locator {} names policy {}, not {}",
                locator.id, locator.policy_id, policy.id
            )));
        }
        if locator.locator_type == LocatorType::OnDemandOrigin && !policy.permissions.is_read_only() {
            return Err(Error::invalid_input(format!(
                "an origin locator needs a read-only access policy; policy {} grants '{}'",
                policy.id, policy.permissions
            )));
        }
        locator.validate(&locator.id, Some(policy))?;
        self.ensure().await?;
        let mut metadata = index::record_metadata(locator)?;
        if let Some(f) = from {
            metadata.insert(index::FROM_KEY.to_owned(), f.to_owned());
        }
        match self.write(&Self::locator_path(&locator.id), locator, metadata, Condition::IfNotExists).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("locator {} already exists in {}", locator.id, self.store.describe()),
            )),
            Err(e) => Err(e),
        }
    }

    /// A streaming locator valid from `start` to `expiration`, on the reused
    /// read-only policy of that duration; its URLs start with `origin`.
    pub async fn create_origin_locator(
        &self,
        asset: &AssetId,
        id: LocatorId,
        start: DateTime<Utc>,
        expiration: DateTime<Utc>,
        origin: &str,
    ) -> Result<Locator> {
        self.create_origin_locator_with(asset, id, start, expiration, origin, Default::default()).await
    }

    /// [`Catalog::create_origin_locator`] with delivery terms (filters bound to it, a streaming
    /// policy, content keys).
    pub async fn create_origin_locator_with(
        &self,
        asset: &AssetId,
        id: LocatorId,
        start: DateTime<Utc>,
        expiration: DateTime<Utc>,
        origin: &str,
        delivery: crate::delivery::Delivery,
    ) -> Result<Locator> {
        if expiration <= start {
            return Err(Error::invalid_input(format!("locator {id}: expiry {expiration} is not after start {start}")));
        }
        let minutes = (expiration - start).num_minutes().max(1) as u64;
        let policy = self.policy_for("Streaming policy", minutes, Permissions::READ).await?;
        let locator = Locator {
            id,
            locator_type: LocatorType::OnDemandOrigin,
            asset_id: *asset,
            policy_id: policy.id,
            start_time: Some(start),
            expiration,
            path: format!("{}/{}/", origin.trim_end_matches('/'), id.guid()),
            delivery,
        };
        self.put_locator(&locator, &policy).await?;
        Ok(locator)
    }

    /// The locator's record, checked (an origin locator's policy is not looked up here).
    pub async fn get_locator(&self, id: &LocatorId) -> Result<Locator> {
        let locator: Locator =
            self.read(&Self::locator_path(id)).await.map(|v| v.value).map_err(|e| match e.kind() {
                ErrorKind::NotFound => Error::not_found(format!("locator {id} not found in {}", self.store.describe())),
                _ => e,
            })?;
        if &locator.id != id {
            return Err(Error::invalid_input(format!("record of locator {id} names locator {}", locator.id)));
        }
        Ok(locator)
    }

    /// All locators, or those of one asset, that pass their checks; from one
    /// listing of the catalog (see [`Catalog::index`]).
    pub async fn list_locators(&self, asset: Option<&AssetId>) -> Result<Vec<Locator>> {
        let index = self.index().await?;
        let mut all: Vec<Locator> = match asset {
            Some(a) => index.locators_of(a).cloned().collect(),
            None => index.locators.values().cloned().collect(),
        };
        all.sort_by_key(|l| (l.asset_id, l.start_time, l.id));
        Ok(all)
    }

    /// Records what a replication run did, under `<run-id>/<name>.json` in
    /// [`JOURNAL_CONTAINER`]: a summary per run, and the per-blob record of
    /// each asset the run changed.
    pub async fn put_journal<T: Serialize + Sync>(&self, run_id: &str, name: &str, entry: &T) -> Result<()> {
        let body = Bytes::from(serde_json::to_vec_pretty(entry)?);
        let mut options = PutOptions::default();
        options.properties.content_type = Some("application/json".into());
        let path = format!("{run_id}/{name}.json");
        match self.store.put_blob(JOURNAL_CONTAINER, &path, body.clone(), &options).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.store.create_container(JOURNAL_CONTAINER).await?;
                self.store.put_blob(JOURNAL_CONTAINER, &path, body, &options).await?;
                Ok(())
            }
            other => Ok(other.map(|_| ())?),
        }
    }

    /// Deletes an asset's record only if it is still the version `etag`
    /// (its container and locators are the caller's); false if it was gone.
    pub async fn delete_asset_record(&self, id: &AssetId, etag: &str) -> Result<bool> {
        Ok(self
            .store
            .delete_blob(CATALOG_CONTAINER, &Self::asset_path(id), &Condition::IfMatch(etag.to_owned()))
            .await?)
    }

    /// Deletes the locator record `id`; `Ok(false)` if there was none.
    pub async fn delete_locator(&self, id: &LocatorId) -> Result<bool> {
        Ok(self.store.delete_blob(CATALOG_CONTAINER, &Self::locator_path(id), &Condition::None).await?)
    }

    /// Deletes an access policy no locator uses; a `PreconditionFailed` error
    /// naming the locators that do. A locator that takes the policy while it
    /// is being deleted gets it back (policy ids follow from their terms).
    pub async fn delete_policy(&self, id: &PolicyId) -> Result<()> {
        let policy = self.get_policy(id).await?;
        let users = |all: Vec<Locator>| all.into_iter().filter(|l| &l.policy_id == id).map(|l| l.id.to_string());
        let using: Vec<String> = users(self.list_locators(None).await?).collect();
        if !using.is_empty() {
            return Err(Error::new(
                ErrorKind::PreconditionFailed,
                format!(
                    "access policy {id} is used by locator(s) {}: delete them first (`mirrorcast locator delete`)",
                    using.join(", ")
                ),
            ));
        }
        self.store.delete_blob(CATALOG_CONTAINER, &Self::policy_path(id), &Condition::None).await?;
        if users(self.list_locators(None).await?).next().is_some() {
            self.write(&Self::policy_path(id), &policy, index::record_metadata(&policy)?, Condition::IfNotExists)
                .await?;
            return Err(Error::new(
                ErrorKind::PreconditionFailed,
                format!("access policy {id} was taken by a new locator meanwhile: kept"),
            ));
        }
        Ok(())
    }
}

/// Records that passed their checks, and those that did not.
#[derive(Debug, Clone)]
pub struct Checked<T> {
    /// Records that passed.
    pub records: Vec<T>,
    /// One problem for each record that did not.
    pub problems: Vec<RecordProblem>,
}

impl<T> Default for Checked<T> {
    fn default() -> Self {
        Checked { records: Vec::new(), problems: Vec::new() }
    }
}

fn parse_record<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::new(ErrorKind::Corrupt, format!("record '{path}' is not a valid record: {e}")))
}

/// An asset record's checks: the asset's and its file infos'.
pub fn check_asset(id: &AssetId, record: &AssetRecord) -> Result<()> {
    record.asset.validate(id)?;
    validate_files(id, &record.files)
}

/// File infos for the blobs of an asset: name, size, MIME type. The primary
/// is the one root `.ism`, or the only blob of a not-yet-encoded asset; an
/// asset with several root `.ism` files is an error naming them, one with
/// none (plain segments, say) simply has no primary.
pub fn file_infos(asset: &Asset, blobs: &[BlobMeta]) -> Result<Vec<AssetFile>> {
    let manifests = blobs.iter().filter(|b| crate::primary::is_server_manifest(&b.name)).count();
    let primary = match blobs {
        [only] => Some(only.name.as_str()),
        _ if manifests == 0 => None,
        _ => Some(
            select_primary(blobs.iter().map(|b| b.name.as_str()))
                .map_err(|e| e.context(format!("asset {}", asset.id)))?,
        ),
    };
    Ok(blobs
        .iter()
        .map(|b| AssetFile {
            name: b.name.clone(),
            size: b.size,
            mime_type: mime_type_for(&b.name),
            is_primary: Some(b.name.as_str()) == primary,
            is_encrypted: asset.options.is_storage_encrypted(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AssetOptions;
    use crate::store::InMemoryStore;
    use chrono::Duration;

    fn catalog() -> Catalog {
        Catalog::new(Arc::new(InMemoryStore::new()))
    }

    #[tokio::test]
    async fn asset_records_live_beside_their_container() {
        let cat = catalog();
        let asset = Asset::new("Big Buck Bunny", AssetOptions::None);
        cat.create_asset(&asset).await.unwrap();
        let again = cat.create_asset(&asset).await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::AlreadyExists);
        assert!(cat.store().list_containers("asset-").await.unwrap().contains(&asset.container));
        let listed = cat.list_assets().await.unwrap();
        assert_eq!(listed.records.len(), 1);
        assert_eq!(listed.records[0].asset, asset);
        cat.delete_asset(&asset.id).await.unwrap();
        assert_eq!(cat.get_asset(&asset.id).await.unwrap_err().kind(), ErrorKind::NotFound);
        assert!(cat.store().list_containers("asset-").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn equal_policies_are_reused_not_duplicated() {
        let cat = catalog();
        let a = cat.policy_for("stream", 43_200, Permissions::READ).await.unwrap();
        let b = cat.policy_for("another name", 43_200, Permissions::READ).await.unwrap();
        let c = cat.policy_for("write", 60, Permissions::WRITE | Permissions::CREATE).await.unwrap();
        assert_eq!(a, b);
        assert_ne!(a.id, c.id);
        assert_eq!(cat.list_policies().await.unwrap().records.len(), 2);
    }

    #[tokio::test]
    async fn origin_locators_need_read_only_policies_and_unique_ids() {
        let cat = catalog();
        let asset = Asset::new("a", AssetOptions::None);
        cat.create_asset(&asset).await.unwrap();
        let rw = cat.policy_for("rw", 60, Permissions::READ | Permissions::WRITE).await.unwrap();
        let ro = cat.policy_for("ro", 60, Permissions::READ).await.unwrap();
        let mut locator = Locator {
            id: LocatorId::new(),
            locator_type: LocatorType::OnDemandOrigin,
            asset_id: asset.id,
            policy_id: rw.id,
            start_time: Some(Utc::now()),
            expiration: Utc::now() + Duration::hours(1),
            path: "https://origin/x/".into(),
            delivery: Default::default(),
        };
        assert_eq!(cat.create_locator(&locator).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        locator.policy_id = ro.id;
        cat.create_locator(&locator).await.unwrap();
        assert_eq!(cat.create_locator(&locator).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
        assert_eq!(cat.list_locators(Some(&asset.id)).await.unwrap(), vec![locator.clone()]);
        assert!(cat.list_locators(Some(&AssetId::new())).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_policy_in_use_is_not_deleted_and_its_locators_are_named() {
        let cat = catalog();
        let asset = Asset::new("a", AssetOptions::None);
        cat.create_asset(&asset).await.unwrap();
        let start = Utc::now();
        let l = cat
            .create_origin_locator(&asset.id, LocatorId::new(), start, start + Duration::hours(1), "")
            .await
            .unwrap();
        let err = cat.delete_policy(&l.policy_id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
        assert!(err.to_string().contains(&l.id.to_string()), "{err}");
        cat.get_policy(&l.policy_id).await.unwrap();
        cat.delete_locator(&l.id).await.unwrap();
        cat.delete_policy(&l.policy_id).await.unwrap();
        assert_eq!(cat.get_policy(&l.policy_id).await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(cat.delete_policy(&l.policy_id).await.unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn file_infos_mark_the_ism_primary() {
        let cat = catalog();
        let asset = Asset::new("a", AssetOptions::None);
        cat.create_asset(&asset).await.unwrap();
        for name in ["Big Buck.ism", "Big Buck.ismc", "Big Buck_640x360_800.mp4"] {
            cat.store()
                .put_blob(&asset.container, name, Bytes::from_static(b"xx"), &PutOptions::default())
                .await
                .unwrap();
        }
        let record = cat.regenerate_files(&asset.id).await.unwrap();
        let primary: Vec<_> = record.files.iter().filter(|f| f.is_primary).map(|f| f.name.as_str()).collect();
        assert_eq!(primary, ["Big Buck.ism"]);
        assert_eq!(cat.get_asset(&asset.id).await.unwrap().value.files, record.files);
        cat.store().put_blob(&asset.container, "Other.ism", Bytes::new(), &PutOptions::default()).await.unwrap();
        let err = cat.regenerate_files(&asset.id).await.unwrap_err();
        assert!(err.to_string().contains("Big Buck.ism, Other.ism"), "{err}");
    }
}
