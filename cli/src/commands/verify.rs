use std::process::ExitCode;

use mirrorcast_core::id::AssetId;
use mirrorcast_core::Error;
use mirrorcast_verify::{verify, VerifyOptions};

use super::Context;
use crate::args::VerifyArgs;

pub async fn run(ctx: &Context<'_>, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let format = match (ctx.json, args.format.as_deref()) {
        (true, Some(f)) if f != "json" => {
            return Err(Error::invalid_input(format!("--json and --format {f} conflict: give one of them")).into())
        }
        (true, _) => "json",
        (false, f) => f.unwrap_or("text"),
    };
    if !matches!(format, "text" | "json" | "junit") {
        return Err(Error::invalid_input(format!("unknown format '{format}': use text, json or junit")).into());
    }
    if args.parallel == 0 {
        return Err(Error::invalid_input("--parallel must be at least 1").into());
    }
    let ids = args.pair.assets.iter().map(|a| AssetId::parse_any(a)).collect::<Result<Vec<_>, _>>()?;
    let (a, b) = (ctx.dc(&args.pair.from)?, ctx.dc(&args.pair.to)?);
    let options = VerifyOptions { deep: args.deep, parallel: args.parallel };
    let selected = (!args.pair.all).then_some(ids.as_slice());
    // The verify crate reports nothing while it works: a spinner with the time spent.
    let spinner = crate::progress::Work::spinner(
        crate::progress::Mode::detect(ctx.json),
        format!("verify {} against {}", a.name, b.name),
    );
    let report =
        verify((&a.name, a.store.clone(), &a.origin), (&b.name, b.store.clone(), &b.origin), selected, &options)
            .await?;
    spinner.finish();
    match format {
        "json" => crate::output::json(&report)?,
        "junit" => out!("{}", report.to_junit()),
        _ => out!("{}", report.to_text()),
    }
    Ok(ExitCode::from(report.exit_code()))
}
