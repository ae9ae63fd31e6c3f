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
use mirrorcast_core::store::{BlobStore, BlobStoreExt, PutOptions};
use serde_json::{json, Value};

use crate::{rclone_copy, rclone_env, row, start, Tools, RCLONE_READS, RCLONE_WRITES};

/// Runs `cmd` and returns its wall time and stdout.
fn timed(cmd: &mut Command) -> Result<(f64, Vec<u8>)> {
    let started = Instant::now();
    let out = cmd.output()?;
    let seconds = started.elapsed().as_secs_f64();
    // rclone check exits 1 on differences; anything else is a failed run.
    if !out.status.success() && out.status.code() != Some(1) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let tail = &stdout[stdout.floor_char_boundary(stdout.len().saturating_sub(4000))..];
        bail!(
            "{:?} failed ({}): {}\nits output ends: {tail}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((seconds, out.stdout))
}

/// Creates assets `first..first + count` in `store` (names are unique across calls with disjoint ranges).
pub(crate) async fn seed(store: &(impl BlobStore + Clone), first: usize, count: usize) -> Result<()> {
    let catalog = Catalog::new(Arc::new(store.clone()));
    catalog.ensure().await?;
    let policy_start = Utc::now() - Duration::minutes(5);
    let (started, done) = (Instant::now(), std::sync::atomic::AtomicUsize::new(0));
    let done = &done;
    stream::iter(first..first + count)
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
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n % 1000 == 0 {
                    eprintln!("bench:   seeded {n} of {count} in {:.0}s", started.elapsed().as_secs_f64());
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Requests per asset from a `replicate --json` report (`totals.requests`) or
/// a `verify --format json` report (`requests`).
pub(crate) fn requests_per_asset(report: &[u8], assets: usize) -> Option<f64> {
    let v: Value = serde_json::from_slice(report).ok()?;
    let r = if v["totals"]["requests"].is_object() { &v["totals"]["requests"] } else { &v["requests"] };
    Some((r["source"].as_u64()? + r["target"].as_u64()?) as f64 / assets as f64)
}

pub(crate) async fn run(tools: &Tools, sizes: &[usize]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for &assets in sizes {
        eprintln!("bench: W4 with {assets} assets: seeding…");
        let az = start(&["dca", "dcb", "dcc"].map(Account::generate)).await?;
        let seeded = Instant::now();
        seed(&az.store("dca"), 0, assets).await?;
        eprintln!("bench:   seeded in {:.0}s", seeded.elapsed().as_secs_f64());
        let env = [
            ("MIRRORCAST_DC_A".to_owned(), az.connection_string("dca")),
            ("MIRRORCAST_DC_B".to_owned(), az.connection_string("dcb")),
        ];
        let rc_env: Vec<(String, String)> = rclone_env(&az, "dca", "SRC", RCLONE_READS)?
            .into_iter()
            .chain(rclone_env(&az, "dcc", "DST", RCLONE_WRITES)?)
            .collect();
        let mc = |args: &[&str]| {
            let mut cmd = Command::new(&tools.mirrorcast);
            cmd.args(args).envs(env.iter().cloned());
            timed(&mut cmd)
        };
        let replicate = ["replicate", "--from", "a", "--to", "b", "--all", "--json"];
        let (first_s, first_report) = mc(&replicate)?;
        let (noop_s, noop_report) = mc(&replicate)?;
        let verify = ["verify", "--from", "a", "--to", "b", "--all", "--format", "json"];
        let (verify_s, verify_report) = mc(&verify)?;
        // What verify did before it trusted equal listings and ran 32 assets at once, in the same run.
        let (verify_all_s, verify_all_report) = mc(&[&verify[..], &["--audit-source", "--parallel", "8"]].concat())?;
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
        let (verify_rpa, verify_all_rpa) =
            (requests_per_asset(&verify_report, assets), requests_per_asset(&verify_all_report, assets));
        eprintln!(
            "bench:   first {first_s:.1}s ({first_rpa:?} req/asset), no-op {noop_s:.1}s ({noop_rpa:?} req/asset), verify {verify_s:.1}s ({verify_rpa:?} req/asset), verify --audit-source --parallel 8 {verify_all_s:.1}s ({verify_all_rpa:?} req/asset)"
        );
        let name = format!("W4 {assets} assets");
        out.push(json!({
            "benchmark": name,
            "assets": assets,
            "mirrorcast": {"first_seconds": first_s, "noop_seconds": noop_s, "verify_seconds": verify_s,
                           "verify_audit_source_parallel_8_seconds": verify_all_s,
                           "first_requests_per_asset": first_rpa, "noop_requests_per_asset": noop_rpa,
                           "verify_requests_per_asset": verify_rpa, "verify_audit_source_requests_per_asset": verify_all_rpa},
            "rclone": {"copy_seconds": rc_first, "noop_copy_seconds": rc_noop, "check_seconds": rc_check},
            "ratio_first": rc_first.map(|r| first_s / r),
            "ratio_noop": rc_noop.map(|r| noop_s / r),
            "ratio_verify": rc_check.map(|r| verify_s / r),
            "rows": [
                row(&format!("{name} replicate"), first_s, rc_first, None, None),
                row(&format!("{name} no-op re-run"), noop_s, rc_noop, None, None),
                row(&format!("{name} verify / check"), verify_s, rc_check, None, None),
                row(&format!("{name} verify (audit-src, p 8)"), verify_all_s, rc_check, None, None),
                format!("{:<34} first {:.1}, no-op {:.2}, verify {:.2}, verify --audit-source {:.2}",
                        format!("{name} requests/asset"), first_rpa.unwrap_or(f64::NAN), noop_rpa.unwrap_or(f64::NAN),
                        verify_rpa.unwrap_or(f64::NAN), verify_all_rpa.unwrap_or(f64::NAN)),
            ],
        }));
    }
    Ok(out)
}

/// The emulator's own cost of the two requests a no-op run is made of, in an
/// account of the library's size: seconds for 400 HEADs of one blob and for
/// 400 listings of a container of one blob (16 at once). What grows here with
/// the library grows whatever the client does.
async fn lookup_probe(store: &(impl BlobStore + Clone)) -> Result<(f64, f64)> {
    store.create_container("probe").await?;
    store.put_blob("probe", "probe", bytes::Bytes::from_static(b"probe"), &PutOptions::default()).await?;
    let started = Instant::now();
    stream::iter(0..400)
        .map(|_| store.head_blob("probe", "probe"))
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    let heads = started.elapsed().as_secs_f64();
    let started = Instant::now();
    stream::iter(0..400).map(|_| store.list_all("probe", "")).buffer_unordered(16).try_collect::<Vec<_>>().await?;
    Ok((heads, started.elapsed().as_secs_f64()))
}

/// Linearity (issue 10): `new` assets replicated into an empty B, then `new`
/// more into a B that already holds a library of `library` replicated assets
/// (`replicate --all`, so the second run also passes over the library).
/// Reported: seconds per new asset for both and their ratio (1.0 = time per
/// asset independent of the library's size), with `rclone copy` of the same
/// containers into C, built up the same way, as the peer; mirrorcast's
/// requests per new asset in both runs (the client's share of linearity);
/// and the emulator's lookup cost at both sizes (its own share).
pub(crate) async fn linear(tools: &Tools, library: usize, new: usize) -> Result<Value> {
    eprintln!("bench: W4 linearity: {new} new assets into a library of 0, then of {library}…");
    let az = start(&["dca", "dcb", "dcc"].map(Account::generate)).await?;
    let a = az.store("dca");
    let env = [
        ("MIRRORCAST_DC_A".to_owned(), az.connection_string("dca")),
        ("MIRRORCAST_DC_B".to_owned(), az.connection_string("dcb")),
    ];
    let rc_env: Vec<(String, String)> = rclone_env(&az, "dca", "SRC", RCLONE_READS)?
        .into_iter()
        .chain(rclone_env(&az, "dcc", "DST", RCLONE_WRITES)?)
        .collect();
    let replicate = || -> Result<(f64, f64)> {
        let mut cmd = Command::new(&tools.mirrorcast);
        cmd.args(["replicate", "--from", "a", "--to", "b", "--all", "--json"]).envs(env.iter().cloned());
        let (seconds, report) = timed(&mut cmd)?;
        Ok((seconds, requests_per_asset(&report, new).unwrap_or(f64::NAN)))
    };
    let rclone = || -> Result<Option<f64>> {
        tools.rclone.as_ref().map(|r| Ok(timed(&mut rclone_copy(r, &rc_env))?.0)).transpose()
    };

    seed(&a, 0, new).await?;
    let probe_empty = lookup_probe(&a).await?;
    let ((mc_empty, rpa_empty), rc_empty) = (replicate()?, rclone()?);
    eprintln!("bench:   into 0: mirrorcast {mc_empty:.1}s ({rpa_empty:.1} req/new asset), rclone {rc_empty:?}");
    // The library: `library` assets in B (the `new` above are part of it).
    seed(&a, new, library.saturating_sub(new)).await?;
    replicate()?;
    rclone()?;
    seed(&a, new.max(library), new).await?;
    let probe_full = lookup_probe(&a).await?;
    let ((mc_full, rpa_full), rc_full) = (replicate()?, rclone()?);
    eprintln!("bench:   into {library}: mirrorcast {mc_full:.1}s ({rpa_full:.1} req/new asset), rclone {rc_full:?}");

    // The whole library now in B: the no-op re-run and the audit at this size, against rclone.
    let total = new.max(library) + new;
    let mc = |args: &[&str]| {
        let mut cmd = Command::new(&tools.mirrorcast);
        cmd.args(args).envs(env.iter().cloned());
        timed(&mut cmd)
    };
    let (noop_s, noop_report) = mc(&["replicate", "--from", "a", "--to", "b", "--all", "--json"])?;
    let (verify_s, verify_report) = mc(&["verify", "--from", "a", "--to", "b", "--all", "--format", "json"])?;
    let rc_noop = rclone()?;
    let rc_check = match &tools.rclone {
        Some(rclone) => {
            let mut check = Command::new(rclone);
            check
                .args(["check", "SRC:", "DST:", "--include", "/asset-*/**", "--checkers", "16"])
                .args(["--config", "/dev/null", "-q"])
                .envs(rc_env.iter().cloned());
            Some(timed(&mut check)?.0)
        }
        None => None,
    };
    let (noop_rpa, verify_rpa) = (requests_per_asset(&noop_report, total), requests_per_asset(&verify_report, total));
    eprintln!("bench:   {total} assets: no-op {noop_s:.1}s ({noop_rpa:?} req/asset), verify {verify_s:.1}s ({verify_rpa:?} req/asset)");

    let per = |s: f64| s / new as f64;
    let name = format!("W4 {new} new into {library}");
    Ok(json!({
        "benchmark": name,
        "library": library,
        "new": new,
        "mirrorcast": {"into_empty_seconds": mc_empty, "into_library_seconds": mc_full,
                       "seconds_per_new_asset": [per(mc_empty), per(mc_full)], "growth": mc_full / mc_empty,
                       "requests_per_new_asset": [rpa_empty, rpa_full]},
        "emulator_probe_seconds": {"heads_400": [probe_empty.0, probe_full.0], "listings_400": [probe_empty.1, probe_full.1]},
        "library_total": {"assets": total, "noop_seconds": noop_s, "verify_seconds": verify_s,
                          "noop_requests_per_asset": noop_rpa, "verify_requests_per_asset": verify_rpa,
                          "rclone_noop_copy_seconds": rc_noop, "rclone_check_seconds": rc_check},
        "rclone": {"into_empty_seconds": rc_empty, "into_library_seconds": rc_full,
                   "growth": rc_empty.zip(rc_full).map(|(e, f)| f / e)},
        "rows": [
            row(&format!("W4 {new} new into 0"), mc_empty, rc_empty, None, None),
            row(&format!("W4 {new} new into {library}"), mc_full, rc_full, None, None),
            format!(
                "{:<34} {:.3} s -> {:.3} s per new asset, growth {:.2} (rclone {})",
                "  linearity",
                per(mc_empty),
                per(mc_full),
                mc_full / mc_empty,
                rc_empty.zip(rc_full).map(|(e, f)| format!("{:.2}", f / e)).unwrap_or("-".into())
            ),
            format!(
                "{:<34} requests per new asset {rpa_empty:.1} -> {rpa_full:.1} (the second run also lists the library)",
                "  where it grows"
            ),
            format!(
                "{:<34} Azurite alone, 400 HEADs: {:.2} s -> {:.2} s; 400 listings of a 1-blob container: {:.2} s -> {:.2} s (growth {:.2})",
                "",
                probe_empty.0,
                probe_full.0,
                probe_empty.1,
                probe_full.1,
                probe_full.1 / probe_empty.1
            ),
            row(&format!("W4 {total} assets no-op re-run"), noop_s, rc_noop, None, None),
            row(&format!("W4 {total} assets verify / check"), verify_s, rc_check, None, None),
            format!("{:<34} no-op {:.2}, verify {:.2}", format!("W4 {total} requests/asset"),
                    noop_rpa.unwrap_or(f64::NAN), verify_rpa.unwrap_or(f64::NAN)),
        ],
    }))
}
