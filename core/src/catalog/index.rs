//! A whole catalog from one listing.
//!
//! Every record blob carries its record as metadata (`mcrecord`: base64 of
//! its compact JSON; an asset's without its file infos, whose count is in
//! `mcfiles`), so a listing with metadata (one request per 5,000 records)
//! tells replicate and verify everything they need. Records written before
//! this (no metadata) are read with a GET, so old catalogs read the same.
//! A replica's asset record also carries `mcfrom`, the fingerprint of what it
//! was replicated from: an asset whose fingerprint still matches is unchanged.
//!
//! Every record is checked before it enters the index; one that fails is a
//! [`RecordProblem`] of its asset (or of the catalog, when it names no known
//! asset), and the rest of the index is whole.

use std::collections::BTreeMap;
use std::str::FromStr;

use base64::Engine as _;
use futures::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::filters::{self as filter_records, FilterScope};
use super::{check_asset, parse_record, AssetRecord, Catalog, ASSETS, CATALOG_CONTAINER, LOCATORS, POLICIES};
use crate::error::{Error, ErrorKind, Result};
use crate::id::{AssetId, LocatorId, PolicyId};
use crate::model::filter::Filter;
use crate::model::{validate_files, AccessPolicy, Asset, AssetFile, Locator};
use crate::store::{BlobMeta, BlobStoreExt};

/// Metadata key of a record's compact JSON (base64).
pub const RECORD_KEY: &str = "mcrecord";
/// Metadata key of an asset record's number of file infos.
pub const FILES_KEY: &str = "mcfiles";
/// Metadata key of a replica's fingerprint of its source (an asset record),
/// or of the mark replicate leaves on the locators it makes.
pub const FROM_KEY: &str = "mcfrom";
/// Metadata key of the digest of an asset record's file infos ([`files_digest`]).
pub const FILES_DIGEST_KEY: &str = "mcfilesmd5";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The metadata of a locator or policy record.
pub fn record_metadata<T: Serialize>(value: &T) -> Result<BTreeMap<String, String>> {
    Ok(BTreeMap::from([(RECORD_KEY.to_owned(), B64.encode(serde_json::to_vec(value)?))]))
}

/// The metadata of an asset record: the asset without its files, their
/// count, and the fingerprint of its source if it is a replica.
pub fn asset_metadata(record: &AssetRecord, from: Option<&str>) -> Result<BTreeMap<String, String>> {
    let mut m = record_metadata(&record.asset)?;
    m.insert(FILES_KEY.to_owned(), record.files.len().to_string());
    m.insert(FILES_DIGEST_KEY.to_owned(), files_digest(&record.files)?);
    if let Some(f) = from {
        m.insert(FROM_KEY.to_owned(), f.to_owned());
    }
    Ok(m)
}

/// The digest of file infos as a record stores them (base64 MD5 of their
/// compact JSON): a reader that can make the same file infos from a listing
/// knows the record's without reading it.
pub fn files_digest(files: &[AssetFile]) -> Result<String> {
    use md5::{Digest, Md5};
    Ok(B64.encode(Md5::digest(serde_json::to_vec(files)?)))
}

/// The id a record blob is named after: `<prefix><guid>.json`.
pub fn id_of_path<T: FromStr>(path: &str, prefix: &str) -> Option<T> {
    let guid = path.strip_prefix(prefix)?.strip_suffix(".json")?;
    if guid.len() != 36 {
        return None;
    }
    guid.parse().ok()
}

/// An asset as its catalog listing tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetEntry {
    /// The asset's record, without file infos.
    pub asset: Asset,
    /// The record blob's ETag.
    pub etag: String,
    /// The file infos, when the record was read whole (records without metadata).
    pub files: Option<Vec<AssetFile>>,
    /// How many file infos the record holds.
    pub file_count: u64,
    /// The fingerprint of the source this replica was made from.
    pub from: Option<String>,
    /// [`files_digest`] of the record's file infos (records written before it have none).
    pub files_digest: Option<String>,
    /// When the record blob last changed, where the store says (`lag`: since when B lacks a change).
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// A record that failed its checks (or could not be parsed): named, and
/// attributed to the asset it belongs to when that can be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordProblem {
    /// The record blob, e.g. `locators/<guid>.json`.
    pub path: String,
    /// The asset the record belongs to, when that can be told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetId>,
    /// What is wrong, naming the record.
    pub message: String,
}

impl RecordProblem {
    /// A problem of record `path` (of `asset`, if known), with `error` as its reason.
    pub fn new(path: &str, asset: Option<AssetId>, error: impl std::fmt::Display) -> Self {
        RecordProblem { path: path.to_owned(), asset, message: format!("record '{path}': {error}") }
    }

    /// Whether this is the problem of an asset record itself (not of one of its locators).
    pub fn is_asset_record(&self) -> bool {
        self.path.starts_with(ASSETS)
    }
}

/// A catalog's records, checked.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Whether the catalog container exists.
    pub exists: bool,
    /// Assets whose records passed their checks, by id.
    pub assets: BTreeMap<AssetId, AssetEntry>,
    /// Locators whose records passed their checks, by id.
    pub locators: BTreeMap<LocatorId, Locator>,
    /// Access policies whose records passed their checks, by id.
    pub policies: BTreeMap<PolicyId, AccessPolicy>,
    /// Every record that failed its checks or could not be parsed.
    pub problems: Vec<RecordProblem>,
    /// Locators whose record carries [`FROM_KEY`]: made by replicate.
    pub replica_locators: std::collections::BTreeSet<LocatorId>,
    /// When each checked locator's record last changed, where the store says.
    pub locator_modified: BTreeMap<LocatorId, chrono::DateTime<chrono::Utc>>,
    /// Filters whose records passed their checks, by scope and lower-case name.
    pub filters: BTreeMap<(FilterScope, String), Filter>,
    /// Filters whose record carries [`FROM_KEY`]: made by replicate.
    pub replica_filters: std::collections::BTreeSet<(FilterScope, String)>,
    /// Each asset's locators, built on the first [`Index::locators_of`]: a scan of
    /// every locator per asset made replicate and verify quadratic in the library.
    /// (An index is read, not changed, once built; a change after that call is not seen.)
    /// (A set of pairs, not a list per asset: one allocation per asset was most of its size.)
    pub(crate) locators_by_asset: std::sync::OnceLock<std::collections::BTreeSet<(AssetId, LocatorId)>>,
}

impl Index {
    /// The checked locators of `asset`.
    pub fn locators_of<'a>(&'a self, asset: &'a AssetId) -> impl Iterator<Item = &'a Locator> + 'a {
        let by_asset =
            self.locators_by_asset.get_or_init(|| self.locators.values().map(|l| (l.asset_id, l.id)).collect());
        let (first, last) = (LocatorId::from_uuid(uuid::Uuid::nil()), LocatorId::from_uuid(uuid::Uuid::max()));
        by_asset.range((*asset, first)..=(*asset, last)).filter_map(|(_, id)| self.locators.get(id))
    }

    /// The problems attributed to `asset` (its own record's and its locators').
    pub fn problems_of<'a>(&'a self, asset: &'a AssetId) -> impl Iterator<Item = &'a RecordProblem> + 'a {
        self.problems.iter().filter(move |p| p.asset.as_ref() == Some(asset))
    }

    /// Assets whose own record failed its checks, by the id their blob is named after.
    pub fn bad_assets(&self) -> impl Iterator<Item = (&AssetId, &RecordProblem)> {
        self.problems.iter().filter(|p| p.is_asset_record()).filter_map(|p| p.asset.as_ref().map(|a| (a, p)))
    }

    /// Every asset id the catalog has a record for, good or bad.
    pub fn asset_ids(&self) -> std::collections::BTreeSet<AssetId> {
        self.assets.keys().copied().chain(self.bad_assets().map(|(a, _)| *a)).collect()
    }

    /// Problems no asset of this catalog owns: a locator of an unknown asset,
    /// a record not named after an id, a broken policy.
    pub fn orphan_problems(&self) -> Vec<&RecordProblem> {
        let ids = self.asset_ids();
        self.problems.iter().filter(|p| p.asset.is_none_or(|a| !ids.contains(&a))).collect()
    }
}

/// A record from its listing entry: from its metadata, or (without it) a
/// GET; `None` when it was deleted since the listing.
async fn read_one<T: DeserializeOwned>(catalog: &Catalog, blob: BlobMeta) -> Result<Option<(T, BlobMeta)>> {
    let mut blob = blob;
    // Taken out of the entry the index keeps: once decoded, the record's base64 copy is dead weight.
    if let Some(encoded) = blob.metadata.remove(RECORD_KEY) {
        let bytes = B64.decode(encoded).map_err(|e| {
            Error::new(ErrorKind::Corrupt, format!("record '{}': metadata is not base64: {e}", blob.name))
        })?;
        return Ok(Some((parse_record(&blob.name, &bytes)?, blob)));
    }
    match catalog.store().get_bytes(CATALOG_CONTAINER, &blob.name).await {
        Ok((meta, bytes)) => Ok(Some((parse_record(&blob.name, &bytes)?, meta))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A record blob's path and what reading it gave.
type ReadRecord<T> = (String, std::result::Result<(T, RecordMeta), Error>);

/// What the index needs of a record blob's listing entry. The whole entry (its
/// properties, its metadata map) was most of what a large catalog's reading held
/// until the last page was read.
#[derive(Debug)]
struct RecordMeta {
    etag: String,
    last_modified: Option<chrono::DateTime<chrono::Utc>>,
    /// [`FILES_KEY`]'s value.
    file_count: Option<String>,
    /// [`FROM_KEY`]'s value.
    from: Option<String>,
    /// [`FILES_DIGEST_KEY`]'s value.
    files_digest: Option<String>,
}

impl RecordMeta {
    fn of(mut blob: BlobMeta) -> Self {
        let mut take = |key: &str| blob.metadata.remove(key);
        let (file_count, from, files_digest) = (take(FILES_KEY), take(FROM_KEY), take(FILES_DIGEST_KEY));
        RecordMeta { etag: blob.etag, last_modified: blob.last_modified, file_count, from, files_digest }
    }
}

/// An asset record as read: from metadata (no files) or whole.
#[derive(Deserialize)]
struct AssetRead {
    #[serde(flatten)]
    asset: Asset,
    #[serde(default)]
    files: Option<Vec<AssetFile>>,
}

async fn read_many<T: DeserializeOwned + Send>(catalog: &Catalog, blobs: Vec<BlobMeta>) -> Result<Vec<ReadRecord<T>>> {
    let read: Vec<Option<ReadRecord<T>>> = stream::iter(blobs)
        .map(|b| async move {
            let name = b.name.clone();
            match read_one::<T>(catalog, b).await {
                Ok(Some((v, meta))) => Ok(Some((name, Ok((v, RecordMeta::of(meta)))))),
                Ok(None) => Ok(None),
                Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::InvalidInput) => Ok(Some((name, Err(e)))),
                Err(e) => Err(e),
            }
        })
        .buffered(16)
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    Ok(read.into_iter().flatten().collect())
}

pub(super) async fn build(catalog: &Catalog) -> Result<Index> {
    build_in_pages(catalog, None).await
}

/// [`build`] with pages of at most `page_size` records (`None`: the store's default).
async fn build_in_pages(catalog: &Catalog, page_size: Option<u32>) -> Result<Index> {
    // Page by page: each page's records are decoded, checked and put where the index keeps
    // them before the next page is listed. Neither the listing of a whole catalog (every
    // record's base64 copy in its metadata) nor every record as read (with its path and
    // listing facts) is ever in memory at once: at 100,000 assets the records as read,
    // kept whole until the last page, were as large as the index itself.
    let mut index = Builder::default();
    let mut options = crate::store::ListOptions { max_results: page_size, ..Default::default() };
    loop {
        let page = match catalog.store().list_blobs(CATALOG_CONTAINER, &options).await {
            Err(e) if e.kind() == ErrorKind::NotFound && options.marker.is_none() => return Ok(Index::default()),
            other => other?,
        };
        let (mut a, mut l, mut p, mut f) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for b in page.blobs {
            if b.name.starts_with(filter_records::FILTERS) {
                f.push(b);
            } else if b.name.starts_with(ASSETS) {
                a.push(b);
            } else if b.name.starts_with(LOCATORS) {
                l.push(b);
            } else if b.name.starts_with(POLICIES) {
                p.push(b);
            }
        }
        let (a, l, p, f) = futures::try_join!(
            read_many::<AssetRead>(catalog, a),
            read_many::<Locator>(catalog, l),
            read_many::<AccessPolicy>(catalog, p),
            read_many::<Filter>(catalog, f),
        )?;
        // In the order the records were listed (by name), as if the catalog were read whole.
        f.into_iter().for_each(|(path, read)| index.filter(path, read));
        a.into_iter().for_each(|(path, read)| index.asset(path, read));
        l.into_iter().for_each(|(path, read)| index.locator(path, read));
        p.into_iter().for_each(|(path, read)| index.policy(path, read));
        index.page_done();
        match page.next_marker {
            Some(m) if !m.is_empty() => options.marker = Some(m),
            _ => break,
        }
    }
    Ok(index.finish())
}

/// An index as its pages arrive. Each record is checked and kept as the index keeps it,
/// except one check: an origin locator's policy, listed after every locator
/// (`locators/` < `policies/`), is checked once all are read ([`Builder::finish`]).
/// The index and its problems are those of reading the records one by one in name order.
#[derive(Default)]
struct Builder {
    index: Index,
    /// This page's assets, locators and their times, appended to the index's once the page is
    /// read. Keys arrive in ascending order, and a map grown by inserting at its end keeps its
    /// nodes about half full (each split leaves 6 of 11 entries behind); appending rebuilds it
    /// with full nodes, which at 100,000 assets on both sides saved about 70 MiB.
    page: Page,
    /// Problems by kind: the index lists filters', policies', assets' then locators'.
    filter_problems: Vec<RecordProblem>,
    policy_problems: Vec<RecordProblem>,
    asset_problems: Vec<RecordProblem>,
    locator_problems: Vec<RecordProblem>,
    /// Locators in `index.locators` (and their `locator_modified`) before their policy check:
    /// every one whose record is at its id's own path (`locators/<guid>.json`).
    /// Locators at another path of the same id (a GUID in upper case), with their path
    /// and listing facts: the last of an id's records that passes its checks is kept.
    other_paths: Vec<(String, Locator, Option<chrono::DateTime<chrono::Utc>>)>,
}

/// See [`Builder::page`].
#[derive(Default)]
struct Page {
    assets: BTreeMap<AssetId, AssetEntry>,
    locators: BTreeMap<LocatorId, Locator>,
    locator_modified: BTreeMap<LocatorId, chrono::DateTime<chrono::Utc>>,
}

impl Builder {
    fn page_done(&mut self) {
        let (page, index) = (&mut self.page, &mut self.index);
        index.assets.append(&mut page.assets);
        index.locators.append(&mut page.locators);
        index.locator_modified.append(&mut page.locator_modified);
    }

    fn filter(&mut self, path: String, read: std::result::Result<(Filter, RecordMeta), Error>) {
        let index = &mut self.index;
        let place = FilterScope::of_path(&path);
        let asset = match place {
            Some((FilterScope::Asset(id), _)) => Some(id),
            _ => None,
        };
        let checked = read.and_then(|(f, meta)| {
            let (scope, name) =
                place.clone().ok_or_else(|| Error::invalid_input("not named after a scope and a filter name"))?;
            filter_records::check(&name, &f)?;
            Ok((scope, name, f, meta.from.is_some()))
        });
        match checked {
            Ok((scope, name, f, replica)) => {
                if replica {
                    index.replica_filters.insert((scope, name.clone()));
                }
                index.filters.insert((scope, name), f);
            }
            Err(e) => self.filter_problems.push(RecordProblem::new(&path, asset, e)),
        }
    }

    fn policy(&mut self, path: String, read: std::result::Result<(AccessPolicy, RecordMeta), Error>) {
        let checked = read.and_then(|(p, _)| {
            let id = id_of_path::<PolicyId>(&path, POLICIES)
                .ok_or_else(|| Error::invalid_input("not named after a policy id"))?;
            p.validate(&id)?;
            Ok(p)
        });
        match checked {
            Ok(p) => {
                self.index.policies.insert(p.id, p);
            }
            Err(e) => self.policy_problems.push(RecordProblem::new(&path, None, e)),
        }
    }

    fn asset(&mut self, path: String, read: std::result::Result<(AssetRead, RecordMeta), Error>) {
        let id = id_of_path::<AssetId>(&path, ASSETS);
        let checked = read.and_then(|(r, meta)| {
            let id = id.ok_or_else(|| Error::invalid_input("not named after an asset id"))?;
            let files = r.files;
            let record = AssetRecord { asset: r.asset, files: files.clone().unwrap_or_default() };
            check_asset(&id, &record)?;
            let file_count = match &files {
                Some(f) => f.len() as u64,
                None => meta.file_count.and_then(|n| n.parse().ok()).unwrap_or(0),
            };
            if let Some(f) = &files {
                validate_files(&id, f)?;
            }
            Ok(AssetEntry {
                asset: record.asset,
                etag: meta.etag,
                files,
                file_count,
                from: meta.from,
                files_digest: meta.files_digest,
                modified: meta.last_modified,
            })
        });
        match checked {
            Ok(entry) => {
                self.page.assets.insert(entry.asset.id, entry);
            }
            Err(e) => self.asset_problems.push(RecordProblem::new(&path, id, e)),
        }
    }

    fn locator(&mut self, path: String, read: std::result::Result<(Locator, RecordMeta), Error>) {
        let (l, meta) = match read {
            Ok(read) => read,
            Err(e) => return self.locator_problems.push(RecordProblem::new(&path, None, e)),
        };
        if meta.from.is_some() {
            self.index.replica_locators.insert(l.id);
        }
        let Some(id) = id_of_path::<LocatorId>(&path, LOCATORS) else {
            let e = Error::invalid_input("not named after a locator id");
            return self.locator_problems.push(RecordProblem::new(&path, Some(l.asset_id), e));
        };
        if l.id != id {
            // The first of a locator's checks, whatever its policy: the record names another locator.
            if let Err(e) = l.validate(&id, None) {
                self.locator_problems.push(RecordProblem::new(&path, Some(l.asset_id), e));
            }
            return;
        }
        if path != locator_path(&id) {
            return self.other_paths.push((path, l, meta.last_modified));
        }
        if let Some(at) = meta.last_modified {
            self.page.locator_modified.insert(l.id, at);
        }
        self.page.locators.insert(l.id, l);
    }

    /// The locators' policy checks, now that every policy is known; the problems in their order.
    fn finish(mut self) -> Index {
        let index = &mut self.index;
        let other_ids: std::collections::BTreeSet<LocatorId> = self.other_paths.iter().map(|(_, l, _)| l.id).collect();
        let failed: Vec<(LocatorId, Error)> = index
            .locators
            .values()
            .filter(|l| !other_ids.contains(&l.id))
            .filter_map(|l| l.validate(&l.id, index.policies.get(&l.policy_id)).err().map(|e| (l.id, e)))
            .collect();
        for (id, e) in failed {
            if let Some(l) = index.locators.remove(&id) {
                index.locator_modified.remove(&id);
                self.locator_problems.push(RecordProblem::new(&locator_path(&id), Some(l.asset_id), e));
            }
        }
        // An id with records at several paths: its records one by one in name order, as listed.
        let mut records = std::mem::take(&mut self.other_paths);
        for id in &other_ids {
            if let Some(l) = index.locators.remove(id) {
                let modified = index.locator_modified.remove(id);
                records.push((locator_path(id), l, modified));
            }
        }
        records.sort_by(|x, y| x.0.cmp(&y.0));
        for (path, l, modified) in records {
            match l.validate(&l.id, index.policies.get(&l.policy_id)) {
                Ok(()) => {
                    if let Some(at) = modified {
                        index.locator_modified.insert(l.id, at);
                    }
                    index.locators.insert(l.id, l);
                }
                Err(e) => self.locator_problems.push(RecordProblem::new(&path, Some(l.asset_id), e)),
            }
        }
        // Listed in name order: the locators' problems are too, however they were found.
        self.locator_problems.sort_by(|x, y| x.path.cmp(&y.path));
        let problems = [self.filter_problems, self.policy_problems, self.asset_problems, self.locator_problems];
        self.index.exists = true;
        self.index.problems = problems.into_iter().flatten().collect();
        self.index
    }
}

/// The path of a locator's record.
fn locator_path(id: &LocatorId) -> String {
    format!("{LOCATORS}{}.json", id.guid())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use chrono::{Duration, Utc};

    use super::*;
    use crate::model::{AssetOptions, LocatorType, Permissions};
    use crate::store::{InMemoryStore, PutOptions};

    /// A record blob written as-is (with its record in metadata), whatever it says.
    async fn put_raw<T: Serialize>(cat: &Catalog, path: &str, record: &T) {
        let options = PutOptions { metadata: record_metadata(record).unwrap(), ..Default::default() };
        let body = Bytes::from(serde_json::to_vec(record).unwrap());
        cat.store().put_blob(CATALOG_CONTAINER, path, body, &options).await.unwrap();
    }

    fn origin_locator(asset: &Asset, policy: &AccessPolicy) -> Locator {
        Locator {
            id: LocatorId::new(),
            locator_type: LocatorType::OnDemandOrigin,
            asset_id: asset.id,
            policy_id: policy.id,
            start_time: Some(Utc::now()),
            expiration: Utc::now() + Duration::hours(1),
            path: "https://origin/x/".into(),
            delivery: Default::default(),
        }
    }

    /// A catalog with every kind of record, good and bad: locators listed before the
    /// policies they name, an id at two paths, records that fail each kind of check.
    async fn mixed_catalog() -> Catalog {
        let cat = Catalog::new(Arc::new(InMemoryStore::new()));
        let read_only = cat.policy_for("ro", 60, Permissions::READ).await.unwrap();
        let read_write = AccessPolicy::for_terms("rw", 60, Permissions::READ | Permissions::WRITE);
        put_raw(&cat, &format!("{POLICIES}{}.json", read_write.id.guid()), &read_write).await;
        put_raw(&cat, &format!("{POLICIES}{}.json", PolicyId::new().guid()), &read_only).await;
        for i in 0..4 {
            let asset = Asset::new(format!("asset {i}"), AssetOptions::None);
            cat.create_asset(&asset).await.unwrap();
            cat.create_locator(&origin_locator(&asset, &read_only)).await.unwrap();
            // Each of these fails its policy check, which only the policies listed later tell.
            let writes = origin_locator(&asset, &read_write);
            put_raw(&cat, &locator_path(&writes.id), &writes).await;
            let unknown = Locator { policy_id: PolicyId::new(), ..origin_locator(&asset, &read_only) };
            put_raw(&cat, &locator_path(&unknown.id), &unknown).await;
        }
        let asset = Asset::new("twice", AssetOptions::None);
        cat.create_asset(&asset).await.unwrap();
        // One locator id at two paths: the upper-case path is listed first and passes; the later fails.
        let good = origin_locator(&asset, &read_only);
        put_raw(&cat, &format!("{LOCATORS}{}.json", good.id.guid().to_uppercase()), &good).await;
        put_raw(&cat, &locator_path(&good.id), &Locator { policy_id: read_write.id, ..good.clone() }).await;
        // An id at two paths where both pass: the later (lower-case) one is kept.
        let both = origin_locator(&asset, &read_only);
        put_raw(&cat, &format!("{LOCATORS}{}.json", both.id.guid().to_uppercase()), &both).await;
        put_raw(&cat, &locator_path(&both.id), &Locator { path: "https://origin/kept/".into(), ..both.clone() }).await;
        // A record naming another locator, one not named after an id, one that is not JSON.
        let named_other = origin_locator(&asset, &read_only);
        put_raw(&cat, &locator_path(&LocatorId::new()), &named_other).await;
        put_raw(&cat, &format!("{LOCATORS}not-an-id.json"), &origin_locator(&asset, &read_only)).await;
        let corrupt = PutOptions {
            metadata: BTreeMap::from([(RECORD_KEY.to_owned(), B64.encode(b"{not json"))]),
            ..Default::default()
        };
        let path = locator_path(&LocatorId::new());
        cat.store().put_blob(CATALOG_CONTAINER, &path, Bytes::new(), &corrupt).await.unwrap();
        // A bad asset record, a bad policy, a filter of each scope and a bad one.
        let mut bad = Asset::new("bad", AssetOptions::None);
        bad.container = "elsewhere".into();
        put_raw(&cat, &format!("{ASSETS}{}.json", AssetId::new().guid()), &bad).await;
        cat.create_filter(FilterScope::Account, &Filter::with_first_quality("first", 1)).await.unwrap();
        cat.create_filter(FilterScope::Asset(asset.id), &Filter::with_first_quality("mine", 2)).await.unwrap();
        put_raw(&cat, &FilterScope::Account.path("renamed"), &Filter::with_first_quality("other", 1)).await;
        cat
    }

    #[tokio::test]
    async fn an_index_read_in_pages_of_any_size_is_the_index_read_whole() {
        let cat = mixed_catalog().await;
        let whole = build_in_pages(&cat, None).await.unwrap();
        let listed = cat.store().list_all(CATALOG_CONTAINER, "").await.unwrap();
        assert_eq!(listed.len(), 31);
        // What the checks make of the catalog, read whole.
        assert_eq!(whole.assets.len(), 5);
        assert_eq!(whole.locators.len(), 6, "{:?}", whole.locators.keys());
        assert_eq!(whole.locator_modified.len(), 6);
        assert_eq!(whole.policies.len(), 2, "the read-write policy is kept; the one at another id's path is not");
        assert_eq!(whole.filters.len(), 2);
        let kept: Vec<&str> = whole.locators.values().map(|l| l.path.as_str()).collect();
        assert!(kept.contains(&"https://origin/kept/"), "{kept:?}");
        let paths: Vec<&str> = whole.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths.len(), 15, "{paths:#?}");
        let kinds: Vec<&str> = paths.iter().map(|p| p.split('/').next().unwrap()).collect();
        let mut grouped = kinds.clone();
        grouped.dedup();
        assert_eq!(grouped, ["filters", "policies", "assets", "locators"], "{paths:#?}");
        let locator_paths: Vec<&&str> = paths.iter().filter(|p| p.starts_with(LOCATORS)).collect();
        assert!(locator_paths.is_sorted(), "in name order, as listed: {locator_paths:#?}");
        for size in [1, 2, 3, 7, 32] {
            let paged = build_in_pages(&cat, Some(size)).await.unwrap();
            assert_eq!(format!("{paged:?}"), format!("{whole:?}"), "pages of {size}");
        }
    }

    #[test]
    fn locators_of_gives_each_asset_its_own_locators_and_no_other() {
        let policy = AccessPolicy::for_terms("ro", 60, Permissions::READ);
        let assets: Vec<Asset> = (0..5).map(|i| Asset::new(format!("a{i}"), AssetOptions::None)).collect();
        let mut index = Index::default();
        let mut wanted: BTreeMap<AssetId, Vec<LocatorId>> = BTreeMap::new();
        for (i, asset) in assets.iter().enumerate().skip(1) {
            for _ in 0..i {
                let l = origin_locator(asset, &policy);
                wanted.entry(asset.id).or_default().push(l.id);
                index.locators.insert(l.id, l);
            }
        }
        for asset in &assets {
            let mut got: Vec<LocatorId> = index.locators_of(&asset.id).map(|l| l.id).collect();
            got.sort();
            let mut want = wanted.get(&asset.id).cloned().unwrap_or_default();
            want.sort();
            assert_eq!(got, want, "{}", asset.name);
        }
        assert_eq!(index.locators_of(&AssetId::from_uuid(uuid::Uuid::max())).count(), 0);
        assert_eq!(index.locators_of(&AssetId::from_uuid(uuid::Uuid::nil())).count(), 0);
    }

    #[tokio::test]
    async fn a_catalog_that_does_not_exist_is_an_empty_index() {
        let cat = Catalog::new(Arc::new(InMemoryStore::new()));
        let index = build_in_pages(&cat, Some(1)).await.unwrap();
        assert!(!index.exists);
        assert!(index.assets.is_empty() && index.problems.is_empty());
    }
}
