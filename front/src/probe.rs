//! The probing tasks: one per origin, `GET <origin>/healthz` every interval,
//! each bounded by the probe timeout. A 2xx is a good probe; anything else,
//! a timeout or a failed connection is a failed one.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::task::JoinHandle;

use crate::board::{Front, ProbeResult};

impl Front {
    /// Starts probing every origin (the first probes at once). The tasks run
    /// until aborted or the runtime ends.
    pub fn start_probes(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        (0..self.config.origins.len())
            .map(|origin| {
                let front = self.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(front.config.probe.interval);
                    // A slow probe delays the next one rather than firing a burst to catch up.
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        let result = probe_once(&front, origin).await;
                        front.record_probe(origin, result);
                    }
                })
            })
            .collect()
    }
}

/// One probe of one origin.
pub async fn probe_once(front: &Front, origin: usize) -> ProbeResult {
    let url = format!("{}{}", front.config.origins[origin].base, front.config.probe.path);
    let start = Instant::now();
    let sent = front.client.get(url).timeout(front.config.probe.timeout).send().await;
    let ms = start.elapsed().as_millis() as u64;
    let at = Utc::now();
    match sent {
        Ok(r) if r.status().is_success() => {
            ProbeResult { at, ok: true, ms, status: Some(r.status().as_u16()), error: None }
        }
        Ok(r) => ProbeResult { at, ok: false, ms, status: Some(r.status().as_u16()), error: None },
        Err(e) => ProbeResult { at, ok: false, ms, status: None, error: Some(failure_kind(&e).to_owned()) },
    }
}

/// A client error as a kind (reqwest's message would carry the URL).
pub(crate) fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body cut off"
    } else {
        "request failed"
    }
}
