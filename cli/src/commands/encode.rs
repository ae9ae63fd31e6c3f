//! `mirrorcast encode`: a mezzanine file (uploaded first) or asset in, an
//! encoded asset out, as a job others can watch and cancel; `--publish`
//! makes it streamable.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{Duration, Utc};
use mirrorcast_core::id::{AssetId, LocatorId};
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::streaming::StreamingUrls;
use mirrorcast_core::{Error, ErrorKind};
use mirrorcast_encode::{Encoder, Ffmpeg, JobRecord, JobState, Preset};

use crate::args::EncodeArgs;
use crate::context::Context;
use crate::output;
use crate::progress::{Mode, Work};
use crate::upload;

pub async fn run(ctx: &Context<'_>, args: EncodeArgs) -> anyhow::Result<ExitCode> {
    // Everything the user can get wrong is checked before anything is written.
    let preset = Preset::parse(&args.preset)?;
    let planned = match &args.file {
        Some(path) => {
            let files = upload::plan(path).map_err(|e| Error::invalid_input(format!("{e:#}")))?;
            if files.len() != 1 {
                return Err(
                    Error::invalid_input(format!("'{}' is a folder: encode takes one file", path.display())).into()
                );
            }
            Some(files)
        }
        None => None,
    };
    let input = args.asset.as_deref().map(AssetId::parse_any).transpose()?;
    if args.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(Error::invalid_input("--name must not be empty").into());
    }
    let ffmpeg = Ffmpeg::locate().await?;
    if let Some(files) = &planned {
        // A local file that is not media, or that the ladder would upscale, is
        // refused before anything is uploaded.
        let (path, _, size) = &files[0];
        if *size == 0 {
            return Err(
                Error::invalid_input(format!("'{}' is empty (0 bytes): nothing to encode", path.display())).into()
            );
        }
        let local = mirrorcast_encode::command::file_url(path);
        let source = ffmpeg.probe(&local).await.map_err(|e| e.context(format!("'{}'", path.display())))?;
        preset.ladder(&source)?;
    }
    let dc = ctx.dc(&args.dc.dc)?;
    let catalog = dc.catalog();

    let input = match (input, planned) {
        (Some(id), _) => catalog.get_asset(&id).await?.value,
        (None, Some(files)) => {
            let name = files[0].1.clone();
            let asset = Asset::new(name.clone(), AssetOptions::None);
            catalog.create_asset(&asset).await?;
            if !ctx.json {
                errln!("uploading '{name}' as mezzanine asset {}…", asset.id);
            }
            let total: u64 = files.iter().map(|(_, _, size)| size).sum();
            let bar = Work::bytes(Mode::detect(ctx.json), "upload mezzanine", total);
            upload::upload(dc.store.as_ref(), &asset.container, files, 4, 4 * 1024 * 1024, &bar).await?;
            bar.finish();
            catalog.regenerate_files(&asset.id).await?
        }
        (None, None) => unreachable!("clap requires a file or --asset"),
    };
    let name = args.name.clone().unwrap_or_else(|| {
        let n = &input.asset.name;
        n.rsplit_once('.').map_or(n.as_str(), |(stem, _)| stem).to_owned()
    });
    let encoder = Encoder::new(ffmpeg, catalog.clone());
    let job = encoder.submit(&input.asset.id, &name, &preset).await?;
    if !ctx.json {
        errln!("job {} encoding {} with {} (ffmpeg {})", job.id, input.asset.id, preset.name(), encoder.ffmpeg.version);
    }

    // Ctrl-C cancels the job like `job cancel` from another shell would.
    let jobs = encoder.jobs.clone();
    let job_id = job.id;
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = jobs.request_cancel(&job_id).await;
        }
    });
    let bar = Work::percent(Mode::detect(ctx.json), "encode");
    let json = ctx.json;
    let mut last_line = (JobState::Queued, -1.0);
    let finished = encoder
        .run(&job.id, &preset, |j: &JobRecord| {
            bar.set_position(j.progress as u64);
            bar.set_detail(j.state.to_string());
            if json && (j.state, j.progress.floor()) != last_line {
                last_line = (j.state, j.progress.floor());
                let line = serde_json::json!({ "job": j.id, "state": j.state, "progress": j.progress.floor() });
                outln!("{line}");
            }
        })
        .await;
    interrupt.abort();
    bar.clear();
    let finished = finished?;
    let record = finished.job;
    match record.state {
        JobState::Finished => {}
        JobState::Canceled => {
            anyhow::bail!("job {} was canceled; its unfinished output was removed", record.id)
        }
        _ => {
            let message = format!(
                "job {} failed: {} (details: `mirrorcast job show --dc {} {}`)",
                record.id,
                record.error.as_deref().unwrap_or("no message"),
                dc.name,
                record.id
            );
            // Bad input (a source that is not media, a ladder that would upscale) exits 2 like any other.
            return Err(Error::new(finished.failure.unwrap_or(ErrorKind::Other), message).into());
        }
    }
    let out = finished.output.context("a finished job names its output asset")?;
    let asset = catalog.get_asset(&out).await?.value;
    let mut published = None;
    if args.publish {
        let start = Utc::now() - Duration::minutes(5);
        let locator = catalog
            .create_origin_locator(&out, LocatorId::new(), start, start + Duration::days(365), &dc.origin)
            .await?;
        let primary = asset.files.iter().find(|f| f.is_primary).context("the encoded asset has no primary .ism")?;
        dc.note_relative_urls();
        let urls = StreamingUrls::new(&dc.origin, &locator.id, &primary.name);
        published = Some((locator, urls));
    }
    if ctx.json {
        let (locator, urls) = published.map_or((None, None), |(l, u)| (Some(l), Some(u)));
        let line = serde_json::json!({
            "job": record,
            "input_asset": input.asset.id,
            "output_asset": asset,
            "locator": locator,
            "urls": urls,
        });
        outln!("{line}");
    } else {
        outln!("{}", asset.asset.id);
        let rows: Vec<Vec<String>> = asset
            .files
            .iter()
            .map(|f| vec![if f.is_primary { "*".into() } else { String::new() }, f.name.clone(), output::bytes(f.size)])
            .collect();
        output::table(&["P", "FILE", "SIZE"], &rows);
        if let Some((locator, urls)) = published {
            outln!("origin locator {}", locator.id);
            for (format, url) in urls.all() {
                outln!("{format:<10} {url}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
