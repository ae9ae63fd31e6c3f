//! Wall time, peak RSS and CPU time of a child process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub seconds: f64,
    pub peak_rss_kib: u64,
    /// User + system CPU of the child and every descendant it waited for
    /// (the growth of this process's `cutime + cstime` across the run).
    pub cpu_seconds: f64,
    /// User + system CPU of the child process itself (its last reading before it exited).
    pub own_cpu_seconds: f64,
}

impl Measured {
    pub(crate) fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({"seconds": self.seconds, "peak_rss_mib": self.peak_rss_mib(), "cpu_seconds": self.cpu_seconds, "own_cpu_seconds": self.own_cpu_seconds})
    }
}

/// Runs `cmd`, polling `/proc/<pid>/status` for `VmHWM` (the kernel's own
/// high-water mark of resident memory, so sampling cannot miss the peak as
/// long as the process is alive at the last read).
pub(crate) fn measure(cmd: &mut Command) -> Result<Measured> {
    measure_to(cmd, Stdio::null())
}

/// [`measure`], with the child's stdout sent to `stdout`.
pub(crate) fn measure_to(cmd: &mut Command, stdout: impl Into<Stdio>) -> Result<Measured> {
    let children_before = children_cpu()?;
    let started = Instant::now();
    let mut child = cmd.stdout(stdout).stderr(Stdio::piped()).spawn().with_context(|| format!("cannot run {cmd:?}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let stat_path = format!("/proc/{}/stat", child.id());
    let mut peak = 0u64;
    let mut own = 0.0f64;
    loop {
        if let Some(cpu) = std::fs::read_to_string(&stat_path).ok().and_then(|t| stat_cpu(&t, 13)) {
            own = own.max(cpu);
        }
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
            let seconds = started.elapsed().as_secs_f64();
            let cpu_seconds = children_cpu()? - children_before;
            return Ok(Measured { seconds, peak_rss_kib: peak, cpu_seconds, own_cpu_seconds: own });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}

/// CPU seconds (user + system) a running process has used so far; `None` once it is gone.
pub(crate) fn process_cpu(pid: u32) -> Option<f64> {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?, 13)
}

/// Minor page faults a running process has taken so far (`minflt`, field 10 of /proc/<pid>/stat):
/// memory handed back to the system and touched again; `None` once it is gone.
pub(crate) fn process_minor_faults(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Counted from the state (field 3 of the whole line), after the parenthesised command name.
    text[text.rfind(')')? + 2..].split_whitespace().nth(7)?.parse().ok()
}

/// CPU seconds of this process's waited-for children (`cutime + cstime` of /proc/self/stat).
fn children_cpu() -> Result<f64> {
    let text = std::fs::read_to_string("/proc/self/stat")?;
    stat_cpu(&text, 15).context("cannot read cutime/cstime from /proc/self/stat")
}

/// Two consecutive clock-tick fields of a `/proc/<pid>/stat` line, added, in
/// seconds: `first` = 13 for utime+stime, 15 for cutime+cstime (0-based,
/// counted from the process state, after the parenthesised command name).
fn stat_cpu(text: &str, first: usize) -> Option<f64> {
    let after_name = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 0 here is the state, which is field 2 of the whole line.
    let tick = |i: usize| fields.get(i - 2)?.parse::<u64>().ok();
    Some((tick(first)? + tick(first + 1)?) as f64 / clock_ticks_per_second())
}

/// `getconf CLK_TCK` (100 on every Linux this runs on; read once, not assumed).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}
