//! The `/_front/status` document: each origin (health, since when, probes,
//! requests, active or not, recent probe results) and the switch-overs.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::board::{Front, ProbeResult, Switch};
use crate::health::Health;

/// The `/_front/status` document (JSON): a snapshot of the front's settings and board.
#[derive(Debug, Serialize)]
pub struct Status {
    /// `proxy` or `redirect`.
    pub mode: &'static str,
    /// Whether a recovered higher-priority origin takes the viewers back.
    pub failback: bool,
    /// When the front was made.
    pub started: DateTime<Utc>,
    /// How the origins are probed.
    pub probe: ProbeSettings,
    /// The name of the origin that gets the requests.
    pub active: Option<String>,
    /// Every configured origin, in priority order.
    pub origins: Vec<OriginStatus>,
    /// The last switch-overs (at most [`crate::board::SWITCHES`]), oldest first.
    pub switches: Vec<Switch>,
}

/// The probe settings as the status document shows them (durations in milliseconds).
#[derive(Debug, Serialize)]
pub struct ProbeSettings {
    /// The path probed on every origin.
    pub path: String,
    /// Milliseconds from one probe of an origin to the next.
    pub interval_ms: u64,
    /// Milliseconds after which an unanswered probe failed.
    pub timeout_ms: u64,
    /// Failed probes in a row that take an up origin down.
    pub fail_after: u32,
    /// Good probes in a row that bring a down origin back.
    pub recover_after: u32,
}

/// One origin in the status document.
#[derive(Debug, Serialize)]
pub struct OriginStatus {
    /// Its configured name.
    pub name: String,
    /// Its base URL, without a trailing `/`: what probes and requests are sent to.
    pub url: String,
    /// 1 = first choice.
    pub priority: usize,
    /// What its probes say now.
    pub health: Health,
    /// Since when it has had this health.
    pub since: DateTime<Utc>,
    /// It gets the requests now.
    pub active: bool,
    /// Responses it gave to viewers (proxied) or viewers sent to it (redirected).
    pub requests: u64,
    /// Attempts on it that failed before the first byte and were tried elsewhere (or given up).
    pub failed_attempts: u64,
    /// Probes made of it since the front started.
    pub probes: u64,
    /// Failed probes since its last good one.
    pub failures_in_a_row: u32,
    /// Good probes since its last failed one.
    pub successes_in_a_row: u32,
    /// The last probe results (at most [`crate::board::HISTORY`]), oldest first.
    pub history: Vec<ProbeResult>,
}

impl Front {
    /// The status document as of now, taken under one lock of the board (the request counts
    /// beside it, read from their atomics).
    pub fn status(&self) -> Status {
        let board = self.board();
        let probe = &self.config.probe;
        Status {
            mode: self.config.mode.as_str(),
            failback: self.config.failback,
            started: self.started,
            probe: ProbeSettings {
                path: probe.path.clone(),
                interval_ms: probe.interval.as_millis() as u64,
                timeout_ms: probe.timeout.as_millis() as u64,
                fail_after: probe.thresholds.fail_after,
                recover_after: probe.thresholds.recover_after,
            },
            active: board.active.map(|i| self.config.origins[i].name.clone()),
            origins: board
                .origins
                .iter()
                .zip(&self.config.origins)
                .enumerate()
                .map(|(i, (state, spec))| OriginStatus {
                    name: spec.name.clone(),
                    url: spec.base.clone(),
                    priority: i + 1,
                    health: state.tracker.health(),
                    since: state.since,
                    active: board.active == Some(i),
                    requests: self.counts[i].requests.load(Ordering::Relaxed),
                    failed_attempts: self.counts[i].failed_attempts.load(Ordering::Relaxed),
                    probes: state.probes,
                    failures_in_a_row: state.tracker.failures_in_a_row(),
                    successes_in_a_row: state.tracker.successes_in_a_row(),
                    history: state.history.iter().cloned().collect(),
                })
                .collect(),
            switches: board.switches.iter().cloned().collect(),
        }
    }
}
