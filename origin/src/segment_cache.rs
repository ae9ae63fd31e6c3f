//! The hot-segment cache: packaged segments and ranged reads of stored files
//! kept in memory within a byte budget, so a segment every viewer asks for is
//! read from storage once, not once per viewer (each read is a billed storage
//! transaction, and on a failover day one data center takes all the viewers).
//!
//! An entry is keyed by its source blob's store ETag and what was cut from it
//! (a byte range, or a fragment of a track in a packaging): a replaced blob
//! has a new ETag, so its old bytes are never found under its new version.
//! That a blob is still at the version a hit was made from is confirmed by
//! storage: a hit is served from a confirmation that started less than
//! [`REVALIDATE`] ago, so a replaced rendition is served new within it. A blob in
//! use is confirmed again in the background from 4/5 of the interval on (one HEAD
//! per blob, no request waiting for it); only a confirmation past the interval is
//! waited for, one HEAD for all concurrent requests ([`crate::refresh_ahead`]).
//! Every read a miss makes confirms the version too.
//! Concurrent misses of one entry are one storage read: the others wait for it.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mirrorcast_core::store::BlobMeta;
use quick_cache::sync::Cache;
use quick_cache::Lifecycle;

use crate::fail::Fail;
use crate::metrics::{Metrics, Waited};
use crate::refresh_ahead::{KeyOf, RefreshAhead};
use crate::request::Format;
use crate::upstream::Upstream;

/// Without a better figure: what `serve` keeps where the machine's memory cannot be read.
const FALLBACK_BYTES: u64 = 256 * 1024 * 1024;
/// The default's cap: more rarely pays on one origin (a CDN in front keeps the long tail).
const MAX_DEFAULT_BYTES: u64 = 1024 * 1024 * 1024;
/// A plain file's range larger than this is streamed from storage, never held (the
/// cache's own bound applies below it).
const MAX_BUFFERED_RANGE: u64 = 32 * 1024 * 1024;
/// How old a confirmation of a kept blob's version may be (one HEAD per blob per 4/5 of it at
/// most, whatever the requests, made ahead in the background): a replaced rendition is served
/// new within it.
pub(crate) const REVALIDATE: Duration = Duration::from_secs(1);
/// What an entry costs beyond its bytes (its key, the cache's slot), so a cache of
/// tiny entries still stays within its budget.
const ENTRY_OVERHEAD: u64 = 128;

/// The default `--cache-size`: an eighth of the machine's memory (or of the container's
/// limit, when lower), at most 1 GiB.
pub fn default_cache_bytes() -> u64 {
    machine_memory().map_or(FALLBACK_BYTES, |m| (m / 8).min(MAX_DEFAULT_BYTES))
}

fn machine_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.trim().strip_suffix("kB")?;
    let total = kib.trim().parse::<u64>().ok()?.checked_mul(1024)?;
    // cgroup v2; "max" (no limit) does not parse and leaves the machine's total.
    let limit = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse::<u64>().ok());
    Some(limit.map_or(total, |l| l.min(total)))
}

/// How a fragment was packaged: the formats whose segments are the same bytes share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Packaging {
    Cmaf,
    Smooth,
    Ts,
}

impl Packaging {
    pub(crate) fn of(format: Format) -> Packaging {
        match format {
            Format::Smooth => Packaging::Smooth,
            f if f.is_ts() => Packaging::Ts,
            _ => Packaging::Cmaf,
        }
    }
}

/// What an entry holds of its source blob.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Cut {
    /// Bytes `start..end` as stored.
    Range(u64, u64),
    /// Fragment `number` of track `track`, packaged.
    Segment { track: u32, number: usize, packaging: Packaging },
    /// The same, encrypted: `protection` is the packing's tag (scheme, key id and check value),
    /// so an encrypted segment is never found for a clear request, nor under another key.
    Encrypted { track: u32, number: usize, packaging: Packaging, protection: String },
}

/// The blob an entry is cut from, at the version (store ETag) the request expects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) container: &'a str,
    pub(crate) name: &'a str,
    pub(crate) etag: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    container: String,
    name: String,
    etag: String,
    cut: Cut,
}

/// [`Key`] borrowed from the request: a hit is looked up without copying its strings. Its
/// fields hash as `Key`'s do (a `&str` as its `String`), in the same order.
#[derive(Hash)]
struct KeyRef<'a> {
    container: &'a str,
    name: &'a str,
    etag: &'a str,
    cut: &'a Cut,
}

impl quick_cache::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.container == key.container && self.name == key.name && self.etag == key.etag && *self.cut == key.cut
    }
}

/// `(container, name)` of the versions cache, borrowed: hashes as the tuple of `String`s does.
#[derive(Hash)]
struct BlobRef<'a>(&'a str, &'a str);

impl quick_cache::Equivalent<(String, String)> for BlobRef<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

impl KeyOf<(String, String)> for BlobRef<'_> {
    fn key_of(&self) -> (String, String) {
        (self.0.to_owned(), self.1.to_owned())
    }
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Key, Bytes> for Weight {
    fn weight(&self, key: &Key, value: &Bytes) -> u64 {
        (mirrorcast_http::zero_copy::footprint(value.len()) + key.container.len() + key.name.len() + key.etag.len())
            as u64
            + ENTRY_OVERHEAD
    }
}

/// Counts what leaves the cache to keep it within its budget (an entry heavier than the
/// whole budget leaves at once: it was served, never kept).
#[derive(Clone)]
struct CountEvictions(Arc<Metrics>);

impl Lifecycle<Key, Bytes> for CountEvictions {
    type RequestState = ();

    fn begin_request(&self) -> Self::RequestState {}

    fn on_evict(&self, _state: &mut Self::RequestState, _key: Key, _val: Bytes) {
        self.0.segment_cache_evicted();
    }
}

/// The origin's hot-segment cache (see the module's documentation); a budget of 0 turns it off.
pub(crate) struct SegmentCache {
    /// `None`: the cache is off, every request reads storage as before.
    entries: Option<Cache<Key, Bytes, Weight, quick_cache::DefaultHashBuilder, CountEvictions>>,
    /// The blobs' versions as last confirmed, by (container, name).
    versions: RefreshAhead<(String, String), Arc<BlobMeta>>,
    revalidate: Duration,
    capacity: u64,
    upstream: Arc<Upstream>,
    metrics: Arc<Metrics>,
}

impl SegmentCache {
    /// A cache of at most `bytes`; a kept blob's version is confirmed again once `revalidate` has passed.
    pub(crate) fn new(
        upstream: Arc<Upstream>,
        bytes: u64,
        revalidate: Duration,
        metrics: Arc<Metrics>,
    ) -> SegmentCache {
        let entries = (bytes > 0).then(|| {
            // One shard: quick_cache splits the budget between shards and refuses an entry
            // heavier than its shard's share; one shard admits any entry up to the budget.
            let options = quick_cache::OptionsBuilder::new()
                .estimated_items_capacity(((bytes / (64 * 1024)) as usize).clamp(16, 1 << 16))
                .weight_capacity(bytes)
                .shards(1)
                .build()
                .expect("items and weight capacity are set");
            Cache::with_options(options, Weight, Default::default(), CountEvictions(metrics.clone()))
        });
        metrics.segment_cache_size(0, bytes);
        // A zero interval confirms on every request: no entry is kept then.
        let versions = RefreshAhead::new(4096, revalidate).counted(metrics.clone(), Waited::Versions);
        SegmentCache { entries, versions, revalidate, capacity: bytes, upstream, metrics }
    }

    /// The storage it reads.
    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Whether anything is kept (`--cache-size 0` turns the cache off).
    pub(crate) fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// Whether a plain file's range of `len` bytes goes through the cache (else it is streamed;
    /// an empty file too: a store refuses a range of no byte).
    pub(crate) fn holds_range_of(&self, len: u64) -> bool {
        self.enabled() && len > 0 && len <= MAX_BUFFERED_RANGE.min(self.capacity)
    }

    /// The blob's metadata: storage's answer of less than `revalidate` ago while the cache is on
    /// (see the module's documentation), else a HEAD per call.
    pub(crate) async fn head(&self, container: &str, name: &str) -> Result<BlobMeta, Fail> {
        if !self.enabled() || self.revalidate.is_zero() {
            return self.head_now(container, name).await;
        }
        Ok(BlobMeta::clone(&*self.confirmed(container, name).await?))
    }

    /// A HEAD the request waits for (versions confirmed on every request), counted as such.
    async fn head_now(&self, container: &str, name: &str) -> Result<BlobMeta, Fail> {
        let started = std::time::Instant::now();
        let meta = self.upstream.head(container, name).await;
        self.metrics.waited(Waited::Versions, started.elapsed());
        meta
    }

    async fn confirmed(&self, container: &str, name: &str) -> Result<Arc<BlobMeta>, Fail> {
        // Within the interval (nearly every request): found without copying the names.
        let head = || {
            let (upstream, container, name) = (self.upstream.clone(), container.to_owned(), name.to_owned());
            async move { upstream.head(&container, &name).await.map(Arc::new) }
        };
        self.versions.get(&BlobRef(container, name), head).await
    }

    /// Whether `source` is still at its version: from what storage said within the interval.
    async fn still_current(&self, source: Source<'_>) -> Result<bool, Fail> {
        Ok(if self.revalidate.is_zero() {
            self.head_now(source.container, source.name).await?.etag == source.etag
        } else {
            self.confirmed(source.container, source.name).await?.etag == source.etag
        })
    }

    /// `cut` of `source`: kept bytes while the blob is still at the expected version, else
    /// `range()` of the blob read (once for all concurrent requests) and made into the entry by
    /// `make`, kept if it fits the budget. What `make` returns is weighed by its length: it
    /// must own its bytes (a slice of a larger buffer, a store's chunk or a mapped file,
    /// would hold more memory than that). `None`: the blob is no longer at the expected version.
    pub(crate) async fn get(
        &self,
        source: Source<'_>,
        cut: Cut,
        // Asked for on a miss only: a hit does not work out which bytes it was cut from.
        range: impl FnOnce() -> Range<u64>,
        make: impl FnOnce(Bytes) -> Result<Bytes, Fail>,
    ) -> Result<Option<Bytes>, Fail> {
        let Some(entries) = &self.entries else {
            return self.read(source, range()).await?.map(make).transpose();
        };
        let borrowed = KeyRef { container: source.container, name: source.name, etag: source.etag, cut: &cut };
        if let Some(kept) = entries.get(&borrowed) {
            self.metrics.segment_cache_lookup(true);
            return Ok(self.still_current(source).await?.then_some(kept));
        }
        // A miss (or one being filled by another request): the owned key, to wait or to fill it.
        let key = Key {
            container: source.container.to_owned(),
            name: source.name.to_owned(),
            etag: source.etag.to_owned(),
            cut,
        };
        match entries.get_value_or_guard_async(&key).await {
            Ok(kept) => {
                self.metrics.segment_cache_lookup(true);
                Ok(self.still_current(source).await?.then_some(kept))
            }
            Err(guard) => {
                self.metrics.segment_cache_lookup(false);
                let Some(data) = self.read(source, range()).await? else { return Ok(None) };
                // Kept in its own mapping, so connections send it without copying it
                // (mirrorcast_http::zero_copy); smaller, or off Linux, as it was made.
                let made = make(data)?;
                let made = mirrorcast_http::zero_copy::pin(&made).unwrap_or(made);
                // An entry heavier than the budget is refused here: served to this request
                // and to those waiting for it, never kept.
                let _ = guard.insert(made.clone());
                self.metrics.segment_cache_size(entries.weight(), self.capacity);
                Ok(Some(made))
            }
        }
    }

    /// `range` of the blob, with its version confirmed by the read itself (and remembered).
    async fn read(&self, source: Source<'_>, range: Range<u64>) -> Result<Option<Bytes>, Fail> {
        let read_at = tokio::time::Instant::now();
        let (meta, data) = self.upstream.read_bytes(source.container, source.name, Some(range)).await?;
        let current = meta.etag == source.etag;
        if self.enabled() && !self.revalidate.is_zero() {
            let key = (source.container.to_owned(), source.name.to_owned());
            self.versions.put(key, Arc::new(meta), read_at);
        }
        Ok(current.then_some(data))
    }
}

#[cfg(test)]
mod borrowed_keys {
    use super::*;

    /// A hit is looked up by the borrowed key: it must find what the owned key stored (same
    /// hash, same equality), for every kind of cut, and nothing under another version or cut.
    #[test]
    fn the_borrowed_key_finds_what_the_owned_key_stored() {
        let cache: Cache<Key, Bytes> = Cache::new(16);
        let cuts = [
            Cut::Range(0, 10),
            Cut::Segment { track: 1, number: 7, packaging: Packaging::Cmaf },
            Cut::Encrypted { track: 1, number: 7, packaging: Packaging::Ts, protection: "cbcs:k1".into() },
        ];
        for (i, cut) in cuts.iter().enumerate() {
            let key =
                Key { container: "asset-1".into(), name: "a.mp4".into(), etag: "\"e1\"".into(), cut: cut.clone() };
            cache.insert(key, Bytes::from(vec![i as u8]));
        }
        for (i, cut) in cuts.iter().enumerate() {
            let found = cache.get(&KeyRef { container: "asset-1", name: "a.mp4", etag: "\"e1\"", cut });
            assert_eq!(found, Some(Bytes::from(vec![i as u8])), "{cut:?}");
            let replaced = cache.get(&KeyRef { container: "asset-1", name: "a.mp4", etag: "\"e2\"", cut });
            assert_eq!(replaced, None, "another version of the blob: {cut:?}");
        }
        let other = Cut::Segment { track: 1, number: 8, packaging: Packaging::Cmaf };
        assert_eq!(cache.get(&KeyRef { container: "asset-1", name: "a.mp4", etag: "\"e1\"", cut: &other }), None);
        let versions: Cache<(String, String), u8> = Cache::new(4);
        versions.insert(("asset-1".into(), "a.mp4".into()), 1);
        assert_eq!(versions.get(&BlobRef("asset-1", "a.mp4")), Some(1));
        assert_eq!(versions.get(&BlobRef("asset-1a", ".mp4")), None, "the names are not run together");
    }
}
