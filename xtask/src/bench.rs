//! Benchmarks of whole commands, measured as wall time and peak RSS of the
//! process, against Azurite that the benchmark starts itself.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A finished run: wall time and peak resident set size.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub seconds: f64,
    pub peak_rss_kib: u64,
}

/// Runs `cmd`, polling `/proc/<pid>/status` for `VmHWM` (the kernel's own
/// high-water mark of resident memory) until it exits.
pub fn measure(cmd: &mut Command) -> Result<Measured> {
    let started = Instant::now();
    let mut child =
        cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().with_context(|| format!("cannot run {cmd:?}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    std::io::Read::read_to_string(&mut e, &mut err)?;
                }
                bail!("{cmd:?} failed with {status}: {err}");
            }
            return Ok(Measured { seconds: started.elapsed().as_secs_f64(), peak_rss_kib: peak });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn run(root: &Path, _args: &[String]) -> Result<()> {
    super::run(Command::new("cargo").args(["build", "--quiet", "--release", "-p", "mirrorcast"]))?;
    let exe = root.join("target/release/mirrorcast");
    let work = std::env::temp_dir().join(format!("mirrorcast-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = upload_rss(&exe, root, &work);
    let _ = std::fs::remove_dir_all(&work);
    let (runs, size) = result?;
    let secs = median(runs.iter().map(|m| m.seconds).collect());
    let rss = median(runs.iter().map(|m| m.peak_rss_kib as f64).collect());
    println!("benchmark                         median wall   median peak RSS   runs");
    println!(
        "upload {:>4} MiB file             {:>8.2} s   {:>10.1} MiB   {}",
        size >> 20,
        secs,
        rss / 1024.0,
        runs.len()
    );
    let json = serde_json::json!({
        "upload_large_file": {
            "bytes": size,
            "runs": runs.iter().map(|m| serde_json::json!({"seconds": m.seconds, "peak_rss_kib": m.peak_rss_kib})).collect::<Vec<_>>(),
            "median_seconds": secs,
            "median_peak_rss_mib": rss / 1024.0,
        }
    });
    let out = root.join("target/bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&json)?)?;
    println!("written {}", out.display());
    Ok(())
}

/// Uploads one 300 MiB file three times into a fresh Azurite, measuring each run.
fn upload_rss(exe: &Path, root: &Path, work: &Path) -> Result<(Vec<Measured>, u64)> {
    const SIZE: u64 = 300 * 1024 * 1024;
    let file = work.join("big movie.mp4");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file)?);
        let chunk: Vec<u8> = (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        for _ in 0..(SIZE >> 20) {
            f.write_all(&chunk)?;
        }
    }
    let mut azurite = Command::new(super::azurite_bin(root))
        .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--silent", "--disableTelemetry"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start Azurite")?;
    let port = read_port(&mut azurite)?;
    let cs = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1"
    );
    let result = (|| {
        let mut runs = Vec::new();
        for _ in 0..3 {
            let out = Command::new(exe)
                .args(["asset", "create", "--dc", "bench", "--name", "bench", "--json"])
                .env("MIRRORCAST_DC_BENCH", &cs)
                .output()?;
            let id = serde_json::from_slice::<serde_json::Value>(&out.stdout)?["id"]
                .as_str()
                .context("asset id")?
                .to_owned();
            runs.push(measure(
                Command::new(exe)
                    .args(["asset", "upload", "--dc", "bench", &id])
                    .arg(&file)
                    .env("MIRRORCAST_DC_BENCH", &cs),
            )?);
            Command::new(exe)
                .args(["asset", "delete", "--dc", "bench", &id])
                .env("MIRRORCAST_DC_BENCH", &cs)
                .output()?;
        }
        Ok((runs, SIZE))
    })();
    let _ = azurite.kill();
    result
}

fn read_port(child: &mut std::process::Child) -> Result<u16> {
    use std::io::BufRead;
    let out = child.stdout.take().context("Azurite stdout")?;
    for line in std::io::BufReader::new(out).lines() {
        let line = line?;
        if let Some((_, url)) = line.split_once("successfully listens on ") {
            return url.trim().rsplit(':').next().and_then(|p| p.parse().ok()).context("Azurite port");
        }
    }
    bail!("Azurite exited before it listened")
}
