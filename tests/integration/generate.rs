//! The CLI's conventions beyond `--help`: shell completions and man pages generated from the
//! clap definitions (`mirrorcast generate`, what `cargo xtask dist` packages), and the global
//! `-q` / `-v`.

use crate::helpers::{run_in, write_sample, Sandbox};

/// The visible commands, as `mirrorcast --help` lists them.
async fn commands(dir: &std::path::Path) -> Vec<String> {
    let help = run_in(dir, &[], &["--help"]).await.ok().stdout;
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

#[tokio::test]
async fn completions_for_five_shells_and_a_man_page_per_command_are_generated_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    run_in(dir.path(), &[], &["generate", "--out", out.to_str().unwrap()]).await.ok();
    let commands = commands(dir.path()).await;
    assert!(commands.len() >= 15 && commands.contains(&"lag".to_owned()), "{commands:?}");

    let bash = out.join("completions/mirrorcast.bash");
    let syntax = std::process::Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(syntax.status.success(), "bash refuses the completion script: {}", String::from_utf8_lossy(&syntax.stderr));
    for file in ["mirrorcast.bash", "_mirrorcast", "mirrorcast.fish", "_mirrorcast.ps1", "mirrorcast.elv"] {
        let text = std::fs::read_to_string(out.join("completions").join(file)).unwrap();
        for c in &commands {
            assert!(text.contains(c.as_str()), "{file} does not complete `{c}`");
        }
    }
    for page in std::iter::once("mirrorcast".to_owned()).chain(commands.iter().map(|c| format!("mirrorcast-{c}"))) {
        let text = std::fs::read_to_string(out.join("man").join(format!("{page}.1")))
            .unwrap_or_else(|e| panic!("no man page {page}.1: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}.1 is not a man page");
    }
    // The hidden generator documents nothing of itself.
    assert!(!out.join("man/mirrorcast-generate.1").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_drops_progress_lines_and_verbose_and_quiet_together_are_a_usage_error() {
    let sb = Sandbox::start().await;
    let id = sb.run(&["asset", "create", "--dc", "a", "--name", "Clip"]).await.ok().stdout.trim().to_owned();
    let folder = sb.dir.path().join("clip");
    write_sample(&folder, 64 * 1024);
    let loud = sb.run(&["asset", "upload", "--dc", "a", &id, folder.to_str().unwrap()]).await.ok();
    assert!(loud.stderr.contains("upload"), "no progress line to compare with: {}", loud.stderr);
    let quiet = sb.run(&["-q", "asset", "upload", "--dc", "a", &id, folder.to_str().unwrap()]).await.ok();
    assert!(quiet.stderr.trim().is_empty(), "-q printed: {}", quiet.stderr);
    // Durations ("in 0.1s") differ between any two runs; everything else must not.
    let timeless = |out: &str| -> String {
        out.split(' ')
            .map(|w| {
                let n = w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).strip_suffix('s');
                match n.filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.')) {
                    Some(_) => "<duration>",
                    None => w,
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(timeless(&quiet.stdout), timeless(&loud.stdout), "-q changes only stderr");
    sb.run(&["-q", "-v", "asset", "list", "--dc", "a"]).await.usage_error("--quiet");
}
