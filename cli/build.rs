//! Puts the commit the binary was built from into `--version` (MIRRORCAST_COMMIT), from git
//! when the source is a checkout, else from the environment variable of that name (a build
//! from an archive), else "unknown": a plain `cargo build` never fails for want of git.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=MIRRORCAST_COMMIT");
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    if commit.is_some() {
        // Built again when HEAD moves: a commit, a checkout of another branch, a fetch into packed refs.
        let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(git(&["rev-parse", "--git-path", &branch]));
        }
        watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
        // Only files that exist: cargo takes a missing one as changed and would rerun every build
        // (a fresh clone keeps its refs in packed-refs).
        for path in watched.into_iter().flatten().filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = commit.or_else(|| std::env::var("MIRRORCAST_COMMIT").ok()).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MIRRORCAST_COMMIT={commit}");
}
