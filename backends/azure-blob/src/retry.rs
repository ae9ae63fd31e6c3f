//! Exponential backoff with full jitter, honouring `Retry-After`.

use std::time::Duration;

/// How often and how patiently a request is tried again on 408, 429, 500,
/// 502, 503, 504 and on connection failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Tries after the first one.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 8,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
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
}
