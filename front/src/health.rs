//! An origin's health from its probe results (pure): K failed probes in a row
//! take it down, M good ones in a row bring it back. Between the two nothing
//! changes, so an origin that fails every other probe never flips (hysteresis).

use serde::Serialize;

/// What the probes say of an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not probed yet: routed to like an up origin (the first probe runs at once).
    Unknown,
    /// Enough good probes in a row (or the first probe good): routed to.
    Up,
    /// Enough failed probes in a row (or the first probe failed): out of routing, tried by requests only as a last resort.
    Down,
}

impl Health {
    /// May requests be sent there?
    pub fn usable(self) -> bool {
        self != Health::Down
    }
}

/// How many probes in a row change an origin's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Failed probes in a row that take an up origin down (K, at least 1).
    pub fail_after: u32,
    /// Good probes in a row that bring a down origin back (M, at least 1).
    pub recover_after: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        // Traffic Manager's default: three tolerated failures.
        Thresholds { fail_after: 3, recover_after: 3 }
    }
}

/// One origin's health and the run of probe results that may change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    health: Health,
    failures_in_a_row: u32,
    successes_in_a_row: u32,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker { health: Health::Unknown, failures_in_a_row: 0, successes_in_a_row: 0 }
    }
}

impl Tracker {
    /// The health as the results so far leave it.
    pub fn health(&self) -> Health {
        self.health
    }

    /// Failed probes since the last good one.
    pub fn failures_in_a_row(&self) -> u32 {
        self.failures_in_a_row
    }

    /// Good probes since the last failed one.
    pub fn successes_in_a_row(&self) -> u32 {
        self.successes_in_a_row
    }

    /// Takes one probe result; returns the new health when it changed. The first
    /// result decides at once (there is no earlier state to protect).
    pub fn observe(&mut self, ok: bool, t: Thresholds) -> Option<Health> {
        if ok {
            self.successes_in_a_row = self.successes_in_a_row.saturating_add(1);
            self.failures_in_a_row = 0;
        } else {
            self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
            self.successes_in_a_row = 0;
        }
        let next = match self.health {
            Health::Unknown if ok => Health::Up,
            Health::Unknown => Health::Down,
            Health::Up if self.failures_in_a_row >= t.fail_after.max(1) => Health::Down,
            Health::Down if self.successes_in_a_row >= t.recover_after.max(1) => Health::Up,
            same => same,
        };
        (next != self.health).then(|| {
            self.health = next;
            next
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds { fail_after: 3, recover_after: 2 };

    fn feed(tracker: &mut Tracker, results: &[bool]) -> Vec<Option<Health>> {
        results.iter().map(|&ok| tracker.observe(ok, T)).collect()
    }

    #[test]
    fn the_first_probe_decides_at_once() {
        let mut up = Tracker::default();
        assert_eq!(up.observe(true, T), Some(Health::Up));
        let mut down = Tracker::default();
        assert_eq!(down.observe(false, T), Some(Health::Down));
        assert!(Health::Unknown.usable() && Health::Up.usable() && !Health::Down.usable());
    }

    #[test]
    fn k_failed_probes_in_a_row_take_an_origin_down_and_m_good_ones_bring_it_back() {
        let mut t = Tracker::default();
        t.observe(true, T);
        assert_eq!(feed(&mut t, &[false, false]), [None, None], "two failures are tolerated");
        assert_eq!(t.failures_in_a_row(), 2);
        assert_eq!(t.observe(false, T), Some(Health::Down), "the third takes it down");
        assert_eq!(t.observe(false, T), None, "already down");
        assert_eq!(t.observe(true, T), None, "one good probe is not enough");
        assert_eq!(t.observe(true, T), Some(Health::Up), "the second brings it back");
        assert_eq!(t.health(), Health::Up);
    }

    #[test]
    fn a_good_probe_resets_the_count_of_failures() {
        let mut t = Tracker::default();
        t.observe(true, T);
        assert_eq!(feed(&mut t, &[false, false, true, false, false, true]), [None; 6]);
        assert_eq!(t.health(), Health::Up);
    }

    #[test]
    fn an_origin_failing_every_other_probe_never_flips() {
        // Up and flapping: never K failures in a row, so it stays up.
        let mut up = Tracker::default();
        up.observe(true, T);
        let flapping: Vec<bool> = (0..1000).map(|i| i % 2 == 0).collect();
        assert!(feed(&mut up, &flapping).iter().all(Option::is_none));
        assert_eq!(up.health(), Health::Up);
        // Down and flapping: never M good probes in a row, so it stays down.
        let mut down = Tracker::default();
        down.observe(false, T);
        assert!(feed(&mut down, &flapping).iter().all(Option::is_none));
        assert_eq!(down.health(), Health::Down);
    }

    #[test]
    fn thresholds_of_zero_act_as_one() {
        let zero = Thresholds { fail_after: 0, recover_after: 0 };
        let mut t = Tracker::default();
        t.observe(true, zero);
        assert_eq!(t.observe(false, zero), Some(Health::Down));
        assert_eq!(t.observe(true, zero), Some(Health::Up));
    }
}
