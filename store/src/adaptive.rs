//! An adaptive limit on a store's requests in flight (AIMD, as TCP's
//! congestion window): halved when the service shows it is overloaded (a
//! request timed out, 503/500 ServerBusy, 429), raised by one after a whole
//! limit's worth of successes, never below one, never above its ceiling (the
//! run's `--max-requests-per-second`, where given). Under a service that has
//! stopped answering, a run then waits on one request at a time instead of
//! retrying every request it had in flight on a new connection, and speeds up
//! again as answers come back.
//!
//! [`Aimd`] is the algorithm alone (pure, no clock); [`AdaptiveLimit`] is the
//! gate a backend takes a [`LimitPermit`] from for each attempt it sends.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Requests in flight at most, per store, unless capped lower: higher than a
/// run sends to a healthy service (16 copies of 16 blocks), so the limit only
/// binds once the service has shown overload.
pub const DEFAULT_CEILING: u32 = 512;

/// Changes of the limit kept for the report; later ones are counted only.
const PATH_KEPT: usize = 200;

/// How one attempt ended, as the limit sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An answer that was not overload (an error like 404 or 412 included).
    Answered,
    /// A timeout, or a 503/500 ServerBusy/429: the service has no room.
    Overloaded,
    /// Says nothing about load (the request could not be sent, was cancelled).
    Unknown,
}

/// Additive increase, multiplicative decrease of a concurrency limit.
///
/// A decrease halves the requests that were in flight when the signal came
/// (not a limit that was never reached), and only once per window: a signal
/// from a request sent before the last decrease is the same congestion,
/// already answered (16 requests timing out together halve once, not 4 times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aimd {
    limit: u32,
    ceiling: u32,
    /// Bumped by every decrease; a request carries the epoch it was sent in.
    epoch: u64,
    /// Successes since the limit last changed.
    successes: u32,
}

/// What an outcome did to the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Neither an overload signal this window nor enough successes to grow.
    Unchanged,
    /// Halved; the new limit.
    Decreased(u32),
    /// Raised by one; the new limit.
    Increased(u32),
}

impl Aimd {
    /// Starts at `ceiling` (at least 1): a healthy service is used as before.
    pub fn new(ceiling: u32) -> Self {
        let ceiling = ceiling.max(1);
        Aimd { limit: ceiling, ceiling, epoch: 0, successes: 0 }
    }

    /// Requests that may be in flight now (1 ..= ceiling).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The most requests the limit may ever grow to.
    pub fn ceiling(&self) -> u32 {
        self.ceiling
    }

    /// The current window: bumped by each decrease, carried by each request sent in it.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A lower ceiling (the limit follows it down), at least 1; a higher one changes nothing.
    pub fn cap(&mut self, ceiling: u32) {
        self.ceiling = self.ceiling.min(ceiling.max(1));
        self.limit = self.limit.min(self.ceiling);
    }

    /// A request sent in `epoch` ended with `outcome` while `in_flight`
    /// requests (itself included) were outstanding.
    pub fn record(&mut self, outcome: Outcome, epoch: u64, in_flight: u32) -> Change {
        match outcome {
            Outcome::Unknown => Change::Unchanged,
            Outcome::Overloaded if epoch < self.epoch => Change::Unchanged,
            Outcome::Overloaded => {
                self.limit = (self.limit.min(in_flight.max(1)) / 2).max(1);
                self.epoch += 1;
                self.successes = 0;
                Change::Decreased(self.limit)
            }
            Outcome::Answered => {
                self.successes += 1;
                if self.successes < self.limit || self.limit >= self.ceiling {
                    return Change::Unchanged;
                }
                self.limit += 1;
                self.successes = 0;
                Change::Increased(self.limit)
            }
        }
    }
}

/// One change of the limit, for `replicate --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitChange {
    /// Milliseconds since the store was opened.
    pub at_ms: u64,
    /// The limit after this change.
    pub limit: u32,
    /// `overloaded` (halved) or `answered` (grown).
    pub cause: String,
}

/// The path an adaptive limit took during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitReport {
    /// The ceiling the limit could grow to (after any cap).
    pub ceiling: u32,
    /// The lowest the limit went.
    pub lowest: u32,
    /// The limit at the end of the run (`final` in JSON).
    #[serde(rename = "final")]
    pub last: u32,
    /// How many times the limit was halved.
    pub decreases: u64,
    /// How many times the limit grew by one.
    pub increases: u64,
    /// The first changes, in order (at most 200; the counts have them all).
    pub path: Vec<LimitChange>,
}

#[derive(Debug)]
struct State {
    aimd: Aimd,
    in_flight: u32,
    report: LimitReport,
}

/// The gate: at most the current limit of permits out at once.
#[derive(Debug)]
pub struct AdaptiveLimit {
    state: Mutex<State>,
    freed: tokio::sync::Notify,
    started: Instant,
}

impl AdaptiveLimit {
    /// A gate starting at `ceiling` requests in flight (at least 1), shared by every attempt of one store.
    pub fn new(ceiling: u32) -> Arc<Self> {
        let aimd = Aimd::new(ceiling);
        let report =
            LimitReport { ceiling: aimd.ceiling(), lowest: aimd.limit(), last: aimd.limit(), ..Default::default() };
        Arc::new(AdaptiveLimit {
            state: Mutex::new(State { aimd, in_flight: 0, report }),
            freed: tokio::sync::Notify::new(),
            started: Instant::now(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lowers the ceiling (`--max-requests-per-second`: more requests in
    /// flight than may be sent in a second only wait for their tokens).
    pub fn cap(&self, ceiling: u32) {
        let mut s = self.state();
        s.aimd.cap(ceiling);
        s.report.ceiling = s.aimd.ceiling();
        s.report.last = s.aimd.limit();
        s.report.lowest = s.report.lowest.min(s.aimd.limit());
    }

    /// Requests that may be in flight now.
    pub fn limit(&self) -> u32 {
        self.state().aimd.limit()
    }

    /// The path the limit took so far, for the run's report.
    pub fn report(&self) -> LimitReport {
        self.state().report.clone()
    }

    /// Waits for room under the limit; the permit says how the attempt ended.
    pub async fn acquire(self: &Arc<Self>) -> LimitPermit {
        loop {
            let freed = self.freed.notified();
            {
                let mut s = self.state();
                if s.in_flight < s.aimd.limit() {
                    s.in_flight += 1;
                    return LimitPermit { gate: self.clone(), epoch: s.aimd.epoch(), outcome: Outcome::Unknown };
                }
            }
            freed.await;
        }
    }

    fn release(&self, epoch: u64, outcome: Outcome) {
        let mut s = self.state();
        let in_flight = s.in_flight;
        s.in_flight = in_flight.saturating_sub(1);
        let change = s.aimd.record(outcome, epoch, in_flight);
        let (limit, cause) = match change {
            Change::Unchanged => (None, ""),
            Change::Decreased(l) => {
                s.report.decreases += 1;
                (Some(l), "overloaded")
            }
            Change::Increased(l) => {
                s.report.increases += 1;
                (Some(l), "answered")
            }
        };
        if let Some(limit) = limit {
            s.report.last = limit;
            s.report.lowest = s.report.lowest.min(limit);
            if s.report.path.len() < PATH_KEPT {
                let at_ms = self.started.elapsed().as_millis() as u64;
                s.report.path.push(LimitChange { at_ms, limit, cause: cause.to_owned() });
            }
            if cause == "overloaded" {
                tracing::debug!(limit, "service overloaded: fewer requests in flight");
            }
        }
        drop(s);
        // Every waiter looks again: a grown limit may admit more than one.
        self.freed.notify_waiters();
    }
}

/// Room for one attempt; dropped without [`LimitPermit::finish`], the
/// attempt says nothing about load.
#[derive(Debug)]
pub struct LimitPermit {
    gate: Arc<AdaptiveLimit>,
    epoch: u64,
    outcome: Outcome,
}

impl LimitPermit {
    /// Records how the attempt ended; the permit's drop then releases it with that outcome.
    pub fn finish(mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for LimitPermit {
    fn drop(&mut self) {
        self.gate.release(self.epoch, self.outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_halves_what_was_in_flight_once_per_window_and_never_below_one() {
        let mut a = Aimd::new(64);
        // 16 requests in flight time out together: one halving, of the 16.
        assert_eq!(a.record(Outcome::Overloaded, 0, 16), Change::Decreased(8));
        for in_flight in (1..16).rev() {
            assert_eq!(a.record(Outcome::Overloaded, 0, in_flight), Change::Unchanged, "sent before the cut");
        }
        assert_eq!(a.record(Outcome::Overloaded, 1, 8), Change::Decreased(4));
        assert_eq!(a.record(Outcome::Overloaded, 2, 4), Change::Decreased(2));
        assert_eq!(a.record(Outcome::Overloaded, 3, 2), Change::Decreased(1));
        assert_eq!(a.record(Outcome::Overloaded, 4, 1), Change::Decreased(1), "the floor is one");
        assert_eq!(a.limit(), 1);
        assert_eq!(a.record(Outcome::Unknown, 5, 1), Change::Unchanged);
    }

    #[test]
    fn success_grows_the_limit_by_one_per_window_up_to_the_ceiling() {
        let mut a = Aimd::new(4);
        a.record(Outcome::Overloaded, 0, 4);
        assert_eq!(a.limit(), 2);
        assert_eq!(a.record(Outcome::Answered, 1, 2), Change::Unchanged);
        assert_eq!(a.record(Outcome::Answered, 1, 2), Change::Increased(3));
        for _ in 0..2 {
            assert_eq!(a.record(Outcome::Answered, 1, 3), Change::Unchanged);
        }
        assert_eq!(a.record(Outcome::Answered, 1, 3), Change::Increased(4));
        for _ in 0..20 {
            assert_eq!(a.record(Outcome::Answered, 1, 4), Change::Unchanged, "the ceiling holds");
        }
        assert_eq!(a.limit(), 4);
    }

    #[test]
    fn a_cap_lowers_the_ceiling_and_the_limit() {
        let mut a = Aimd::new(64);
        a.cap(5);
        assert_eq!((a.limit(), a.ceiling()), (5, 5));
        a.cap(1_000_000);
        assert_eq!((a.limit(), a.ceiling()), (5, 5), "a cap never raises the ceiling");
        a.cap(0);
        assert_eq!((a.limit(), a.ceiling()), (1, 1), "a cap below one is one");
        // An overload far below the limit halves what was really in flight.
        let mut b = Aimd::new(64);
        assert_eq!(b.record(Outcome::Overloaded, 0, 3), Change::Decreased(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_admits_at_most_the_limit_and_reports_its_path() {
        let gate = AdaptiveLimit::new(4);
        let held: Vec<LimitPermit> = futures::future::join_all((0..4).map(|_| gate.acquire())).await;
        let fifth = tokio::spawn({
            let gate = gate.clone();
            async move { gate.acquire().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!fifth.is_finished(), "a fifth permit must wait while 4 are out");
        let mut held = held.into_iter();
        held.next().unwrap().finish(Outcome::Overloaded);
        // The limit is now 2 with 3 out: still no room.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!fifth.is_finished(), "under a halved limit of 2, 3 out leave no room");
        drop(held.next());
        drop(held.next());
        let fifth = tokio::time::timeout(std::time::Duration::from_secs(5), fifth).await.unwrap().unwrap();
        fifth.finish(Outcome::Answered);
        let report = gate.report();
        assert_eq!((report.ceiling, report.lowest, report.last, report.decreases), (4, 2, 2, 1));
        assert_eq!(report.path.len(), 1);
        assert_eq!((report.path[0].limit, report.path[0].cause.as_str()), (2, "overloaded"));
    }
}
