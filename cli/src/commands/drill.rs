//! `mirrorcast drill --front URL --locator ID [--kill CMD]`: a viewer streams through
//! the front while the kill command takes a data center down; the report says what
//! the viewer missed (exit 0: nothing, 1: something). Ctrl-C, SIGTERM or SIGHUP stop
//! it early: the report so far, marked interrupted, no `--save` file kept, exit 1.

use std::process::ExitCode;

use crate::args::DrillArgs;
use crate::context::Context;

pub(crate) async fn run(ctx: &Context<'_>, args: DrillArgs) -> anyhow::Result<ExitCode> {
    let config = args.resolve()?;
    let shutdown = mirrorcast_http::Shutdown::watch()?;
    let stop = async move {
        let signal = shutdown.requested().await;
        errln!("mirrorcast: {}: stopping the drill; the report covers what was played so far", signal.name());
    };
    let report = mirrorcast_drill::run(config, stop).await?;
    if ctx.json {
        crate::output::json(&report)?;
    } else {
        out!("{}", report.to_text());
    }
    Ok(ExitCode::from(report.exit_code()))
}
