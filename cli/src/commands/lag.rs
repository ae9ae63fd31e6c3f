//! `mirrorcast lag`: how far B is behind A, per asset, read through read-only
//! views of both data centers (a write would be refused, so none happens).

use std::process::ExitCode;
use std::sync::Arc;

use mirrorcast_core::id::AssetId;
use mirrorcast_core::replicate::lag::{self, AssetLag, LagReason, LagReport, LagState};
use mirrorcast_core::replicate::{Selection, Side};
use mirrorcast_core::Error;
use mirrorcast_verify::ReadOnly;

use crate::args::LagArgs;
use crate::context::Context;
use crate::output;
use crate::progress::{Mode, Work};

pub(crate) async fn run(ctx: &Context<'_>, args: LagArgs) -> anyhow::Result<ExitCode> {
    // Every error is exit 2 (1 means "behind"), the arguments checked before anything is read.
    match measure(ctx, args).await {
        Ok(code) => Ok(code),
        Err(e) => {
            errln!("mirrorcast: lag: {}", output::printable(&format!("{e:#}")));
            Ok(ExitCode::from(crate::exit::USAGE))
        }
    }
}

async fn measure(ctx: &Context<'_>, args: LagArgs) -> anyhow::Result<ExitCode> {
    let format = match (args.format.as_deref(), ctx.json) {
        (Some("json"), _) | (None, true) => "json",
        (Some(f), false) => f,
        (Some(f), true) => {
            return Err(Error::invalid_input(format!("--json and --format {f}: give one of them")).into());
        }
        (None, false) => "text",
    };
    if args.pair.from.eq_ignore_ascii_case(&args.pair.to) {
        return Err(
            Error::invalid_input(format!("--from and --to name the same data center '{}'", args.pair.from)).into()
        );
    }
    let ids = args.pair.assets.iter().map(|a| AssetId::parse_any(a)).collect::<Result<Vec<_>, _>>()?;
    let (a, b) = (ctx.dc(&args.pair.from)?, ctx.dc(&args.pair.to)?);
    a.check_apart_from(&b, "a data center compared with itself is never behind: give --to its replica")?;
    let (ca, cb) = (
        mirrorcast_core::catalog::Catalog::new(Arc::new(ReadOnly(a.store.clone()))),
        mirrorcast_core::catalog::Catalog::new(Arc::new(ReadOnly(b.store.clone()))),
    );
    let selection = if args.pair.all { Selection::All } else { Selection::Assets(ids) };
    let spinner = Work::spinner(Mode::detect(format != "text"), format!("lag of {} behind {}", b.name, a.name));
    let sent_before = (a.store.requests_sent(), b.store.requests_sent());
    let report = lag::measure(
        Side { name: &a.name, catalog: &ca, origin: &a.origin },
        Side { name: &b.name, catalog: &cb, origin: &b.origin },
        &selection,
        usize::from(args.parallel),
    )
    .await;
    // "done" only when it is: an error is the one line the command prints.
    match report.is_ok() {
        true => spinner.finish(),
        false => spinner.clear(),
    }
    let report = report?;
    let requests = (a.store.requests_sent() - sent_before.0, b.store.requests_sent() - sent_before.1);
    match format {
        "json" => output::json(&report)?,
        "prometheus" => out!("{}", report.to_prometheus()),
        _ => print_text(&report, requests),
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// rclone's markers: `=` current, `-` missing in B, `*` B holds another version, `!` nothing could be told.
fn marker(asset: &AssetLag) -> char {
    match asset.state {
        LagState::Current => '=',
        LagState::Behind if asset.reasons.contains(&LagReason::NotInB) => '-',
        LagState::Behind => '*',
        LagState::Unreplicable | LagState::Error => '!',
    }
}

fn reason(r: &LagReason, target: &str) -> String {
    match r {
        LagReason::NotInB => format!("not in {target}"),
        LagReason::Incomplete => "the last run did not complete it".to_owned(),
        LagReason::Blobs { count, bytes } => format!("{count} blob(s), {}", output::bytes(*bytes)),
        LagReason::Record => "its record changed".to_owned(),
        LagReason::Locators { missing } => format!("{missing} origin locator(s) missing"),
    }
}

fn print_text(report: &LagReport, requests: (u64, u64)) {
    for asset in report.assets.iter().filter(|a| a.state != LagState::Current) {
        let mut why: Vec<String> = asset.reasons.iter().map(|r| reason(r, &report.target)).collect();
        why.extend(asset.error.clone());
        let since = match (asset.since, asset.age_seconds) {
            (Some(s), Some(age)) => format!("; since {} ({} ago)", s.format("%Y-%m-%dT%H:%M:%SZ"), age_text(age)),
            _ => String::new(),
        };
        outln!("{} {} '{}': {}{since}", marker(asset), asset.id, output::printable(&asset.name), why.join(", "));
    }
    let t = &report.totals;
    let oldest = match t.oldest_change {
        Some(o) => format!(
            "; oldest change {} ago ({}): the recovery point if {} failed now",
            age_text(t.oldest_change_age_seconds),
            o.format("%Y-%m-%dT%H:%M:%SZ"),
            report.source
        ),
        None => String::new(),
    };
    outln!(
        "{} behind {}: {} of {} asset(s) behind ({} blob(s), {}), {} current, {} unreplicable, {} error(s){oldest}",
        report.target,
        report.source,
        t.behind,
        t.assets,
        t.blobs_behind,
        output::bytes(t.bytes_behind),
        t.current,
        t.unreplicable,
        t.errors
    );
    if report.only_in_b > 0 {
        outln!("{} asset(s) only in {} (not lag; replicate --delete removes them)", report.only_in_b, report.target);
    }
    // Stores that count their requests (Azure, Azurite) say what the measurement cost.
    if requests != (0, 0) {
        outln!("requests: {} to {}, {} to {}; nothing written", requests.0, report.source, requests.1, report.target);
    }
}

/// Seconds as people read an age: 45s, 12m 5s, 3h 2m, 2d 4h.
fn age_text(seconds: i64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}
