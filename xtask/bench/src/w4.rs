//! W4, the control plane: libraries of many small assets (four small blobs,
//! an origin locator and file infos each), written through the library into
//! one Azurite with three accounts (A; B for mirrorcast; C for rclone). Measured:
//! the first replicate, the no-op re-run and verify, against `rclone copy` and
//! `rclone check` on the same containers, and mirrorcast's requests per asset
//! (`totals.requests` of `replicate --json`). One run each: these are long.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use chrono::{Duration, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use mirrorcast_azurite::Account;
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::id::LocatorId;
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::store::{BlobStore, PutOptions};
use serde_json::{json, Value};

use crate::{rclone_copy, rclone_env, row, start, Tools};

/// Runs `cmd` and returns its wall time and stdout.
fn timed(cmd: &mut Command) -> Result<(f64, Vec<u8>)> {
    let started = Instant::now();
    let out = cmd.output()?;
    let seconds = started.elapsed().as_secs_f64();
    // rclone check exits 1 on differences; anything else is a failed run.
    if !out.status.success() && out.status.code() != Some(1) {
        bail!("{:?} failed: {}", cmd.get_program(), String::from_utf8_lossy(&out.stderr));
    }
    Ok((seconds, out.stdout))
}

async fn seed(store: &(impl BlobStore + Clone), assets: usize) -> Result<()> {
    let catalog = Catalog::new(Arc::new(store.clone()));
    catalog.ensure().await?;
    let policy_start = Utc::now() - Duration::minutes(5);
    stream::iter(0..assets)
        .map(|i| {
            let catalog = catalog.clone();
            async move {
                let asset = Asset::new(format!("W4 asset {i}"), AssetOptions::None);
                catalog.create_asset(&asset).await?;
                let files = mirrorcast_core::sample::encoded_asset("Clip", 1024, i as u64).files;
                for (name, bytes) in files.into_iter().filter(|(n, _)| !n.contains("_1920x") && !n.contains("_1280x")) {
                    if name.ends_with(".mp4") && !name.contains("_640x") {
                        continue;
                    }
                    catalog.store().put_blob(&asset.container, &name, bytes, &PutOptions::default()).await?;
                }
                catalog.regenerate_files(&asset.id).await?;
                catalog
                    .create_origin_locator(
                        &asset.id,
                        LocatorId::new(),
                        policy_start,
                        policy_start + Duration::days(365),
                        "https://dca.example",
                    )
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

fn requests_per_asset(report: &[u8], assets: usize) -> Option<f64> {
    let v: Value = serde_json::from_slice(report).ok()?;
    let r = &v["totals"]["requests"];
    Some((r["source"].as_u64()? + r["target"].as_u64()?) as f64 / assets as f64)
}

pub async fn run(tools: &Tools, sizes: &[usize]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for &assets in sizes {
        eprintln!("bench: W4 with {assets} assets: seeding…");
        let az = start(&["dca", "dcb", "dcc"].map(Account::generate)).await?;
        let seeded = Instant::now();
        seed(&az.store("dca"), assets).await?;
        eprintln!("bench:   seeded in {:.0}s", seeded.elapsed().as_secs_f64());
        let env = [
            ("MIRRORCAST_DC_A".to_owned(), az.connection_string("dca")),
            ("MIRRORCAST_DC_B".to_owned(), az.connection_string("dcb")),
        ];
        let rc_env: Vec<(String, String)> =
            rclone_env(&az, "dca", "SRC").into_iter().chain(rclone_env(&az, "dcc", "DST")).collect();
        let mc = |args: &[&str]| {
            let mut cmd = Command::new(&tools.mirrorcast);
            cmd.args(args).envs(env.iter().cloned());
            timed(&mut cmd)
        };
        let replicate = ["replicate", "--from", "a", "--to", "b", "--all", "--json"];
        let (first_s, first_report) = mc(&replicate)?;
        let (noop_s, noop_report) = mc(&replicate)?;
        let (verify_s, _) = mc(&["verify", "--from", "a", "--to", "b", "--all", "--format", "json"])?;
        let (mut rc_first, mut rc_noop, mut rc_check) = (None, None, None);
        if let Some(rclone) = &tools.rclone {
            rc_first = Some(timed(&mut rclone_copy(rclone, &rc_env))?.0);
            rc_noop = Some(timed(&mut rclone_copy(rclone, &rc_env))?.0);
            let mut check = Command::new(rclone);
            check
                .args(["check", "SRC:", "DST:", "--include", "/asset-*/**", "--checkers", "16"])
                .args(["--config", "/dev/null", "-q"])
                .envs(rc_env.iter().cloned());
            rc_check = Some(timed(&mut check)?.0);
        }
        let (first_rpa, noop_rpa) =
            (requests_per_asset(&first_report, assets), requests_per_asset(&noop_report, assets));
        eprintln!(
            "bench:   first {first_s:.1}s ({first_rpa:?} req/asset), no-op {noop_s:.1}s ({noop_rpa:?} req/asset), verify {verify_s:.1}s"
        );
        let name = format!("W4 {assets} assets");
        out.push(json!({
            "benchmark": name,
            "assets": assets,
            "mirrorcast": {"first_seconds": first_s, "noop_seconds": noop_s, "verify_seconds": verify_s,
                           "first_requests_per_asset": first_rpa, "noop_requests_per_asset": noop_rpa},
            "rclone": {"copy_seconds": rc_first, "noop_copy_seconds": rc_noop, "check_seconds": rc_check},
            "ratio_first": rc_first.map(|r| first_s / r),
            "ratio_noop": rc_noop.map(|r| noop_s / r),
            "ratio_verify": rc_check.map(|r| verify_s / r),
            "rows": [
                row(&format!("{name} replicate"), first_s, rc_first, None, None),
                row(&format!("{name} no-op re-run"), noop_s, rc_noop, None, None),
                row(&format!("{name} verify / check"), verify_s, rc_check, None, None),
                format!("{:<34} first {:.1}, no-op {:.2}", format!("{name} requests/asset"),
                        first_rpa.unwrap_or(f64::NAN), noop_rpa.unwrap_or(f64::NAN)),
            ],
        }));
    }
    Ok(out)
}
