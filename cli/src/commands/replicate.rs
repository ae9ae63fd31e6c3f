use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use mirrorcast_core::catalog::AssetRecord;
use mirrorcast_core::copy::StrategyChoice;
use mirrorcast_core::id::AssetId;
use mirrorcast_core::replicate::Keks;
use mirrorcast_core::replicate::{
    AssetReport, AssetStatus, BlobOutcome, BlobStatus, DeleteOptions, DeletionReport, DeletionStatus, Progress,
    ReplicateOptions, Replicator, RunReport, Selection, Shard, Side,
};
use mirrorcast_core::store::Throttled;
use mirrorcast_core::Error;

use crate::args::ReplicateArgs;
use crate::context::Context;
use crate::output;
use crate::progress::{Mode, Work};

pub(crate) async fn run(ctx: &Context<'_>, args: ReplicateArgs) -> anyhow::Result<ExitCode> {
    // Every argument is checked before anything is read or written.
    let strategy: StrategyChoice = args.strategy.parse()?;
    let shard = match args.shard.as_deref() {
        Some(s) => Some(s.parse::<Shard>()?),
        // A Kubernetes indexed Job gives each pod its share through the environment.
        None => match (std::env::var("JOB_COMPLETION_INDEX"), std::env::var("JOB_COMPLETIONS")) {
            (Ok(k), Ok(n)) if args.pair.all => Some(Shard::from_indexed_job(&k, &n)?),
            _ => None,
        },
    };
    let ids = args.pair.assets.iter().map(|a| AssetId::parse_any(a)).collect::<Result<Vec<_>, _>>()?;
    // --sas-lifetime and --sas-minutes are bounded by their parsers.
    if args.concurrency == 0 || !(1..=4000).contains(&args.block_size_mib) {
        return Err(Error::invalid_input("--concurrency must be >= 1, --block-size-mib 1..=4000").into());
    }
    let sas_lifetime = args.sas_minutes.map_or(args.sas_lifetime, |m| std::time::Duration::from_secs(m as u64 * 60));
    if args.pair.from.eq_ignore_ascii_case(&args.pair.to) {
        return Err(
            Error::invalid_input(format!("--from and --to name the same data center '{}'", args.pair.from)).into()
        );
    }
    let limits = args.caps.limits()?;
    let (mut a, mut b) = (ctx.dc(&args.pair.from)?, ctx.dc(&args.pair.to)?);
    // Before anything is read or written: a run into its own account would rewrite its records.
    a.check_apart_from(&b, "a data center is never its own target: give --to another data center")?;
    // A request rate caps the requests in flight too: more than a second's worth only wait for tokens.
    if let Some(rate) = args.caps.max_requests_per_second {
        for store in [&a.store, &b.store] {
            if let Some(limit) = store.adaptive_limit() {
                limit.cap(rate.ceil().min(f64::from(u32::MAX)) as u32);
            }
        }
    }
    // One set of caps for both sides: they are one run's load.
    a.store = Throttled::wrap(a.store.clone(), &limits);
    b.store = Throttled::wrap(b.store.clone(), &limits);
    let (ca, cb) = (a.catalog(), b.catalog());

    let progress = Arc::new(Lines::new(ctx.json));
    let options = ReplicateOptions {
        strategy,
        concurrency: args.concurrency,
        block_size: args.block_size_mib * 1024 * 1024,
        dry_run: args.dry_run,
        shard,
        sas_lifetime: chrono::Duration::from_std(sas_lifetime)?,
        deep: args.deep,
        delete: args
            .delete
            .then_some(DeleteOptions { max: args.max_delete, allow_empty_source: args.allow_empty_source }),
        progress: progress.clone(),
        // Read now: a KEK that is configured but unusable stops the run before anything is done.
        keks: Keks { source: a.kek.access().await?, target: b.kek.access().await? },
        ..Default::default()
    };
    watch_signals(options.cancel.clone())?;
    let (source, target) = (
        Side { name: &a.name, catalog: &ca, origin: &a.origin },
        Side { name: &b.name, catalog: &cb, origin: &b.origin },
    );
    let selection = if args.pair.all { Selection::All } else { Selection::Assets(ids) };
    if let Some(every) = args.every {
        // Each pass: a run id and a cancel flag of its own (a lost lease stops one pass, a signal all).
        let pass_options = || ReplicateOptions {
            run_id: ReplicateOptions::default().run_id,
            cancel: Default::default(),
            ..options.clone()
        };
        let stop = options.cancel.clone();
        return super::watch::run(source, target, selection, pass_options, stop, every, args.metrics_listen, ctx.json)
            .await;
    }
    let replicator = Replicator::new(source, target, options);
    let run = replicator.run(&selection).await;
    progress.finish();
    let report = run?;
    if report.assets.lines().iter().any(|r| r.has_urls) {
        a.note_relative_urls();
        b.note_relative_urls();
    }

    if ctx.json {
        output::json(&report)?;
    } else {
        print_report(&report)?;
    }
    if let Some(refused) = report.deletions.as_ref().and_then(|d| d.refused.as_ref()) {
        errln!("mirrorcast: replicate --delete: {}", output::printable(&refused.message));
    }
    Ok(if report.has_failures() { ExitCode::from(crate::exit::FAILURE) } else { ExitCode::SUCCESS })
}

/// Ctrl-C, SIGTERM and SIGHUP all stop the run the same orderly way: no new
/// copies, those in flight finish, every grant is revoked, the report is
/// printed, exit 1. A second signal does not cut the cleanup short.
fn watch_signals(cancel: Arc<std::sync::atomic::AtomicBool>) -> anyhow::Result<()> {
    let mut shutdown = mirrorcast_http::Shutdown::watch()?;
    tokio::spawn(async move {
        loop {
            let name = shutdown.next().await.signal.name();
            if cancel.swap(true, Ordering::Relaxed) {
                errln!("mirrorcast: {name} again: still revoking the copy SAS; the run stops once that is done");
            } else {
                errln!("mirrorcast: {name}: finishing the copies in flight and revoking the copy SAS…");
            }
        }
    });
    Ok(())
}

fn print_report(report: &RunReport) -> anyhow::Result<()> {
    for a in &report.access {
        outln!(
            "access {} ({}): {}{}, needs '{}'{}{}",
            a.data_center,
            a.role,
            a.credential,
            a.permissions.as_deref().map(|p| format!(" granting '{p}'")).unwrap_or_default(),
            a.needed,
            a.expiry.map(|e| format!(", expires {}", output::time(e))).unwrap_or_default(),
            if a.read_only { ", read-only secondary endpoint" } else { "" },
        );
    }
    for p in &report.record_problems {
        outln!("bad record in '{}': {}", report.source, output::printable(&p.message));
    }
    // Read back one at a time: the run kept its per-asset reports out of memory.
    for a in report.assets.iter() {
        let a = a?;
        outln!("{} \"{}\" — {}", a.id, output::printable(&a.name), status_word(&a));
        for e in &a.errors {
            outln!("  error: {}", output::printable(e));
        }
        for w in &a.warnings {
            outln!("  warning: {}", output::printable(w));
        }
        for r in a.protection.iter().filter(|r| r.outcome != "same") {
            outln!("  {} {}: {} in B", r.kind, output::printable(&r.name), r.outcome);
        }
        for b in a.blobs.iter().filter(|b| matches!(b.status, BlobStatus::Failed | BlobStatus::NotMedia)) {
            outln!(
                "  {:<9} {}: {}",
                if b.status == BlobStatus::Failed { "failed" } else { "not media" },
                b.name,
                b.error.as_deref().unwrap_or("")
            );
        }
        let mut by_locator: Vec<_> = a.urls.iter().collect();
        by_locator.sort_by_key(|u| u.locator);
        for u in by_locator.iter().filter(|u| u.format == "smooth" || u.format == "hls" || u.format == "dash") {
            outln!("  {:<6} A {}\n         B {}", u.format, u.source, u.target);
        }
    }
    if let Some(d) = &report.deletions {
        print_deletions(d, report);
    }
    let t = &report.totals;
    let c = &t.counts;
    let strategies: Vec<String> = c.strategies.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if report.dry_run {
        outln!(
            "dry run: {} asset(s); would copy {} blob(s), {}; {} already in '{}'; nothing was written",
            t.assets,
            c.planned,
            output::bytes(c.bytes),
            c.skipped,
            report.target
        );
        return Ok(());
    }
    outln!(
        "{} asset(s): {} replicated, {} refused, {} failed | blobs: {} copied, {} skipped, {} failed, {} not media | {} in {:.1}s{} | retries: {} copies, {} requests",
        t.assets,
        t.replicated,
        t.refused,
        t.failed_assets,
        c.copied,
        c.skipped,
        c.failed,
        c.not_media,
        output::bytes(c.bytes),
        t.seconds,
        if strategies.is_empty() { String::new() } else { format!(" ({})", strategies.join(", ")) },
        c.retries,
        t.http_retries,
    );
    if c.copied == 0 && c.failed == 0 && !report.has_failures() {
        outln!("nothing to copy: '{}' already holds every blob of the selected assets", report.target);
    }
    Ok(())
}

/// At most this many deletions are listed one per line in a refused plan (JSON has them all).
const LISTED_WHEN_REFUSED: usize = 20;

fn print_deletions(d: &DeletionReport, report: &RunReport) {
    let word = |s: DeletionStatus| match s {
        DeletionStatus::Planned if report.dry_run => "would delete",
        DeletionStatus::Planned => "not deleted",
        DeletionStatus::Deleted => "deleted",
        DeletionStatus::Failed => "FAILED to delete",
    };
    let mut lines: Vec<String> = Vec::new();
    for a in &d.assets {
        lines.push(format!(
            "{} asset {} \"{}\" ({} blob(s), {}, {} locator(s))",
            word(a.status),
            a.id,
            output::printable(&a.name),
            a.blobs,
            output::bytes(a.bytes),
            a.locators.len()
        ));
    }
    for l in &d.locators {
        lines.push(format!("{} locator {} of asset {}", word(l.status), l.id, l.asset));
    }
    for b in &d.blobs {
        lines.push(format!("{} blob {}/{}", word(b.status), b.container, output::printable(&b.name)));
    }
    let errors = d.assets.iter().map(|a| &a.error).chain(d.locators.iter().map(|l| &l.error));
    let errors: Vec<&String> = errors.chain(d.blobs.iter().map(|b| &b.error)).flatten().collect();
    let shown = if d.refused.is_some() { LISTED_WHEN_REFUSED } else { usize::MAX };
    for line in lines.iter().take(shown) {
        outln!("  {line}");
    }
    if lines.len() > shown {
        outln!("  … and {} more (all of them in --json)", lines.len() - shown);
    }
    for e in errors {
        outln!("  error: {}", output::printable(e));
    }
    let t = &d.totals;
    match &d.refused {
        Some(r) => outln!(
            "delete: refused ({}): {}",
            serde_json::to_value(r.reason).unwrap_or_default().as_str().unwrap_or(""),
            output::printable(&r.message)
        ),
        None if report.dry_run => outln!(
            "delete: would delete {} blob(s) and record(s) in '{}' ({}), --max-delete {}",
            t.planned,
            report.target,
            output::bytes(t.bytes),
            d.max
        ),
        None => outln!(
            "delete: {} of {} blob(s) and record(s) deleted in '{}', {} failed",
            t.deleted,
            t.planned,
            report.target,
            t.failed
        ),
    }
}

fn status_word(a: &AssetReport) -> String {
    let c = &a.counts;
    match a.status {
        AssetStatus::Replicated => {
            format!("replicated: {} copied, {} skipped ({})", c.copied, c.skipped, output::bytes(c.bytes))
        }
        AssetStatus::Planned => {
            format!("plan: {} to copy ({}), {} already there", c.planned, output::bytes(c.bytes), c.skipped)
        }
        AssetStatus::Refused => "refused".to_owned(),
        AssetStatus::Failed => format!("FAILED: {} copied, {} failed", c.copied, c.failed),
        AssetStatus::Interrupted => format!("interrupted after {} copied", c.copied),
    }
}

/// Progress on stderr (never on stdout, which is for the report): on a
/// terminal an indicatif bar of bytes copied against bytes planned so far, with
/// the blob count, and one line per finished asset printed above it; otherwise
/// plain lines, one per asset planned and finished (each copied blob at debug
/// level). Nothing with `--json`.
struct Lines {
    work: Work,
    /// Blobs planned and blobs done, for the bar's detail.
    blobs: std::sync::Mutex<(u64, u64)>,
}

impl Lines {
    fn new(quiet: bool) -> Self {
        Lines { work: Work::bytes_as_planned(Mode::detect(quiet), "replicate"), blobs: std::sync::Mutex::new((0, 0)) }
    }

    fn count_blobs(&self, planned: u64, done: u64) {
        let Ok(mut b) = self.blobs.lock() else { return };
        b.0 += planned;
        b.1 += done;
        self.work.set_detail(format!("{}/{} blobs", b.1, b.0));
    }

    /// Clears the bar before the report is printed.
    fn finish(&self) {
        self.work.clear();
    }
}

impl Progress for Lines {
    fn planned(&self, asset: &AssetRecord, blobs: u64, bytes: u64) {
        self.work.plan(bytes);
        self.count_blobs(blobs, 0);
        self.work.say_plain(&format!("plan {}: {} blob(s) to copy, {}", asset.asset.id, blobs, output::bytes(bytes)));
    }

    fn blob_done(&self, _asset: &AssetId, outcome: &BlobOutcome) {
        tracing::debug!(blob = %outcome.name, status = ?outcome.status, bytes = outcome.bytes, "blob done");
        if outcome.status == BlobStatus::Copied {
            self.work.advance(outcome.bytes);
        }
        self.count_blobs(0, 1);
    }

    fn asset_done(&self, r: &AssetReport) {
        self.work.say(&format!(
            "done {}: {:?}, {} copied, {} skipped, {} failed",
            r.id, r.status, r.counts.copied, r.counts.skipped, r.counts.failed
        ));
    }
}
