//! `cargo xtask <task>`: the project's chores, in Rust so they run wherever cargo does.
//!
//! - `setup`: install the pinned Azurite (npm ci in tools/azurite) and test players (tools/players) if missing; check for ffmpeg and chromium.
//! - `tidy`:  the crate graph against ARCHITECTURE.md's crate-edge rules; no unused dependency.
//! - `test`:  tidy, setup, then the whole test suite.
//! - `ci`:    fmt check, clippy with warnings denied, then `test`.
//! - `demo`:  setup, then `mirrorcast demo` (Azurite started by mirrorcast itself; on a terminal it stays
//!   up serving the front's page until Ctrl-C; `--exit` stops after the summary).
//! - `bench`: setup, then the benchmarks; results as a table and as JSON.
//! - `drill`: setup, then the failover rehearsal: A and B on Azurite, A killed mid-stream, the viewer's report.

mod bench;
mod drill;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("setup") => setup(&root),
        Some("tidy") => tidy::run(&root),
        Some("test") => {
            tidy::run(&root)?;
            setup(&root)?;
            test(&args[1..])
        }
        Some("ci") => {
            run(Command::new("cargo").args(["fmt", "--all", "--check"]))?;
            run(Command::new("cargo").args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
            setup(&root)?;
            test(&[])
        }
        Some("demo") => {
            setup(&root)?;
            // Not --quiet: the first (release) build takes minutes, and cargo's progress shows it.
            demo(Command::new("cargo").args(["run", "--release", "-p", "mirrorcast", "--", "demo"]).args(&args[1..]))
        }
        Some("bench") => {
            setup(&root)?;
            bench::run(&root, &args[1..])
        }
        Some("dist") => dist(&root),
        Some("drill") => {
            setup(&root)?;
            let extra: Vec<String> = args[1..].iter().filter(|a| *a != "--").cloned().collect();
            drill::run(&root, &extra)
        }
        _ => {
            eprintln!("usage: cargo xtask <setup|tidy|test|ci|demo|bench|drill|dist>");
            std::process::exit(2);
        }
    }
}

/// The release binary with its shell completions and man pages, in target/dist: bin/mirrorcast,
/// completions/ (bash, zsh, fish, PowerShell, elvish), man/ (one page per command), made by the
/// binary itself from its clap definitions (`mirrorcast generate`).
fn dist(root: &Path) -> Result<()> {
    run(Command::new("cargo").args(["build", "--release", "-p", "mirrorcast"]))?;
    let dist = root.join("target/dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(dist.join("bin"))?;
    let built = root.join("target/release/mirrorcast");
    std::fs::copy(&built, dist.join("bin/mirrorcast")).with_context(|| format!("copying {}", built.display()))?;
    run(Command::new(dist.join("bin/mirrorcast")).arg("generate").arg("--out").arg(&dist))?;
    eprintln!("xtask: {} holds bin/, completions/ and man/", dist.display());
    Ok(())
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Where `setup` installs the pinned Azurite, under the workspace `root`.
pub fn azurite_bin(root: &Path) -> PathBuf {
    root.join("tools/azurite/node_modules/.bin/azurite-blob")
}

/// Installs Azurite exactly as the lockfile pins it, unless it is there
/// already, and checks for ffmpeg (the encoder and its tests need it).
fn setup(root: &Path) -> Result<()> {
    check_ffmpeg();
    check_chromium();
    check_gstreamer();
    check_certutil();
    setup_azurite(root)?;
    setup_players(root)?;
    setup_deploy_check(root)
}

/// The validators of deploy/kubernetes, pinned: kubernetes-validate in a venv
/// (tools/deploy-check/requirements.txt) and the Prometheus Operator's CRD models
/// (tools/deploy-check/package-lock.json), unless they are there already.
fn setup_deploy_check(root: &Path) -> Result<()> {
    let dir = root.join("tools/deploy-check");
    let requirements = std::fs::read_to_string(dir.join("requirements.txt"))
        .context("tools/deploy-check/requirements.txt is missing")?;
    // The venv remembers what it was made from: a changed pin installs again.
    let stamp = dir.join("venv/.requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(requirements.as_str()) {
        eprintln!("xtask: installing kubernetes-validate (a venv in tools/deploy-check)…");
        if Command::new("python3").args(["-c", "import ensurepip, venv"]).output().map_or(true, |o| !o.status.success())
        {
            bail!(
                "python3 with venv is not installed (the deploy/kubernetes check needs it): \
                 `sudo apt-get install -y python3-venv` (Debian), then run `cargo xtask setup` again"
            );
        }
        run(Command::new("python3").args(["-m", "venv", "--clear", "venv"]).current_dir(&dir))?;
        run(Command::new("venv/bin/pip")
            .args(["install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"])
            .current_dir(&dir))?;
        std::fs::write(&stamp, &requirements)?;
    }
    let lock = std::fs::read_to_string(dir.join("package-lock.json"))
        .context("tools/deploy-check/package-lock.json is missing")?;
    let lock: serde_json::Value = serde_json::from_str(&lock)?;
    let name = "@kubernetes-models/prometheus-operator";
    let pinned = &lock["packages"][format!("node_modules/{name}")]["version"];
    let current = std::fs::read_to_string(dir.join("node_modules").join(name).join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|have| !pinned.is_null() && &have["version"] == pinned);
    if current {
        return Ok(());
    }
    eprintln!("xtask: installing the deploy/kubernetes validators (npm ci in tools/deploy-check)…");
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir))
}

/// Chromium (the player test's browser) is a system package too.
fn check_gstreamer() {
    if std::process::Command::new("gst-launch-1.0").arg("--version").output().is_err() {
        eprintln!(
            "xtask: gst-launch-1.0 not found: the GStreamer HLS playback test needs it.\n\
             xtask: install it: `sudo apt-get install -y gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav` (Debian)"
        );
    }
}

/// certutil makes the HTTPS playback test's Chromium trust its test certificate.
fn check_certutil() {
    if Command::new("certutil").arg("-H").output().is_err() {
        eprintln!(
            "xtask: certutil not found: the HTTPS playback test needs it.\n\
             xtask: install it: `sudo apt-get install -y libnss3-tools` (Debian)"
        );
    }
}

fn check_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !Path::new(&chromium).exists() {
        eprintln!(
            "xtask: {chromium} not found: the hls.js/dash.js playback test needs it.\n\
             xtask: install it: `sudo apt-get install -y chromium` (Debian), or set CHROMIUM to a Chromium binary"
        );
    }
}

/// hls.js, dash.js, Shaka Player and playwright-core for the headless playback tests, exactly as
/// tools/players/package-lock.json pins them, unless they are there already.
fn setup_players(root: &Path) -> Result<()> {
    let dir = root.join("tools/players");
    let lock =
        std::fs::read_to_string(dir.join("package-lock.json")).context("tools/players/package-lock.json is missing")?;
    let lock: serde_json::Value = serde_json::from_str(&lock)?;
    let current = ["hls.js", "dashjs", "shaka-player", "playwright-core"].iter().all(|name| {
        let pinned = &lock["packages"][format!("node_modules/{name}")]["version"];
        std::fs::read_to_string(dir.join("node_modules").join(name).join("package.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|have| !pinned.is_null() && &have["version"] == pinned)
    });
    if current {
        return Ok(());
    }
    eprintln!("xtask: installing the test players (npm ci in tools/players)…");
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir))
}

/// ffmpeg is a system package, not something xtask installs: say how to get it.
fn check_ffmpeg() {
    let found = ["ffmpeg", "ffprobe"]
        .iter()
        .all(|tool| Command::new(tool).arg("-version").output().is_ok_and(|o| o.status.success()));
    if !found {
        eprintln!(
            "xtask: ffmpeg/ffprobe not found: `mirrorcast encode`, the demo's real clip and the encode tests need them.\n\
             xtask: install them: `sudo apt-get install -y ffmpeg` (Debian/Ubuntu), `brew install ffmpeg` (macOS)"
        );
    }
}

fn setup_azurite(root: &Path) -> Result<()> {
    let dir = root.join("tools/azurite");
    let installed = dir.join("node_modules/azurite/package.json");
    let lock =
        std::fs::read_to_string(dir.join("package-lock.json")).context("tools/azurite/package-lock.json is missing")?;
    let lock: serde_json::Value = serde_json::from_str(&lock)?;
    let pinned = lock["packages"]["node_modules/azurite"]["version"].as_str().unwrap_or("").to_owned();
    if let Ok(text) = std::fs::read_to_string(&installed) {
        let have: serde_json::Value = serde_json::from_str(&text)?;
        if have["version"].as_str() == Some(pinned.as_str()) && azurite_bin(root).exists() {
            return Ok(());
        }
    }
    eprintln!("xtask: installing Azurite {pinned} (npm ci in tools/azurite)…");
    if Command::new("npm").arg("--version").output().is_err() {
        bail!("npm is not installed: install Node.js 18+ with npm, then run `cargo xtask setup` again");
    }
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir))
}

fn test(extra: &[String]) -> Result<()> {
    run(Command::new("cargo").args(["test", "--workspace", "--all-targets"]).args(extra))
}

/// Runs the demo in place of xtask (on Unix: exec), so a Ctrl-C reaches the demo alone and the
/// shell gets its prompt back only once the demo has stopped its servers.
fn demo(cmd: &mut Command) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        bail!("cannot run {cmd:?}: {e}");
    }
    #[cfg(not(unix))]
    run(cmd)
}

/// Runs `cmd` to its end; an error naming the command if it cannot start or exits unsuccessfully.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
