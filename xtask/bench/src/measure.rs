//! Wall time and peak RSS of a child process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub seconds: f64,
    pub peak_rss_kib: u64,
}

impl Measured {
    pub fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"seconds": self.seconds, "peak_rss_mib": self.peak_rss_mib()})
    }
}

/// Runs `cmd`, polling `/proc/<pid>/status` for `VmHWM` (the kernel's own
/// high-water mark of resident memory, so sampling cannot miss the peak as
/// long as the process is alive at the last read).
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
                bail!("{:?} failed with {status}: {err}", cmd.get_program());
            }
            return Ok(Measured { seconds: started.elapsed().as_secs_f64(), peak_rss_kib: peak });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}
