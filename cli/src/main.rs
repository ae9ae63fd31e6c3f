//! `mirrorcast`: a thin binary over the libraries. Parses arguments, resolves
//! data centers, runs one command, and maps the outcome to an exit code:
//! 0 done, 1 finished with failures (or not found), 2 usage, configuration,
//! authentication or input error.

mod args;
mod commands;
mod datacenter;
mod exit;
mod output;
mod progress;
mod upload;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_tracing();
    match commands::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            let code = exit::code_for(&e);
            eprintln!("mirrorcast: error: {}", exit::one_line(&e));
            code
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(true).init();
}
