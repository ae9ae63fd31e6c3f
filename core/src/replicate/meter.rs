//! What a run cost in requests: each side's store counts what it sends, and
//! the run reports the difference between its start and its end.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{RequestCounts, Totals};
use crate::store::BlobStore;

/// One side's counters when the run started.
#[derive(Debug)]
struct Start {
    store: Arc<dyn BlobStore>,
    sent: u64,
    retries: u64,
    operations: BTreeMap<String, u64>,
}

impl Start {
    fn of(store: &Arc<dyn BlobStore>) -> Self {
        Start {
            store: store.clone(),
            sent: store.requests_sent(),
            retries: store.request_retries(),
            operations: store.requests_by_operation(),
        }
    }

    /// The requests by operation sent since the start.
    fn operations_since(&self) -> BTreeMap<String, u64> {
        self.store
            .requests_by_operation()
            .into_iter()
            .map(|(op, n)| {
                let sent = n.saturating_sub(self.operations.get(&op).copied().unwrap_or(0));
                (op, sent)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Both sides' request counters over one run.
#[derive(Debug)]
pub(crate) struct RequestMeter {
    source: Start,
    target: Start,
}

impl RequestMeter {
    pub(crate) fn start(source: &Arc<dyn BlobStore>, target: &Arc<dyn BlobStore>) -> Self {
        RequestMeter { source: Start::of(source), target: Start::of(target) }
    }

    /// Writes what the run sent so far into its totals: requests per side and
    /// by operation, the backends' retries, and each side's adaptive limit.
    pub(crate) fn settle(&self, totals: &mut Totals) {
        let (a, b) = (&self.source, &self.target);
        totals.http_retries =
            a.store.request_retries().saturating_sub(a.retries) + b.store.request_retries().saturating_sub(b.retries);
        totals.requests = RequestCounts {
            source: a.store.requests_sent().saturating_sub(a.sent),
            target: b.store.requests_sent().saturating_sub(b.sent),
            source_operations: a.operations_since(),
            target_operations: b.operations_since(),
            source_limit: a.store.adaptive_limit().map(|l| l.report()),
            target_limit: b.store.adaptive_limit().map(|l| l.report()),
        };
    }
}
