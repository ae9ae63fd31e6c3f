//! The `/_front/status` document: each origin (health, since when, probes,
//! requests, active or not, recent probe results) and the switch-overs.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::board::{Front, ProbeResult, Switch};
use crate::health::Health;

#[derive(Debug, Serialize)]
pub struct Status {
    pub mode: &'static str,
    pub failback: bool,
    pub started: DateTime<Utc>,
    pub probe: ProbeSettings,
    /// The name of the origin that gets the requests.
    pub active: Option<String>,
    pub origins: Vec<OriginStatus>,
    /// Oldest first.
    pub switches: Vec<Switch>,
}

#[derive(Debug, Serialize)]
pub struct ProbeSettings {
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub fail_after: u32,
    pub recover_after: u32,
}

#[derive(Debug, Serialize)]
pub struct OriginStatus {
    pub name: String,
    pub url: String,
    /// 1 = first choice.
    pub priority: usize,
    pub health: Health,
    /// Since when it has had this health.
    pub since: DateTime<Utc>,
    pub active: bool,
    pub requests: u64,
    pub failed_attempts: u64,
    pub probes: u64,
    pub failures_in_a_row: u32,
    pub successes_in_a_row: u32,
    /// The last probe results, oldest first.
    pub history: Vec<ProbeResult>,
}

impl Front {
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
                    requests: state.requests,
                    failed_attempts: state.failed_attempts,
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
