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
