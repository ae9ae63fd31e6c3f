//! The command line's face: every command's `--help` against one reviewed snapshot, so a change of
//! wording, a flag's spelling or a default shows in review; and `--version` naming the commit.
//!
//! Regenerate the snapshot (after adding or changing a command or flag), then review its diff:
//!
//! ```sh
//! UPDATE_EXPECT=1 cargo test -p mirrorcast --test integration -- help::
//! ```

use std::process::Command;

fn mirrorcast(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mirrorcast"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run mirrorcast");
    assert!(out.status.success(), "mirrorcast {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands a help text lists under "Commands:" (clap's own `help` left out).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim_end() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A description that continues on its own line is indented further.
        .filter(|l| !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// `mirrorcast [path…] --help`, then the same for each of its subcommands, depth first.
fn walk(path: &mut Vec<String>, out: &mut String) {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let help = mirrorcast(&args);
    out.push_str(&format!("==== mirrorcast {}\n", args.join(" ")));
    out.push_str(help.trim_end());
    out.push_str("\n\n");
    for sub in subcommands(&help) {
        path.push(sub);
        walk(path, out);
        path.pop();
    }
}

#[test]
fn every_commands_help_matches_the_reviewed_snapshot() {
    let mut all = String::new();
    walk(&mut Vec::new(), &mut all);
    assert!(all.matches("==== ").count() > 20, "the walk found the subcommands: {all}");
    expect_test::expect_file!["../data/help.txt"].assert_eq(&all);
}

#[test]
fn version_names_the_package_version_and_the_commit_built_from() {
    let version = mirrorcast(&["--version"]);
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    // A checkout (the tests' case, CI's too): the commit HEAD is at, which the build watches.
    let commit = commit.expect("the tests run from a git checkout");
    assert_eq!(version.trim(), format!("mirrorcast {} (commit {commit})", env!("CARGO_PKG_VERSION")));
}
