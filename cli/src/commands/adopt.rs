//! `mirrorcast asset adopt`: a library Media Services left (asset-<guid>
//! containers, no records) registered with the ids its URLs carry.

use std::process::ExitCode;

use futures::stream::{self, StreamExt};
use mirrorcast_core::adopt::{adopt_container, AdoptAction, AdoptOutcome};
use serde::Serialize;

use crate::context::Context;
use crate::output;
use crate::progress::{Mode, Work};

#[derive(Debug, Default, Serialize)]
struct Totals {
    adopted: usize,
    already_registered: usize,
    skipped: usize,
    failed: usize,
}

/// `containers` were checked by `AssetCommand::resolve` (all asset-<guid> names) before anything is written.
pub(crate) async fn run(ctx: &Context<'_>, dc: &str, containers: Vec<String>, all: bool) -> anyhow::Result<ExitCode> {
    let dc = ctx.dc(dc)?;
    let catalog = dc.catalog();
    let names = if all { dc.store.list_containers("").await? } else { containers };
    let progress = Work::items(Mode::detect(ctx.json), "adopt", names.len() as u64);
    let outcomes: Vec<AdoptOutcome> = stream::iter(names)
        .map(|c| {
            let (catalog, progress) = (&catalog, &progress);
            async move {
                let outcome = adopt_container(catalog, &c).await;
                progress.advance(1);
                outcome
            }
        })
        .buffered(8)
        .collect()
        .await;
    progress.finish();
    let mut totals = Totals::default();
    for o in &outcomes {
        match o.action {
            AdoptAction::Adopted => totals.adopted += 1,
            AdoptAction::AlreadyRegistered => totals.already_registered += 1,
            AdoptAction::Skipped => totals.skipped += 1,
            AdoptAction::Failed => totals.failed += 1,
        }
    }
    if ctx.json {
        output::json(&serde_json::json!({ "totals": totals, "containers": outcomes }))?;
    } else {
        let rows: Vec<Vec<String>> = outcomes
            .iter()
            .map(|o| {
                vec![
                    o.container.clone(),
                    match o.action {
                        AdoptAction::Adopted => "adopted",
                        AdoptAction::AlreadyRegistered => "already registered",
                        AdoptAction::Skipped => "skipped",
                        AdoptAction::Failed => "FAILED",
                    }
                    .to_owned(),
                    o.files.to_string(),
                    o.message.clone().or_else(|| o.primary.clone()).unwrap_or_default(),
                ]
            })
            .collect();
        output::table(&["CONTAINER", "RESULT", "FILES", "PRIMARY / NOTE"], &rows);
        outln!(
            "{} adopted, {} already registered, {} skipped, {} failed",
            totals.adopted,
            totals.already_registered,
            totals.skipped,
            totals.failed
        );
    }
    Ok(if totals.failed > 0 { ExitCode::from(crate::exit::FAILURE) } else { ExitCode::SUCCESS })
}
