//! `filter create|list|show|delete`: dynamic manifest filters of an asset or of the data center.

use std::process::ExitCode;

use mirrorcast_core::catalog::filters::FilterScope;
use mirrorcast_core::id::AssetId;
use mirrorcast_core::model::filter::Filter;
use mirrorcast_core::Error;

use crate::args::filter::{FilterCommand, FilterTask};
use crate::context::Context;
use crate::output;

fn scope(asset: Option<AssetId>) -> FilterScope {
    asset.map_or(FilterScope::Account, FilterScope::Asset)
}

/// One line of a filter for a table: what it keeps.
fn summary(f: &Filter) -> [String; 3] {
    let range = f.presentation_time_range.as_ref().map_or_else(String::new, |r| {
        let at = |v: Option<u64>| v.map_or_else(|| "…".to_owned(), |v| v.to_string());
        format!("{}-{} /{}", at(r.start_timestamp), at(r.end_timestamp), r.timescale())
    });
    let first = f.first_quality.map(|q| q.bitrate.to_string()).unwrap_or_default();
    [range, first, f.tracks.len().to_string()]
}

pub(crate) async fn run(ctx: &Context<'_>, command: FilterCommand) -> anyhow::Result<ExitCode> {
    match command.resolve()? {
        FilterTask::Create { dc, asset, filter } => {
            let dc = ctx.dc(&dc)?;
            dc.catalog().create_filter(scope(asset), &filter).await?;
            if ctx.json {
                output::json(&filter)?;
            } else {
                outln!("created filter {} of {}", filter.name, scope(asset));
            }
        }
        FilterTask::List { dc, asset } => {
            let dc = ctx.dc(&dc)?;
            let listed = dc.catalog().list_filters(scope(asset)).await?;
            for p in &listed.problems {
                errln!("mirrorcast: skipped a bad record: {}", p.message);
            }
            if ctx.json {
                output::json(&listed.records)?;
            } else {
                let rows: Vec<Vec<String>> = listed
                    .records
                    .iter()
                    .map(|f| std::iter::once(f.name.clone()).chain(summary(f)).collect())
                    .collect();
                output::table(&["NAME", "TIME RANGE", "FIRST QUALITY", "TRACK SELECTIONS"], &rows);
            }
            if !listed.problems.is_empty() {
                return Ok(ExitCode::from(crate::exit::FAILURE));
            }
        }
        FilterTask::Show { dc, asset, name } => {
            let dc = ctx.dc(&dc)?;
            let filter = dc.catalog().get_filter(scope(asset), &name).await?;
            // The v3 JSON either way: it is what `filter create --file` reads back.
            output::json(&filter)?;
        }
        FilterTask::Import { dc, asset, text, dry_run } => {
            let dc = ctx.dc(&dc)?;
            return import(ctx, &dc.catalog(), asset, &text, dry_run).await;
        }
        FilterTask::Delete { dc, asset, name } => {
            let dc = ctx.dc(&dc)?;
            if !dc.catalog().delete_filter(scope(asset), &name).await? {
                return Err(Error::not_found(format!(
                    "{} has no filter '{name}' in data center '{}'",
                    scope(asset),
                    dc.name
                ))
                .into());
            }
            if ctx.json {
                output::json(&serde_json::json!({ "deleted": name }))?;
            } else {
                outln!("deleted filter {name} of {}", scope(asset));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One filter of an import, as reported.
#[derive(Debug, serde::Serialize)]
struct Imported {
    name: String,
    scope: String,
    /// created, exists (the same filter), would-create (--dry-run), rejected, conflict.
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// `filter import`: each filter of the export checked alone and written (never over another).
async fn import(
    ctx: &Context<'_>,
    catalog: &mirrorcast_core::catalog::Catalog,
    asset: Option<AssetId>,
    text: &str,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    use mirrorcast_core::ams::{read_filter_export, FilterOwner};
    use mirrorcast_core::ErrorKind;
    let mut lines = Vec::new();
    for exported in read_filter_export(text)? {
        let scope = match (&exported.owner, asset) {
            (FilterOwner::Account, _) => Ok(FilterScope::Account),
            (_, Some(id)) => Ok(FilterScope::Asset(id)),
            (FilterOwner::Asset(name), None) => Err(format!(
                "an asset filter of v3 asset '{}': give --asset with that asset's id",
                name.chars().take(64).collect::<String>()
            )),
            (FilterOwner::Unknown, None) => Ok(FilterScope::Account),
        };
        let line = |scope: String, action, message| Imported { name: exported.label.clone(), scope, action, message };
        let (scope, filter) = match (scope, exported.filter) {
            (Err(why), _) => {
                lines.push(line(String::new(), "rejected", Some(why)));
                continue;
            }
            (Ok(scope), Err(e)) => {
                lines.push(line(scope.to_string(), "rejected", Some(e.to_string())));
                continue;
            }
            (Ok(scope), Ok(filter)) => (scope, filter),
        };
        let at = scope.to_string();
        if dry_run {
            lines.push(line(at, "would-create", None));
            continue;
        }
        lines.push(match catalog.create_filter(scope, &filter).await {
            Ok(()) => line(at, "created", None),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => match catalog.get_filter(scope, &filter.name).await {
                Ok(existing) if existing == filter => line(at, "exists", None),
                _ => {
                    let why = format!("{at} has another filter '{}': kept", filter.name);
                    line(at, "conflict", Some(why))
                }
            },
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput) => {
                line(at, "rejected", Some(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        });
    }
    let failed = lines.iter().any(|l| matches!(l.action, "rejected" | "conflict"));
    if ctx.json {
        output::json(&lines)?;
    } else {
        for l in &lines {
            match &l.message {
                Some(m) => outln!("{} filter {} ({}): {m}", l.action, l.name, l.scope),
                None => outln!("{} filter {} ({})", l.action, l.name, l.scope),
            }
        }
    }
    Ok(if failed { ExitCode::from(crate::exit::FAILURE) } else { ExitCode::SUCCESS })
}
