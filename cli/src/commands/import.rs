//! `mirrorcast import`: the records of a Media Services export (v2 REST JSON or
//! v3 `az ams` JSON) written into a data center's catalog with their ids, so
//! old streaming URLs keep their paths. The engine (plan every record, then
//! write) is `mirrorcast_core::import`; this reads the export's files and
//! renders the report.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mirrorcast_core::ams::{Export, ExportReader, RecordKind};
use mirrorcast_core::import::{import_export, import_protection, ImportAction, ImportLine, ImportReport};
use mirrorcast_core::Error;

use crate::context::Context;
use crate::output;
use crate::progress::{Mode, Work};

pub(crate) async fn run(ctx: &Context<'_>, dc: &str, path: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let export = read_files(path)?;
    let dc = ctx.dc(dc)?;
    let label = if dry_run { "import (dry run)" } else { "import" };
    let progress = Work::items(
        Mode::detect(ctx.json),
        label,
        (export.assets.len() + export.filters.len() + export.locators.len()) as u64,
    );
    // Keys and policies first: the locators name them. A KEK is needed only when the export holds secrets.
    let kek = if export.protection.is_empty() { None } else { dc.kek.load().await? };
    let protection = import_protection(&dc.catalog(), kek.as_deref(), &export.protection, dry_run).await?;
    let report = import_export(&dc.catalog(), &dc.origin, &export, dry_run, &|| progress.advance(1)).await?;
    let report = report.with_lines(protection);
    progress.finish();
    render(ctx.json, &report)?;
    Ok(if report.has_failures() { ExitCode::from(crate::exit::FAILURE) } else { ExitCode::SUCCESS })
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
                "'{}' holds no Media Services assets, access policies, locators, filters, content keys or policies",
                file.display()
            ))
            .into());
        }
    }
    Ok(reader.finish())
}

fn render(json: bool, report: &ImportReport<'_>) -> anyhow::Result<()> {
    if json {
        return output::json(report);
    }
    let row = |l: &ImportLine<'_>| {
        let action = match l.action {
            ImportAction::Create => "would create",
            ImportAction::Created => "created",
            ImportAction::Exists => "exists",
            ImportAction::Conflict => "CONFLICT",
            ImportAction::Invalid => "INVALID",
            ImportAction::Skipped => "skipped",
            ImportAction::Missing => "MISSING",
        };
        let kind = match l.kind {
            RecordKind::Asset => "asset",
            RecordKind::File => "file",
            RecordKind::AccessPolicy => "access_policy",
            RecordKind::Locator => "locator",
            RecordKind::Filter => "filter",
            RecordKind::Unknown => "unknown",
            RecordKind::ContentKey => "content_key",
            RecordKind::ContentKeyPolicy => "content_key_policy",
            RecordKind::StreamingPolicy => "streaming_policy",
        };
        [
            action.to_owned(),
            kind.to_owned(),
            l.id.as_ref().map(ToString::to_string).unwrap_or_default(),
            l.source.to_owned(),
            l.message.as_ref().map(ToString::to_string).unwrap_or_default(),
        ]
    };
    output::table_streamed(&["RESULT", "KIND", "ID", "SOURCE", "NOTE"], || report.records.iter().map(row));
    let totals = &report.totals;
    if report.dry_run {
        outln!(
            "dry run: would create {}; {} exist already; {} conflicts, {} invalid, {} skipped, {} missing; nothing was written",
            totals.create,
            totals.exists,
            totals.conflict,
            totals.invalid,
            totals.skipped,
            totals.missing
        );
    } else {
        outln!(
            "created {}; {} exist already; {} conflicts (left as they are), {} invalid, {} skipped, {} missing (keys the export does not hold)",
            totals.created,
            totals.exists,
            totals.conflict,
            totals.invalid,
            totals.skipped,
            totals.missing
        );
    }
    Ok(())
}
