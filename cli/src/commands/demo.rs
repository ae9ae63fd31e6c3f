//! `mirrorcast demo`: the whole story on this machine with nothing configured.
//! Starts Azurite with two data centers, encodes a generated clip in A (a
//! synthetic asset if ffmpeg is missing), publishes it with an origin locator,
//! replicates it to B, verifies the copy, serves A and B on two loopback ports
//! with the in-process origin, plays HLS and DASH from both with ffmpeg, and
//! prints the URLs and what played. The source clip is replicated with its
//! encode: B holds all of A, and verify checks all of A.
//!
//! On a terminal (or with `--keep-running`) it then stays up: the front's page
//! plays the asset through A and B with a switch that makes A fail
//! ([`super::demo_live`]), until Ctrl-C. Off a terminal, or with `--exit`, the
//! summary is its last output.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{Duration, Utc};
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::id::LocatorId;
use mirrorcast_core::mime::mime_type_for;
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::replicate::{ReplicateOptions, Replicator, Selection, Side};
use mirrorcast_core::sample::encoded_asset;
use mirrorcast_core::store::{upload_reader, BlobProperties, BlobStore, PutOptions, UploadOptions};
use mirrorcast_core::streaming::StreamingUrls;
use mirrorcast_http::{serve, ConnectionLimits, Shutdown};
use mirrorcast_origin::{router, Origin, OriginConfig};

use super::demo_live::{self, LiveFront, Outage};
use crate::args::DemoArgs;
use crate::context::Context;
use crate::output;

pub(crate) async fn run(ctx: &Context<'_>, args: DemoArgs) -> anyhow::Result<ExitCode> {
    errln!("starting Azurite with two data centers (accounts dca and dcb on one instance)…");
    let dcs = TwoDataCenters::one_instance(Persistence::InMemory).await?;
    let store_a: Arc<dyn BlobStore> = Arc::new(dcs.a.store());
    let store_b: Arc<dyn BlobStore> = Arc::new(dcs.b.store());
    // Each data center gets its own origin on a free loopback port; the URLs differ only in host.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // A's origin behind the switch the live page flips (off until then).
    let outage = Outage::default();
    let (origin_a, serving_a) = start_origin(store_a.clone(), stopped.clone(), Some(&outage)).await?;
    let (origin_b, serving_b) = start_origin(store_b.clone(), stopped.clone(), None).await?;
    let (origin_a, origin_b) = (origin_a.as_str(), origin_b.as_str());
    let catalog = Catalog::new(store_a.clone());

    let (asset, record, source, played_with) = match mirrorcast_encode::Ffmpeg::locate().await {
        Ok(ffmpeg) => {
            let player = ffmpeg.ffmpeg.clone();
            let (asset, record, source) = encode_clip(ffmpeg, &catalog).await?;
            (asset, record, Some(source), Some(player))
        }
        Err(e) => {
            errln!("note: {e}\nnote: publishing a synthetic sample asset instead of a real encode");
            let (asset, record) = synthetic(&catalog).await?;
            (asset, record, None, None)
        }
    };
    let primary = record.files.iter().find(|f| f.is_primary).map(|f| f.name.clone()).unwrap_or_default();
    let total_bytes: u64 = record.files.iter().map(|f| f.size).sum();
    let start = Utc::now() - Duration::minutes(5);
    let locator = catalog
        .create_origin_locator(&asset.id, LocatorId::new(), start, start + Duration::days(365), origin_a)
        .await?;
    let urls = StreamingUrls::new(origin_a, &locator.id, &primary);

    let catalog_b = Catalog::new(store_b);
    let replicator = Replicator::new(
        Side { name: "a", catalog: &catalog, origin: origin_a },
        Side { name: "b", catalog: &catalog_b, origin: origin_b },
        ReplicateOptions::default(),
    );
    // All of A: the encode and its source clip, so "B holds everything A serves" is about all of A.
    let report = replicator.run(&Selection::All).await?;
    let again = replicator.run(&Selection::All).await?;
    let audit = mirrorcast_verify::verify(
        ("a", store_a.clone(), origin_a),
        ("b", catalog_b.store().clone(), origin_b),
        None,
        &mirrorcast_verify::VerifyOptions { deep: true, ..Default::default() },
    )
    .await?;

    // Played only from a real encode (the synthetic asset's media bytes are placeholders).
    let mut playback = Vec::new();
    let encoded = report.assets.iter().find(|a| a.as_ref().map_or(true, |a| a.id == asset.id)).transpose()?;
    if let (Some(ffmpeg), Some(asset_urls)) = (&played_with, &encoded) {
        for pair in asset_urls.urls.iter().filter(|p| p.format == "hls" || p.format == "dash") {
            for (dc, url) in [("a", &pair.source), ("b", &pair.target)] {
                errln!("playing {} from {dc} with ffmpeg…", pair.format);
                playback.push(play(ffmpeg, dc, &pair.format, url).await);
            }
        }
    }
    let played_all = playback.iter().all(|p| p.error.is_none());

    if ctx.json {
        output::json(&serde_json::json!({
            "asset": record,
            "locator": locator,
            "urls": urls,
            // Converted apart: reading a report's spool back can fail, and json! would panic on that.
            "replication": serde_json::to_value(&report)?,
            "rerun": again.totals,
            "verify": serde_json::to_value(&audit)?,
            "playback": playback,
        }))?;
    } else {
        outln!("data center A: {}", dcs.a.store().describe());
        outln!("data center B: {}", dcs.b.store().describe());
        outln!("asset {} \"{}\": {} files, {}", asset.id, asset.name, record.files.len(), output::bytes(total_bytes));
        if let Some(source) = &source {
            outln!("source clip: asset {} \"{}\", kept in A and replicated with its encode", source.id, source.name);
        }
        outln!("origin locator {} (same id in A and B)", locator.id);
        let t = &report.totals;
        let strategies: Vec<String> = t.counts.strategies.iter().map(|(k, v)| format!("{k} {v}")).collect();
        outln!(
            "replicated A -> B: {} blobs copied ({}, {}), {} failed in {:.2}s",
            t.counts.copied,
            output::bytes(t.counts.bytes),
            strategies.join(", "),
            t.counts.failed,
            t.seconds
        );
        outln!(
            "run again: {} copied, {} skipped: nothing to do",
            again.totals.counts.copied,
            again.totals.counts.skipped
        );
        let c = &audit.counts;
        outln!(
            "verify --deep, all of A ({} assets): {} checks same, {} missing, {} extra, {} differ, {} errors: {}",
            audit.assets.len(),
            c.same,
            c.missing,
            c.extra,
            c.differs,
            c.errors,
            if audit.identical { "B holds everything A serves" } else { "NOT identical" }
        );
        outln!("streaming URLs, A then B (only the base differs):");
        for pair in encoded.iter().flat_map(|a| &a.urls) {
            outln!("  {:<10} {}\n  {:<10} {}", pair.format, pair.source, "", pair.target);
        }
        if played_with.is_none() {
            outln!("playback: skipped (no ffmpeg, so the asset is synthetic)");
        }
        for p in &playback {
            match &p.error {
                None => outln!("played {:<4} from {}: {:.2}s of media, to the end", p.format, p.dc, p.seconds),
                Some(e) => outln!("played {:<4} from {}: FAILED: {e}", p.format, p.dc),
            }
        }
    }
    if report.has_failures() || !audit.identical {
        anyhow::bail!("the demo replication did not finish cleanly");
    }
    if !played_all {
        anyhow::bail!("the demo streams did not play from both data centers");
    }
    let stays_up = args.keep_running || (!args.exit && !ctx.json && std::io::stdout().is_terminal());
    if stays_up {
        // Watched before the page's line is printed: a Ctrl-C right after it stops everything in order.
        let shutdown = Shutdown::watch()?;
        let env_dir = write_env_file(&dcs, origin_a, origin_b)?;
        let page = format!(
            "data centers: `source {}` in another shell to use them with --dc a / --dc b",
            env_dir.join("env").display()
        );
        if ctx.json {
            errln!("{page}");
        } else {
            outln!("{page}");
        }
        let mut front_stopped = stopped.clone();
        let stopped_too = async move {
            let _ = front_stopped.wait_for(|stopped| *stopped).await;
        };
        let players = demo_live::players(args.players);
        let front = LiveFront::start(origin_a, origin_b, players, outage, stopped_too).await?;
        let stream = StreamingUrls::new("", &locator.id, &primary).hls_cmaf;
        let line = format!("the demo plays at {} (make A fail there) - Ctrl-C to stop", front.page_url(&stream));
        if ctx.json {
            errln!("{line}");
        } else {
            outln!("{line}");
        }
        shutdown.requested().await;
        let _ = stop.send(true);
        front.stopped().await;
        let _ = tokio::join!(serving_a, serving_b);
        let _ = std::fs::remove_dir_all(&env_dir);
        drop(dcs);
        errln!("stopped: the front, both origins and Azurite");
        return Ok(ExitCode::SUCCESS);
    }
    let _ = stop.send(true);
    let _ = tokio::join!(serving_a, serving_b);
    Ok(ExitCode::SUCCESS)
}

/// Writes the data centers' connection strings and origins as shell exports into a folder of
/// its own (readable by its owner only: they hold account keys); returns the folder.
fn write_env_file(dcs: &TwoDataCenters, origin_a: &str, origin_b: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mirrorcast-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let env_file = dir.join("env");
    std::fs::write(
        &env_file,
        format!(
            "export MIRRORCAST_DC_A='{}'\nexport MIRRORCAST_DC_B='{}'\nexport MIRRORCAST_ORIGIN_A='{origin_a}'\nexport MIRRORCAST_ORIGIN_B='{origin_b}'\n",
            dcs.a.connection_string, dcs.b.connection_string
        ),
    )?;
    restrict(&env_file)?;
    Ok(dir)
}

/// Starts the origin of one data center on a free loopback port; it stops when `stop` turns true.
/// `outage`, when given, is the switch that makes it fail.
async fn start_origin(
    store: Arc<dyn BlobStore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    outage: Option<&Outage>,
) -> anyhow::Result<(String, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let config = OriginConfig::default();
    let mut app = router(Origin::new(store, config));
    if let Some(outage) = outage {
        app = outage.gate(app);
    }
    let stopped = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let serving =
        tokio::spawn(serve(listener, app, ConnectionLimits::default(), stopped, mirrorcast_http::access_log::flush));
    Ok((base, serving))
}

/// What playing one streaming URL to its end gave.
#[derive(Debug, serde::Serialize)]
struct Playback {
    dc: &'static str,
    format: String,
    url: String,
    /// Media time ffmpeg reached reading every packet of every stream.
    seconds: f64,
    error: Option<String>,
}

/// Reads every packet of `url` with ffmpeg (`-c copy -f null`), as a player
/// would fetch them, and reports the media time reached.
async fn play(ffmpeg: &std::path::Path, dc: &'static str, format: &str, url: &str) -> Playback {
    let mut command = tokio::process::Command::new(ffmpeg);
    // ffmpeg's defaults, as a user runs it: the origin's segment URLs end in their media extension.
    command.args(["-v", "error", "-nostdin"]);
    command.args(["-i", url, "-map", "0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-"]);
    let mut playback = Playback { dc, format: format.to_owned(), url: url.to_owned(), seconds: 0.0, error: None };
    match tokio::time::timeout(std::time::Duration::from_secs(120), command.output()).await {
        Ok(Ok(out)) => {
            // `-progress` ends with the final `out_time_us=` of the whole read.
            let progress = String::from_utf8_lossy(&out.stdout);
            let reached = progress.lines().rev().find_map(|l| l.strip_prefix("out_time_us="));
            playback.seconds = reached.and_then(|us| us.trim().parse::<f64>().ok()).unwrap_or(0.0) / 1e6;
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            if !out.status.success() || !stderr.is_empty() {
                playback.error = Some(format!("ffmpeg {}: {}", out.status, stderr.lines().next().unwrap_or("")));
            } else if playback.seconds <= 0.0 {
                playback.error = Some("ffmpeg read no media".to_owned());
            }
        }
        Ok(Err(e)) => playback.error = Some(format!("cannot run {}: {e}", ffmpeg.display())),
        Err(_) => playback.error = Some("ffmpeg did not finish within 120 s".to_owned()),
    }
    playback
}

/// A ~10 s 1280x720 clip from ffmpeg's test sources (a space in its name, as
/// real uploads have), uploaded as a mezzanine asset and encoded with the
/// adaptive-streaming preset; returns the encoded asset, then the source's (kept in A).
async fn encode_clip(
    ffmpeg: mirrorcast_encode::Ffmpeg,
    catalog: &Catalog,
) -> anyhow::Result<(Asset, mirrorcast_core::catalog::AssetRecord, Asset)> {
    let dir = tempfile::tempdir()?;
    let clip = dir.path().join("Mirrorcast Demo.mp4");
    errln!("making a 10 s 1280x720 test clip with ffmpeg {}…", ffmpeg.version);
    let status = tokio::process::Command::new(&ffmpeg.ffmpeg)
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=10"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "2", "-y"])
        .arg(&clip)
        .status()
        .await?;
    anyhow::ensure!(status.success(), "ffmpeg could not make the demo clip ({status})");
    let mezzanine = Asset::new("Mirrorcast Demo.mp4", AssetOptions::None);
    catalog.create_asset(&mezzanine).await?;
    let bytes = tokio::fs::read(&clip).await?;
    upload_reader(
        catalog.store().as_ref(),
        &mezzanine.container,
        "Mirrorcast Demo.mp4",
        std::io::Cursor::new(bytes),
        &UploadOptions::default(),
    )
    .await?;
    catalog.regenerate_files(&mezzanine.id).await?;
    let preset = mirrorcast_encode::Preset::AdaptiveStreaming;
    let encoder = mirrorcast_encode::Encoder::new(ffmpeg, catalog.clone());
    let job = encoder.submit(&mezzanine.id, "Mirrorcast Demo", &preset).await?;
    errln!("encoding it (job {})…", job.id);
    let done = encoder.run(&job.id, &preset, |_| {}).await?;
    let out = match (done.job.state, done.output) {
        (mirrorcast_encode::JobState::Finished, Some(out)) => out,
        (state, _) => anyhow::bail!("the demo encode ended {state}: {}", done.job.error.unwrap_or_default()),
    };
    let record = catalog.get_asset(&out).await?.value;
    Ok((record.asset.clone(), record, mezzanine))
}

/// Without ffmpeg: a synthetic encoded asset (valid manifests, placeholder media bytes).
async fn synthetic(catalog: &Catalog) -> anyhow::Result<(Asset, mirrorcast_core::catalog::AssetRecord)> {
    let sample = encoded_asset("Big Buck Bunny", 2 * 1024 * 1024, 1);
    let asset = Asset::new("Big Buck Bunny", AssetOptions::None);
    catalog.create_asset(&asset).await?;
    for (name, bytes) in &sample.files {
        let options = UploadOptions {
            put: PutOptions {
                properties: BlobProperties { content_type: Some(mime_type_for(name)), ..Default::default() },
                ..Default::default()
            },
            ..Default::default()
        };
        upload_reader(catalog.store().as_ref(), &asset.container, name, std::io::Cursor::new(bytes.clone()), &options)
            .await?;
    }
    let record = catalog.regenerate_files(&asset.id).await?;
    Ok((asset, record))
}

/// The env file holds account keys: readable by its owner only.
fn restrict(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
