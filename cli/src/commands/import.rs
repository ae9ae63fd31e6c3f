//! `mirrorcast import`: the records of a Media Services export (v2 REST JSON or
//! v3 `az ams` JSON) written into a data center's catalog with their ids, so
//! old streaming URLs keep their paths. Conflicts are reported, never
//! overwritten; invalid records are reported one by one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mirrorcast_core::ams::{read_export, same_asset_terms, Export, ExportAsset, ExportLocator, RecordKind};
use mirrorcast_core::catalog::{file_infos, Catalog};
use mirrorcast_core::id::AssetId;
use mirrorcast_core::model::Locator;
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

#[derive(Debug, Serialize)]
struct Line {
    kind: RecordKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    action: Action,
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

pub async fn run(ctx: &Context<'_>, dc: &str, path: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    // The whole export is read and checked before anything is written.
    let documents = read_documents(path)?;
    let export = read_export(&documents);
    let dc = ctx.dc(dc)?;
    let catalog = dc.catalog();
    let mut lines = Vec::new();
    for r in &export.rejected {
        lines.push(Line {
            kind: r.kind,
            id: r.id.clone(),
            action: Action::Invalid,
            source: r.source.clone(),
            message: Some(r.reason.clone()),
        });
    }
    for r in &export.skipped {
        lines.push(Line {
            kind: r.kind,
            id: r.id.clone(),
            action: Action::Skipped,
            source: r.source.clone(),
            message: Some(r.reason.clone()),
        });
    }
    let mut assets_ok = Vec::new();
    let mut assets_conflicting = Vec::new();
    let label = if dry_run { "import (dry run)" } else { "import" };
    let progress = Work::items(Mode::detect(ctx.json), label, (export.assets.len() + export.locators.len()) as u64);
    for a in &export.assets {
        let line = import_asset(&catalog, a, dry_run).await?;
        progress.advance(1);
        match line.action {
            Action::Conflict | Action::Invalid => assets_conflicting.push(a.asset.id),
            _ => assets_ok.push(a.asset.id),
        }
        lines.push(line);
    }
    for l in &export.locators {
        let line = if assets_conflicting.contains(&l.asset_id) {
            line_for(l, Action::Conflict, Some(format!("its asset {} was not imported", l.asset_id)))
        } else {
            import_locator(&catalog, &dc.origin, l, assets_ok.contains(&l.asset_id), dry_run).await?
        };
        progress.advance(1);
        lines.push(line);
    }
    progress.finish();
    report(ctx.json, &export, &lines, dry_run)?;
    let bad = lines.iter().any(|l| matches!(l.action, Action::Conflict | Action::Invalid));
    Ok(if bad { ExitCode::from(crate::exit::FAILURE) } else { ExitCode::SUCCESS })
}

/// A JSON file, or every `*.json` file of a folder (not recursive).
fn read_documents(path: &Path) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
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
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read(&file)
            .map_err(|e| Error::invalid_input(format!("cannot read export '{}': {e}", file.display())))?;
        let value: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
            Error::invalid_input(format!(
                "export '{}' is not JSON ({e}): give v2 REST or `az ams` JSON",
                file.display()
            ))
        })?;
        if !mirrorcast_core::ams::looks_like_export(&value) {
            return Err(Error::invalid_input(format!(
                "'{}' holds no Media Services assets, access policies or locators",
                file.display()
            ))
            .into());
        }
        let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        documents.push((name, value));
    }
    Ok(documents)
}

async fn import_asset(catalog: &Catalog, a: &ExportAsset, dry_run: bool) -> anyhow::Result<Line> {
    let line = |action, message: Option<String>| Line {
        kind: RecordKind::Asset,
        id: Some(a.asset.id.to_string()),
        action,
        source: a.source.clone(),
        message,
    };
    match catalog.get_asset(&a.asset.id).await {
        Ok(existing) => return Ok(compare_asset(&existing.value.asset, a, line)),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    // File infos from the container's blobs; from the export when it has none here.
    let blobs = match catalog.store().list_all(&a.asset.container, "").await {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let from_export = blobs.is_empty() && !a.files.is_empty();
    let blobs = if from_export { a.files.iter().map(|f| listed(&f.name, f.size)).collect() } else { blobs };
    if let Err(e) = file_infos(&a.asset, &blobs) {
        return Ok(line(Action::Invalid, Some(e.to_string())));
    }
    let note = Some(format!(
        "{} file(s){}",
        blobs.len(),
        if from_export { " as the export lists them (the container holds no blobs)" } else { "" }
    ));
    if dry_run {
        return Ok(line(Action::Create, note));
    }
    match catalog.create_asset(&a.asset).await {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let existing = catalog.get_asset(&a.asset.id).await?;
            return Ok(compare_asset(&existing.value.asset, a, line));
        }
        Err(e) => return Err(e.into()),
    }
    if !blobs.is_empty() {
        catalog.set_files_from(&a.asset.id, &blobs, None, None).await?;
    }
    Ok(line(Action::Created, note))
}

fn compare_asset(
    existing: &mirrorcast_core::model::Asset,
    a: &ExportAsset,
    line: impl Fn(Action, Option<String>) -> Line,
) -> Line {
    if same_asset_terms(existing, &a.asset) {
        line(Action::Exists, None)
    } else {
        line(
            Action::Conflict,
            Some(format!(
                "exists with other terms (name '{}', options {:?}, container {}); left as it is",
                existing.name, existing.options, existing.container
            )),
        )
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

fn line_for(l: &ExportLocator, action: Action, message: Option<String>) -> Line {
    Line { kind: RecordKind::Locator, id: Some(l.id.to_string()), action, source: l.source.clone(), message }
}

async fn import_locator(
    catalog: &Catalog,
    origin: &str,
    l: &ExportLocator,
    asset_in_export: bool,
    dry_run: bool,
) -> anyhow::Result<Line> {
    match catalog.get_locator(&l.id).await {
        Ok(existing) => return Ok(compare_locator(&existing, l)),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    if !asset_in_export && !asset_exists(catalog, &l.asset_id).await? {
        return Ok(line_for(
            l,
            Action::Invalid,
            Some(format!("its asset {} is neither in the export nor in this data center", l.asset_id)),
        ));
    }
    if dry_run {
        return Ok(line_for(l, Action::Create, None));
    }
    let policy = catalog.policy_for(&l.policy_name, l.duration_minutes, l.permissions).await?;
    let locator = Locator {
        id: l.id,
        locator_type: l.locator_type,
        asset_id: l.asset_id,
        policy_id: policy.id,
        start_time: l.start_time,
        expiration: l.expiration,
        path: format!("{}/{}/", origin.trim_end_matches('/'), l.id.guid()),
        delivery: Default::default(),
    };
    match catalog.put_locator(&locator, &policy).await {
        Ok(()) => Ok(line_for(l, Action::Created, None)),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(compare_locator(&catalog.get_locator(&l.id).await?, l)),
        Err(e) => Err(e.into()),
    }
}

async fn asset_exists(catalog: &Catalog, id: &AssetId) -> anyhow::Result<bool> {
    match catalog.get_asset(id).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn compare_locator(existing: &Locator, l: &ExportLocator) -> Line {
    if l.matches(existing) {
        line_for(l, Action::Exists, None)
    } else {
        let start = existing.start_time.map_or_else(|| "none".to_owned(), |t| t.to_rfc3339());
        line_for(
            l,
            Action::Conflict,
            Some(format!(
                "exists with other terms (asset {}, {}, start {start}, expiry {}); left as it is",
                existing.asset_id,
                existing.locator_type,
                existing.expiration.to_rfc3339()
            )),
        )
    }
}

fn report(json: bool, export: &Export, lines: &[Line], dry_run: bool) -> anyhow::Result<()> {
    let count = |a: Action| lines.iter().filter(|l| l.action == a).count();
    let totals = serde_json::json!({
        "assets": export.assets.len(),
        "locators": export.locators.len(),
        "create": count(Action::Create),
        "created": count(Action::Created),
        "exists": count(Action::Exists),
        "conflict": count(Action::Conflict),
        "invalid": count(Action::Invalid),
        "skipped": count(Action::Skipped),
    });
    if json {
        return output::json(&serde_json::json!({ "dry_run": dry_run, "totals": totals, "records": lines }));
    }
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            let action = match l.action {
                Action::Create => "would create",
                Action::Created => "created",
                Action::Exists => "exists",
                Action::Conflict => "CONFLICT",
                Action::Invalid => "INVALID",
                Action::Skipped => "skipped",
            };
            let kind =
                serde_json::to_value(l.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            vec![
                action.to_owned(),
                kind,
                l.id.clone().unwrap_or_default(),
                l.source.clone(),
                l.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(&["RESULT", "KIND", "ID", "SOURCE", "NOTE"], &rows);
    if dry_run {
        outln!(
            "dry run: would create {}; {} exist already; {} conflicts, {} invalid, {} skipped; nothing was written",
            count(Action::Create),
            count(Action::Exists),
            count(Action::Conflict),
            count(Action::Invalid),
            count(Action::Skipped)
        );
    } else {
        outln!(
            "created {}; {} exist already; {} conflicts (left as they are), {} invalid, {} skipped",
            count(Action::Created),
            count(Action::Exists),
            count(Action::Conflict),
            count(Action::Invalid),
            count(Action::Skipped)
        );
    }
    Ok(())
}
