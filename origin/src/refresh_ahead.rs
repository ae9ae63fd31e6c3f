//! What the origin reads from storage and keeps for a bound (records, blob versions), refreshed
//! ahead so that no request waits on storage for what the origin already knows.
//!
//! An entry is good for `bound` from the moment the read that made it started. Once it is past
//! its refresh point (4/5 of the bound), the first request to see it starts one read in the
//! background, and every request goes on with the entry meanwhile; the read's answer replaces
//! the entry (a "not found" drops it: the next request reads again and is refused). Only an
//! entry past its bound, or none, is waited for: by one read whose answer, value or failure,
//! every request that asked while it was under way shares. A failure is never kept for later
//! requests. So every answer is one storage gave during the request, or less than `bound`
//! before it.
//!
//! A cache kept warm ([`RefreshAhead::kept_warm`]) also refreshes, at its refresh point, an entry
//! a request used within the window, without waiting for a request to come: a key asked for
//! every few seconds (a manifest a CDN revalidates every `max-age`, a load after a pause) is not
//! past its bound when asked, so its requests do not wait.

use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use quick_cache::Equivalent;
use tokio::time::Instant;

use crate::fail::Fail;
use crate::metrics::{Metrics, Waited};

/// The owned key of a borrowed one (a key is looked up borrowed, without copying its strings).
pub(crate) trait KeyOf<K> {
    fn key_of(&self) -> K;
}

impl<K: Clone> KeyOf<K> for K {
    fn key_of(&self) -> K {
        self.clone()
    }
}

/// One read's answer.
struct Entry<V> {
    outcome: Result<V, Fail>,
    /// When its read started: the answer held then (tokio's clock, so tests can move it).
    read_at: Instant,
    /// Its place in the order reads ended in: a request shares a failure only if it ended after
    /// the request asked.
    settled: u64,
    /// Set by the request that starts the background read.
    refreshing: AtomicBool,
    /// When a request last got it, in milliseconds after its cache's epoch (kept-warm caches only).
    used: AtomicU64,
}

impl<V> Entry<V> {
    fn new(outcome: Result<V, Fail>, read_at: Instant, settled: u64, used: u64) -> Entry<V> {
        Entry { outcome, read_at, settled, refreshing: false.into(), used: AtomicU64::new(used) }
    }

    /// Notes a request's use (no store within 100 ms of the last: a load per request, not a write).
    fn touch(&self, epoch: Instant) {
        let now = millis_since(epoch);
        if now >= self.used.load(Ordering::Relaxed) + 100 {
            self.used.store(now, Ordering::Relaxed);
        }
    }

    fn last_used(&self, epoch: Instant) -> Instant {
        epoch + Duration::from_millis(self.used.load(Ordering::Relaxed))
    }
}

fn millis_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// Reads a key again without a request (what a kept-warm cache refreshes with).
pub(crate) type Reread<K, V> = Arc<dyn Fn(K) -> BoxFuture<'static, Result<V, Fail>> + Send + Sync>;

/// How a kept-warm cache refreshes its entries in use.
struct Warm<K, V> {
    reread: Reread<K, V>,
    /// An entry no request used for this long is left to expire.
    window: Duration,
}

/// Values by key, each good for a bound and refreshed ahead of it (see the module's documentation).
pub(crate) struct RefreshAhead<K, V> {
    entries: Arc<Cache<K, Arc<Entry<V>>>>,
    bound: Duration,
    refresh_after: Duration,
    /// How many reads have ended.
    settled: Arc<AtomicU64>,
    /// Where a request that waits for a read is counted, and as what.
    counted: Option<(Arc<Metrics>, Waited)>,
    warm: Option<Arc<Warm<K, V>>>,
    /// What entries' last use is counted from.
    epoch: Instant,
}

/// What a background refresh needs of its cache (it outlives no part of it).
struct Shared<K, V> {
    entries: Arc<Cache<K, Arc<Entry<V>>>>,
    settled: Arc<AtomicU64>,
    refresh_after: Duration,
    warm: Option<Arc<Warm<K, V>>>,
    epoch: Instant,
}

impl<K, V> RefreshAhead<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// At most about `items` keys, each good for `bound` after its read started.
    pub(crate) fn new(items: usize, bound: Duration) -> RefreshAhead<K, V> {
        RefreshAhead {
            entries: Arc::new(Cache::new(items)),
            bound,
            refresh_after: bound * 4 / 5,
            settled: Arc::default(),
            counted: None,
            warm: None,
            epoch: Instant::now(),
        }
    }

    /// Entries a request used within `window` refreshed at their refresh point by `reread`,
    /// without waiting for a request (see the module's documentation).
    pub(crate) fn kept_warm(self, window: Duration, reread: Reread<K, V>) -> RefreshAhead<K, V> {
        RefreshAhead { warm: Some(Arc::new(Warm { reread, window })), ..self }
    }

    fn shared(&self) -> Shared<K, V> {
        Shared {
            entries: self.entries.clone(),
            settled: self.settled.clone(),
            refresh_after: self.refresh_after,
            warm: self.warm.clone(),
            epoch: self.epoch,
        }
    }

    /// Requests that wait for a read counted in `metrics` as waits `on` it (and logged at debug).
    pub(crate) fn counted(self, metrics: Arc<Metrics>, on: Waited) -> RefreshAhead<K, V> {
        RefreshAhead { counted: Some((metrics, on)), ..self }
    }

    /// The value of `key`: the entry while within its bound (past its refresh point, the first
    /// request starts `read` in the background), else `read`'s answer, one read for all
    /// concurrent requests. `read` is only called when a read is made.
    pub(crate) async fn get<Q, F, Fut>(&self, key: &Q, read: F) -> Result<V, Fail>
    where
        Q: Hash + Equivalent<K> + KeyOf<K> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Fail>> + Send + 'static,
    {
        if let Some(entry) = self.entries.get(key) {
            if let Ok(value) = &entry.outcome {
                let age = entry.read_at.elapsed();
                if age < self.bound {
                    if self.warm.is_some() {
                        entry.touch(self.epoch);
                    }
                    if age >= self.refresh_after && !entry.refreshing.swap(true, Ordering::AcqRel) {
                        self.shared().refresh(key.key_of(), entry.clone(), read());
                    }
                    return Ok(value.clone());
                }
            }
        }
        let started = Instant::now();
        let outcome = self.read_once(key.key_of(), read).await;
        if let Some((metrics, on)) = &self.counted {
            let took = started.elapsed();
            metrics.waited(*on, took);
            tracing::debug!(target: "mirrorcast_origin", "a request waited {took:?} on storage for {}", on.label());
        }
        outcome
    }

    /// `value` of `key` as a read that started at `read_at` found it (a read made for another
    /// purpose that also says it).
    pub(crate) fn put(&self, key: K, value: V, read_at: Instant) {
        let settled = self.settled.fetch_add(1, Ordering::SeqCst) + 1;
        self.entries.insert(key, Arc::new(Entry::new(Ok(value), read_at, settled, millis_since(self.epoch))));
    }

    /// `read`'s answer, shared by the requests that ask while it is under way.
    async fn read_once<F, Fut>(&self, key: K, read: F) -> Result<V, Fail>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Fail>> + Send + 'static,
    {
        let asked = self.settled.load(Ordering::SeqCst);
        let bound = self.bound;
        let found = self
            .entries
            .entry_async(&key, |_, entry| {
                let within_bound = entry.outcome.is_ok() && entry.read_at.elapsed() < bound;
                // Ended after this request asked: its answer, whatever it is (a slow read past
                // the bound too), is one storage gave during the request.
                if within_bound || entry.settled > asked {
                    EntryAction::Retain(entry.clone())
                } else {
                    EntryAction::ReplaceWithGuard
                }
            })
            .await;
        let guard = match found {
            EntryResult::Retained(entry) => return entry.outcome.clone(),
            EntryResult::Replaced(guard, _) | EntryResult::Vacant(guard) => guard,
            // Not asked for (nothing is removed here; an async wait has no timeout): a read of its own.
            EntryResult::Removed(..) | EntryResult::Timeout => return read().await,
        };
        let read_at = Instant::now();
        let outcome = read().await;
        let settled = self.settled.fetch_add(1, Ordering::SeqCst) + 1;
        let entry = Arc::new(Entry::new(outcome.clone(), read_at, settled, millis_since(self.epoch)));
        if outcome.is_ok() {
            self.shared().keep_warm(key, entry.clone());
        }
        let _ = guard.insert(entry);
        outcome
    }
}

impl<K, V> Shared<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// In a kept-warm cache: at `entry`'s refresh point, reads it again if it is still the
    /// entry of `key`, a request used it within the window and no request started that read.
    fn keep_warm(self, key: K, entry: Arc<Entry<V>>) {
        let Some(warm) = self.warm.clone() else { return };
        tokio::spawn(async move {
            tokio::time::sleep_until(entry.read_at + self.refresh_after).await;
            let current = self.entries.get(&key).is_some_and(|e| Arc::ptr_eq(&e, &entry));
            let unused = entry.last_used(self.epoch).elapsed() > warm.window;
            if !current || unused || entry.refreshing.swap(true, Ordering::AcqRel) {
                return;
            }
            let read = (warm.reread)(key.clone());
            self.refresh(key, entry, read);
        });
    }

    /// Reads `key` again in the background and puts the answer in place of `old` (not over a
    /// newer entry, nor back after the entry was dropped); the new entry keeps the old one's use.
    fn refresh(self, key: K, old: Arc<Entry<V>>, read: impl Future<Output = Result<V, Fail>> + Send + 'static) {
        tokio::spawn(async move {
            let read_at = Instant::now();
            let outcome = read.await;
            match outcome {
                Ok(value) => {
                    let settled = self.settled.fetch_add(1, Ordering::SeqCst) + 1;
                    // Last used when the old one was: a refresh is no use.
                    let used = old.used.load(Ordering::Relaxed);
                    let fresh = Arc::new(Entry::new(Ok(value), read_at, settled, used));
                    let mut replaced = false;
                    // A zero timeout: a request reading this key meanwhile is not waited for.
                    self.entries.entry(&key, Some(Duration::ZERO), |_, entry| {
                        if Arc::ptr_eq(entry, &old) {
                            *entry = fresh.clone();
                            replaced = true;
                        }
                        EntryAction::Retain(())
                    });
                    if replaced {
                        self.keep_warm(key, fresh);
                    }
                }
                // Gone: refused from the next request on, not at the bound.
                Err(Fail::NotFound(_)) => {
                    self.entries.remove_if(&key, |entry| Arc::ptr_eq(entry, &old));
                }
                // Kept until its bound; a later request tries again.
                Err(_) => old.refreshing.store(false, Ordering::Release),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use tokio::sync::Semaphore;

    use super::*;

    const BOUND: Duration = Duration::from_secs(5);

    /// A source whose reads are counted and wait for a permit (none: they wait until the test
    /// adds one), answering the count of reads so far, or "not found" once `not_found` is set.
    #[derive(Clone)]
    struct Source {
        reads: Arc<AtomicU32>,
        permits: Arc<Semaphore>,
        not_found: Arc<AtomicBool>,
    }

    impl Default for Source {
        fn default() -> Source {
            Source { reads: Arc::default(), permits: Arc::new(Semaphore::new(0)), not_found: Arc::default() }
        }
    }

    impl Source {
        fn read(&self) -> impl Future<Output = Result<u32, Fail>> + Send + 'static {
            let source = self.clone();
            async move {
                let n = source.reads.fetch_add(1, Ordering::SeqCst) + 1;
                source.permits.acquire().await.expect("open").forget();
                if source.not_found.load(Ordering::SeqCst) {
                    return Err(Fail::NotFound("gone"));
                }
                Ok(n)
            }
        }

        fn reads(&self) -> u32 {
            self.reads.load(Ordering::SeqCst)
        }
    }

    /// `n` concurrent gets of key 1, each with how long it took (on tokio's paused clock).
    async fn concurrent(
        kept: &Arc<RefreshAhead<u32, u32>>,
        source: &Source,
        n: usize,
    ) -> Vec<tokio::task::JoinHandle<(Result<u32, Fail>, Duration)>> {
        let asks = (0..n)
            .map(|_| {
                let (kept, source) = (kept.clone(), source.clone());
                tokio::spawn(async move {
                    let start = Instant::now();
                    let got = kept.get(&1, || source.read()).await;
                    (got, start.elapsed())
                })
            })
            .collect();
        // Every request is under way (waiting, or answered) before the test goes on.
        tokio::task::yield_now().await;
        asks
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_refresh_point_one_read_starts_and_no_request_waits_for_it() {
        let kept = Arc::new(RefreshAhead::new(16, BOUND));
        let source = Source::default();
        source.permits.add_permits(1);
        assert_eq!(kept.get(&1, || source.read()).await.unwrap(), 1);

        tokio::time::advance(BOUND * 9 / 10).await;
        // The background read is held: a request that waited for it would not end.
        for ask in concurrent(&kept, &source, 20).await {
            let (got, took) = tokio::time::timeout(Duration::from_secs(1), ask).await.expect("not waiting").unwrap();
            assert_eq!((got.unwrap(), took), (1, Duration::ZERO), "the kept value, at once");
        }
        assert_eq!(source.reads(), 2, "one read in the background for 20 requests");

        source.permits.add_permits(1);
        while kept.entries.get(&1).is_some_and(|e| e.outcome.as_ref().ok() == Some(&1)) {
            tokio::task::yield_now().await;
        }
        // The refreshed entry is good for a whole bound from its read.
        tokio::time::advance(BOUND * 3 / 4).await;
        assert_eq!(kept.get(&1, || source.read()).await.unwrap(), 2);
        assert_eq!(source.reads(), 2, "no read before the new entry's refresh point");
    }

    /// Kept warm: an entry asked for again after a pause longer than its bound is current (read
    /// again at its refresh point without a request), and no longer once unused for the window.
    #[tokio::test(start_paused = true)]
    async fn a_kept_warm_entry_is_read_ahead_without_requests_until_unused_for_its_window() {
        let source = Source::default();
        source.permits.add_permits(1000);
        let reread: Reread<u32, u32> = {
            let source = source.clone();
            Arc::new(move |_| Box::pin(source.read()))
        };
        let window = BOUND * 6;
        let kept = Arc::new(RefreshAhead::new(16, BOUND).kept_warm(window, reread));
        assert_eq!(kept.get(&1, || source.read()).await.unwrap(), 1);

        tokio::time::sleep(BOUND * 2).await;
        let start = Instant::now();
        let got = kept.get(&1, || source.read()).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO, "current after a pause of two bounds: not waited for");
        assert!(got > 1, "read again during the pause: {got}");

        tokio::time::sleep(window + BOUND * 2).await;
        let reads = source.reads();
        // From the last use (two bounds in) to the window's end: one read per refresh point.
        let at_most = 1 + ((BOUND * 2 + window).as_millis() / (BOUND * 4 / 5).as_millis()) as u32 + 1;
        assert!(reads <= at_most, "{reads} reads, at most {at_most}");
        tokio::time::sleep(window).await;
        assert_eq!(source.reads(), reads, "unused for the window: no more reads");
        let start = Instant::now();
        assert!(kept.get(&1, || source.read()).await.unwrap() > got);
        assert!(start.elapsed().is_zero() || source.reads() == reads + 1, "past its bound: one read");
    }

    /// Without keeping warm, nothing is read without a request.
    #[tokio::test(start_paused = true)]
    async fn a_cache_not_kept_warm_reads_only_for_requests() {
        let kept = Arc::new(RefreshAhead::new(16, BOUND));
        let source = Source::default();
        source.permits.add_permits(10);
        kept.get(&1, || source.read()).await.unwrap();
        tokio::time::sleep(BOUND * 10).await;
        assert_eq!(source.reads(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_bound_concurrent_requests_wait_for_one_read() {
        let kept = Arc::new(RefreshAhead::new(16, BOUND));
        let source = Source::default();
        source.permits.add_permits(1);
        kept.get(&1, || source.read()).await.unwrap();
        tokio::time::advance(BOUND).await;

        let asks = concurrent(&kept, &source, 20).await;
        tokio::time::advance(Duration::from_millis(200)).await;
        source.permits.add_permits(1);
        for ask in asks {
            let (got, took) = ask.await.unwrap();
            assert_eq!((got.unwrap(), took), (2, Duration::from_millis(200)), "the new read's answer");
        }
        assert_eq!(source.reads(), 2, "one read for 20 requests past the bound");
    }

    /// A failure is shared by the requests that waited for it (they do not read one after
    /// another), and kept for no later request.
    #[tokio::test(start_paused = true)]
    async fn a_failed_read_is_shared_by_its_waiters_and_not_kept() {
        let kept = Arc::new(RefreshAhead::new(16, BOUND));
        let source = Source::default();
        source.not_found.store(true, Ordering::SeqCst);
        let asks = concurrent(&kept, &source, 20).await;
        tokio::time::advance(Duration::from_millis(200)).await;
        source.permits.add_permits(1);
        for ask in asks {
            let (got, took) = ask.await.unwrap();
            assert!(matches!(got, Err(Fail::NotFound(_))), "{got:?}");
            assert_eq!(took, Duration::from_millis(200), "one read's time, not one read after another");
        }
        assert_eq!(source.reads(), 1);

        source.not_found.store(false, Ordering::SeqCst);
        source.permits.add_permits(1);
        assert_eq!(kept.get(&1, || source.read()).await.unwrap(), 2, "a later request reads again");
    }

    /// A background read that finds the value gone drops the entry: refused from the next
    /// request on, within the bound.
    #[tokio::test(start_paused = true)]
    async fn a_refresh_that_finds_it_gone_drops_the_entry() {
        let kept = Arc::new(RefreshAhead::new(16, BOUND));
        let source = Source::default();
        source.permits.add_permits(1);
        kept.get(&1, || source.read()).await.unwrap();
        tokio::time::advance(BOUND * 9 / 10).await;
        source.not_found.store(true, Ordering::SeqCst);
        source.permits.add_permits(1);
        assert_eq!(kept.get(&1, || source.read()).await.unwrap(), 1, "served while the refresh runs");
        while kept.entries.get(&1).is_some() {
            tokio::task::yield_now().await;
        }
        source.permits.add_permits(1);
        assert!(matches!(kept.get(&1, || source.read()).await, Err(Fail::NotFound(_))));
    }
}
