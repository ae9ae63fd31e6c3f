//! `mirrorcast encode`: a mezzanine file (uploaded first) or asset in, an
//! encoded asset out, as a job others can watch and cancel; `--publish`
//! makes it streamable.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{Duration, Utc};
use mirrorcast_core::catalog::{AssetRecord, Catalog};
use mirrorcast_core::id::LocatorId;
use mirrorcast_core::model::{Asset, AssetOptions, Locator};
use mirrorcast_core::streaming::StreamingUrls;
use mirrorcast_core::{Error, ErrorKind};
use mirrorcast_encode::{Encoder, Ffmpeg, JobRecord, JobState, Preset};

use crate::args::encode::{Encode, Source};
use crate::args::EncodeArgs;
use crate::context::Context;
use crate::datacenter::DataCenter;
use crate::output;
use crate::progress::{Mode, Work};
use crate::upload;

pub(crate) async fn run(ctx: &Context<'_>, args: EncodeArgs) -> anyhow::Result<ExitCode> {
    // Everything the user can get wrong is checked before anything is written.
    let Encode { dc, preset, source, name, publish } = args.resolve()?;
    let ffmpeg = Ffmpeg::locate().await?;
    if let Source::File(path, _, size) = &source {
        check_local_file(&ffmpeg, &preset, path, *size).await?;
    }
    let dc = ctx.dc(&dc)?;
    let catalog = dc.catalog();

    let input = input_asset(ctx, &dc, &catalog, source).await?;
    let name = name.unwrap_or_else(|| {
        let n = &input.asset.name;
        n.rsplit_once('.').map_or(n.as_str(), |(stem, _)| stem).to_owned()
    });
    let encoder = Encoder::new(ffmpeg, catalog.clone());
    let job = encoder.submit(&input.asset.id, &name, &preset).await?;
    if !ctx.json {
        errln!("job {} encoding {} with {} (ffmpeg {})", job.id, input.asset.id, preset.name(), encoder.ffmpeg.version);
    }

    // Ctrl-C, SIGTERM (a Kubernetes stop) or SIGHUP cancels the job like `job cancel` from another
    // shell would: the unfinished output is removed. A second signal does not cut that short.
    let jobs = encoder.jobs.clone();
    let job_id = job.id;
    let mut shutdown = mirrorcast_http::Shutdown::watch()?;
    let interrupt = tokio::spawn(async move {
        loop {
            let notice = shutdown.next().await;
            let name = notice.signal.name();
            if notice.again {
                errln!(
                    "mirrorcast: {name} again: still removing the unfinished output; the job stops once that is done"
                );
            } else {
                errln!("mirrorcast: {name}: canceling the job and removing its unfinished output…");
                let _ = jobs.request_cancel(&job_id).await;
            }
        }
    });
    let mut shown = JobProgress::new(ctx.json);
    let finished = encoder.run(&job.id, &preset, |j: &JobRecord| shown.update(j)).await;
    interrupt.abort();
    shown.bar.clear();
    let finished = finished?;
    let record = finished.job;
    ended_well(&record, finished.failure, &dc)?;
    let out = finished.output.context("a finished job names its output asset")?;
    let asset = catalog.get_asset(&out).await?.value;
    let published = match publish {
        true => Some(publish_output(&dc, &catalog, &asset).await?),
        false => None,
    };
    print(ctx, &record, &input, &asset, published);
    Ok(ExitCode::SUCCESS)
}

/// A local file that is not media, or that the ladder would upscale, is
/// refused before anything is uploaded.
async fn check_local_file(ffmpeg: &Ffmpeg, preset: &Preset, path: &std::path::Path, size: u64) -> anyhow::Result<()> {
    if size == 0 {
        return Err(Error::invalid_input(format!("'{}' is empty (0 bytes): nothing to encode", path.display())).into());
    }
    let local = mirrorcast_encode::command::file_url(path);
    let source = ffmpeg.probe(&local).await.map_err(|e| e.context(format!("'{}'", path.display())))?;
    ffmpeg.check_encoders(&preset.ladder(&source)?)?;
    Ok(())
}

/// The asset to encode: the one named, or the local file uploaded as a new mezzanine asset.
async fn input_asset(
    ctx: &Context<'_>,
    dc: &DataCenter,
    catalog: &Catalog,
    source: Source,
) -> anyhow::Result<AssetRecord> {
    let (path, name, size) = match source {
        Source::Asset(id) => return Ok(catalog.get_asset(&id).await?.value),
        Source::File(path, name, size) => (path, name, size),
    };
    let asset = Asset::new(name.clone(), AssetOptions::None);
    catalog.create_asset(&asset).await?;
    if !ctx.json {
        errln!("uploading '{name}' as mezzanine asset {}…", asset.id);
    }
    let bar = Work::bytes(Mode::detect(ctx.json), "upload mezzanine", size);
    upload::upload(dc.store.as_ref(), &asset.container, vec![(path, name, size)], 4, 4 * 1024 * 1024, &bar).await?;
    Ok(catalog.regenerate_files(&asset.id).await?)
}

/// A running job shown: a percentage bar on stderr, and with `--json` a line on
/// stdout each time its state or whole percent changes.
struct JobProgress {
    bar: Work,
    json: bool,
    last_line: (JobState, f64),
}

impl JobProgress {
    fn new(json: bool) -> Self {
        JobProgress { bar: Work::percent(Mode::detect(json), "encode"), json, last_line: (JobState::Queued, -1.0) }
    }

    fn update(&mut self, j: &JobRecord) {
        self.bar.set_position(j.progress as u64);
        self.bar.set_detail(j.state.to_string());
        if self.json && (j.state, j.progress.floor()) != self.last_line {
            self.last_line = (j.state, j.progress.floor());
            let line = serde_json::json!({ "job": j.id, "state": j.state, "progress": j.progress.floor() });
            outln!("{line}");
        }
    }
}

/// A job that did not finish is the command's error: canceled (exit 1), or failed
/// with its kind (bad input, a source that is not media or a ladder that would upscale, exits 2).
fn ended_well(record: &JobRecord, failure: Option<ErrorKind>, dc: &DataCenter) -> anyhow::Result<()> {
    match record.state {
        JobState::Finished => Ok(()),
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
            Err(Error::new(failure.unwrap_or(ErrorKind::Other), message).into())
        }
    }
}

/// `--publish`: an origin locator for the output, and the streaming URLs of its primary file.
async fn publish_output(
    dc: &DataCenter,
    catalog: &Catalog,
    asset: &AssetRecord,
) -> anyhow::Result<(Locator, StreamingUrls)> {
    let start = Utc::now() - Duration::minutes(5);
    let locator = catalog
        .create_origin_locator(&asset.asset.id, LocatorId::new(), start, start + Duration::days(365), &dc.origin)
        .await?;
    let primary = asset.files.iter().find(|f| f.is_primary).context("the encoded asset has no primary .ism")?;
    dc.note_relative_urls();
    let urls = StreamingUrls::new(&dc.origin, &locator.id, &primary.name);
    Ok((locator, urls))
}

/// The report on stdout: the output asset's id, files and URLs, or one JSON line.
fn print(
    ctx: &Context<'_>,
    record: &JobRecord,
    input: &AssetRecord,
    asset: &AssetRecord,
    published: Option<(Locator, StreamingUrls)>,
) {
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
        return;
    }
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
