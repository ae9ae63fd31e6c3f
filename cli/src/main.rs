//! `mirrorcast`: a thin binary over the libraries. Parses arguments, resolves
//! data centers, runs one command, and maps the outcome to an exit code:
//! 0 done, 1 finished with failures (or not found), 2 usage, configuration,
//! authentication or input error.

// First, so its out!/outln!/err!/errln! macros are seen by every module.
#[macro_use]
mod output;

mod args;
mod commands;
mod context;
mod datacenter;
mod exit;
mod kek;
mod progress;
mod upload;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // The demo's summary and page line stay readable: its servers' logs only with -v.
    let quiet_servers = matches!(&cli.command, args::Command::Demo(demo) if !demo.verbose);
    init_tracing(quiet_servers);
    match commands::run(cli).await {
        Ok(code) if code == ExitCode::SUCCESS && output::stdout_failed() => ExitCode::from(exit::FAILURE),
        Ok(code) => code,
        Err(e) => {
            let code = exit::code_for(&e);
            errln!("mirrorcast: error: {}", exit::one_line(&e));
            code
        }
    }
}

/// Help and version go to stdout (exit 0); a usage error is one line on
/// stderr naming the argument (exit 2), like every other error.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            out!("{}", e.render());
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            err!("{}", e.render());
            ExitCode::from(exit::USAGE)
        }
        _ => {
            errln!("mirrorcast: error: {}", exit::clap_one_line(&e.render().to_string()));
            ExitCode::from(exit::USAGE)
        }
    }
}

fn init_tracing(quiet_servers: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if quiet_servers {
        "warn,mirrorcast_front=error,mirrorcast_origin::access=off,mirrorcast_front::access=off"
    } else {
        "warn,mirrorcast_origin::access=info,mirrorcast_front::access=info"
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colour codes only on a terminal: a log file or journald gets plain lines (NO_COLOR honoured too).
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(ansi)
        .init();
}
