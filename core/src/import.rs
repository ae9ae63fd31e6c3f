//! Importing an Azure Media Services export (read by [`crate::ams`]) into a data
//! center's catalog with its ids, so old streaming URLs keep their paths.
//! Conflicts are reported, never overwritten; invalid records are reported one
//! by one.
//!
//! Three passes, so one bad record never stops the import halfway: the export
//! is read (streamed, record by record) and checked by [`crate::ams`]; every
//! record is planned against the catalog (one listing) and the containers;
//! only then are the planned records written. The [`ImportReport`] says what
//! happened (or, in a dry run, would happen) to each record; the caller renders it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::ams::{same_asset_terms, Export, ExportAsset, ExportLocator, RecordKind};
use crate::catalog::index::Index;
use crate::catalog::{file_infos, Catalog};
use crate::error::{ErrorKind, Result};
use crate::id::{AssetId, LocatorId, PolicyId};
use crate::model::{validate_files, AccessPolicy, Asset, AssetFile, AssetRecord, Locator};
use crate::store::{BlobKind, BlobMeta, BlobStoreExt};

mod filters;
mod protection;
pub use protection::{import_protection, REKEY};

/// What happened (or, in a dry run, would happen) to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportAction {
    /// A dry run would create it.
    Create,
    /// Written now.
    Created,
    /// The data center has it already, with the same terms.
    Exists,
    /// The data center has it with other terms (or its asset was not imported): left as it is.
    Conflict,
    /// Refused: the export's reader or a check found it wrong (the note says why).
    Invalid,
    /// Valid, but deliberately not carried over (SAS locators, predefined streaming policies).
    Skipped,
    /// The export lacks what the record needs (a content key's value): reported, not written.
    Missing,
}

impl ImportAction {
    /// Whether the record failed: the import as a whole then did not do all it was asked.
    pub fn is_failure(self) -> bool {
        matches!(self, ImportAction::Conflict | ImportAction::Invalid | ImportAction::Missing)
    }
}

/// One record's result. It borrows from the export: a report of a million
/// records is not a second copy of them.
#[derive(Debug, Serialize)]
pub struct ImportLine<'a> {
    /// What the record is.
    pub kind: RecordKind,
    /// Its id, when the export gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<RecordId<'a>>,
    /// What happened to it.
    pub action: ImportAction,
    /// `<document>#<index>`: where the record is in the export.
    pub source: &'a str,
    /// Why, or what was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Note<'a>>,
}

/// A record's id as the report prints it.
#[derive(Debug)]
pub enum RecordId<'a> {
    /// An asset's.
    Asset(AssetId),
    /// A locator's.
    Locator(LocatorId),
    /// As the export wrote it (a record refused before its id was read).
    Text(&'a str),
}

impl fmt::Display for RecordId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordId::Asset(id) => id.fmt(f),
            RecordId::Locator(id) => id.fmt(f),
            RecordId::Text(text) => f.write_str(text),
        }
    }
}

/// The note of a line.
#[derive(Debug)]
pub enum Note<'a> {
    /// The import's own words.
    Text(String),
    /// The export reader's reason (a rejected or skipped record).
    Export(&'a str),
    /// An asset's file infos: how many, and whether from the export's list.
    Files {
        /// How many file infos.
        count: usize,
        /// Whether they come from the export's list (else from the container's blobs).
        from_export: bool,
    },
}

impl fmt::Display for Note<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Text(text) => f.write_str(text),
            Note::Export(text) => f.write_str(text),
            Note::Files { count, from_export } => write!(
                f,
                "{count} file(s){}",
                if *from_export { " as the export lists them (the container holds no blobs)" } else { "" }
            ),
        }
    }
}

/// Both print as their text.
macro_rules! serialize_as_text {
    ($($t:ident),*) => {$(
        impl Serialize for $t<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_text!(RecordId, Note);

/// How many records of the export there were, and how many lines of each action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportTotals {
    /// Valid assets in the export.
    pub assets: usize,
    /// Valid locators in the export (SAS ones not counted).
    pub locators: usize,
    /// Valid asset and account filters in the export.
    pub filters: usize,
    /// Records a dry run would create.
    pub create: usize,
    /// Records written.
    pub created: usize,
    /// Records the data center has already.
    pub exists: usize,
    /// Records left as they are for other terms (or an asset not imported).
    pub conflict: usize,
    /// Records refused as invalid.
    pub invalid: usize,
    /// Records not carried over (SAS locators).
    pub skipped: usize,
    /// Records the export lacks part of (content keys without their value).
    pub missing: usize,
}

/// What an import did (or, with `dry_run`, would do) with every record of the export.
#[derive(Debug, Serialize)]
pub struct ImportReport<'a> {
    /// Nothing was written: the lines say what would be.
    pub dry_run: bool,
    /// The counts.
    pub totals: ImportTotals,
    /// The export's rejected and skipped records first, then every asset, filter and locator.
    pub records: Vec<ImportLine<'a>>,
}

impl<'a> ImportReport<'a> {
    /// Whether a record conflicted or was invalid (the command then exits 1).
    pub fn has_failures(&self) -> bool {
        self.records.iter().any(|l| l.action.is_failure())
    }

    /// The report with `lines` (the protection records') added, the totals counted again.
    pub fn with_lines(mut self, lines: Vec<ImportLine<'a>>) -> Self {
        self.records.extend(lines);
        self.totals = totals(self.totals.assets, self.totals.locators, self.totals.filters, &self.records);
        self
    }
}

fn totals(assets: usize, locators: usize, filters: usize, lines: &[ImportLine<'_>]) -> ImportTotals {
    let count = |a: ImportAction| lines.iter().filter(|l| l.action == a).count();
    ImportTotals {
        assets,
        locators,
        filters,
        create: count(ImportAction::Create),
        created: count(ImportAction::Created),
        exists: count(ImportAction::Exists),
        conflict: count(ImportAction::Conflict),
        invalid: count(ImportAction::Invalid),
        skipped: count(ImportAction::Skipped),
        missing: count(ImportAction::Missing),
    }
}

/// Imports `export` into `catalog`, whose streams are served at `origin` (empty: URLs
/// relative). Every record is planned before any is written; with `dry_run` nothing is.
/// `on_record` is called once for each asset, filter and locator decided (a progress count).
pub async fn import_export<'a>(
    catalog: &Catalog,
    origin: &str,
    export: &'a Export,
    dry_run: bool,
    on_record: &(dyn Fn() + Sync),
) -> Result<ImportReport<'a>> {
    let records = export.rejected.len()
        + export.skipped.len()
        + export.assets.len()
        + export.filters.len()
        + export.locators.len();
    let mut lines = Vec::with_capacity(records);
    let refused = export.rejected.iter().map(|r| (r, ImportAction::Invalid));
    for (r, action) in refused.chain(export.skipped.iter().map(|r| (r, ImportAction::Skipped))) {
        lines.push(ImportLine {
            kind: r.kind,
            id: r.id.as_deref().map(RecordId::Text),
            action,
            source: &r.source,
            message: Some(Note::Export(&r.reason)),
        });
    }

    // Plan every record before writing any.
    let index = catalog.index().await?;
    let containers: BTreeSet<String> = catalog.store().list_containers("asset-").await?.into_iter().collect();
    let bad_assets: BTreeMap<AssetId, &str> =
        index.bad_assets().map(|(id, problem)| (*id, problem.message.as_str())).collect();
    let problems: BTreeMap<&str, &str> = index.problems.iter().map(|p| (p.path.as_str(), p.message.as_str())).collect();
    let mut new_assets = Vec::new();
    let mut assets_ok = BTreeSet::new();
    let mut assets_refused = BTreeSet::new();
    for a in &export.assets {
        match plan_asset(catalog, &index, &bad_assets, &containers, a).await? {
            AssetPlan::Decided(line) => {
                if line.action.is_failure() {
                    assets_refused.insert(a.asset.id);
                } else {
                    assets_ok.insert(a.asset.id);
                }
                on_record();
                lines.push(line);
            }
            AssetPlan::Create(new) => {
                assets_ok.insert(a.asset.id);
                new_assets.push(new);
            }
        }
    }
    let planned_filters =
        filters::plan_filters(&index, &export.filters, &assets_ok, &assets_refused, &problems, &mut lines, on_record);
    let mut new_locators = Vec::new();
    for l in &export.locators {
        let decided = if assets_refused.contains(&l.asset_id) {
            Err(asset_not_imported(l))
        } else if let Some(why) = planned_filters.unbound(l) {
            Err(locator_line(l, ImportAction::Invalid, Some(Note::Text(why))))
        } else {
            plan_locator(&index, &bad_assets, &problems, origin, l, assets_ok.contains(&l.asset_id))
        };
        match decided {
            Ok(()) => new_locators.push(l),
            Err(line) => {
                on_record();
                lines.push(line);
            }
        }
    }

    if dry_run {
        for new in new_assets {
            on_record();
            lines.push(asset_line(new.export, ImportAction::Create, Some(new.note())));
        }
        for f in planned_filters.new {
            on_record();
            lines.push(filters::filter_line(f, ImportAction::Create, None));
        }
        for l in new_locators {
            on_record();
            lines.push(locator_line(l, ImportAction::Create, None));
        }
    } else {
        let mut not_created = BTreeSet::new();
        for new in new_assets {
            let line = create_asset(catalog, new).await?;
            if line.action != ImportAction::Created {
                not_created.insert(line_asset(&line));
            }
            on_record();
            lines.push(line);
        }
        for f in planned_filters.new {
            let line = filters::create_filter(catalog, f, &not_created).await?;
            on_record();
            lines.push(line);
        }
        let mut policies: BTreeMap<PolicyId, AccessPolicy> = index.policies.clone();
        for l in new_locators {
            let line = if not_created.contains(&Some(l.asset_id)) {
                asset_not_imported(l)
            } else {
                create_locator(catalog, &mut policies, origin, l).await?
            };
            on_record();
            lines.push(line);
        }
    }
    let totals = totals(export.assets.len(), export.locators.len(), export.filters.len(), &lines);
    Ok(ImportReport { dry_run, totals, records: lines })
}

fn line_asset(line: &ImportLine<'_>) -> Option<AssetId> {
    match line.id {
        Some(RecordId::Asset(id)) => Some(id),
        _ => None,
    }
}

enum AssetPlan<'a> {
    /// Nothing to write: exists, conflicts or is invalid.
    Decided(ImportLine<'a>),
    Create(NewAsset<'a>),
}

/// An asset to create, its file infos checked.
struct NewAsset<'a> {
    export: &'a ExportAsset,
    files: Vec<AssetFile>,
    from_export: bool,
    container_exists: bool,
}

impl<'a> NewAsset<'a> {
    fn note(&self) -> Note<'a> {
        Note::Files { count: self.files.len(), from_export: self.from_export }
    }
}

fn asset_line<'a>(a: &'a ExportAsset, action: ImportAction, message: Option<Note<'a>>) -> ImportLine<'a> {
    ImportLine { kind: RecordKind::Asset, id: Some(RecordId::Asset(a.asset.id)), action, source: &a.source, message }
}

async fn plan_asset<'a>(
    catalog: &Catalog,
    index: &Index,
    bad_assets: &BTreeMap<AssetId, &str>,
    containers: &BTreeSet<String>,
    a: &'a ExportAsset,
) -> Result<AssetPlan<'a>> {
    let line = |action, message: String| AssetPlan::Decided(asset_line(a, action, Some(Note::Text(message))));
    if let Some(existing) = index.assets.get(&a.asset.id) {
        return Ok(AssetPlan::Decided(compare_asset(&existing.asset, a)));
    }
    if let Some(problem) = bad_assets.get(&a.asset.id) {
        return Ok(line(ImportAction::Conflict, format!("exists, but {problem}; left as it is")));
    }
    // File infos from the container's blobs; from the export when it has none here.
    let container_exists = containers.contains(&a.asset.container);
    let blobs = if container_exists {
        match catalog.store().list_all(&a.asset.container, "").await {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        }
    } else {
        Vec::new()
    };
    let from_export = blobs.is_empty() && !a.files.is_empty();
    let blobs = if from_export { a.files.iter().map(|f| listed(&f.name, f.size)).collect() } else { blobs };
    let files = match file_infos(&a.asset, &blobs) {
        Ok(files) => files,
        Err(e) => return Ok(line(ImportAction::Invalid, e.to_string())),
    };
    if let Err(e) = validate_files(&a.asset.id, &files) {
        return Ok(line(ImportAction::Invalid, e.to_string()));
    }
    Ok(AssetPlan::Create(NewAsset { export: a, files, from_export, container_exists }))
}

async fn create_asset<'a>(catalog: &Catalog, new: NewAsset<'a>) -> Result<ImportLine<'a>> {
    let a = new.export;
    if !new.container_exists {
        catalog.store().create_container(&a.asset.container).await?;
    }
    let note = new.note();
    let record = AssetRecord { asset: a.asset.clone(), files: new.files };
    match catalog.create_asset_with(&record, None).await {
        Ok(()) => Ok(asset_line(a, ImportAction::Created, Some(note))),
        // Written by someone else since the plan.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            Ok(compare_asset(&catalog.get_asset(&a.asset.id).await?.value.asset, a))
        }
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            Ok(asset_line(a, ImportAction::Invalid, Some(Note::Text(e.to_string()))))
        }
        Err(e) => Err(e),
    }
}

fn compare_asset<'a>(existing: &Asset, a: &'a ExportAsset) -> ImportLine<'a> {
    if same_asset_terms(existing, &a.asset) {
        asset_line(a, ImportAction::Exists, None)
    } else {
        let message = format!(
            "exists with other terms (name '{}', options {:?}, container {}); left as it is",
            existing.name, existing.options, existing.container
        );
        asset_line(a, ImportAction::Conflict, Some(Note::Text(message)))
    }
}

/// A blob as a listing would show it, for file infos made from an export.
fn listed(name: &str, size: u64) -> BlobMeta {
    BlobMeta {
        name: name.to_owned(),
        size,
        etag: String::new(),
        last_modified: None,
        kind: BlobKind::Block,
        properties: Default::default(),
        metadata: Default::default(),
    }
}

fn locator_line<'a>(l: &'a ExportLocator, action: ImportAction, message: Option<Note<'a>>) -> ImportLine<'a> {
    ImportLine { kind: RecordKind::Locator, id: Some(RecordId::Locator(l.id)), action, source: &l.source, message }
}

/// The line of a locator whose asset was refused (in the plan or on its write).
fn asset_not_imported(l: &ExportLocator) -> ImportLine<'_> {
    let message = format!("its asset {} was not imported", l.asset_id);
    locator_line(l, ImportAction::Conflict, Some(Note::Text(message)))
}

/// `Ok` when the locator is to be written, else the line saying why not.
fn plan_locator<'a>(
    index: &Index,
    bad_assets: &BTreeMap<AssetId, &str>,
    problems: &BTreeMap<&str, &str>,
    origin: &str,
    l: &'a ExportLocator,
    asset_in_export: bool,
) -> std::result::Result<(), ImportLine<'a>> {
    let refuse = |action, message: String| locator_line(l, action, Some(Note::Text(message)));
    if let Some(existing) = index.locators.get(&l.id) {
        return Err(compare_locator(existing, l));
    }
    let record = format!("locators/{}.json", l.id.guid());
    if let Some(problem) = problems.get(record.as_str()) {
        return Err(refuse(ImportAction::Conflict, format!("exists, but {problem}; left as it is")));
    }
    if !asset_in_export {
        if let Some(problem) = bad_assets.get(&l.asset_id) {
            return Err(refuse(ImportAction::Invalid, format!("its asset {} is here, but {problem}", l.asset_id)));
        }
        if !index.assets.contains_key(&l.asset_id) {
            let message = format!("its asset {} is neither in the export nor in this data center", l.asset_id);
            return Err(refuse(ImportAction::Invalid, message));
        }
    }
    let policy = l.policy();
    l.record(origin, &policy).validate(&l.id, Some(&policy)).map_err(|e| refuse(ImportAction::Invalid, e.to_string()))
}

async fn create_locator<'a>(
    catalog: &Catalog,
    policies: &mut BTreeMap<PolicyId, AccessPolicy>,
    origin: &str,
    l: &'a ExportLocator,
) -> Result<ImportLine<'a>> {
    // The policy of these terms: one the catalog has (whatever its name), else a new one.
    let wanted = l.policy();
    let policy = match policies.get(&wanted.id) {
        Some(p) => p.clone(),
        None => match catalog.create_policy(&l.policy_name, l.duration_minutes, l.permissions).await {
            Ok(p) => {
                policies.insert(p.id, p.clone());
                p
            }
            // One of these terms exists but its record fails its checks.
            Err(e) if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::Corrupt) => {
                let message = format!("its access policy: {e}");
                return Ok(locator_line(l, ImportAction::Invalid, Some(Note::Text(message))));
            }
            Err(e) => return Err(e),
        },
    };
    match catalog.put_locator(&l.record(origin, &policy), &policy).await {
        Ok(()) => Ok(locator_line(l, ImportAction::Created, None)),
        // Written by someone else since the plan.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(compare_locator(&catalog.get_locator(&l.id).await?, l)),
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            Ok(locator_line(l, ImportAction::Invalid, Some(Note::Text(e.to_string()))))
        }
        Err(e) => Err(e),
    }
}

fn compare_locator<'a>(existing: &Locator, l: &'a ExportLocator) -> ImportLine<'a> {
    if l.matches(existing) {
        locator_line(l, ImportAction::Exists, None)
    } else {
        let start = existing.start_time.map_or_else(|| "none".to_owned(), |t| t.to_rfc3339());
        let message = format!(
            "exists with other terms (asset {}, {}, start {start}, expiry {}, filters [{}]); left as it is",
            existing.asset_id,
            existing.locator_type,
            existing.expiration.to_rfc3339(),
            existing.delivery.filters.join(";")
        );
        locator_line(l, ImportAction::Conflict, Some(Note::Text(message)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use serde_json::Value;

    use super::*;
    use crate::ams::read_export;
    use crate::store::InMemoryStore;

    fn v2_export() -> Export {
        let doc = |name: &str, text: &str| (name.to_owned(), serde_json::from_str::<Value>(text).unwrap());
        read_export(&[
            doc("Assets.json", include_str!("../../tests/data/ams/v2/Assets.json")),
            doc("AccessPolicies.json", include_str!("../../tests/data/ams/v2/AccessPolicies.json")),
            doc("Locators.json", include_str!("../../tests/data/ams/v2/Locators.json")),
        ])
        .unwrap()
    }

    fn actions(report: &ImportReport<'_>) -> Vec<(RecordKind, ImportAction)> {
        report.records.iter().map(|l| (l.kind, l.action)).collect()
    }

    #[tokio::test]
    async fn a_dry_run_writes_nothing_a_run_creates_and_a_second_run_finds_every_record() {
        let catalog = Catalog::new(Arc::new(InMemoryStore::new()));
        let export = v2_export();
        let counted = AtomicU64::new(0);
        let count = || {
            counted.fetch_add(1, Ordering::Relaxed);
        };

        let plan = import_export(&catalog, "", &export, true, &count).await.unwrap();
        assert!(plan.dry_run && !plan.has_failures());
        assert_eq!((plan.totals.create, plan.totals.skipped, plan.totals.created), (4, 1, 0), "{plan:?}");
        assert!(catalog.list_assets().await.unwrap().records.is_empty(), "a dry run writes nothing");
        assert_eq!(counted.load(Ordering::Relaxed), 4, "one progress step per asset and locator");

        let done = import_export(&catalog, "https://origin.example", &export, false, &count).await.unwrap();
        use ImportAction::*;
        use RecordKind::{Asset as A, Locator as L};
        assert_eq!(actions(&done), [(L, Skipped), (A, Created), (A, Created), (L, Created), (L, Created)]);
        let locator = catalog.get_locator(&export.locators[0].id).await.unwrap();
        assert_eq!(locator.path, format!("https://origin.example/{}/", export.locators[0].id.guid()));

        let again = import_export(&catalog, "", &export, false, &count).await.unwrap();
        assert_eq!(actions(&again), [(L, Skipped), (A, Exists), (A, Exists), (L, Exists), (L, Exists)]);
        let json = serde_json::to_value(&again).unwrap();
        assert_eq!(json["totals"]["exists"], 4);
        assert_eq!(json["records"][1]["id"], "nb:cid:UUID:0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e");
    }

    #[tokio::test]
    async fn an_asset_with_other_terms_is_a_conflict_and_its_locators_are_not_written() {
        let catalog = Catalog::new(Arc::new(InMemoryStore::new()));
        let export = v2_export();
        let mut renamed = export.assets[0].asset.clone();
        renamed.name = "someone else's".into();
        catalog.create_asset_with(&AssetRecord { asset: renamed, files: Vec::new() }, None).await.unwrap();

        let report = import_export(&catalog, "", &export, false, &|| {}).await.unwrap();
        assert!(report.has_failures());
        let conflict = report.records.iter().find(|l| l.action == ImportAction::Conflict).unwrap();
        assert!(conflict.message.as_ref().unwrap().to_string().contains("someone else's"), "{conflict:?}");
        let own = export.locators.iter().find(|l| l.asset_id == export.assets[0].asset.id).unwrap();
        let line = report.records.iter().find(|l| l.source == own.source).unwrap();
        assert_eq!(line.action, ImportAction::Conflict);
        assert!(line.message.as_ref().unwrap().to_string().contains("was not imported"));
        assert!(catalog.get_locator(&own.id).await.is_err(), "nothing written for the refused asset");
    }
}
