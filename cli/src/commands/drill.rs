//! `mirrorcast drill --front URL --locator ID [--kill CMD]`: a viewer streams through
//! the front while the kill command takes a data center down; the report says what
//! the viewer missed (exit 0: nothing, 1: something).

use std::process::ExitCode;

use crate::args::DrillArgs;
use crate::context::Context;

pub(crate) async fn run(ctx: &Context<'_>, args: DrillArgs) -> anyhow::Result<ExitCode> {
    let report = mirrorcast_drill::run(args.resolve()?).await?;
    if ctx.json {
        crate::output::json(&report)?;
    } else {
        out!("{}", report.to_text());
    }
    Ok(ExitCode::from(report.exit_code()))
}
