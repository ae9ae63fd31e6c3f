//! One module per command group; each returns the exit code of a success.

mod asset;
mod demo;
mod locator;
mod policy;
mod replicate;
mod verify;

use std::path::Path;
use std::process::ExitCode;

use crate::args::{Cli, Command};
use crate::datacenter::{self, DataCenter};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Context { json: cli.json, config: cli.config.as_deref() };
    match cli.command {
        Command::Asset(c) => asset::run(&ctx, c).await,
        Command::Policy(c) => policy::run(&ctx, c).await,
        Command::Locator(c) => locator::run(&ctx, c).await,
        Command::Replicate(a) => replicate::run(&ctx, a).await,
        Command::Verify(a) => verify::run(&ctx, a).await,
        Command::Demo(a) => demo::run(&ctx, a).await,
    }
}

/// What every command needs besides its own arguments.
pub struct Context<'a> {
    pub json: bool,
    pub config: Option<&'a Path>,
}

impl Context<'_> {
    pub fn dc(&self, name: &str) -> anyhow::Result<DataCenter> {
        Ok(datacenter::resolve(name, self.config)?)
    }
}
