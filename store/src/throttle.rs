//! Caps on the request rate and the bandwidth of a run, shared by every store
//! it uses (both data centers, every copy): a run stays under what the
//! service tolerates instead of provoking throttling (503 "server busy"
//! storms) and living off retries.
//!
//! Hand-written token buckets rather than `governor`: its waits run on its own
//! clock (quanta + futures-timer), not tokio's, so they cannot be tested with
//! tokio's paused clock, and it refuses a cost larger than its burst (a 4 MiB
//! block against a smaller byte burst), which a byte cap must allow.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::time::Instant;

use super::{
    BlobMeta, BlobStore, Capability, Condition, CopySource, GetResult, ListOptions, ListPage, PutOptions, SignedUrl,
};
use crate::error::{Error, Result};
use crate::Permissions;

/// A token bucket of `burst` tokens refilled at `rate` per second; takers
/// wait in the order they asked. Kept as a "theoretical arrival time" (GCRA):
/// the moment the bucket would be full again, so the state is one instant.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    full_at: Mutex<Option<Instant>>,
    granted: AtomicU64,
}

impl TokenBucket {
    /// `rate` tokens per second (at least 0.001), at most `burst` (>= 1) at once.
    pub fn new(rate: f64, burst: f64) -> Self {
        TokenBucket {
            rate: rate.max(1e-3),
            burst: burst.max(1.0),
            full_at: Mutex::new(None),
            granted: AtomicU64::new(0),
        }
    }

    /// Tokens added per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Most tokens that may be taken at once after idling.
    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// Tokens handed out so far.
    pub fn granted(&self) -> u64 {
        self.granted.load(Ordering::Relaxed)
    }

    /// Waits until `n` tokens are available and takes them; a cost larger
    /// than the burst is taken a burst at a time.
    pub async fn take(&self, n: u64) {
        let mut left = n as f64;
        while left > 0.0 {
            let part = left.min(self.burst);
            left -= part;
            let at = self.reserve(part);
            tokio::time::sleep_until(at).await;
        }
        self.granted.fetch_add(n, Ordering::Relaxed);
    }

    /// The moment `n` (<= burst) tokens are there for this taker; books them.
    fn reserve(&self, n: f64) -> Instant {
        let now = Instant::now();
        let mut full_at = self.full_at.lock().unwrap_or_else(|p| p.into_inner());
        let full = full_at.unwrap_or(now).max(now);
        // Tokens at t are burst - rate × (full_at - t): enough once t >= full_at - (burst - n) / rate.
        let ready = full.checked_sub(Duration::from_secs_f64((self.burst - n) / self.rate)).unwrap_or(now).max(now);
        *full_at = Some(full.max(ready) + Duration::from_secs_f64(n / self.rate));
        ready
    }
}

/// The caps of one run, shared by all its stores.
#[derive(Debug, Default)]
pub struct Limits {
    requests: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

impl Limits {
    /// At most `requests_per_second` requests in any second (with a burst of a
    /// tenth of that) and `bytes_per_second` bytes of blob data (a burst of a
    /// quarter second's worth). `None`: no cap.
    pub fn new(requests_per_second: Option<f64>, bytes_per_second: Option<u64>) -> Self {
        Limits {
            requests: requests_per_second.map(|r| TokenBucket::new(r, (r / 10.0).floor().max(1.0))),
            bytes: bytes_per_second.map(|b| TokenBucket::new(b as f64, (b as f64 / 4.0).max(64.0 * 1024.0))),
        }
    }

    /// Whether neither requests nor bytes are limited.
    pub fn is_unlimited(&self) -> bool {
        self.requests.is_none() && self.bytes.is_none()
    }

    /// The request limit (one token per request), if any.
    pub fn requests(&self) -> Option<&TokenBucket> {
        self.requests.as_ref()
    }

    /// The byte limit (one token per byte sent), if any.
    pub fn bytes(&self) -> Option<&TokenBucket> {
        self.bytes.as_ref()
    }

    async fn request(&self) {
        if let Some(b) = &self.requests {
            b.take(1).await;
        }
    }

    async fn send(&self, n: usize) {
        if let Some(b) = &self.bytes {
            b.take(n as u64).await;
        }
    }
}

/// A [`BlobStore`] whose requests and bytes wait for the run's [`Limits`].
/// Counts requests as the caller makes them (a backend's own retries of one
/// request are not counted again); server-side copies count as requests only,
/// their bytes never pass through the client.
#[derive(Debug, Clone)]
pub struct Throttled {
    inner: Arc<dyn BlobStore>,
    limits: Arc<Limits>,
}

impl Throttled {
    /// `inner` behind `limits` (see [`Throttled::wrap`] to skip the wrapper when there are none).
    pub fn new(inner: Arc<dyn BlobStore>, limits: Arc<Limits>) -> Self {
        Throttled { inner, limits }
    }

    /// `store` behind `limits`, or `store` itself when there are none.
    pub fn wrap(store: Arc<dyn BlobStore>, limits: &Arc<Limits>) -> Arc<dyn BlobStore> {
        if limits.is_unlimited() {
            store
        } else {
            Arc::new(Throttled::new(store, limits.clone()))
        }
    }
}

#[async_trait]
impl BlobStore for Throttled {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn capability(&self) -> Capability {
        self.inner.capability()
    }

    fn request_retries(&self) -> u64 {
        self.inner.request_retries()
    }

    fn requests_sent(&self) -> u64 {
        self.inner.requests_sent()
    }

    fn requests_by_operation(&self) -> std::collections::BTreeMap<String, u64> {
        self.inner.requests_by_operation()
    }

    fn endpoint(&self) -> Option<String> {
        self.inner.endpoint()
    }

    fn identity(&self) -> Option<super::StoreIdentity> {
        self.inner.identity()
    }

    fn adaptive_limit(&self) -> Option<Arc<super::AdaptiveLimit>> {
        self.inner.adaptive_limit()
    }

    async fn create_container(&self, container: &str) -> Result<bool> {
        self.limits.request().await;
        self.inner.create_container(container).await
    }

    async fn delete_container(&self, container: &str) -> Result<bool> {
        self.limits.request().await;
        self.inner.delete_container(container).await
    }

    async fn list_containers(&self, prefix: &str) -> Result<Vec<String>> {
        self.limits.request().await;
        self.inner.list_containers(prefix).await
    }

    async fn list_blobs(&self, container: &str, options: &ListOptions) -> Result<ListPage> {
        self.limits.request().await;
        self.inner.list_blobs(container, options).await
    }

    async fn head_blob(&self, container: &str, name: &str) -> Result<BlobMeta> {
        self.limits.request().await;
        self.inner.head_blob(container, name).await
    }

    async fn get_blob(&self, container: &str, name: &str, range: Option<Range<u64>>) -> Result<GetResult> {
        self.limits.request().await;
        let mut got = self.inner.get_blob(container, name, range).await?;
        if self.limits.bytes.is_some() {
            let limits = self.limits.clone();
            // Each chunk waits for its bytes before the next is read, so the
            // connection's own flow control slows the sender to the cap.
            got.stream = Box::pin(got.stream.then(move |chunk| {
                let limits = limits.clone();
                async move {
                    if let Ok(c) = &chunk {
                        limits.send(c.len()).await;
                    }
                    chunk
                }
            }));
        }
        Ok(got)
    }

    async fn put_blob(&self, container: &str, name: &str, data: Bytes, options: &PutOptions) -> Result<String> {
        self.limits.request().await;
        self.limits.send(data.len()).await;
        self.inner.put_blob(container, name, data, options).await
    }

    async fn put_block(&self, container: &str, name: &str, block_id: &str, data: Bytes) -> Result<()> {
        self.limits.request().await;
        self.limits.send(data.len()).await;
        self.inner.put_block(container, name, block_id, data).await
    }

    async fn put_block_list(
        &self,
        container: &str,
        name: &str,
        block_ids: &[String],
        options: &PutOptions,
    ) -> Result<String> {
        self.limits.request().await;
        self.inner.put_block_list(container, name, block_ids, options).await
    }

    async fn set_metadata(
        &self,
        container: &str,
        name: &str,
        metadata: &BTreeMap<String, String>,
        condition: &Condition,
    ) -> Result<String> {
        self.limits.request().await;
        self.inner.set_metadata(container, name, metadata, condition).await
    }

    async fn delete_blob(&self, container: &str, name: &str, condition: &Condition) -> Result<bool> {
        self.limits.request().await;
        self.inner.delete_blob(container, name, condition).await
    }

    /// Signing is local: no request.
    async fn signed_url(
        &self,
        container: &str,
        blob: Option<&str>,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Result<SignedUrl> {
        self.inner.signed_url(container, blob, permissions, expiry).await
    }

    /// The narrowed store is under the same caps.
    async fn scoped(
        &self,
        container: &str,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Result<Arc<dyn BlobStore>> {
        let inner = self.inner.scoped(container, permissions, expiry).await?;
        Ok(Arc::new(Throttled::new(inner, self.limits.clone())))
    }

    async fn copy_from_url(
        &self,
        container: &str,
        name: &str,
        source: &CopySource,
        options: &PutOptions,
    ) -> Result<String> {
        self.limits.request().await;
        self.inner.copy_from_url(container, name, source, options).await
    }

    async fn put_block_from_url(
        &self,
        container: &str,
        name: &str,
        block_id: &str,
        source: &CopySource,
        range: Range<u64>,
    ) -> Result<()> {
        self.limits.request().await;
        self.inner.put_block_from_url(container, name, block_id, source, range).await
    }

    fn access(&self) -> super::Access {
        self.inner.access()
    }

    async fn get_container_policies(&self, container: &str) -> Result<super::ContainerPolicies> {
        self.limits.request().await;
        self.inner.get_container_policies(container).await
    }

    async fn set_container_policies(
        &self,
        container: &str,
        policies: &[super::StoredPolicy],
        if_version: Option<&str>,
    ) -> Result<String> {
        self.limits.request().await;
        self.inner.set_container_policies(container, policies, if_version).await
    }

    async fn signed_url_for_policy(&self, container: &str, blob: Option<&str>, policy_id: &str) -> Result<SignedUrl> {
        self.inner.signed_url_for_policy(container, blob, policy_id).await
    }

    /// The narrowed store is under the same caps.
    async fn scoped_for_policy(&self, container: &str, policy_id: &str) -> Result<Arc<dyn BlobStore>> {
        let inner = self.inner.scoped_for_policy(container, policy_id).await?;
        Ok(Arc::new(Throttled::new(inner, self.limits.clone())))
    }
}

/// Parses a bandwidth such as `50MiB/s`, `200MB/s`, `800Mbit/s` or `1048576`
/// (bytes per second) into bytes per second.
pub fn parse_bandwidth(s: &str) -> Result<u64> {
    let bad = || {
        Error::invalid_input(format!(
            "'{s}' is not a bandwidth: use e.g. 50MiB/s, 200MB/s, 800Mbit/s or a number of bytes per second"
        ))
    };
    let t = s.trim();
    let t = t.strip_suffix("/s").or_else(|| t.strip_suffix("ps")).unwrap_or(t);
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let factor: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "Kbit" | "kbit" => 1e3 / 8.0,
        "Mbit" => 1e6 / 8.0,
        "Gbit" => 1e9 / 8.0,
        _ => return Err(bad()),
    };
    let bytes = number * factor;
    if !bytes.is_finite() || !(1.0..=1e15).contains(&bytes) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobStoreExt, InMemoryStore};

    /// Most events in any one-second window of `times`.
    fn busiest_second(times: &[Instant]) -> usize {
        let mut sorted = times.to_vec();
        sorted.sort();
        let mut most = 0;
        let mut first = 0;
        for last in 0..sorted.len() {
            while sorted[last] - sorted[first] >= Duration::from_secs(1) {
                first += 1;
            }
            most = most.max(last - first + 1);
        }
        most
    }

    #[tokio::test(start_paused = true)]
    async fn the_request_cap_holds_in_every_second_of_a_run_shared_by_two_stores() {
        let limits = Arc::new(Limits::new(Some(20.0), None));
        let (a, b) = (Arc::new(InMemoryStore::new()), Arc::new(InMemoryStore::new()));
        a.create_container("c").await.unwrap();
        b.create_container("c").await.unwrap();
        let a = Throttled::wrap(a, &limits);
        let b = Throttled::wrap(b, &limits);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let mut done = Vec::new();
                for _ in 0..10 {
                    store.head_opt("c", "nothing").await.unwrap();
                    done.push(Instant::now());
                }
                done
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.extend(t.await.unwrap());
        }
        let burst = limits.requests().unwrap().burst() as usize;
        assert_eq!(times.len(), 160);
        assert_eq!(limits.requests().unwrap().granted(), 160, "every request went through the bucket");
        let most = busiest_second(&times);
        assert!(most <= 20 + burst, "{most} requests in one second under a cap of 20/s (burst {burst})");
        // Not vacuous: the run spans many seconds, and the cap was reached.
        assert!(most >= 20, "the run was not capped at all ({most} in the busiest second)");
        assert!(Instant::now() - started >= Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_bandwidth_cap_holds_for_blocks_larger_than_its_burst() {
        let limits = Arc::new(Limits::new(None, Some(1024 * 1024)));
        let store = Arc::new(InMemoryStore::new());
        store.create_container("c").await.unwrap();
        let store = Throttled::wrap(store, &limits);
        let started = Instant::now();
        let block = Bytes::from(vec![1u8; 3 * 1024 * 1024]);
        for i in 0..4 {
            store.put_block("c", "big", &format!("b{i}"), block.clone()).await.unwrap();
        }
        let elapsed = Instant::now() - started;
        let bucket = limits.bytes().unwrap();
        assert_eq!(bucket.granted(), 12 * 1024 * 1024);
        // 12 MiB at 1 MiB/s with a quarter-second burst: not before 11.75 s (paused clock, exact).
        assert!(elapsed >= Duration::from_secs_f64(11.75), "12 MiB went in {elapsed:?} under 1 MiB/s");
        // And downloads wait too.
        store.put_block_list("c", "big", &["b0".to_owned()], &PutOptions::default()).await.unwrap();
        let before = Instant::now();
        let (_, got) = store.get_bytes("c", "big").await.unwrap();
        assert_eq!(got.len(), 3 * 1024 * 1024);
        assert!(Instant::now() - before >= Duration::from_secs_f64(2.75));
    }

    #[test]
    fn bandwidths_parse_in_their_units_and_nonsense_is_refused() {
        assert_eq!(parse_bandwidth("50MiB/s").unwrap(), 50 * 1024 * 1024);
        assert_eq!(parse_bandwidth("200MB/s").unwrap(), 200_000_000);
        assert_eq!(parse_bandwidth("800Mbit/s").unwrap(), 100_000_000);
        assert_eq!(parse_bandwidth("1048576").unwrap(), 1_048_576);
        assert_eq!(parse_bandwidth("1.5GiB/s").unwrap(), 1_610_612_736);
        for bad in ["", "fast", "-5MiB/s", "0", "5 parsecs", "NaNMiB/s", "1e400"] {
            assert!(parse_bandwidth(bad).is_err(), "'{bad}' was accepted");
        }
    }
}
