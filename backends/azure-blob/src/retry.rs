//! Exponential backoff with full jitter, honouring `Retry-After`, within a
//! time budget: a dead endpoint is reported once the budget is spent.

use std::time::Duration;

/// How often and how patiently a request is tried again on 408, 429, 500,
/// 502, 503, 504 and on connection failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Tries after the first one.
    pub max_retries: u32,
    /// The base of the waits: retry `n` waits at most this times 2^n, drawn at
    /// random from the upper half of that ceiling so clients spread out.
    pub initial_backoff: Duration,
    /// The ceiling stops growing here; a service's `Retry-After` is honoured up to
    /// the larger of this and 60 s.
    pub max_backoff: Duration,
    /// How long one request may keep failing before it is given up (the
    /// CLI's `--retry-for`). Also bounds the wait to connect, the wait for an
    /// answer ([`RetryConfig::answer_timeout`]) and the silence of a connection.
    pub budget: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 8,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            budget: Duration::from_secs(30),
        }
    }
}

impl RetryConfig {
    /// The wait before try `attempt` (1-based retry number): a `Retry-After`
    /// from the service wins; else a random time up to the exponential ceiling.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_backoff.max(Duration::from_secs(60)));
        }
        let ceiling = self.initial_backoff.saturating_mul(1u32 << attempt.min(16)).min(self.max_backoff);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(fastrand::u64(millis / 2..=millis))
    }

    /// How long to wait for a connection: no longer than the budget.
    pub fn connect_timeout(&self) -> Duration {
        self.budget.clamp(Duration::from_secs(1), Duration::from_secs(10))
    }

    /// How long a connection may stay silent. Clamped to at least 5 s, so a
    /// short budget does not cut a slow but live answer, and at most 120 s.
    pub fn read_timeout(&self) -> Duration {
        self.budget.clamp(Duration::from_secs(5), Duration::from_secs(120))
    }

    /// How long a request that sends no large body and starts no server-side
    /// copy may wait for the service's answer before it is sent again: a third
    /// of the budget, so a request lost on a dead connection (a load balancer
    /// that dropped it without a reset) is tried again within the budget
    /// instead of spending all of it waiting. At least 5 s, at most 60 s.
    pub fn answer_timeout(&self) -> Duration {
        (self.budget / 3).clamp(Duration::from_secs(5), Duration::from_secs(60))
    }

    /// Whether a request that began `elapsed` ago may be tried again after `delay`.
    pub fn may_retry(&self, attempt: u32, elapsed: Duration, delay: Duration) -> bool {
        attempt < self.max_retries && elapsed + delay <= self.budget
    }
}

pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_retry_after_wins() {
        let r = RetryConfig::default();
        for attempt in 0..20 {
            assert!(r.delay(attempt, None) <= r.max_backoff);
        }
        assert!(r.delay(1, None) <= Duration::from_millis(400));
        assert_eq!(r.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert!(is_retryable_status(503) && is_retryable_status(429) && !is_retryable_status(404));
    }

    #[test]
    fn the_budget_stops_retries_and_bounds_the_timeouts() {
        let r = RetryConfig { budget: Duration::from_secs(2), ..RetryConfig::default() };
        assert!(r.may_retry(1, Duration::from_millis(500), Duration::from_millis(400)));
        assert!(!r.may_retry(1, Duration::from_millis(1900), Duration::from_millis(400)), "past the budget");
        assert!(!r.may_retry(r.max_retries, Duration::ZERO, Duration::ZERO), "past the retry count");
        assert_eq!(r.connect_timeout(), Duration::from_secs(2));
        assert_eq!(r.read_timeout(), Duration::from_secs(5));
        assert_eq!(r.answer_timeout(), Duration::from_secs(5));
        let long = RetryConfig { budget: Duration::from_secs(3600), ..RetryConfig::default() };
        assert_eq!((long.connect_timeout(), long.read_timeout()), (Duration::from_secs(10), Duration::from_secs(120)));
        assert_eq!(long.answer_timeout(), Duration::from_secs(60));
    }

    #[test]
    fn a_request_lost_in_silence_leaves_the_default_budget_room_to_be_sent_again() {
        let r = RetryConfig::default();
        let waited = r.answer_timeout();
        assert_eq!(waited, Duration::from_secs(10));
        // Two silent tries and their backoff still fit the budget: a third is sent.
        let backoff = r.delay(1, None) + r.delay(2, None);
        assert!(r.may_retry(2, waited * 2 + backoff, r.delay(3, None)), "{waited:?} {backoff:?}");
    }
}
