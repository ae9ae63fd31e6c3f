//! W4 at scale (issue 28, item 4): the control plane where the emulator does not
//! limit it. A library of `n` small assets (W4's: four small blobs, file infos
//! and an origin locator each) in a `file://` data center A, replicated to a
//! `file://` B: the first replicate, the no-op re-run and verify, each timed with
//! its peak RSS and its requests per asset; the peer is `rclone copy` and
//! `rclone check` of the same directories into a third (local to local). Run at
//! 1k, 10k and 100k assets, it says whether seconds per asset stay flat. (A
//! `file://` store counts no requests: that column is for HTTP stores.)

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use mirrorcast_object_store::ObjectStoreBackend;
use serde_json::{json, Value};

use crate::measure::{measure, measure_to, Measured};
use crate::w4::{requests_per_asset, seed};
use crate::Tools;

/// One command of the library measured: time, peak RSS, and its JSON report.
fn mirrorcast(tools: &Tools, env: &[(String, String)], args: &[&str], work: &Path) -> Result<(Measured, Vec<u8>)> {
    let report = work.join("report.json");
    let file = std::fs::File::create(&report)?;
    let mut cmd = Command::new(&tools.mirrorcast);
    cmd.args(args).envs(env.iter().cloned());
    let measured = measure_to(&mut cmd, Stdio::from(file))?;
    Ok((measured, std::fs::read(&report)?))
}

/// `rclone` over local directories (its time and peak RSS); `check` exits 1 on differences, taken as a failure here.
fn rclone(rclone: &Path, args: &[&str]) -> Result<Measured> {
    let mut cmd = Command::new(rclone);
    cmd.args(args).args(["--config", "/dev/null", "-q", "--transfers", "16", "--checkers", "16"]);
    measure(&mut cmd)
}

fn per_asset_ms(m: &Measured, assets: usize) -> f64 {
    m.seconds * 1000.0 / assets as f64
}

/// Where the data centers go: `--scale-dir`, else `/dev/shm` where there is one. In memory, the
/// disk is out of the measurement (and 100k assets, ~800k small files, are not deleted block by
/// block from a disk mounted with `discard`, which took longer than the runs here).
pub(crate) fn default_dir() -> std::path::PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// Data center A with `assets` assets, seeded once and kept in `dir` for later runs
/// (`mirrorcast-w4-scale-a-<n>`; `mirrorcast-w4-scale-a-<n>.seeded` marks it whole). Replicate and verify never
/// write to A (an invariant), so a kept A is the library a fresh seed would make; seeding
/// 100k assets through the library takes far longer than the runs measured.
async fn seeded_library(dir: &Path, assets: usize) -> Result<std::path::PathBuf> {
    let a = dir.join(format!("mirrorcast-w4-scale-a-{assets}"));
    // Beside A, not in it: a file in A's root would be no container of a real library.
    let done = dir.join(format!("mirrorcast-w4-scale-a-{assets}.seeded"));
    if done.exists() {
        eprintln!(
            "bench: W4-scale with {assets} assets on file://: A seeded before, in {} (delete it to seed again)",
            a.display()
        );
        return Ok(a);
    }
    if a.exists() {
        // A seed that did not finish: start it again from nothing.
        std::fs::remove_dir_all(&a).with_context(|| format!("removing the unfinished seed {}", a.display()))?;
    }
    std::fs::create_dir_all(&a)?;
    eprintln!("bench: W4-scale with {assets} assets on file:// in {}: seeding…", a.display());
    let seeded = Instant::now();
    seed(&ObjectStoreBackend::local(&a)?, 0, assets).await?;
    eprintln!("bench:   seeded in {:.0}s", seeded.elapsed().as_secs_f64());
    std::fs::write(&done, format!("{assets} assets\n"))?;
    Ok(a)
}

pub(crate) async fn run(tools: &Tools, sizes: &[usize], dir: &Path) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut first_per_asset: Option<[f64; 3]> = None;
    for &assets in sizes {
        let work = tempfile::Builder::new()
            .prefix("bench-scale-")
            .tempdir_in(dir)
            .with_context(|| format!("a work directory for the scale bench in {}", dir.display()))?;
        let (b, c) = (work.path().join("b"), work.path().join("c"));
        let a = seeded_library(dir, assets).await?;
        let env = [
            ("MIRRORCAST_DC_A".to_owned(), format!("file://{}", a.display())),
            ("MIRRORCAST_DC_B".to_owned(), format!("file://{}", b.display())),
        ];
        let replicate = ["replicate", "--from", "a", "--to", "b", "--all", "--json"];
        let (first, first_report) = mirrorcast(tools, &env, &replicate, work.path())?;
        let (noop, noop_report) = mirrorcast(tools, &env, &replicate, work.path())?;
        let (verify, verify_report) =
            mirrorcast(tools, &env, &["verify", "--from", "a", "--to", "b", "--all", "--format", "json"], work.path())?;
        let (a_dir, c_dir) = (a.display().to_string(), c.display().to_string());
        let peer = match &tools.rclone {
            Some(r) => Some((
                rclone(r, &["copy", &a_dir, &c_dir, "--include", "/asset-*/**"])?,
                rclone(r, &["copy", &a_dir, &c_dir, "--include", "/asset-*/**"])?,
                rclone(r, &["check", &a_dir, &c_dir, "--include", "/asset-*/**"])?,
            )),
            None => None,
        };
        let rpa = |report: &[u8]| requests_per_asset(report, assets);
        let per = [per_asset_ms(&first, assets), per_asset_ms(&noop, assets), per_asset_ms(&verify, assets)];
        let growth = first_per_asset.map(|base| [per[0] / base[0], per[1] / base[1], per[2] / base[2]]);
        first_per_asset.get_or_insert(per);
        let name = format!("W4-scale {assets} assets (file://)");
        let peer_row = |m: Option<&Measured>| {
            m.map(|m| format!("{:.2} ms/asset, {:.0} MiB", per_asset_ms(m, assets), m.peak_rss_mib()))
                .unwrap_or_else(|| "-".into())
        };
        let step = |label: &str, m: &Measured, report: &[u8], peer: Option<&Measured>, g: Option<f64>| {
            format!(
                "{:<34} {:>9.1} s {:>7.3} ms/asset {:>6.0} MiB {:>6} req/asset  growth {:>5}  rclone {}",
                format!("{name} {label}"),
                m.seconds,
                per_asset_ms(m, assets),
                m.peak_rss_mib(),
                rpa(report).filter(|r| *r > 0.0).map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".into()),
                g.map(|g| format!("{g:.2}")).unwrap_or_else(|| "-".into()),
                peer_row(peer)
            )
        };
        let rows = vec![
            step("first", &first, &first_report, peer.as_ref().map(|p| &p.0), growth.map(|g| g[0])),
            step("no-op", &noop, &noop_report, peer.as_ref().map(|p| &p.1), growth.map(|g| g[1])),
            step("verify", &verify, &verify_report, peer.as_ref().map(|p| &p.2), growth.map(|g| g[2])),
        ];
        for r in &rows {
            eprintln!("bench:   {r}");
        }
        out.push(json!({
            "benchmark": name,
            "assets": assets,
            "mirrorcast": {
                "first": first.json(), "noop": noop.json(), "verify": verify.json(),
                "ms_per_asset": per,
                "requests_per_asset": [rpa(&first_report), rpa(&noop_report), rpa(&verify_report)],
                "growth_per_asset_vs_smallest": growth,
            },
            "rclone": peer.as_ref().map(|(c1, c2, ch)| json!({"copy": c1.json(), "noop_copy": c2.json(), "check": ch.json()})),
            "rows": rows,
        }));
    }
    Ok(out)
}
