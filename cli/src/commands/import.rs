//! `mirrorcast import`: the records of a Media Services export (v2 REST JSON or
//! v3 `az ams` JSON) written into a data center's catalog with their ids, so
//! old streaming URLs keep their paths. Conflicts are reported, never
//! overwritten; invalid records are reported one by one.
//!
//! Three passes, so one bad record never stops the import halfway: the export
//! is read (streamed, record by record) and checked; every record is planned
//! against the catalog (one listing) and the containers; only then are the
//! planned records written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mirrorcast_core::ams::{same_asset_terms, Export, ExportAsset, ExportLocator, ExportReader, RecordKind};
use mirrorcast_core::catalog::index::Index;
use mirrorcast_core::catalog::{file_infos, AssetRecord, Catalog};
use mirrorcast_core::id::{AssetId, LocatorId, PolicyId};
use mirrorcast_core::model::{validate_files, AccessPolicy, Asset, AssetFile, Locator};
use mirrorcast_core::store::{BlobKind, BlobMeta, BlobStoreExt};
use mirrorcast_core::{Error, ErrorKind};
use serde::Serialize;

use super::Context;
use crate::output;
use crate::progress::{Mode, Work};

/// What happened (or, in a dry run, would happen) to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Create,
    Created,
    Exists,
    Conflict,
    Invalid,
    Skipped,
}

/// One record's result. It borrows from the export: a report of a million
/// records is not a second copy of them.
#[derive(Debug, Serialize)]
struct Line<'a> {
    kind: RecordKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<RecordId<'a>>,
    action: Action,
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Note<'a>>,
}

/// A record's id as the report prints it.
#[derive(Debug)]
enum RecordId<'a> {
    Asset(AssetId),
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
enum Note<'a> {
    Text(String),
    Export(&'a str),
    /// An asset's file infos: how many, and whether from the export's list.
    Files {
        count: usize,
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
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_text!(RecordId, Note);

pub async fn run(ctx: &Context<'_>, dc: &str, path: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let export = read_files(path)?;
    let dc = ctx.dc(dc)?;
    let catalog = dc.catalog();
    let records = export.rejected.len() + export.skipped.len() + export.assets.len() + export.locators.len();
    let mut lines = Vec::with_capacity(records);
    let refused = export.rejected.iter().map(|r| (r, Action::Invalid));
    for (r, action) in refused.chain(export.skipped.iter().map(|r| (r, Action::Skipped))) {
        lines.push(Line {
            kind: r.kind,
            id: r.id.as_deref().map(RecordId::Text),
            action,
            source: &r.source,
            message: Some(Note::Export(&r.reason)),
        });
    }
    let label = if dry_run { "import (dry run)" } else { "import" };
    let progress = Work::items(Mode::detect(ctx.json), label, (export.assets.len() + export.locators.len()) as u64);

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
        match plan_asset(&catalog, &index, &bad_assets, &containers, a).await? {
            AssetPlan::Decided(line) => {
                if matches!(line.action, Action::Conflict | Action::Invalid) {
                    assets_refused.insert(a.asset.id);
                } else {
                    assets_ok.insert(a.asset.id);
                }
                progress.advance(1);
                lines.push(line);
            }
            AssetPlan::Create(new) => {
                assets_ok.insert(a.asset.id);
                new_assets.push(new);
            }
        }
    }
    let mut new_locators = Vec::new();
    for l in &export.locators {
        let decided = if assets_refused.contains(&l.asset_id) {
            Err(line_for(l, Action::Conflict, Some(Note::Text(format!("its asset {} was not imported", l.asset_id)))))
        } else {
            plan_locator(&index, &bad_assets, &problems, &dc.origin, l, assets_ok.contains(&l.asset_id))
        };
        match decided {
            Ok(()) => new_locators.push(l),
            Err(line) => {
                progress.advance(1);
                lines.push(line);
            }
        }
    }

    if dry_run {
        for new in new_assets {
            progress.advance(1);
            lines.push(asset_line(new.export, Action::Create, Some(new.note())));
        }
        for l in new_locators {
            progress.advance(1);
            lines.push(line_for(l, Action::Create, None));
        }
    } else {
        let mut not_created = BTreeSet::new();
        for new in new_assets {
            let line = create_asset(&catalog, new).await?;
            if line.action != Action::Created {
                not_created.insert(line_asset(&line));
            }
            progress.advance(1);
            lines.push(line);
        }
        let mut policies: BTreeMap<PolicyId, AccessPolicy> = index.policies.clone();
        for l in new_locators {
            let line = if not_created.contains(&Some(l.asset_id)) {
                line_for(l, Action::Conflict, Some(Note::Text(format!("its asset {} was not imported", l.asset_id))))
            } else {
                create_locator(&catalog, &mut policies, &dc.origin, l).await?
            };
            progress.advance(1);
            lines.push(line);
        }
    }
    progress.finish();
    report(ctx.json, &export, &lines, dry_run)?;
    let bad = lines.iter().any(|l| matches!(l.action, Action::Conflict | Action::Invalid));
    Ok(if bad { ExitCode::from(crate::exit::FAILURE) } else { ExitCode::SUCCESS })
}

fn line_asset(line: &Line<'_>) -> Option<AssetId> {
    match line.id {
        Some(RecordId::Asset(id)) => Some(id),
        _ => None,
    }
}

/// A JSON file, or every `*.json` file of a folder (not recursive), read
/// record by record: memory holds what import needs of each, never a document.
fn read_files(path: &Path) -> anyhow::Result<Export> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::invalid_input(format!("cannot read folder '{}': {e}", path.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("json")))
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(Error::invalid_input(format!("folder '{}' holds no .json export files", path.display())).into());
        }
        found
    } else {
        vec![path.to_path_buf()]
    };
    let mut reader = ExportReader::new();
    for file in files {
        let opened = std::fs::File::open(&file)
            .map_err(|e| Error::invalid_input(format!("cannot read export '{}': {e}", file.display())))?;
        let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut json = serde_json::Deserializer::from_reader(BufReader::with_capacity(256 * 1024, opened));
        let records = reader.read_document(&name, &mut json).and_then(|n| json.end().map(|()| n)).map_err(|e| {
            let what = if e.is_io() { "cannot be read" } else { "is not JSON" };
            Error::invalid_input(format!(
                "export '{}' {what} ({e}): give v2 REST or `az ams` JSON; nothing was written",
                file.display()
            ))
        })?;
        if records == 0 {
            return Err(Error::invalid_input(format!(
                "'{}' holds no Media Services assets, access policies or locators",
                file.display()
            ))
            .into());
        }
    }
    Ok(reader.finish())
}

enum AssetPlan<'a> {
    /// Nothing to write: exists, conflicts or is invalid.
    Decided(Line<'a>),
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

fn asset_line<'a>(a: &'a ExportAsset, action: Action, message: Option<Note<'a>>) -> Line<'a> {
    Line { kind: RecordKind::Asset, id: Some(RecordId::Asset(a.asset.id)), action, source: &a.source, message }
}

async fn plan_asset<'a>(
    catalog: &Catalog,
    index: &Index,
    bad_assets: &BTreeMap<AssetId, &str>,
    containers: &BTreeSet<String>,
    a: &'a ExportAsset,
) -> anyhow::Result<AssetPlan<'a>> {
    let line = |action, message: String| AssetPlan::Decided(asset_line(a, action, Some(Note::Text(message))));
    if let Some(existing) = index.assets.get(&a.asset.id) {
        return Ok(AssetPlan::Decided(compare_asset(&existing.asset, a)));
    }
    if let Some(problem) = bad_assets.get(&a.asset.id) {
        return Ok(line(Action::Conflict, format!("exists, but {problem}; left as it is")));
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
        Err(e) => return Ok(line(Action::Invalid, e.to_string())),
    };
    if let Err(e) = validate_files(&a.asset.id, &files) {
        return Ok(line(Action::Invalid, e.to_string()));
    }
    Ok(AssetPlan::Create(NewAsset { export: a, files, from_export, container_exists }))
}

async fn create_asset<'a>(catalog: &Catalog, new: NewAsset<'a>) -> anyhow::Result<Line<'a>> {
    let a = new.export;
    if !new.container_exists {
        catalog.store().create_container(&a.asset.container).await?;
    }
    let note = new.note();
    let record = AssetRecord { asset: a.asset.clone(), files: new.files };
    match catalog.create_asset_with(&record, None).await {
        Ok(()) => Ok(asset_line(a, Action::Created, Some(note))),
        // Written by someone else since the plan.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            Ok(compare_asset(&catalog.get_asset(&a.asset.id).await?.value.asset, a))
        }
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            Ok(asset_line(a, Action::Invalid, Some(Note::Text(e.to_string()))))
        }
        Err(e) => Err(e.into()),
    }
}

fn compare_asset<'a>(existing: &Asset, a: &'a ExportAsset) -> Line<'a> {
    if same_asset_terms(existing, &a.asset) {
        asset_line(a, Action::Exists, None)
    } else {
        let message = format!(
            "exists with other terms (name '{}', options {:?}, container {}); left as it is",
            existing.name, existing.options, existing.container
        );
        asset_line(a, Action::Conflict, Some(Note::Text(message)))
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

fn line_for<'a>(l: &'a ExportLocator, action: Action, message: Option<Note<'a>>) -> Line<'a> {
    Line { kind: RecordKind::Locator, id: Some(RecordId::Locator(l.id)), action, source: &l.source, message }
}

/// `Ok` when the locator is to be written, else the line saying why not.
fn plan_locator<'a>(
    index: &Index,
    bad_assets: &BTreeMap<AssetId, &str>,
    problems: &BTreeMap<&str, &str>,
    origin: &str,
    l: &'a ExportLocator,
    asset_in_export: bool,
) -> Result<(), Line<'a>> {
    let refuse = |action, message: String| line_for(l, action, Some(Note::Text(message)));
    if let Some(existing) = index.locators.get(&l.id) {
        return Err(compare_locator(existing, l));
    }
    let record = format!("locators/{}.json", l.id.guid());
    if let Some(problem) = problems.get(record.as_str()) {
        return Err(refuse(Action::Conflict, format!("exists, but {problem}; left as it is")));
    }
    if !asset_in_export {
        if let Some(problem) = bad_assets.get(&l.asset_id) {
            return Err(refuse(Action::Invalid, format!("its asset {} is here, but {problem}", l.asset_id)));
        }
        if !index.assets.contains_key(&l.asset_id) {
            let message = format!("its asset {} is neither in the export nor in this data center", l.asset_id);
            return Err(refuse(Action::Invalid, message));
        }
    }
    let policy = l.policy();
    l.record(origin, &policy).validate(&l.id, Some(&policy)).map_err(|e| refuse(Action::Invalid, e.to_string()))
}

async fn create_locator<'a>(
    catalog: &Catalog,
    policies: &mut BTreeMap<PolicyId, AccessPolicy>,
    origin: &str,
    l: &'a ExportLocator,
) -> anyhow::Result<Line<'a>> {
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
                return Ok(line_for(l, Action::Invalid, Some(Note::Text(format!("its access policy: {e}")))));
            }
            Err(e) => return Err(e.into()),
        },
    };
    match catalog.put_locator(&l.record(origin, &policy), &policy).await {
        Ok(()) => Ok(line_for(l, Action::Created, None)),
        // Written by someone else since the plan.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(compare_locator(&catalog.get_locator(&l.id).await?, l)),
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            Ok(line_for(l, Action::Invalid, Some(Note::Text(e.to_string()))))
        }
        Err(e) => Err(e.into()),
    }
}

fn compare_locator<'a>(existing: &Locator, l: &'a ExportLocator) -> Line<'a> {
    if l.matches(existing) {
        line_for(l, Action::Exists, None)
    } else {
        let start = existing.start_time.map_or_else(|| "none".to_owned(), |t| t.to_rfc3339());
        let message = format!(
            "exists with other terms (asset {}, {}, start {start}, expiry {}); left as it is",
            existing.asset_id,
            existing.locator_type,
            existing.expiration.to_rfc3339()
        );
        line_for(l, Action::Conflict, Some(Note::Text(message)))
    }
}

#[derive(Serialize)]
struct Totals {
    assets: usize,
    locators: usize,
    create: usize,
    created: usize,
    exists: usize,
    conflict: usize,
    invalid: usize,
    skipped: usize,
}

#[derive(Serialize)]
struct Report<'a> {
    dry_run: bool,
    totals: Totals,
    records: &'a [Line<'a>],
}

fn report(json: bool, export: &Export, lines: &[Line<'_>], dry_run: bool) -> anyhow::Result<()> {
    let count = |a: Action| lines.iter().filter(|l| l.action == a).count();
    let totals = Totals {
        assets: export.assets.len(),
        locators: export.locators.len(),
        create: count(Action::Create),
        created: count(Action::Created),
        exists: count(Action::Exists),
        conflict: count(Action::Conflict),
        invalid: count(Action::Invalid),
        skipped: count(Action::Skipped),
    };
    if json {
        return output::json(&Report { dry_run, totals, records: lines });
    }
    let row = |l: &Line<'_>| {
        let action = match l.action {
            Action::Create => "would create",
            Action::Created => "created",
            Action::Exists => "exists",
            Action::Conflict => "CONFLICT",
            Action::Invalid => "INVALID",
            Action::Skipped => "skipped",
        };
        let kind = match l.kind {
            RecordKind::Asset => "asset",
            RecordKind::File => "file",
            RecordKind::AccessPolicy => "access_policy",
            RecordKind::Locator => "locator",
            RecordKind::Unknown => "unknown",
        };
        [
            action.to_owned(),
            kind.to_owned(),
            l.id.as_ref().map(ToString::to_string).unwrap_or_default(),
            l.source.to_owned(),
            l.message.as_ref().map(ToString::to_string).unwrap_or_default(),
        ]
    };
    output::table_streamed(&["RESULT", "KIND", "ID", "SOURCE", "NOTE"], || lines.iter().map(row));
    if dry_run {
        outln!(
            "dry run: would create {}; {} exist already; {} conflicts, {} invalid, {} skipped; nothing was written",
            totals.create,
            totals.exists,
            totals.conflict,
            totals.invalid,
            totals.skipped
        );
    } else {
        outln!(
            "created {}; {} exist already; {} conflicts (left as they are), {} invalid, {} skipped",
            totals.created,
            totals.exists,
            totals.conflict,
            totals.invalid,
            totals.skipped
        );
    }
    Ok(())
}
