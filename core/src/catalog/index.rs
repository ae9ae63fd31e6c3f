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
    pub(crate) locators_by_asset: std::sync::OnceLock<BTreeMap<AssetId, Vec<LocatorId>>>,
}

impl Index {
    /// The checked locators of `asset`.
    pub fn locators_of<'a>(&'a self, asset: &'a AssetId) -> impl Iterator<Item = &'a Locator> + 'a {
        let by_asset = self.locators_by_asset.get_or_init(|| {
            let mut by_asset: BTreeMap<AssetId, Vec<LocatorId>> = BTreeMap::new();
            for l in self.locators.values() {
                by_asset.entry(l.asset_id).or_default().push(l.id);
            }
            by_asset
        });
        by_asset.get(asset).into_iter().flatten().filter_map(|id| self.locators.get(id))
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
    // Page by page: each page's records are decoded and their listing entries dropped
    // before the next is listed, so the listing of a whole catalog (every record's base64
    // copy in its metadata) is never in memory at once.
    let (mut assets, mut locators, mut policies, mut filters) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut options = crate::store::ListOptions::default();
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
        assets.extend(a);
        locators.extend(l);
        policies.extend(p);
        filters.extend(f);
        match page.next_marker {
            Some(m) if !m.is_empty() => options.marker = Some(m),
            _ => break,
        }
    }
    let mut index = Index { exists: true, ..Default::default() };
    for (path, read) in filters {
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
            Err(e) => index.problems.push(RecordProblem::new(&path, asset, e)),
        }
    }

    for (path, read) in policies {
        let checked = read.and_then(|(p, _)| {
            let id = id_of_path::<PolicyId>(&path, POLICIES)
                .ok_or_else(|| Error::invalid_input("not named after a policy id"))?;
            p.validate(&id)?;
            Ok(p)
        });
        match checked {
            Ok(p) => {
                index.policies.insert(p.id, p);
            }
            Err(e) => index.problems.push(RecordProblem::new(&path, None, e)),
        }
    }
    for (path, read) in assets {
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
                index.assets.insert(entry.asset.id, entry);
            }
            Err(e) => index.problems.push(RecordProblem::new(&path, id, e)),
        }
    }
    for (path, read) in locators {
        match read {
            Ok((l, meta)) => {
                if meta.from.is_some() {
                    index.replica_locators.insert(l.id);
                }
                let checked = id_of_path::<LocatorId>(&path, LOCATORS)
                    .ok_or_else(|| Error::invalid_input("not named after a locator id"))
                    .and_then(|id| l.validate(&id, index.policies.get(&l.policy_id)));
                match checked {
                    Ok(()) => {
                        if let Some(at) = meta.last_modified {
                            index.locator_modified.insert(l.id, at);
                        }
                        index.locators.insert(l.id, l);
                    }
                    Err(e) => index.problems.push(RecordProblem::new(&path, Some(l.asset_id), e)),
                }
            }
            Err(e) => index.problems.push(RecordProblem::new(&path, None, e)),
        }
    }
    Ok(index)
}
