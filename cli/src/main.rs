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
    let quiet_servers = matches!(&cli.command, args::Command::Demo(_)) && cli.verbose == 0;
    progress::set_quiet(cli.quiet);
    init_tracing(quiet_servers, cli.verbose, cli.quiet);
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

/// The log filter: RUST_LOG when set, else from -q / -v (the house's crates; dependencies stay at warn).
fn log_filter(quiet_servers: bool, verbose: u8, quiet: bool) -> String {
    let ours = [
        "mirrorcast",
        "mirrorcast_core",
        "mirrorcast_origin",
        "mirrorcast_front",
        "mirrorcast_http",
        "mirrorcast_store",
        "mirrorcast_azure_blob",
        "mirrorcast_verify",
        "mirrorcast_encode",
        "mirrorcast_drill",
        "mirrorcast_media",
        "mirrorcast_plugin",
        "mirrorcast_object_store",
    ];
    let level = match (quiet, verbose) {
        (true, _) => return "error".to_owned(),
        (_, 0) if quiet_servers => {
            return "warn,mirrorcast_front=error,mirrorcast_origin::access=off,mirrorcast_front::access=off".to_owned()
        }
        (_, 0) => return "warn,mirrorcast_origin::access=info,mirrorcast_front::access=info".to_owned(),
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    std::iter::once("warn".to_owned()).chain(ours.iter().map(|c| format!("{c}={level}"))).collect::<Vec<_>>().join(",")
}

fn init_tracing(quiet_servers: bool, verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(log_filter(quiet_servers, verbose, quiet)));
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
