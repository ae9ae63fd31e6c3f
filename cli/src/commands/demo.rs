//! `mirrorcast demo`: the whole story on this machine with nothing configured.
//! Starts Azurite with two data centers, encodes a generated clip in A (a
//! synthetic asset if ffmpeg is missing), publishes it with an origin locator,
//! replicates it to B, verifies the copy and prints both streaming URLs.

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

use super::Context;
use crate::args::DemoArgs;
use crate::output;

pub async fn run(ctx: &Context<'_>, args: DemoArgs) -> anyhow::Result<ExitCode> {
    eprintln!("starting Azurite with two data centers (accounts dca and dcb on one instance)…");
    let dcs = TwoDataCenters::one_instance(Persistence::InMemory).await?;
    let store_a: Arc<dyn BlobStore> = Arc::new(dcs.a.store());
    // Explicit origins: the demo has no streaming host of its own, so it names example ones.
    let origin_a = "https://origin-a.example";
    let catalog = Catalog::new(store_a.clone());

    let (asset, record) = match mirrorcast_encode::Ffmpeg::locate().await {
        Ok(ffmpeg) => encode_clip(ffmpeg, &catalog).await?,
        Err(e) => {
            eprintln!("note: {e}\nnote: publishing a synthetic sample asset instead of a real encode");
            synthetic(&catalog).await?
        }
    };
    let primary = record.files.iter().find(|f| f.is_primary).map(|f| f.name.clone()).unwrap_or_default();
    let total_bytes: u64 = record.files.iter().map(|f| f.size).sum();
    let start = Utc::now() - Duration::minutes(5);
    let locator = catalog
        .create_origin_locator(&asset.id, LocatorId::new(), start, start + Duration::days(365), origin_a)
        .await?;
    let urls = StreamingUrls::new(origin_a, &locator.id, &primary);

    let store_b: Arc<dyn BlobStore> = Arc::new(dcs.b.store());
    let origin_b = "https://origin-b.example";
    let catalog_b = Catalog::new(store_b);
    let replicator = Replicator::new(
        Side { name: "a", catalog: &catalog, origin: origin_a },
        Side { name: "b", catalog: &catalog_b, origin: origin_b },
        ReplicateOptions::default(),
    );
    let report = replicator.run(&Selection::Assets(vec![asset.id])).await?;
    let again = replicator.run(&Selection::Assets(vec![asset.id])).await?;
    let audit = mirrorcast_verify::verify(
        ("a", store_a.clone(), origin_a),
        ("b", catalog_b.store().clone(), origin_b),
        Some(&[asset.id]),
        &mirrorcast_verify::VerifyOptions { deep: true, ..Default::default() },
    )
    .await?;

    if ctx.json {
        output::json(&serde_json::json!({
            "asset": record,
            "locator": locator,
            "urls": urls,
            "replication": report,
            "rerun": again.totals,
            "verify": audit,
        }))?;
    } else {
        println!("data center A: {}", dcs.a.store().describe());
        println!("data center B: {}", dcs.b.store().describe());
        println!("asset {} \"{}\": {} files, {}", asset.id, asset.name, record.files.len(), output::bytes(total_bytes));
        println!("origin locator {} (same id in A and B)", locator.id);
        let t = &report.totals;
        let strategies: Vec<String> = t.counts.strategies.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "replicated A -> B: {} blobs copied ({}, {}), {} failed in {:.2}s",
            t.counts.copied,
            output::bytes(t.counts.bytes),
            strategies.join(", "),
            t.counts.failed,
            t.seconds
        );
        println!(
            "run again: {} copied, {} skipped: nothing to do",
            again.totals.counts.copied, again.totals.counts.skipped
        );
        let c = &audit.counts;
        println!(
            "verify --deep: {} checks same, {} missing, {} extra, {} differ, {} errors: {}",
            c.same,
            c.missing,
            c.extra,
            c.differs,
            c.errors,
            if audit.identical { "B holds everything A serves" } else { "NOT identical" }
        );
        println!("streaming URLs, A then B (only the base differs):");
        for pair in report.assets.iter().flat_map(|a| &a.urls) {
            println!("  {:<10} {}\n  {:<10} {}", pair.format, pair.source, "", pair.target);
        }
    }
    if report.has_failures() || !audit.identical {
        anyhow::bail!("the demo replication did not finish cleanly");
    }
    if args.keep_running {
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
        eprintln!(
            "Azurite keeps running; `source {}` in another shell to use `--dc a` / `--dc b`. Ctrl-C stops it.",
            env_file.display()
        );
        tokio::signal::ctrl_c().await?;
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ExitCode::SUCCESS)
}

/// A ~10 s 1280x720 clip from ffmpeg's test sources (a space in its name, as
/// real uploads have), uploaded as a mezzanine asset and encoded with the
/// adaptive-streaming preset; returns the encoded asset.
async fn encode_clip(
    ffmpeg: mirrorcast_encode::Ffmpeg,
    catalog: &Catalog,
) -> anyhow::Result<(Asset, mirrorcast_core::catalog::AssetRecord)> {
    let dir = tempfile::tempdir()?;
    let clip = dir.path().join("Mirrorcast Demo.mp4");
    eprintln!("making a 10 s 1280x720 test clip with ffmpeg {}…", ffmpeg.version);
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
    eprintln!("encoding it (job {})…", job.id);
    let done = encoder.run(&job.id, &preset, |_| {}).await?;
    let out = match (done.job.state, done.output) {
        (mirrorcast_encode::JobState::Finished, Some(out)) => out,
        (state, _) => anyhow::bail!("the demo encode ended {state}: {}", done.job.error.unwrap_or_default()),
    };
    let record = catalog.get_asset(&out).await?.value;
    Ok((record.asset.clone(), record))
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
