//! One module per command group; each returns the exit code of a success.

mod adopt;
mod asset;
mod demo;
mod demo_live;
mod drill;
mod encode;
mod filter;
mod front;
mod generate;
mod import;
mod job;
mod lag;
mod locator;
mod policy;
mod protection;
mod replicate;
mod serve;
mod verify;
mod watch;

use std::process::ExitCode;

use crate::args::{Cli, Command};
// import.rs still names it `super::Context`; every other command takes it from `crate::context`.
use crate::context::Context;
use crate::datacenter;
use mirrorcast_plugin::Registry;

pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(path) = &cli.config {
        datacenter::check_file(path)?;
    }
    let plugins = plugin_registry(&cli.plugins)?;
    let settings = datacenter::Settings { retry_for: cli.retry_for };
    let ctx = Context { json: cli.json, config: cli.config.as_deref(), plugins: &plugins, settings };
    match cli.command {
        Command::Asset(c) => asset::run(&ctx, c).await,
        Command::Policy(c) => policy::run(&ctx, c).await,
        Command::Locator(c) => locator::run(&ctx, c).await,
        Command::Filter(c) => filter::run(&ctx, c).await,
        Command::Replicate(a) => replicate::run(&ctx, a).await,
        Command::Verify(a) => verify::run(&ctx, a).await,
        Command::Lag(a) => lag::run(&ctx, a).await,
        Command::Demo(a) => demo::run(&ctx, a).await,
        Command::Encode(a) => encode::run(&ctx, a).await,
        Command::Job(c) => job::run(&ctx, c).await,
        Command::Import(a) => import::run(&ctx, &a.dc.dc, &a.path, a.dry_run).await,
        Command::Serve(a) => serve::run(&ctx, a).await,
        Command::Front(a) => front::run(&ctx, a).await,
        Command::Drill(a) => drill::run(&ctx, a).await,
        Command::Generate(a) => generate::run(&a.out),
        Command::ContentKey(c) => protection::content_key(&ctx, c).await,
        Command::ContentKeyPolicy(c) => protection::content_key_policy(&ctx, c).await,
        Command::StreamingPolicy(c) => protection::streaming_policy(&ctx, c).await,
    }
}

/// Plugins named with `--plugin` are loaded now (a bad file stops the command
/// with exit 2); others are found by name in the plugin directories when a
/// data center asks for them.
fn plugin_registry(explicit: &[std::path::PathBuf]) -> anyhow::Result<Registry> {
    let dirs = match std::env::var_os("MIRRORCAST_PLUGIN_DIR") {
        Some(v) => std::env::split_paths(&v).collect(),
        None => std::env::var_os("HOME")
            .map(|h| vec![std::path::PathBuf::from(h).join(".mirrorcast/plugins")])
            .unwrap_or_default(),
    };
    let registry = Registry::new(dirs);
    for path in explicit {
        registry.load(path)?;
    }
    Ok(registry)
}
