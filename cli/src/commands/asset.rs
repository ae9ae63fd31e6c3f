use std::process::ExitCode;

use anyhow::Context as _;
use mirrorcast_core::ams;
use mirrorcast_core::catalog::AssetRecord;
use mirrorcast_core::delivery::Servable;
use mirrorcast_core::id::AssetId;
use mirrorcast_core::model::{Asset, AssetOptions, Locator, LocatorType};
use mirrorcast_core::store::Throttled;
use serde::Serialize;

use crate::args::asset::{AssetTask, Upload};
use crate::args::AssetCommand;
use crate::context::Context;
use crate::output::{self, Format};
use crate::progress::{Mode, Work};
use crate::upload;

pub(crate) async fn run(ctx: &Context<'_>, command: AssetCommand) -> anyhow::Result<ExitCode> {
    match command.resolve(ctx.json)? {
        AssetTask::Create { dc, name, options } => create(ctx, &dc, name, options).await,
        AssetTask::List { dc, format } => list(ctx, &dc, format).await,
        AssetTask::Show { dc, id, format } => show(ctx, &dc, &id, format).await,
        AssetTask::Upload(upload) => upload_files(ctx, upload).await,
        AssetTask::Files { dc, id } => files(ctx, &dc, &id).await,
        AssetTask::Adopt { dc, containers, all } => super::adopt::run(ctx, &dc, containers, all).await,
        AssetTask::DeleteAll { dc, yes } => delete_all(ctx, &dc, yes).await,
        AssetTask::Delete { dc, id } => delete(ctx, &dc, &id).await,
    }
}

async fn create(ctx: &Context<'_>, dc: &str, name: String, options: AssetOptions) -> anyhow::Result<ExitCode> {
    let dc = ctx.dc(dc)?;
    let asset = Asset::new(name, options);
    let record = dc.catalog().create_asset(&asset).await?;
    if ctx.json {
        output::json(&record)?;
    } else {
        outln!("{}", record.asset.id);
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(ctx: &Context<'_>, dc: &str, format: Format) -> anyhow::Result<ExitCode> {
    let dc = ctx.dc(dc)?;
    let listed = dc.catalog().list_assets().await?;
    // A record that fails its checks is named (stderr, exit 1); the others are listed.
    for p in &listed.problems {
        errln!("mirrorcast: skipped a bad record: {}", output::printable(&p.message));
    }
    let assets = &listed.records;
    match format {
        Format::Ams => output::json(&ams::v2_feed("Assets", assets.iter().map(ams::v2_asset_json).collect()))?,
        Format::Json => output::json(assets)?,
        Format::Table => {
            let locators = dc.catalog().list_locators(None).await?;
            let rows: Vec<Vec<String>> = assets
                .iter()
                .map(|r| {
                    vec![
                        r.asset.id.to_string(),
                        r.asset.name.clone(),
                        format!("{:?}", r.asset.options),
                        r.files.len().to_string(),
                        origin_locators_cell(r, &locators),
                        output::time(r.asset.created),
                    ]
                })
                .collect();
            output::table(&["ID", "NAME", "OPTIONS", "FILES", "ORIGIN LOCATORS", "CREATED"], &rows);
        }
    }
    Ok(if listed.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::FAILURE) })
}

/// An asset's origin locators, with those an origin will not stream (protected, download only, filtered).
fn origin_locators_cell(r: &AssetRecord, locators: &[Locator]) -> String {
    let origin = locators.iter().filter(|l| l.asset_id == r.asset.id && l.locator_type == LocatorType::OnDemandOrigin);
    let (mut all, mut protected, mut download_only, mut filtered) = (0, 0, 0, 0);
    for l in origin {
        all += 1;
        match l.delivery.servable(r.asset.options) {
            Servable::Protected(_) => protected += 1,
            s if !s.streams() => download_only += 1,
            _ if !l.delivery.filters.is_empty() => filtered += 1,
            _ => {}
        }
    }
    let mut text = all.to_string();
    if protected > 0 {
        text.push_str(&format!(" ({protected} protected: not served)"));
    }
    if download_only > 0 {
        text.push_str(&format!(" ({download_only} download only)"));
    }
    if filtered > 0 {
        text.push_str(&format!(" ({filtered} filtered: streams not served)"));
    }
    text
}

async fn show(ctx: &Context<'_>, dc: &str, id: &AssetId, format: Format) -> anyhow::Result<ExitCode> {
    let dc = ctx.dc(dc)?;
    let catalog = dc.catalog();
    let record = catalog.get_asset(id).await?.value;
    let locators = catalog.list_locators(Some(id)).await?;
    match format {
        Format::Ams => {
            let mut shown = ams::v2_asset_json(&record);
            let expanded = super::locator::v2_locators(&catalog, &locators).await?;
            if let Some(o) = shown.as_object_mut() {
                o.insert("Locators".into(), serde_json::Value::Array(expanded));
            }
            output::json(&shown)?;
        }
        Format::Json => {
            #[derive(Serialize)]
            struct Shown<'a> {
                #[serde(flatten)]
                record: &'a AssetRecord,
                locators: &'a [Locator],
            }
            output::json(&Shown { record: &record, locators: &locators })?;
        }
        Format::Table => {
            let a = &record.asset;
            outln!(
                "id:        {}\nname:      {}\ncontainer: {}\noptions:   {:?}\ncreated:   {}",
                a.id,
                output::printable(&a.name),
                a.container,
                a.options,
                output::time(a.created)
            );
            outln!();
            files_table(&record.files);
            outln!();
            let rows: Vec<Vec<String>> = locators
                .iter()
                .map(|l| vec![l.id.to_string(), l.locator_type.to_string(), output::time(l.expiration)])
                .collect();
            output::table(&["LOCATOR", "TYPE", "EXPIRES"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `asset upload`: the files into the asset's container, then its file infos regenerated.
async fn upload_files(ctx: &Context<'_>, task: Upload) -> anyhow::Result<ExitCode> {
    let Upload { dc, id, files, concurrency, block_size, limits } = task;
    let mut dc = ctx.dc(&dc)?;
    dc.store = Throttled::wrap(dc.store.clone(), &limits);
    let catalog = dc.catalog();
    let record = catalog.get_asset(&id).await?.value;
    let started = std::time::Instant::now();
    let total: u64 = files.iter().map(|(_, _, size)| size).sum();
    let bar = Work::bytes(Mode::detect(ctx.json), format!("upload {} file(s)", files.len()), total);
    let uploaded =
        upload::upload(dc.store.as_ref(), &record.asset.container, files, concurrency, block_size, &bar).await?;
    let bytes: u64 = uploaded.iter().map(|f| f.bytes).sum();
    let record = catalog.regenerate_files(&id).await.with_context(|| {
        format!("uploaded {} file(s), but the file infos of {id} could not be regenerated", uploaded.len())
    })?;
    if ctx.json {
        output::json(&serde_json::json!({
            "asset": id,
            "uploaded": uploaded,
            "files": uploaded.len(),
            "bytes": bytes,
            "seconds": started.elapsed().as_secs_f64(),
            "primary": record.files.iter().find(|f| f.is_primary).map(|f| &f.name),
        }))?;
    } else {
        let rows: Vec<Vec<String>> =
            uploaded.iter().map(|f| vec![f.name.clone(), output::bytes(f.bytes), f.content_md5.clone()]).collect();
        output::table(&["FILE", "SIZE", "MD5"], &rows);
        outln!(
            "uploaded {} file(s), {} in {:.1}s to {}",
            uploaded.len(),
            output::bytes(bytes),
            started.elapsed().as_secs_f64(),
            id
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `asset files`: the file infos regenerated from the asset's blobs.
async fn files(ctx: &Context<'_>, dc: &str, id: &AssetId) -> anyhow::Result<ExitCode> {
    let dc = ctx.dc(dc)?;
    let record = dc.catalog().regenerate_files(id).await?;
    if ctx.json {
        output::json(&record.files)?;
    } else {
        files_table(&record.files);
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(ctx: &Context<'_>, dc: &str, id: &AssetId) -> anyhow::Result<ExitCode> {
    let dc = ctx.dc(dc)?;
    dc.catalog().delete_asset(id).await?;
    if ctx.json {
        output::json(&serde_json::json!({ "deleted": id }))?;
    } else {
        outln!("deleted {id}");
    }
    Ok(ExitCode::SUCCESS)
}

/// File infos as a table; `*` marks the primary file.
fn files_table(files: &[mirrorcast_core::model::AssetFile]) {
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            let primary = if f.is_primary { "*" } else { "" };
            vec![primary.to_owned(), f.name.clone(), output::bytes(f.size), f.mime_type.clone()]
        })
        .collect();
    output::table(&["P", "FILE", "SIZE", "TYPE"], &rows);
}

/// `asset delete --all`: asks on a terminal; a script must say `--yes`.
async fn delete_all(ctx: &Context<'_>, dc: &str, yes: bool) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let interactive = std::io::stdin().is_terminal();
    if !yes && !interactive {
        return Err(mirrorcast_core::Error::invalid_input(
            "asset delete --all deletes every asset with its blobs: confirm with --yes (stdin is not a terminal)",
        )
        .into());
    }
    let dc = ctx.dc(dc)?;
    let catalog = dc.catalog();
    let assets = catalog.list_assets().await?.records;
    if !yes {
        err!(
            "delete all {} asset(s) of data center '{}' (their containers, blobs and locators)? type 'yes': ",
            assets.len(),
            dc.name
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            return Err(mirrorcast_core::Error::invalid_input("not confirmed: nothing was deleted").into());
        }
    }
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for r in &assets {
        match catalog.delete_asset(&r.asset.id).await {
            Ok(()) => deleted.push(r.asset.id),
            Err(e) => failed.push(serde_json::json!({ "id": r.asset.id, "error": e.to_string() })),
        }
    }
    if ctx.json {
        output::json(&serde_json::json!({ "deleted": deleted, "failed": failed }))?;
    } else {
        for id in &deleted {
            outln!("deleted {id}");
        }
        for f in &failed {
            outln!("FAILED {}: {}", f["id"].as_str().unwrap_or(""), f["error"].as_str().unwrap_or(""));
        }
        outln!("{} deleted, {} failed", deleted.len(), failed.len());
    }
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::FAILURE) })
}
