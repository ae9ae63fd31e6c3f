//! `mirrorcast drill --front URL --locator ID [--kill CMD]`: a viewer streams through
//! the front while the kill command takes a data center down; the report says what
//! the viewer missed (exit 0: nothing, 1: something).

use std::process::ExitCode;

use mirrorcast_core::id::LocatorId;
use mirrorcast_core::Error;
use mirrorcast_drill::{DrillConfig, Selection, StreamFormat, Url};

use crate::args::DrillArgs;
use crate::context::Context;

pub async fn run(ctx: &Context<'_>, args: DrillArgs) -> anyhow::Result<ExitCode> {
    let base = Url::parse(&args.front).map_err(|e| {
        Error::invalid_input(format!("--front '{}' is not a URL ({e}): use e.g. http://127.0.0.1:8000", args.front))
    })?;
    let (id, ism_in_locator) = match args.locator.split_once('/') {
        Some((id, ism)) => (id, Some(ism.to_owned())),
        None => (args.locator.as_str(), None),
    };
    let locator = LocatorId::parse(id).map_err(|_| {
        Error::invalid_input(format!("--locator '{id}' is not a locator id (a GUID or nb:lid:UUID:<guid>)"))
    })?;
    let ism =
        match (args.ism, ism_in_locator) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::invalid_input(format!("--ism '{a}' and --locator …/{b} name different files")).into())
            }
            (Some(name), _) | (None, Some(name)) => name,
            (None, None) => return Err(Error::invalid_input(
                "name the primary file: --ism 'Name.ism' (or --locator <guid>/Name.ism), as `locator urls` shows it",
            )
            .into()),
        };
    let formats = match args.format.as_str() {
        "hls" => vec![StreamFormat::Hls],
        "dash" => vec![StreamFormat::Dash],
        _ => vec![StreamFormat::Hls, StreamFormat::Dash],
    };
    let config = DrillConfig {
        base,
        locator,
        ism,
        formats,
        selection: if args.renditions == "all" { Selection::All } else { Selection::Top },
        kill: args.kill,
        kill_at: args.kill_at,
        kill_after: args.kill_after,
        duration: args.duration,
        start_buffer: args.start_buffer,
        buffer: args.buffer,
        max_stall: args.max_stall,
        retries: args.retries,
        request_timeout: std::time::Duration::from_secs(args.request_timeout_secs),
        save: args.save,
    };
    let report = mirrorcast_drill::run(config).await?;
    if ctx.json {
        crate::output::json(&report)?;
    } else {
        out!("{}", report.to_text());
    }
    Ok(ExitCode::from(report.exit_code()))
}
