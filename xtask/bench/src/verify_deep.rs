//! `verify --deep` at the read rate (issue 28, item 5): W3's two 512 MiB blobs
//! in A (one Azurite instance) replicated once to B (another), then, on those
//! same two containers, in the same run and alternating who goes first:
//! `verify --deep` with 4 MiB ranged reads (the hidden `--deep-range-mib 4`), `verify --deep`
//! reading every blob with one GET (the default), and the
//! peer `rclone check --download` (16 checkers, like the audit rows of `replicate`).
//! Every run must find the two sides equal: a failing check fails the bench.

use std::process::Command;

use anyhow::Result;
use mirrorcast_azurite::Account;
use serde_json::json;

use crate::measure::{measure, median, Measured};
use crate::workload::Workload;
use crate::{rclone_env, row, start, Tools, RCLONE_READS};

pub(crate) async fn run(tools: &Tools, runs: usize) -> Result<serde_json::Value> {
    let w = Workload::all().into_iter().find(|w| w.name == "W3").expect("W3 is a workload");
    eprintln!("bench: verify --deep on W3 (two instances)…");
    let accounts = ["dca", "dcb"].map(Account::generate);
    let (source_az, target_az) = (start(&accounts[..1]).await?, start(&accounts[1..]).await?);
    w.seed(&source_az.store("dca")).await?;
    let env = [
        ("MIRRORCAST_DC_A".to_owned(), source_az.connection_string("dca")),
        ("MIRRORCAST_DC_B".to_owned(), target_az.connection_string("dcb")),
    ];
    let replicated = Command::new(&tools.mirrorcast)
        .args(["replicate", "--from", "a", "--to", "b", "--all", "--json"])
        .envs(env.iter().cloned())
        .output()?;
    anyhow::ensure!(replicated.status.success(), "replicate failed: {}", String::from_utf8_lossy(&replicated.stderr));
    // rclone checks the very containers verify does: A's against B's.
    let rclone_env: Vec<(String, String)> = rclone_env(&source_az, "dca", "SRC", RCLONE_READS)?
        .into_iter()
        .chain(rclone_env(&target_az, "dcb", "DST", RCLONE_READS)?)
        .collect();

    let verify = |range_mib: Option<&str>| -> Result<Measured> {
        let mut cmd = Command::new(&tools.mirrorcast);
        cmd.args(["verify", "--from", "a", "--to", "b", "--all", "--deep", "--format", "json"])
            .envs(env.iter().cloned());
        if let Some(mib) = range_mib {
            cmd.args(["--deep-range-mib", mib]);
        }
        measure(&mut cmd)
    };
    let check = |rclone: &std::path::Path| -> Result<Measured> {
        let mut cmd = Command::new(rclone);
        cmd.args(["check", "SRC:", "DST:", "--download", "--include", "/asset-*/**", "--checkers", "16"])
            .args(["--config", "/dev/null", "-q"])
            .envs(rclone_env.iter().cloned());
        measure(&mut cmd)
    };
    let (mut ranged, mut whole, mut rc) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        // Rotate the order: none of the three always reads a cold or a warm emulator.
        for turn in 0..3 {
            match (run + turn) % 3 {
                0 => ranged.push(verify(Some("4"))?),
                1 => whole.push(verify(None)?),
                _ => {
                    if let Some(r) = &tools.rclone {
                        rc.push(check(r)?)
                    }
                }
            }
        }
        eprintln!(
            "bench:   run {}: verify --deep {:.2}s, one GET per blob {:.2}s, rclone check --download {}",
            run + 1,
            ranged[run].seconds,
            whole[run].seconds,
            rc.get(run).map(|m| format!("{:.2}s", m.seconds)).unwrap_or("-".into())
        );
    }
    drop((source_az, target_az));

    let secs = |v: &[Measured]| (!v.is_empty()).then(|| median(v.iter().map(|m| m.seconds)));
    let rss = |v: &[Measured]| (!v.is_empty()).then(|| median(v.iter().map(|m| m.peak_rss_mib())));
    let cpu = |v: &[Measured]| median(v.iter().map(|m| m.cpu_seconds));
    let (after, before, peer) = (secs(&ranged).unwrap_or_default(), secs(&whole).unwrap_or_default(), secs(&rc));
    let rows = vec![
        row("W3 verify --deep 4 MiB ranges / check", after, peer, rss(&ranged), rss(&rc)),
        row("  one GET per blob (default)", before, peer, rss(&whole), rss(&rc)),
        format!(
            "  ranged / one GET: {:.2}; client CPU per run: ranged {:.1} s, one GET {:.1} s, rclone {}",
            after / before.max(f64::MIN_POSITIVE),
            cpu(&ranged),
            cpu(&whole),
            if rc.is_empty() { "-".to_owned() } else { format!("{:.1} s", cpu(&rc)) }
        ),
    ];
    Ok(json!({
        "benchmark": "W3 verify --deep",
        "workload": w.describe(),
        "runs": runs,
        "mirrorcast": {"median_seconds": after, "median_peak_rss_mib": rss(&ranged), "all": ranged.iter().map(Measured::json).collect::<Vec<_>>()},
        "mirrorcast_one_get_per_blob": {"median_seconds": before, "median_peak_rss_mib": rss(&whole), "all": whole.iter().map(Measured::json).collect::<Vec<_>>()},
        "rclone": {"median_seconds": peer, "median_peak_rss_mib": rss(&rc), "all": rc.iter().map(Measured::json).collect::<Vec<_>>()},
        "ratio_seconds": peer.map(|r| after / r),
        "ratio_seconds_before": peer.map(|r| before / r),
        "rows": rows,
    }))
}
