//! `replicate --every`: passes until stopped, for schedulers that are not cron.
//! One pass at a time against a target (the pass lease in B); a pass that
//! cannot reach A backs off; after each pass the lag is measured; `/healthz`
//! and `/metrics` on `--metrics-listen`. SIGTERM (or Ctrl-C) ends the current
//! pass the orderly way (grants revoked) and exits 0.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use mirrorcast_core::replicate::lag::{self, LagReport};
use mirrorcast_core::replicate::lease::{Acquired, PassLease};
use mirrorcast_core::replicate::{ReplicateOptions, Replicator, RunReport, Selection, Side};
use mirrorcast_verify::ReadOnly;

use crate::output;

/// How long one write of the lease holds: renewed at a third of it while a pass runs,
/// so a holder that died frees the target within this.
const LEASE_TTL: Duration = Duration::from_secs(120);
/// The first wait after a pass that failed to read; doubled up to the interval.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);

/// What `/metrics` says: counters over the process's passes and the last lag.
#[derive(Debug, Default)]
struct Figures {
    passes_complete: u64,
    passes_failed: u64,
    passes_interrupted: u64,
    lease_waits: u64,
    bytes_copied: u64,
    blobs_copied: u64,
    asset_failures: u64,
    requests_source: u64,
    requests_target: u64,
    last_pass_seconds: f64,
    last_complete: Option<DateTime<Utc>>,
    lag: Option<LagReport>,
}

impl Figures {
    fn record(&mut self, report: &RunReport, seconds: f64) {
        let t = &report.totals;
        self.bytes_copied += t.counts.bytes;
        self.blobs_copied += t.counts.copied;
        self.asset_failures += t.failed_assets;
        self.requests_source += t.requests.source;
        self.requests_target += t.requests.target;
        self.last_pass_seconds = seconds;
        if report.interrupted {
            self.passes_interrupted += 1;
        } else if report.has_failures() {
            self.passes_failed += 1;
        } else {
            self.passes_complete += 1;
            self.last_complete = Some(Utc::now());
        }
    }

    fn render(&self, from: &str, to: &str) -> String {
        let labels = format!("from=\"{}\",to=\"{}\"", lag::escape_label(from), lag::escape_label(to));
        let mut s = String::new();
        s.push_str("# HELP mirrorcast_replicate_passes_total Passes run, by outcome.\n# TYPE mirrorcast_replicate_passes_total counter\n");
        for (outcome, n) in [
            ("complete", self.passes_complete),
            ("failed", self.passes_failed),
            ("interrupted", self.passes_interrupted),
        ] {
            s.push_str(&format!("mirrorcast_replicate_passes_total{{{labels},outcome=\"{outcome}\"}} {n}\n"));
        }
        s.push_str("# HELP mirrorcast_replicate_requests_total Storage requests sent, by side.\n# TYPE mirrorcast_replicate_requests_total counter\n");
        for (side, n) in [("source", self.requests_source), ("target", self.requests_target)] {
            s.push_str(&format!("mirrorcast_replicate_requests_total{{{labels},side=\"{side}\"}} {n}\n"));
        }
        let counters = [
            ("mirrorcast_replicate_copied_bytes_total", "Bytes copied into the target.", self.bytes_copied),
            ("mirrorcast_replicate_copied_blobs_total", "Blobs copied into the target.", self.blobs_copied),
            ("mirrorcast_replicate_asset_failures_total", "Assets a pass failed.", self.asset_failures),
            (
                "mirrorcast_replicate_lease_waits_total",
                "Passes skipped: another instance held the lease.",
                self.lease_waits,
            ),
        ];
        for (name, help, value) in counters {
            s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name}{{{labels}}} {value}\n"));
        }
        s.push_str(&format!(
            "# HELP mirrorcast_replicate_last_pass_seconds Duration of the last pass.\n# TYPE mirrorcast_replicate_last_pass_seconds gauge\nmirrorcast_replicate_last_pass_seconds{{{labels}}} {}\n",
            self.last_pass_seconds
        ));
        if let Some(at) = self.last_complete {
            s.push_str(&format!(
                "# HELP mirrorcast_replicate_last_complete_pass_timestamp_seconds When the last complete pass ended (Unix time).\n# TYPE mirrorcast_replicate_last_complete_pass_timestamp_seconds gauge\nmirrorcast_replicate_last_complete_pass_timestamp_seconds{{{labels}}} {}\n",
                at.timestamp()
            ));
        }
        if let Some(lag) = &self.lag {
            s.push_str(&lag.to_prometheus());
        }
        s
    }
}

struct Shared {
    figures: Mutex<Figures>,
    from: String,
    to: String,
    every: Duration,
    started: Instant,
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let text = shared.figures.lock().map(|f| f.render(&shared.from, &shared.to)).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// 200 while passes keep completing: the last complete pass is at most three intervals old
/// (or, before the first, the process is younger than that); else 503 naming why.
async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let allowed = shared.every * 3 + LEASE_TTL;
    let last = shared.figures.lock().ok().and_then(|f| f.last_complete);
    let fresh = match last {
        Some(at) => (Utc::now() - at).to_std().unwrap_or_default() <= allowed,
        None => shared.started.elapsed() <= allowed,
    };
    match fresh {
        true => (StatusCode::OK, "ok\n").into_response(),
        false => (StatusCode::SERVICE_UNAVAILABLE, "no complete pass for three intervals\n").into_response(),
    }
}

/// The passes, until a signal sets `cancel`. `pass_options` gives each pass its options (a run id of its own).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    source: Side<'_>,
    target: Side<'_>,
    selection: Selection,
    pass_options: impl Fn() -> ReplicateOptions,
    cancel: Arc<AtomicBool>,
    every: Duration,
    metrics_listen: Option<std::net::SocketAddr>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let shared = Arc::new(Shared {
        figures: Mutex::new(Figures::default()),
        from: source.name.to_owned(),
        to: target.name.to_owned(),
        every,
        started: Instant::now(),
    });
    let stop_server = Arc::new(tokio::sync::Notify::new());
    if let Some(addr) = metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("--metrics-listen {addr}: {e} (is another process listening there?)"))?;
        // Port 0 picks a free one: the line names the address actually bound.
        let addr = listener.local_addr().unwrap_or(addr);
        let app =
            Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(shared.clone());
        let stop = stop_server.clone();
        tokio::spawn(async move {
            let _ =
                mirrorcast_http::serve(listener, app, Default::default(), async move { stop.notified().await }, || {})
                    .await;
        });
        errln!("mirrorcast: replicate --every: /healthz and /metrics at http://{addr}");
    }
    let holder = format!("{}-{}-{}", hostname(), std::process::id(), &mirrorcast_core::id::AssetId::new().guid()[..8]);
    let ttl = chrono::Duration::from_std(LEASE_TTL).unwrap_or(chrono::Duration::minutes(2));
    // The lease is held from the first pass to the exit, renewed between passes too: a second
    // instance is a standby that takes over within LEASE_TTL of this one's death.
    let mut lease = PassLease::new(target.catalog.store().as_ref(), holder, source.name, ttl);
    let (mut holding, mut told_of) = (false, String::new());
    let mut backoff = FIRST_BACKOFF;
    while !cancel.load(Ordering::Relaxed) {
        let began = Instant::now();
        if !holding {
            match lease.acquire().await {
                Ok(Acquired::Held) => holding = true,
                Ok(Acquired::HeldBy(other)) => {
                    if let Ok(mut f) = shared.figures.lock() {
                        f.lease_waits += 1;
                    }
                    if told_of != other.holder {
                        errln!(
                            "mirrorcast: another instance ({}) runs passes into '{}' (its lease ends {} unless renewed); standing by",
                            output::printable(&other.holder),
                            target.name,
                            other.expires.format("%Y-%m-%dT%H:%M:%SZ")
                        );
                        told_of = other.holder;
                    }
                    sleep_unless_cancelled(every.min(LEASE_TTL / 3), &cancel).await;
                    continue;
                }
                Err(e) => {
                    errln!(
                        "mirrorcast: cannot take the pass lease in '{}': {}; next try in {}s",
                        target.name,
                        output::printable(&e.to_string()),
                        backoff.as_secs()
                    );
                    sleep_unless_cancelled(backoff, &cancel).await;
                    backoff = (backoff * 2).min(every);
                    continue;
                }
            }
        }
        let outcome = pass(source, target, &selection, pass_options(), &cancel, &mut lease, &shared).await;
        let wait = match outcome {
            Ok((report, held)) => {
                holding = held;
                backoff = FIRST_BACKOFF;
                print_pass(&report, json)?;
                every.saturating_sub(began.elapsed())
            }
            Err(e) => {
                errln!(
                    "mirrorcast: replicate pass failed: {}; next try in {}s",
                    output::printable(&format!("{e:#}")),
                    backoff.as_secs()
                );
                let wait = backoff;
                backoff = (backoff * 2).min(every);
                wait
            }
        };
        if holding {
            holding = sleep_renewing(wait, &cancel, &mut lease).await;
        } else {
            sleep_unless_cancelled(wait, &cancel).await;
        }
    }
    if holding {
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "could not release the pass lease (it expires by itself)");
        }
    }
    stop_server.notify_one();
    errln!("mirrorcast: replicate --every: stopped");
    Ok(ExitCode::SUCCESS)
}

/// One pass under the lease (renewed while it runs; lost, the pass is cancelled), then the lag.
/// `stop` (the signals') cancels the pass the orderly way too.
async fn pass(
    source: Side<'_>,
    target: Side<'_>,
    selection: &Selection,
    options: ReplicateOptions,
    stop: &AtomicBool,
    lease: &mut PassLease<'_>,
    shared: &Shared,
) -> anyhow::Result<(RunReport, bool)> {
    let cancel = options.cancel.clone();
    let began = Instant::now();
    let replicator = Replicator::new(source, target, options);
    let run = replicator.run(selection);
    tokio::pin!(run);
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + LEASE_TTL / 3, LEASE_TTL / 3);
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    let mut held = true;
    let report = loop {
        tokio::select! {
            report = &mut run => break report?,
            _ = poll.tick() => if stop.load(Ordering::Relaxed) {
                cancel.store(true, Ordering::Relaxed);
            },
            _ = renew.tick() => match lease.renew().await {
                Ok(Acquired::Held) => {}
                Ok(Acquired::HeldBy(other)) => {
                    errln!("mirrorcast: the pass lease went to {}: stopping this pass", output::printable(&other.holder));
                    cancel.store(true, Ordering::Relaxed);
                    held = false;
                }
                Err(e) => tracing::warn!(error = %e, "could not renew the pass lease; trying again"),
            },
        }
    };
    let seconds = began.elapsed().as_secs_f64();
    let ro = |side: Side<'_>| mirrorcast_core::catalog::Catalog::new(Arc::new(ReadOnly(side.catalog.store().clone())));
    let (ra, rb) = (ro(source), ro(target));
    let lag = lag::measure(Side { catalog: &ra, ..source }, Side { catalog: &rb, ..target }, selection, 16).await;
    if let Ok(mut f) = shared.figures.lock() {
        f.record(&report, seconds);
        match lag {
            Ok(lag) => f.lag = Some(lag),
            Err(e) => tracing::warn!(error = %e, "could not measure the lag after the pass"),
        }
    }
    Ok((report, held))
}

/// Sleeps `wait` (cut short by a signal) while renewing the lease; whether it is still held.
async fn sleep_renewing(wait: Duration, cancel: &AtomicBool, lease: &mut PassLease<'_>) -> bool {
    let until = Instant::now() + wait;
    let mut renewed = Instant::now();
    while !cancel.load(Ordering::Relaxed) && Instant::now() < until {
        if renewed.elapsed() >= LEASE_TTL / 3 {
            match lease.renew().await {
                Ok(Acquired::Held) => renewed = Instant::now(),
                Ok(Acquired::HeldBy(other)) => {
                    errln!("mirrorcast: the pass lease went to {}; standing by", output::printable(&other.holder));
                    return false;
                }
                Err(e) => tracing::warn!(error = %e, "could not renew the pass lease; trying again"),
            }
        }
        tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(200))).await;
    }
    true
}

fn print_pass(report: &RunReport, json: bool) -> anyhow::Result<()> {
    let t = &report.totals;
    if json {
        // One JSON document per line per pass (NDJSON), written as it is serialized.
        output::json_line(report)?;
    } else {
        outln!(
            "pass {}: {} asset(s), {} unchanged, {} failed; {} blob(s) copied ({}) in {:.1}s",
            report.run_id,
            t.assets,
            t.unchanged,
            t.failed_assets,
            t.counts.copied,
            output::bytes(t.counts.bytes),
            t.seconds
        );
    }
    Ok(())
}

async fn sleep_unless_cancelled(wait: Duration, cancel: &AtomicBool) {
    let until = Instant::now() + wait;
    while !cancel.load(Ordering::Relaxed) && Instant::now() < until {
        tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(200))).await;
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".to_owned())
}
