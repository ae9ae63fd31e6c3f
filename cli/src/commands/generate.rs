//! `mirrorcast generate --out DIR` (hidden; run by `cargo xtask dist`): shell completions and
//! man pages made from the clap definitions, so they cannot drift from the command line.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::Cli;

pub(crate) fn run(out: &Path) -> anyhow::Result<ExitCode> {
    let completions = out.join("completions");
    let man = out.join("man");
    for dir in [&completions, &man] {
        std::fs::create_dir_all(dir).with_context(|| format!("--out: cannot create {}", dir.display()))?;
    }
    let mut cli = Cli::command();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell, Shell::Elvish] {
        clap_complete::generate_to(shell, &mut cli, "mirrorcast", &completions)
            .with_context(|| format!("writing the {shell} completions into {}", completions.display()))?;
    }
    // One page for the tool and one per command (`mirrorcast-replicate.1`, as git names them).
    clap_mangen::generate_to(Cli::command(), &man)
        .with_context(|| format!("writing man pages into {}", man.display()))?;
    let pages = std::fs::read_dir(&man).map(|d| d.count()).unwrap_or(0);
    outln!("completions for 5 shells in {}, {pages} man page(s) in {}", completions.display(), man.display());
    Ok(ExitCode::SUCCESS)
}
