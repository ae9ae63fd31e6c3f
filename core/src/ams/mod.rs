//! Azure Media Services exports read into mirrorcast's records, and records
//! written back in Media Services' v2 shape, so a library keeps its ids (and
//! its old URLs their paths) and old scripts can read what mirrorcast prints.
//!
//! Two export shapes are read, in any mix of documents:
//! - v2 REST JSON: an OData feed (`{"odata.metadata": …, "value": […]}`,
//!   `{"d": {"results": […]}}`), a bare array or a single entity; PascalCase
//!   Assets, Files, AccessPolicies and Locators with numeric enums, possibly
//!   nested by `$expand` (`Files`, `Locators`, `AccessPolicy`).
//! - v3 JSON as `az ams asset list` / `az ams streaming-locator list` print it
//!   (camelCase, or ARM resources with a `properties` object).
//! - Filters of either: v2 `Filters` / `AssetFilters`, v3 `az ams account-filter list` /
//!   `asset-filter list`; each checked as `filter create` checks one.
//!
//! Pure: no I/O (the caller hands over a serde deserializer per document).
//! Documents are read entity by entity ([`ExportReader`]), each kept only as
//! what resolution needs. Every record that cannot be taken is rejected with
//! a reason, after the checks the catalog would make when writing it; the
//! rest are returned for the caller to write. v3 asset names resolve within
//! the account their ARM ids name.
//!
//! Rooms: `read` (each entity's shape and fields, parsed or refused), `resolve` (the
//! records against each other: names, files, policies, duplicates), `codes` (Media
//! Services' enum values as exports write them), `write` (records in the v2 shape),
//! `document` (a document entity by entity), `fields` (an entity's fields), `arm` (ARM ids),
//! `filters` (asset and account filter lists, each filter read or refused alone), `v2_bind`
//! (v2 locators of dynamically encrypted assets bound to streaming policies and keys).

use chrono::{DateTime, Utc};
use serde::{Deserializer, Serialize};
use serde_json::Value;

use crate::delivery::Delivery;
use crate::id::{AssetId, LocatorId};
use crate::model::filter::Filter;
use crate::model::{AccessPolicy, Asset, Locator, LocatorType, Permissions};

mod arm;
mod codes;
mod document;
mod fields;
mod filters;
pub mod protection;
mod read;
mod resolve;
mod v2_bind;
mod write;

pub use filters::{read_filter_export, ExportFilter, FilterOwner};
pub use write::{v2_asset_json, v2_feed, v2_locator_json, v2_policy_json};

/// The longest access policy taken from an export: 1000 years.
pub const MAX_POLICY_MINUTES: u64 = 1000 * 365 * 24 * 60;

/// What kind of record a report line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An asset record.
    Asset,
    /// A file info of an asset.
    File,
    /// An access policy record.
    AccessPolicy,
    /// A locator record.
    Locator,
    /// A dynamic manifest filter (an asset's or the account's).
    Filter,
    /// A record that could not be told apart as any of these.
    Unknown,
    /// A content key.
    ContentKey,
    /// A content key policy (v2: a content key authorization policy).
    ContentKeyPolicy,
    /// A streaming policy (v2: an asset delivery policy).
    StreamingPolicy,
}

/// A record of the export that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// `<document>#<index>`: where the record is.
    pub source: String,
    /// What the record was taken for.
    pub kind: RecordKind,
    /// The record's id as the export wrote it, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why it is not imported, for people.
    pub reason: String,
}

/// A file info the export lists for an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportFile {
    /// The file's name inside the asset's container.
    pub name: String,
    /// Size in bytes, as the export lists it.
    pub size: u64,
}

/// An asset to import, with the files the export lists (used when its
/// container holds no blobs to make file infos from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportAsset {
    /// `<document>#<index>`: where the record is.
    pub source: String,
    /// The asset as it will be recorded.
    pub asset: Asset,
    /// The files the export lists for it (possibly none).
    pub files: Vec<ExportFile>,
}

/// A locator to import, with the terms of its access policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportLocator {
    /// `<document>#<index>`: where the record is.
    pub source: String,
    /// The locator's id, kept so its URLs keep working.
    pub id: LocatorId,
    /// The asset it reaches.
    pub asset_id: AssetId,
    /// Origin (streaming) or SAS.
    pub locator_type: LocatorType,
    /// When it starts to work; `None`: at once.
    pub start_time: Option<DateTime<Utc>>,
    /// When it stops working.
    pub expiration: DateTime<Utc>,
    /// The name of its access policy.
    pub policy_name: String,
    /// Its access policy's duration, in minutes.
    pub duration_minutes: u64,
    /// What its access policy allows.
    pub permissions: Permissions,
    /// Its streaming policy, content key ids and filters (v3): kept on the locator record.
    pub delivery: Delivery,
}

/// A filter to import: an asset filter (of `asset`) or, without one, an account filter
/// (the data center's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedFilter {
    /// `<document>#<index>`: where the record is.
    pub source: String,
    /// The asset it belongs to; `None`: an account filter.
    pub asset: Option<AssetId>,
    /// The filter, checked as `filter create` checks one.
    pub filter: Filter,
}

/// An export, read: what can be imported, and what cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Export {
    /// Assets to import.
    pub assets: Vec<ExportAsset>,
    /// Locators to import.
    pub locators: Vec<ExportLocator>,
    /// Asset and account filters to import.
    pub filters: Vec<ExportedFilter>,
    /// Invalid records (bad ids, containers, enums, times, references, duplicates).
    pub rejected: Vec<Rejected>,
    /// Valid records that are deliberately not carried over (SAS locators).
    pub skipped: Vec<Rejected>,
    /// Content keys, content key policies and streaming policies (never serialized: keys are secrets).
    #[serde(skip)]
    pub protection: protection::ProtectionExport,
}

/// An export read document by document, each entity parsed into what
/// resolution needs as it is read (the documents are never held whole).
#[derive(Debug, Default)]
pub struct ExportReader {
    raw: read::Raw,
    protection: protection::ProtectionReader,
}

impl ExportReader {
    /// An empty reader: no document read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one document of the export (`name` says where its records are in
    /// the report): an array of records, an OData feed or one record. Returns
    /// how many of its entities look like export records.
    pub fn read_document<'de, D: Deserializer<'de>>(&mut self, name: &str, document: D) -> Result<usize, D::Error> {
        let (raw, protection) = (&mut self.raw, &mut self.protection);
        let mut index = 0usize;
        let mut recognised = 0usize;
        document::for_each_entity(document, &mut |entity| {
            let source = format!("{name}#{index}");
            // Protection records are the protection reader's; a locator's keys are read, the locator goes on.
            if protection.take(&source, &entity) || raw.take(source, entity) {
                recognised += 1;
            }
            index += 1;
        })?;
        Ok(recognised)
    }

    /// The export: every record resolved (names, policies, references) or rejected.
    pub fn finish(mut self) -> Export {
        let asset_policies = std::mem::take(&mut self.raw.v2_delivery_policy_ids);
        let links = self.protection.take_links();
        let mut export = self.raw.resolve();
        let (protection, rejected) = self.protection.finish();
        export.rejected.extend(rejected);
        export.protection = protection;
        v2_bind::bind(&mut export, &asset_policies, &links);
        export
    }
}

/// The records of documents already parsed (file name, JSON).
pub fn read_export(documents: &[(String, Value)]) -> Result<Export, serde_json::Error> {
    let mut reader = ExportReader::new();
    for (name, doc) in documents {
        reader.read_document(name, doc)?;
    }
    Ok(reader.finish())
}

impl ExportLocator {
    /// The access policy of its terms (one a catalog may already hold, by id).
    pub fn policy(&self) -> AccessPolicy {
        AccessPolicy::for_terms(&self.policy_name, self.duration_minutes, self.permissions)
    }

    /// The record it becomes in a data center whose streams are served at `origin`, on `policy`.
    pub fn record(&self, origin: &str, policy: &AccessPolicy) -> Locator {
        Locator {
            id: self.id,
            locator_type: self.locator_type,
            asset_id: self.asset_id,
            policy_id: policy.id,
            start_time: self.start_time,
            expiration: self.expiration,
            path: format!("{}/{}/", origin.trim_end_matches('/'), self.id.guid()),
            delivery: self.delivery.clone(),
        }
    }

    /// Whether `existing` is this locator (same asset, type, times and bound filters).
    pub fn matches(&self, existing: &Locator) -> bool {
        (existing.asset_id, existing.locator_type, existing.start_time, existing.expiration)
            == (self.asset_id, self.locator_type, self.start_time, self.expiration)
            && existing.delivery.filters == self.delivery.filters
    }
}

/// Whether `existing` is the asset the export describes (same name, options, container).
pub fn same_asset_terms(existing: &Asset, exported: &Asset) -> bool {
    (&existing.name, existing.options, &existing.container) == (&exported.name, exported.options, &exported.container)
}

#[cfg(test)]
mod tests;
